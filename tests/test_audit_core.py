"""The audit's shared parts: rule packs, roles, costs, severity, business hours, the JSON shape."""

from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd
import pytest
from audit_helpers import SAMPLE, SAMPLE_RULES, sample_findings

from auditor import rules
from auditor.audit import AuditOptions, build_context
from auditor.businesstime import business_hours_between, parse
from auditor.engine import Engine
from auditor.errors import UsageError
from auditor.findings import KINDS, severity_for
from auditor.ingest import load
from auditor.options import ReadOptions
from auditor.roles import name_role


def test_rule_pack_loads_and_checks_names(tmp_path: Path) -> None:
    pack = rules.load(SAMPLE_RULES)
    assert pack.roles["resolution"] == ("Resolve Ticket",) and pack.thresholds.stalled_days == 14
    bad = tmp_path / "bad.toml"
    bad.write_text('[roles]\nresolution = ["Resolve Tiket"]\n')
    with Engine() as engine:
        log = load(SAMPLE, ReadOptions(), engine)
        with pytest.raises(UsageError, match="Close matches: 'Resolve Ticket'"):
            build_context(log, AuditOptions(rules=rules.load(bad)))


@pytest.mark.parametrize(
    ("text", "message"),
    [("[rolez]\n", "unknown table"), ("[roles]\nfix = ['x']\n", "unknown key"), ("[[order]]\nbefore = 'a'\n", "exactly"),
     ("[thresholds]\nstalled_days = -1\n", "non-negative"), ("x = [", "not valid TOML"),
     ("[thresholds]\nchasing_contacts = nan\n", "non-negative"), ("[thresholds]\nstalled_days = inf\n", "non-negative"),
     ("[thresholds]\nchasing_contacts = 1e300\n", "up to"), ("[thresholds]\nlong_wait_factor = nan\n", "non-negative"),
     ("[thresholds]\nchasing_contacts = 1.5\n", "whole number"), ("[thresholds]\nchasing_contacts = 0\n", "at least 1"),
     ("[[order]]\nbefore = []\nafter = 'a'\n", "names no activity"),
     ("[[order]]\nbefore = 'a'\nafter = ['a', 'b']\n", "both before and after"),
     ("[value]\nVA = ['a']\nNVA = ['a']\n", "both VA and NVA")],
)
def test_rule_pack_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        rules.load(path)


def test_rule_pack_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_bytes("[thresholds]\nstalled_days = 3\n".encode("utf-8-sig"))
    assert rules.load(path).thresholds.stalled_days == 3


def test_inferred_roles_equal_the_sample_pack() -> None:
    pack = rules.load(SAMPLE_RULES)
    with Engine() as engine:
        ctx = build_context(load(SAMPLE, ReadOptions(), engine), AuditOptions())
        for role, acts in pack.roles.items():
            assert ctx.roles.of(role) == acts, role
        assert set(ctx.roles.accounts.system) == {"bot-router", "svc-workflow", "siebel-connector"}
        assert ctx.roles.accounts.customer == ("customer",)


def test_field_change_names_use_the_new_value() -> None:
    assert name_role("Status: Resolved -> Closed") == "closure"
    assert name_role("Status: Closed -> Reopened") == "reopen"
    assert name_role("Reply to Customer") == "agent_response"
    assert name_role("Customer Reply") is None


def test_severity_is_relative_to_the_log() -> None:
    assert severity_for(0.15, 0, 1000) == "high"
    assert severity_for(0.01, 60, 1000) == "high"
    assert severity_for(0.01, 60, 100_000) == "low"
    assert severity_for(0.15, 0, 1000, customer_facing=False) == "medium"


def test_business_hours() -> None:
    wh = parse("Mon-Fri 08:00-18:00", "Europe/Berlin")
    df = pd.DataFrame(
        {"a": pd.to_datetime(["2024-03-01 16:00", "2024-03-04 06:00", "2024-03-02 10:00"], utc=True),
         "b": pd.to_datetime(["2024-03-04 08:00", "2024-03-11 06:00", "2024-03-02 12:00"], utc=True)}
    )
    with Engine() as engine:
        t = ibis.memtable(df)
        out = engine.backend.execute(t.mutate(h=business_hours_between(t.a, t.b, wh)))
    assert out["h"].tolist() == [2.0, 50.0, 0.0]
    with pytest.raises(UsageError):
        parse("weekdays 9-5")


def test_findings_json_shape() -> None:
    for f in sample_findings():
        d = f.to_json()
        assert list(d)[:8] == ["kind", "title", "activities", "cases", "case_share", "case_ids", "severity", "evidence"]
        assert d["kind"] in KINDS and d["case_ids"] == sorted(d["case_ids"]) and d["cases"] == len(d["case_ids"])
        assert 0 < d["case_share"] <= 1


def test_stuck_path_matches_pandas() -> None:
    finding = next(f for f in sample_findings() if f.kind == "rework_loop" and f.activities == ["Reply to Customer"])
    df = pd.read_csv(SAMPLE).rename(columns={"Ticket ID": "case", "Activity": "act", "Timestamp": "ts"})
    df["ts"] = pd.to_datetime(df["ts"])
    df = df.sort_values(["case", "ts"], kind="stable")
    df["prev"] = df.groupby("case")["act"].shift()
    df["wait"] = (df["ts"] - df.groupby("case")["ts"].shift()).dt.total_seconds() / 3600
    edges = df.dropna(subset=["prev"]).groupby(["case", "prev", "act"])["wait"].sum().reset_index()
    hit = edges["case"].isin(finding.case_ids)
    n_in, n_out = len(finding.case_ids), df["case"].nunique() - len(finding.case_ids)
    per_edge = edges[hit].groupby(["prev", "act"])["wait"].sum().to_frame("inside").join(
        edges[~hit].groupby(["prev", "act"])["wait"].sum().to_frame("outside"), how="left"
    ).fillna(0.0)
    per_edge["extra"] = (per_edge["inside"] / n_in - per_edge["outside"] / n_out) * n_in
    best = per_edge["extra"].idxmax()
    top = finding.evidence["stuck_path"][0]
    assert (top["source"], top["target"]) == best
    assert abs(top["extra_hours_total"] - per_edge["extra"].max()) < 0.01


def test_customer_contacts_from_behaviour(tmp_path: Path) -> None:
    """No activity is named as a contact: customers' own unprompted events count, answers to a request don't."""
    from audit_helpers import tiny_log

    rows = []
    for i in range(30):
        day = f"2024-02-{1 + i % 28:02d}"
        rows += [
            (f"c{i}", "Open", f"{day} 08:00", "customer", ""),
            (f"c{i}", "Ask for Details", f"{day} 09:00", "ann", "T1"),
            (f"c{i}", "Details Sent", f"{day} 10:00", "customer", ""),   # an answer: prompted
            (f"c{i}", "Analyse", f"{day} 11:00", "ann", "T1"),
        ]
        if i % 2:
            rows.append((f"c{i}", "Nudge", f"{day} 12:00", "customer", ""))  # unprompted, after varied steps
        rows.append((f"c{i}", "Resolve", f"{day} 13:00", "ann", "T1"))
        if i % 3 == 0:
            rows.append((f"c{i}", "Nudge", f"{day} 14:00", "customer", ""))
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions())
    assert ctx.roles.of("customer_contact") == ("Nudge",)
    assert "customer accounts" in ctx.roles.roles["customer_contact"].reasons["Nudge"]

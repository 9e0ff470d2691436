"""ping_pong: the contract's case set at team and resource level, the evidence numbers, and BPIC 2013."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from audit_helpers import cases_of, run_audit, sample_findings, sample_truth, tiny_log
from conftest import shared

from auditor import rules
from auditor.audit import AuditOptions, build_context
from auditor.detectors import ping_pong
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.ingest import load
from auditor.options import ReadOptions
from auditor.readers.xes import read_xes


def _level(findings: list[Finding] | tuple[Finding, ...], level: str) -> list[Finding]:
    return [f for f in findings if f.kind == "ping_pong" and f.evidence["level"] == level]


def test_sample_truth_at_team_and_resource_level() -> None:
    truth = sample_truth()["kinds"]["ping_pong"]
    findings = sample_findings()
    teams = _level(findings, "team")
    assert len(teams) == 1
    f = teams[0]
    assert f.case_ids == truth["case_ids"]
    assert f.evidence["teams"] == truth["teams"]
    assert f.activities == truth["activities"]
    people = _level(findings, "resource")
    assert set().union(*(set(p.case_ids) for p in people)) == set(truth["case_ids"])
    assert cases_of(findings, "ping_pong") == set(truth["case_ids"])
    assert not set(sample_truth()["clean_case_ids"]) & cases_of(findings, "ping_pong")
    # 180 tickets, 30 of them bounce twice: 210 returns to Tier 1, 30 to Network Ops, all direct
    ev = f.evidence
    assert (ev["round_trips"], ev["direct"], ev["indirect"]) == (240, 240, 0)
    assert ev["returns_to"] == {"Tier 1": 210, "Network Ops": 30}
    assert [(h["from"], h["to"], h["handoffs"], h["cases"]) for h in ev["handoffs"]] == [
        ("Tier 1", "Network Ops", 210, 180),
        ("Network Ops", "Tier 1", 210, 180),
    ]
    assert {"source": "Escalate to Network Ops", "target": "Run Line Test", "cases": 180} in ev["edges"]
    assert ev["waste"] == "transport" and f.cost is not None and (f.cost.hours_total or 0) > 0


def _rows() -> list[tuple[str, str, str, str, str | None]]:
    """c1 and c3 ping-pong; c2 comes back only through a third team; c4 and c5 are clean."""
    return [
        # c1: T1 → T2 → T1; a bot (with a team of its own) and the customer inside T2's stay are skipped
        ("c1", "Create", "2024-01-01 08:00", "customer", None),
        ("c1", "Escalate", "2024-01-01 09:00", "ann", "T1"),
        ("c1", "Investigate", "2024-01-01 10:00", "bob", "T2"),
        ("c1", "Route", "2024-01-01 10:30", "bot-router", "T9"),
        ("c1", "Customer Follow-up", "2024-01-01 11:00", "customer", None),
        ("c1", "Return", "2024-01-01 12:00", "bob", "T2"),
        ("c1", "Reply", "2024-01-01 14:00", "ann", "T1"),
        # c2: T1 → T2 → T3 → T1: an indirect round trip only
        ("c2", "Escalate", "2024-01-02 09:00", "ann", "T1"),
        ("c2", "Investigate", "2024-01-02 10:00", "bob", "T2"),
        ("c2", "Forward", "2024-01-02 11:00", "cid", "T3"),
        ("c2", "Reply", "2024-01-02 12:00", "ann", "T1"),
        # c3: T1 → T2 → T1 → T2 → T1: three direct returns, two to T1, one to T2
        ("c3", "Escalate", "2024-01-03 09:00", "ann", "T1"),
        ("c3", "Investigate", "2024-01-03 12:00", "bob", "T2"),
        ("c3", "Return", "2024-01-03 13:00", "bob", "T2"),
        ("c3", "Reply", "2024-01-03 13:30", "ann", "T1"),
        ("c3", "Escalate", "2024-01-03 14:00", "ann", "T1"),
        ("c3", "Investigate", "2024-01-03 19:00", "bob", "T2"),
        ("c3", "Return", "2024-01-03 20:00", "bob", "T2"),
        ("c3", "Reply", "2024-01-03 21:00", "ann", "T1"),
        # c4: a one-way escalation; c5: consecutive repeats collapse
        ("c4", "Escalate", "2024-01-04 09:00", "ann", "T1"),
        ("c4", "Investigate", "2024-01-04 10:00", "bob", "T2"),
        ("c5", "Escalate", "2024-01-05 09:00", "ann", "T1"),
        ("c5", "Escalate", "2024-01-05 09:30", "ann", "T1"),
        ("c5", "Investigate", "2024-01-05 10:00", "bob", "T2"),
        ("c5", "Return", "2024-01-05 11:00", "bob", "T2"),
    ]


def test_tiny_log_cases_and_evidence(tmp_path: Path) -> None:
    findings = run_audit(tiny_log(tmp_path, _rows()))
    teams, people = _level(findings, "team"), _level(findings, "resource")
    assert len(teams) == 1 and len(people) == 1
    t, p = teams[0], people[0]
    assert t.case_ids == ["c1", "c3"] and p.case_ids == ["c1", "c3"] and t.case_share == 0.4
    assert t.evidence["teams"] == ["T1", "T2"] and p.evidence["resources"] == ["ann", "bob"]
    assert t.activities == ["Escalate", "Return"]
    for f in (t, p):
        ev = f.evidence
        assert (ev["round_trips"], ev["direct"], ev["indirect"], ev["indirect_only_cases"]) == (4, 4, 0, 1)
        assert list(ev["returns_to"].values()) == [3, 1]
        out, back = ev["handoffs"]
        # waits T1 → T2: 1, 3, 5 h; T2 → T1: 2, 0.5, 1 h (quantiles interpolate)
        assert (out["handoffs"], out["cases"], out["median_wait_hours"]) == (3, 2, 3.0)
        assert out["p90_wait_hours"] == pytest.approx(4.6)
        assert (back["handoffs"], back["cases"], back["median_wait_hours"]) == (3, 2, 1.0)
        assert back["p90_wait_hours"] == pytest.approx(1.8)
        assert ev["edges"] == [
            {"source": "Escalate", "target": "Investigate", "cases": 2},
            {"source": "Return", "target": "Reply", "cases": 2},
        ]
        assert ev["waste"] == "transport"


def test_clean_tiny_log_has_no_ping_pong(tmp_path: Path) -> None:
    rows = [r for r in _rows() if r[0] in ("c4", "c5")]
    rows += [  # a system account and the customer between two stays of one team do not split it
        ("c6", "Escalate", "2024-01-06 09:00", "ann", "T1"),
        ("c6", "Route", "2024-01-06 09:10", "bot-router", "T2"),
        ("c6", "Customer Follow-up", "2024-01-06 09:20", "customer", None),
        ("c6", "Reply", "2024-01-06 09:30", "ann", "T1"),
    ]
    assert not [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "ping_pong"]


def _pandas_ping_pong(df: pd.DataFrame) -> tuple[dict[tuple[str, str], set[str]], int]:
    """Independent reading of the contract: collapse each case's team sequence, find X, Y, X."""
    df = df.dropna(subset=["team"]).sort_values(["case", "ts", "row"], kind="stable")
    pairs: dict[tuple[str, str], set[str]] = {}
    returns = 0
    for case, teams in df.groupby("case", sort=False)["team"]:
        seq = [t for i, t in enumerate(teams) if i == 0 or t != teams.iloc[i - 1]]
        for x, y, z in zip(seq, seq[1:], seq[2:], strict=False):
            if x == z:
                returns += 1
                pairs.setdefault((min(x, y), max(x, y)), set()).add(str(case))
    return pairs, returns


@pytest.mark.realdata
def test_bpic2013_team_ping_pong_matches_pandas() -> None:
    path = shared("bpic2013-problems/bpic2013_closed_problems.xes.gz")
    raw = read_xes(path).to_pandas()
    df = raw.rename(
        columns={"case:concept:name": "case", "org:group": "team", "time:timestamp": "ts", "__row": "row"}
    )
    expected, returns = _pandas_ping_pong(df)
    pack = rules.RulePack(system=(), customer=())  # no system accounts: nothing but missing teams is skipped
    with Engine() as engine:
        log = load(path, ReadOptions(), engine)
        assert log.summary.mapping is not None and log.summary.mapping.team == "org:group"
        ctx = build_context(log, AuditOptions(rules=pack))
        unfolded = ping_pong._level(ctx, "team")
        findings = _level(ping_pong.detect(ctx), "team")
    got = {tuple(sorted(f.evidence["teams"])): set(f.case_ids) for f in unfolded}
    assert got == expected
    assert sum(f.evidence["direct"] for f in unfolded) == returns
    all_cases = set().union(*expected.values())
    assert len(all_cases) == 59 and len(unfolded) == len(expected)
    # As reported: the material pairs on their own, the rest folded into one finding; the kind's cases stay.
    assert set().union(*(set(f.case_ids) for f in findings)) == all_cases
    folded = [f for f in findings if "pairs" in f.evidence]
    assert len(folded) <= 1 and all(f.cases >= 10 for f in findings if "pairs" not in f.evidence)
    if folded:
        listed = {tuple(sorted(p["teams"])): p["cases"] for p in folded[0].evidence["pairs"]}
        assert all(len(expected[k]) == n for k, n in listed.items())


@pytest.mark.realdata
def test_bpic2014_reassignments_found_as_team_ping_pong() -> None:
    """The BPIC 2014 subset's reassignments move incidents between assignment groups: the team-level
    ping-pong cases equal an independent pandas computation, and reassignment is the main handover."""
    path = shared("bpic2014-incident-activity/incident_activity_subset.csv.gz")
    raw = pd.read_csv(path)
    df = pd.DataFrame(
        {"case": raw["incident_id"], "team": raw["assignment_group"], "ts": pd.to_datetime(raw["datestamp"]),
         "row": range(len(raw))}
    )
    expected, _ = _pandas_ping_pong(df)
    with Engine() as engine:
        ctx = build_context(load(path, ReadOptions(), engine), AuditOptions())
        findings = _level(ping_pong.detect(ctx), "team")
    all_cases = set().union(*expected.values())
    assert set().union(*(set(f.case_ids) for f in findings)) == all_cases and len(all_cases) > 500
    top = max((f for f in findings if "pairs" not in f.evidence), key=lambda f: f.cases)
    assert "reassignment" in top.activities

"""long_wait: long edges and parking states, SLA-pause abuse, the owner outlier score, and real data."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from audit_helpers import SAMPLE, SAMPLE_RULES, sample_truth, tiny_log
from conftest import shared

from auditor import audit, rules
from auditor.businesstime import parse as parse_hours
from auditor.detectors import long_wait
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.ingest import load
from auditor.options import ReadOptions
from auditor.parking import ParkingState, Recognised, classify
from auditor.readers.xes import read_xes

# The tiny logs name their customer account and roles, as the sample's rule pack does. ("Customer Reply" is
# a customer-side event either way: it is by the customer account.)
TINY_PACK = rules.RulePack(
    roles={"resolution": ("Resolve Ticket",), "customer_contact": ("Customer Reply",)}, customer=("customer",)
)


def detect(path: Path, pack: rules.RulePack | None = None, **opts: Any) -> list[Finding]:
    """Only this detector (the others are not needed to judge it, and this keeps the tests fast)."""
    with Engine() as engine:
        log = load(path, ReadOptions(), engine)
        ctx = audit.build_context(log, audit.AuditOptions(rules=pack or rules.RulePack(), **opts))
        return long_wait.detect(ctx)


@lru_cache(maxsize=2)
def sample_long_waits(with_rules: bool) -> tuple[Finding, ...]:
    return tuple(detect(SAMPLE, rules.load(SAMPLE_RULES) if with_rules else None))


def of(findings: list[Finding] | tuple[Finding, ...], mechanism: str) -> list[Finding]:
    return [f for f in findings if f.evidence.get("mechanism") == mechanism]


def union(findings: list[Finding] | tuple[Finding, ...]) -> set[str]:
    return {c for f in findings for c in f.case_ids}


@pytest.mark.parametrize("with_rules", [True, False], ids=["rules", "inferred"])
def test_sample_truth_precision_and_recall(with_rules: bool) -> None:
    truth = sample_truth()
    lw = truth["kinds"]["long_wait"]
    findings = sample_long_waits(with_rules)
    assert union(findings) == set(lw["case_ids"])
    assert union(of(findings, "parking_abuse")) == set(lw["parking_abuse"]["case_ids"])
    assert not union(findings) & set(truth["clean_case_ids"])
    parked = of(findings, "parking")
    assert [f.activities for f in parked] == [lw["activities"]]
    abuse = of(findings, "parking_abuse")
    assert len(abuse) == 1 and abuse[0].evidence["signals"]["unanswered_cases"] == 60
    owners = {o["owner"] for o in abuse[0].evidence["owners"]}
    assert owners == set(lw["parking_abuse"]["agents"])
    ev = abuse[0].evidence
    assert ev["sla_clock_hours"]["median"] < ev["customer_hours"]["median"] / 5
    assert all(f.kind == "long_wait" and f.evidence["waste"] == "waiting" for f in findings)


def _t(day: int, hour: float) -> str:
    return (datetime(2024, 1, 1) + timedelta(days=day, hours=hour)).strftime("%Y-%m-%d %H:%M")


def _clean(case: str, day: int, agent: str = "amy") -> list[tuple[str, str, str, str, str]]:
    return [
        (case, "Create Ticket", _t(day, 8), "customer", ""),
        (case, "Take in Charge", _t(day, 9), agent, "T1"),
        (case, "Reply to Customer", _t(day, 10), agent, "T1"),
        (case, "Resolve Ticket", _t(day, 11), agent, "T1"),
    ]


def test_clean_log_has_no_long_wait(tmp_path: Path) -> None:
    rows = [r for i in range(8) for r in _clean(f"c{i}", i)]
    # a parking that the customer answers within the hour is no long wait
    for i in range(8, 14):
        rows += [
            (f"c{i}", "Create Ticket", _t(i, 8), "customer", ""),
            (f"c{i}", "Pending Customer", _t(i, 9), "amy", "T1"),
            (f"c{i}", "Customer Reply", _t(i, 9.5), "customer", ""),
            (f"c{i}", "Resolve Ticket", _t(i, 10), "amy", "T1"),
        ]
    assert detect(tiny_log(tmp_path, rows), TINY_PACK) == []


def _abuse_log(tmp_path: Path) -> Path:
    rows = [r for i in range(6) for r in _clean(f"c{i}", i)]
    for i in range(5):  # answered parkings: 30 h each, the customer replies
        d = 10 + i
        rows += [
            (f"n{i}", "Create Ticket", _t(d, 8), "customer", ""),
            (f"n{i}", "Take in Charge", _t(d, 9), "amy", "T1"),
            (f"n{i}", "Pending Customer", _t(d, 10), "amy", "T1"),
            (f"n{i}", "Customer Reply", _t(d, 40), "customer", ""),
            (f"n{i}", "Resolve Ticket", _t(d, 42), "amy", "T1"),
        ]
    # x1: parked twice, 48 h apart, the agent answers 48 h later: 96 h parked in 100 h
    rows += [
        ("x1", "Create Ticket", _t(30, 8), "customer", ""),
        ("x1", "Take in Charge", _t(30, 9), "zed", "T1"),
        ("x1", "Pending Customer", _t(30, 10), "zed", "T1"),
        ("x1", "Pending Customer", _t(32, 10), "zed", "T1"),
        ("x1", "Reply to Customer", _t(34, 10), "zed", "T1"),
        ("x1", "Resolve Ticket", _t(34, 12), "zed", "T1"),
    ]
    # x2: parked three times, 78 h parked in 82 h
    rows += [
        ("x2", "Create Ticket", _t(40, 8), "customer", ""),
        ("x2", "Take in Charge", _t(40, 9), "zed", "T1"),
        ("x2", "Pending Customer", _t(40, 10), "zed", "T1"),
        ("x2", "Pending Customer", _t(41, 10), "zed", "T1"),
        ("x2", "Pending Customer", _t(42, 10), "zed", "T1"),
        ("x2", "Reply to Customer", _t(43, 16), "zed", "T1"),
        ("x2", "Resolve Ticket", _t(43, 18), "zed", "T1"),
    ]
    return tiny_log(tmp_path, rows)


def test_parking_abuse_exact_evidence(tmp_path: Path) -> None:
    findings = detect(_abuse_log(tmp_path), TINY_PACK)
    abuse = of(findings, "parking_abuse")
    assert len(abuse) == 1
    f = abuse[0]
    assert f.case_ids == ["x1", "x2"] and f.activities == ["Pending Customer"]
    ev = f.evidence
    assert ev["signals"] == {
        "unanswered_cases": 2,
        "re_set_while_parked_cases": 2,
        "re_entered_after_other_steps_cases": 0,
    }
    # customer-perceived time (to resolution) against the SLA clock (parked time excluded)
    assert ev["customer_hours"] == {"median": 91.0, "total": 182.0}
    assert ev["parked_hours"] == {"median": 87.0, "total": 174.0}
    assert ev["sla_clock_hours"] == {"median": 4.0, "total": 8.0}
    assert ev["hidden_share"] == pytest.approx(174 / 182)
    assert ev["owners"] == [{"owner": "zed", "cases": 2}]  # 2 parked cases: too few to be scored
    assert {
        "source": "Pending Customer",
        "target": "Reply to Customer",
        "cases": 2,
        "median_hours": 87.0,
    } in ev["edges"]
    # the parking state itself is a long wait: median spell 30 h against a 24 h threshold, every parked case
    (parked,) = of(findings, "parking")
    assert parked.case_ids == ["n0", "n1", "n2", "n3", "n4", "x1", "x2"]
    assert parked.evidence["median_hours"] == 30.0 and parked.evidence["threshold_hours"] == 24.0
    assert parked.evidence["log_median_wait_hours"] == 1.0
    assert not of(findings, "edge_wait")


def test_working_hours_add_business_medians(tmp_path: Path) -> None:
    findings = detect(_abuse_log(tmp_path), TINY_PACK, working_hours=parse_hours("Mon-Sun 00:00-24:00"))
    (parked,) = of(findings, "parking")
    assert parked.evidence["median_business_hours"] == pytest.approx(30.0)


def test_owner_outlier_score(tmp_path: Path) -> None:
    # six owners park five cases each; the customer always answers. Parked hours P in a case of 3 + P hours.
    parked = {"o1": 1.0, "o2": 1.2, "o3": 1.4, "o4": 1.6, "o5": 1.8, "o6": 37.0}
    rows: list[tuple[str, str, str, str, str]] = []
    for k, (owner, p) in enumerate(parked.items()):
        for i in range(5):
            d, c = 7 * k + i, f"{owner}-{i}"
            rows += [
                (c, "Create Ticket", _t(d, 0), "customer", ""),
                (c, "Take in Charge", _t(d, 1), owner, "T1"),
                (c, "Waiting for customer", _t(d, 2), owner, "T1"),
                (c, "Customer Reply", _t(d, 2 + p), "customer", ""),
                (c, "Resolve Ticket", _t(d, 3 + p), owner, "T1"),
            ]
    findings = detect(tiny_log(tmp_path, rows), TINY_PACK)
    assert [f.evidence["mechanism"] for f in findings] == ["parking_abuse"]
    (f,) = findings
    assert f.evidence["signal"] == "owner_outlier" and f.evidence["owner"] == "o6"
    assert f.case_ids == [f"o6-{i}" for i in range(5)]
    shares = [p / (3 + p) for p in parked.values()]
    med = statistics.median(shares)
    mad = statistics.median(abs(s - med) for s in shares)
    assert f.evidence["parked_share"] == pytest.approx(37 / 40)
    assert f.evidence["robust_z"] == pytest.approx(0.6745 * (37 / 40 - med) / mad)
    assert f.evidence["robust_z"] > 3.5
    assert f.evidence["outlier_score"]["peers"] == 6


def test_robust_z_falls_back_to_mean_absolute_deviation() -> None:
    z = long_wait.robust_z(pd.Series([0.1, 0.1, 0.1, 0.1, 0.6]))
    assert z.iloc[-1] == pytest.approx(0.5 / (1.253314 * 0.1))
    assert list(long_wait.robust_z(pd.Series([0.2] * 5))) == [0.0] * 5


@pytest.mark.parametrize(
    ("name", "party"),
    [
        ("Pending Customer", "customer"),
        ("Wait - User", "customer"),
        ("Awaiting Caller", "customer"),
        ("Status: Open -> Pending", "customer"),
        ("Awaiting Vendor", "third_party"),
        ("On Hold", "unspecified"),
        ("Wait", "unspecified"),
        ("Status: Pending -> Open", None),
        ("Awaiting Assignment", None),
        ("Waiting for Support", None),
        ("Customer Reply", None),
    ],
)
def test_parking_names(name: str, party: str | None) -> None:
    hit = classify(name)
    assert (hit[0] if hit else None) == party


def test_field_changes_into_one_value_are_one_state() -> None:
    rec = Recognised(
        (
            ParkingState("Status: open -> pending", None, "customer", ""),
            ParkingState("Status: new -> pending", None, "customer", ""),
            ParkingState("Accepted", "Wait - User", "customer", ""),
        ),
        "lifecycle:transition",
    )
    assert [s.label for s in rec.states] == ["Status: pending", "Status: pending", "Accepted / Wait - User"]
    assert rec.activities("Status: pending") == ["Status: new -> pending", "Status: open -> pending"]


@pytest.mark.realdata
def test_bpic2013_closed_problems_wait_substatus() -> None:
    """BPIC 2013 keeps the wait in lifecycle:transition (Accepted / Wait); checked against pandas."""
    path = shared("bpic2013-problems/bpic2013_closed_problems.xes.gz")
    findings = detect(path)
    (parked,) = [f for f in of(findings, "parking") if f.evidence["state"] == "Accepted / Wait"]
    assert parked.activities == ["Accepted"]
    # independent computation: spells of consecutive Accepted/Wait events, to the next other event
    df = read_xes(path).to_pandas().sort_values(["case:concept:name", "time:timestamp", "__row"])
    case = df["case:concept:name"]
    park = (df["concept:name"] == "Accepted") & (df["lifecycle:transition"] == "Wait")
    prev = park.groupby(case).shift(1, fill_value=False).astype(bool)
    run = (park & ~prev).groupby(case).cumsum()
    key = pd.DataFrame({"case": case, "run": run, "t": df["time:timestamp"]})
    # 'Completed' ends 90% of the cases it occurs in: the closure (inferred from behaviour, no name says
    # so). A spell counts when it starts while the case is open: before its first closure (no reopens here).
    closed_before = (df["concept:name"] == "Completed").astype(int).groupby(case).cumsum() > 0
    starts = key[park & ~prev & ~closed_before]
    ends = key[~park & prev]
    spells = starts.merge(ends, on=["case", "run"], suffixes=("0", "1"))
    hours = (spells["t1"] - spells["t0"]).dt.total_seconds() / 3600
    # the typical wait: the median of the waits from a step while the case is open at it
    gaps = df["time:timestamp"].groupby(case).diff().dt.total_seconds().div(3600)
    closed_at_prev = (df["concept:name"] == "Completed").astype(int).groupby(case).cumsum().groupby(case).shift(1) > 0
    typical = gaps[~closed_at_prev].median()
    limit = max(3 * typical, 24.0)
    assert parked.evidence["median_hours"] == pytest.approx(hours.median())
    assert parked.evidence["p90_hours"] == pytest.approx(hours.quantile(0.9))
    assert parked.evidence["spells"] == len(spells)
    assert parked.evidence["threshold_hours"] == pytest.approx(limit)
    assert set(parked.case_ids) == set(spells.loc[hours.to_numpy() >= limit, "case"])
    # no customer events in this log: the only abuse signal it can show is the wait set again while it holds
    (abuse,) = of(findings, "parking_abuse")
    assert abuse.evidence["customer_events_logged"] is False
    assert abuse.evidence["customer_answers_visible"] is False
    assert set(abuse.case_ids) == set(case[park & prev])


@pytest.mark.parametrize("slow", [6, 25])
def test_an_edge_needs_twenty_waits_to_be_judged(tmp_path: Path, slow: int) -> None:
    """A median and a p90 over five waits said "Cases wait 771 days from Unmatched to Completed" (BPIC 2013,
    medium). An edge on fewer than MIN_WAITS waits is noted, not judged."""
    rows = []
    for i in range(60):
        t0 = datetime(2024, 3, 4, 8) + timedelta(days=i % 20)
        steps = [("Open", 0), ("Work", 1), ("Close", 2)]
        if i < slow:  # a detour whose wait is ten days
            steps = [("Open", 0), ("Work", 1), ("Check Archive", 241), ("Close", 242)]
        rows += [(f"c{i}", a, (t0 + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M"), "ann", "T1") for a, h in steps]
    path = tiny_log(tmp_path, rows, ("case", "activity", "timestamp", "resource", "team"))
    with Engine() as engine:
        ctx = audit.build_context(load(path, ReadOptions(), engine), audit.AuditOptions())
        found = of(long_wait.detect(ctx), "edge_wait")
        notes = ctx.notes
    if slow < long_wait.MIN_WAITS:
        assert found == []
        assert any("fewer than 20 waits was not judged" in n and "Work → Check Archive" in n for n in notes)
    else:
        (f,) = found
        assert f.activities == ["Work", "Check Archive"] and len(f.case_ids) == slow

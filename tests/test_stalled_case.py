"""stalled_case: no closure, and the last event at least `stalled_days` before the log's end (contract)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from audit_helpers import SAMPLE, SAMPLE_RULES, run_audit, sample_findings, sample_truth, tiny_log

from auditor import rules
from auditor.audit import AuditOptions, build_context
from auditor.detectors import stalled_case
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.ingest import load
from auditor.options import ReadOptions


def stalled(findings: tuple[Finding, ...] | list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "stalled_case"]


def test_sample_truth_exact() -> None:
    truth = sample_truth()
    found = stalled(sample_findings())
    assert len(found) == 1
    f = found[0]
    assert f.case_ids == truth["kinds"]["stalled_case"]["case_ids"]
    ev = f.evidence
    # 106 clean tickets are open but recent (last event at most 5 days old): not stalled.
    assert ev["open_cases"] - f.cases == 106
    assert not set(truth["clean_case_ids"]) & set(f.case_ids)
    # As planted (logs/README.md #8): 25-181 days idle; 30 stop after customer follow-ups.
    assert 25 <= ev["days_idle"]["median"] <= ev["days_idle"]["max"] <= 181
    assert ev["last_activity"]["Customer Follow-up"] == 30
    assert set(ev["last_activity"]) == set(f.activities)
    assert sum(ev["last_activity"].values()) == 75 and ev["resolved_not_closed"] == 0
    # Customers and systems do not hold work: every stalled ticket is held by an agent of a team.
    assert sum(ev["held_by_team"].values()) == 75
    assert {"source": "Customer Follow-up", "target": "Customer Follow-up", "cases": 30} in ev["edges"]
    assert ev["waste"] == "inventory" and ev["stalled_days"] == 14


def test_sample_thresholds() -> None:
    truth = sample_truth()["kinds"]["stalled_case"]["case_ids"]
    base = rules.load(SAMPLE_RULES)
    with Engine() as engine:
        log = load(SAMPLE, ReadOptions(), engine)

        def ids(days: float) -> list[str]:
            pack = replace(base, thresholds=replace(base.thresholds, stalled_days=days))
            found = stalled_case.detect(build_context(log, AuditOptions(rules=pack)))
            return found[0].case_ids if found else []

        assert ids(13) == ids(15) == truth
        thirty = ids(30)
        assert set(thirty) < set(truth) and thirty


# Tickets opened by agents here: a log whose only customer events are ticket creations trips a bug in
# roles._contacts_by_behaviour (reported to the lead), which is not this detector's to test.
ROWS = [
    # c1: closed long ago: finished, not stalled
    ("c1", "Create Ticket", "2024-01-01 09:00", "ann", "T1"),
    ("c1", "Resolve Ticket", "2024-01-01 10:00", "ann", "T1"),
    ("c1", "Close Ticket", "2024-01-02 10:00", "svc-bot", None),
    # c3: open, last event 5 days before the end
    ("c3", "Create Ticket", "2024-02-20 09:00", "bob", "T2"),
    ("c3", "Take in Charge", "2024-02-25 09:00", "bob", "T2"),
    # c5: open, its last event is the latest of the log (2024-03-01 09:00)
    ("c5", "Create Ticket", "2024-03-01 09:00", "ann", "T1"),
]
STALLED = [
    # c2: open, 20 days idle; the customer's follow-up is the last event, ann (T1) holds it
    ("c2", "Create Ticket", "2024-02-05 09:00", "customer", None),
    ("c2", "Take in Charge", "2024-02-05 10:00", "ann", "T1"),
    ("c2", "Customer Follow-up", "2024-02-10 09:00", "customer", None),
    # c4: exactly 14 days idle, resolved but never closed, bob (T2) holds it
    ("c4", "Create Ticket", "2024-02-15 08:00", "customer", None),
    ("c4", "Resolve Ticket", "2024-02-16 09:00", "bob", "T2"),
    ("c4", "Send Survey", "2024-02-16 09:00", "svc-bot", None),
    # c6: open, 40 days idle, a single event: no edge, nobody holds it
    ("c6", "Create Ticket", "2024-01-21 09:00", "customer", None),
]


def test_clean_tiny_log_has_no_stall(tmp_path: Path) -> None:
    assert not stalled(run_audit(tiny_log(tmp_path, ROWS)))


def test_tiny_log_cases_and_evidence(tmp_path: Path) -> None:
    found = stalled(run_audit(tiny_log(tmp_path, ROWS + STALLED)))
    assert len(found) == 1
    f = found[0]
    assert f.case_ids == ["c2", "c4", "c6"]
    assert f.activities == ["Create Ticket", "Customer Follow-up", "Send Survey"]
    ev = f.evidence
    assert ev["days_idle"] == {"median": 20.0, "max": 40.0}
    assert ev["last_activity"] == {"Create Ticket": 1, "Customer Follow-up": 1, "Send Survey": 1}
    assert ev["held_by_resource"] == {"ann": 1, "bob": 1} and ev["held_by_team"] == {"T1": 1, "T2": 1}
    assert ev["resolved_not_closed"] == 1 and ev["open_cases"] == 5
    assert ev["edges"] == [
        {"source": "Resolve Ticket", "target": "Send Survey", "cases": 1},
        {"source": "Take in Charge", "target": "Customer Follow-up", "cases": 1},
    ]


def test_threshold_from_the_rule_pack(tmp_path: Path) -> None:
    log = tiny_log(tmp_path, ROWS + STALLED)
    found = stalled(run_audit(log, "[thresholds]\nstalled_days = 30\n", tmp_path))
    assert [f.case_ids for f in found] == [["c6"]]
    found = stalled(run_audit(log, "[thresholds]\nstalled_days = 4\n", tmp_path))
    assert [f.case_ids for f in found] == [["c2", "c3", "c4", "c6"]]


def test_no_closure_activity_no_stall(tmp_path: Path) -> None:
    rows = [r for r in ROWS + STALLED if r[1] != "Close Ticket"]
    assert not stalled(run_audit(tiny_log(tmp_path, rows)))


def test_stalled_cost_is_the_idle_time() -> None:
    from audit_helpers import sample_findings

    stalled = next(f for f in sample_findings() if f.kind == "stalled_case")
    assert stalled.cost is not None and stalled.cost.hours_total is not None
    assert stalled.cost.hours_per_case is not None
    assert stalled.cost.hours_per_case >= 14 * 24  # every stalled case has waited at least the threshold
    assert stalled.cost.hours_total >= stalled.cost.hours_per_case * stalled.cases / 2
    assert "idle" in stalled.cost.method


def test_stalled_cost_in_business_hours(tmp_path: Path) -> None:
    """With working hours, the idle time is also counted inside them: the log ends Friday 2024-03-01 09:00."""
    from auditor.businesstime import parse

    found = stalled(run_audit(tiny_log(tmp_path, ROWS + STALLED), working_hours=parse("Mon-Fri 08:00-18:00")))
    cost = found[0].cost
    assert cost is not None
    # c2 from Saturday 02-10 09:00: 2 full weeks (100 h) + Mon-Thu (40 h) + Friday 08:00-09:00 (1 h) = 141 h;
    # c6 from Sunday 01-21: 5 weeks (250 h) + 41 = 291 h. c4 was resolved but never closed: its customer is
    # not waiting, so its idle time (100 h) is not counted, and the title says so.
    assert cost.business_hours_per_case == 216.0 and cost.business_hours_total == 432.0
    assert cost.hours_per_case == 30 * 24.0 and cost.hours_total == 60 * 24.0
    assert "the 1 resolved but never closed are not counted" in cost.method
    assert found[0].title.endswith("(1 resolved but never closed)")
    assert "extra_business_hours_total" in cost.to_json()


def test_a_far_off_end_date_keeps_the_cases_but_not_the_idle_hours(tmp_path: Path) -> None:
    """One event mistyped a year on made open cases idle for 317 days, the top finding by cost. The cases stay
    (the contract measures to the latest timestamp), but the idle time is measured to the rest's end."""
    rows = []
    for i in range(40):
        day = f"2024-03-{1 + i % 20:02d}"
        steps = ["Open", "Work", "Close Ticket"] if i < 35 else ["Open", "Work"]  # five cases still open
        rows += [(f"c{i:02d}", a, f"{day} {8 + k:02d}:00", "ann", "T1") for k, a in enumerate(steps)]
    assert not stalled(run_audit(tiny_log(tmp_path, rows)))
    rows.append(("c01", "Add Comment", "2025-03-20 10:00", "ann", "T1"))
    found = stalled(run_audit(tiny_log(tmp_path, rows)))
    assert [f.case_ids for f in found] == [["c35", "c36", "c37", "c38", "c39"]]
    f = found[0]
    assert f.evidence["rest_of_log_ends"] == "2024-03-20T10:00:00Z" and f.evidence["stalled_at_rest_end"] == 0
    assert "far after the rest" in f.title and "0 of them are idle 14+ days" in f.title
    assert f.cost is not None and f.cost.hours_total is not None
    assert f.cost.hours_total < 5 * 20 * 24  # each case idle under 20 days to the rest's end, not 380

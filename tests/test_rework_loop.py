"""rework_loop: one finding per repeated activity (contract), the rework taxonomy, and multi-step loops."""

from __future__ import annotations

from pathlib import Path

from audit_helpers import cases_of, run_audit, sample_findings, sample_truth, tiny_log

from auditor import audit
from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions


def test_sample_truth_precision_and_recall() -> None:
    truth = sample_truth()["kinds"]["rework_loop"]
    findings = sample_findings()
    assert cases_of(findings, "rework_loop", single=True) == set(truth["case_ids"])
    acts = {f.activities[0] for f in findings if f.kind == "rework_loop" and len(f.activities) == 1}
    assert acts == set(truth["activities"])
    clean = set(sample_truth()["clean_case_ids"])
    assert not clean & cases_of(findings, "rework_loop")


def test_taxonomy_on_a_tiny_log(tmp_path: Path) -> None:
    rows = [
        ("c1", "Check", "2024-01-01 09:00", "ann", "T1"),
        ("c1", "Check", "2024-01-01 10:00", "ann", "T1"),   # self-loop, same resource: repeat
        ("c1", "Fix", "2024-01-01 11:00", "bob", "T1"),
        ("c1", "Check", "2024-01-01 12:00", "cid", "T1"),   # repetition, other resource: redo
        ("c2", "Check", "2024-01-02 09:00", "ann", "T1"),
        ("c2", "Fix", "2024-01-02 10:00", "bob", "T1"),
    ]
    findings = [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "rework_loop"]
    check = next(f for f in findings if f.activities == ["Check"])
    assert check.case_ids == ["c1"] and check.cases == 1 and check.case_share == 0.5
    ev = check.evidence
    assert (ev["extra_occurrences"], ev["self_loop"], ev["repetition"]) == (2, 1, 1)
    assert (ev["repeat_same_resource"], ev["redo_other_resource"]) == (1, 1)
    assert {"source": "Fix", "target": "Check", "cases": 1} in ev["edges"]
    assert not [f for f in findings if f.activities == ["Fix"]]


def test_multi_step_loop_is_one_finding_whichever_step(tmp_path: Path) -> None:
    rows = []
    for i in range(6):
        for j, act in enumerate(["Open", "Ask", "Answer", "Ask", "Answer", "Ask", "Answer", "Close"]):
            rows.append((f"c{i}", act, f"2024-01-0{1 + i} {8 + j:02d}:00", "ann", "T1"))
    findings = [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "rework_loop" and len(f.activities) > 1]
    assert len(findings) == 1
    loop = findings[0]
    assert loop.evidence["loop"] == ["Ask", "Answer", "Ask"] and loop.cases == 6


def test_no_repeats_no_findings(tmp_path: Path) -> None:
    rows = [("c1", "A", "2024-01-01 09:00", "x", "T"), ("c1", "B", "2024-01-01 10:00", "x", "T")]
    assert not [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "rework_loop"]


def test_repeats_that_only_move_the_sub_status_are_counted_and_noted(tmp_path: Path) -> None:
    """BPIC 2013: 'Accepted' done again 2,721 times, 1,626 of them In Progress -> Wait within the step."""
    rows = []
    for i in range(10):
        day = f"2024-02-{1 + i:02d}"
        steps = [("Queued", "Awaiting"), ("Accepted", "In Progress"), ("Accepted", "Wait"), ("Accepted", "In Progress"),
                 ("Completed", "Closed")]
        if i < 3:
            steps.insert(2, ("Accepted", "In Progress"))  # the same sub-status again: a repeat of the work
        rows += [(f"c{i}", a, f"{day} {8 + k:02d}:00", "ann", "T1", st) for k, (a, st) in enumerate(steps)]
    path = tiny_log(tmp_path, rows, ("case", "activity", "timestamp", "resource", "team", "lifecycle:transition"))
    with Engine() as engine:
        result = audit.run(load(path, ReadOptions(), engine), audit.AuditOptions())
    (f,) = [f for f in result.findings if f.kind == "rework_loop" and f.activities == ["Accepted"]]
    assert f.evidence["extra_occurrences"] == 23 and f.evidence["sub_status_changes"] == 20
    assert any(n.startswith("Accepted: 20 of its 23 repeats change the sub-status") for n in result.notes)


def test_a_customer_contacting_again_is_chasing_not_rework(tmp_path: Path) -> None:
    rows = []
    for i in range(6):
        rows += [(f"c{i}", "Open", f"2024-03-0{1 + i} 08:00", "ann", "T1"),
                 (f"c{i}", "Customer Follow-up", f"2024-03-0{1 + i} 09:00", "customer", "T1"),
                 (f"c{i}", "Customer Follow-up", f"2024-03-0{1 + i} 10:00", "customer", "T1"),
                 (f"c{i}", "Work", f"2024-03-0{1 + i} 11:00", "ann", "T1"),
                 (f"c{i}", "Work", f"2024-03-0{1 + i} 12:00", "bob", "T1"),
                 (f"c{i}", "Resolve Ticket", f"2024-03-0{1 + i} 13:00", "ann", "T1")]
    found = run_audit(tiny_log(tmp_path, rows))
    assert [f.activities for f in found if f.kind == "rework_loop"] == [["Work"]]
    assert [f.kind for f in found if f.kind == "customer_chasing"] == ["customer_chasing"]


def test_a_resolution_done_again_says_the_first_did_not_hold(tmp_path: Path) -> None:
    """A status log (Zendesk: solved -> open -> solved) names no reopen: the repeated resolution is where it shows."""
    rows = []
    for i in range(6):
        rows += [(f"z{i}", "open", f"2024-03-0{1 + i} 08:00", "ann", "T1"),
                 (f"z{i}", "solved", f"2024-03-0{1 + i} 09:00", "ann", "T1")]
        if i < 2:
            rows += [(f"z{i}", "open", f"2024-03-0{1 + i} 10:00", "end-user", "T1"),
                     (f"z{i}", "solved", f"2024-03-0{1 + i} 11:00", "ann", "T1")]
        rows += [(f"z{i}", "closed", f"2024-03-0{1 + i} 23:00", "ann", "T1")]
    found = {f.activities[0]: f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "rework_loop" and len(f.activities) == 1}
    assert found["solved"].title == "solved is done again in 2 cases: the first resolution did not hold (2 extra times)"
    assert found["solved"].evidence["resolved_again"] is True and "resolved_again" not in found["open"].evidence

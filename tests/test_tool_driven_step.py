"""tool_driven_step: found from behaviour (timers, system accounts, chained bookkeeping), never names alone."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from audit_helpers import run_audit, sample_findings, sample_truth, tiny_log

from auditor import audit
from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions


def tool_steps(findings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.activities[0]: f.evidence["mechanism"] for f in findings if f.kind == "tool_driven_step"}


def test_sample_truth_exact() -> None:
    truth = sample_truth()["kinds"]["tool_driven_step"]["activities"]
    assert tool_steps(sample_findings()) == truth
    assert tool_steps(sample_findings(with_rules=False)) == truth
    survey = next(f for f in sample_findings() if f.kind == "tool_driven_step" and f.activities == ["Send Survey"])
    ev = survey.evidence
    assert ev["trigger"] == "Resolve Ticket" and abs(ev["delay_hours_median"] - 24) < 0.01
    assert ev["also"] == ["system_account"] and ev["reaches_customer"] is True


def test_value_adding_steps_not_flagged() -> None:
    flagged = set(tool_steps(sample_findings()))
    for human in ("Take in Charge", "Reply to Customer", "Resolve Ticket", "Investigate", "Fill Knowledge Form"):
        assert human not in flagged


def _human_log(tmp_path: Path, cases: int, seed: int = 1) -> Path:
    """Human work only: random waits, people vary, no bot accounts: nothing is tool-driven."""
    rng = random.Random(seed)
    rows = []
    people = ["ann", "bob", "cid", "dee"]
    for i in range(cases):
        t = datetime(2024, 1, 1) + timedelta(hours=rng.uniform(0, 2000))
        for act in ("Open", "Analyse", "Reply to Customer", "Resolve"):
            t += timedelta(minutes=rng.uniform(5, 3000))
            rows.append((f"c{i}", act, t.strftime("%Y-%m-%d %H:%M:%S"), rng.choice(people), "T1"))
    return tiny_log(tmp_path, rows)


def test_no_tool_steps_in_human_work(tmp_path: Path) -> None:
    assert tool_steps(run_audit(_human_log(tmp_path, 200))) == {}


def test_tiny_log_is_not_judged_and_says_so(tmp_path: Path) -> None:
    rows = [("c1", "Open", "2024-01-01 09:00", "ann", "T"), ("c1", "Auto-Close", "2024-01-08 09:00", "bot", "")]
    with Engine() as engine:
        result = audit.run(load(tiny_log(tmp_path, rows), ReadOptions(), engine), audit.AuditOptions())
    assert tool_steps(result.findings) == {}
    assert any("not judged (too little data)" in n for n in result.notes)


def test_timer_needs_constant_delay(tmp_path: Path) -> None:
    rng = random.Random(2)
    rows = []
    for i in range(60):
        t = datetime(2024, 1, 1) + timedelta(hours=rng.uniform(0, 2000))
        rows.append((f"c{i}", "Resolve", t.strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
        # a person's follow-up call: about two days later, but never the same delay
        rows.append((f"c{i}", "Courtesy Call", (t + timedelta(hours=rng.uniform(30, 60))).strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
        # the tool's reminder: exactly 48 h later
        rows.append((f"c{i}", "Reminder", (t + timedelta(hours=48, seconds=rng.randint(0, 3))).strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
    steps = tool_steps(run_audit(tiny_log(tmp_path, rows)))
    assert steps == {"Reminder": "timer"}


def test_timer_with_several_settings(tmp_path: Path) -> None:
    """An auto-close after exactly 15 days for a third of the cases, the others closed by people later."""
    rng = random.Random(4)
    rows = []
    for i in range(90):
        t = datetime(2024, 1, 1, 9) + timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 480))
        rows.append((f"c{i}", "Resolve", t.strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
        close = t + (timedelta(days=15, seconds=rng.randint(0, 20)) if i % 3 == 0 else timedelta(hours=rng.uniform(200, 900)))
        rows.append((f"c{i}", "Closed", close.strftime("%Y-%m-%d %H:%M:%S"), "bob", "T1"))
    found = [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "tool_driven_step"]
    assert [f.activities for f in found] == [["Closed"]]
    ev = found[0].evidence
    assert ev["timer_signature"] == "a mass of events at one exact delay"
    assert abs(ev["delay_hours_mode"] - 360) < 0.1 and 0.3 <= ev["share_at_mode"] <= 0.36
    assert "exactly 15 days" in found[0].title


def test_date_only_logs_make_no_timer_claims(tmp_path: Path) -> None:
    """With dates only, every delay is whole days: a mass at '1 day' is the calendar, not a timer."""
    rng = random.Random(5)
    rows = []
    for i in range(120):
        d = datetime(2024, 1, 1) + timedelta(days=rng.randint(0, 200))
        rows.append((f"c{i}", "Open", d.strftime("%Y-%m-%d"), "ann", "T1"))
        rows.append((f"c{i}", "Answer", (d + timedelta(days=rng.choice([1, 1, 1, 2, 3]))).strftime("%Y-%m-%d"), "bob", "T1"))
    assert not [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "tool_driven_step"]


def test_a_customer_is_never_a_timer(tmp_path: Path) -> None:
    """A copied or generated log where the customer always reopens exactly 10 h after the assignment: the
    constant delay is the data's, not the tool's, and the customer's step is not tool-driven."""
    rng = random.Random(3)
    rows = []
    for i in range(40):
        t = datetime(2024, 1, 1) + timedelta(hours=rng.uniform(0, 2000))
        rows.append((f"c{i}", "Assign", t.strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
        rows.append((f"c{i}", "Reopen", (t + timedelta(hours=10)).strftime("%Y-%m-%d %H:%M:%S"), "customer", None))
        rows.append((f"c{i}", "Reminder", (t + timedelta(hours=48)).strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
    steps = tool_steps(run_audit(tiny_log(tmp_path, rows)))
    assert "Reopen" not in steps and steps.get("Reminder") == "timer"


def test_date_only_logs_make_no_bookkeeping_claims(tmp_path: Path) -> None:
    """With dates only, a step on the same day has delay 0: 'Assign' read as bookkeeping chained to 'Create
    Ticket' (same person, within seconds) when it came hours later."""
    rng = random.Random(7)
    rows = []
    for i in range(120):
        d = datetime(2024, 1, 1) + timedelta(days=rng.randint(0, 200))
        who = rng.choice(["ann", "bob", "cy"])
        rows += [(f"c{i}", "Create Ticket", d.strftime("%Y-%m-%d"), who, "T1"),
                 (f"c{i}", "Assign", d.strftime("%Y-%m-%d"), who, "T1"),
                 (f"c{i}", "Answer", (d + timedelta(days=rng.choice([1, 1, 2]))).strftime("%Y-%m-%d"), "dee", "T1")]
    with Engine() as engine:
        result = audit.run(load(tiny_log(tmp_path, rows), ReadOptions(), engine), audit.AuditOptions())
    assert not [f for f in result.findings if f.kind == "tool_driven_step"]
    assert any("chained bookkeeping is not judged" in n for n in result.notes)
    assert not [f for f in result.findings if f.kind == "long_wait"]

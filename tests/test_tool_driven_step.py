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
    survey = next(f for f in sample_findings() if f.activities == ["Send Survey"])
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

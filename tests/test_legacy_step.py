"""legacy_step: orphaned (a consumer vanished), vestigial (no effect, shown by equivalence), declared."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from audit_helpers import run_audit, sample_findings, sample_truth, tiny_log

from auditor import audit, rules
from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions


def legacy(findings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.activities[0]: f.evidence["mechanism"] for f in findings if f.kind == "legacy_step"}


def test_sample_truth_exact() -> None:
    truth = sample_truth()["kinds"]["legacy_step"]
    assert legacy(sample_findings()) == truth["activities"]
    assert legacy(sample_findings(with_rules=False)) == truth["activities"]
    orphan = next(f for f in sample_findings() if f.activities == ["Sync to Legacy CRM"])
    ev = orphan.evidence
    consumers = {c.get("activity") or c.get("resource") for c in ev["consumers"]}
    assert consumers == {truth["orphaned_consumer"]["activity"], truth["orphaned_consumer"]["resource"]}
    cut = datetime.fromisoformat(sample_truth()["cutover"].replace("Z", "+00:00"))
    lo, hi = ev["cutover_between"]
    assert lo < cut <= hi
    assert ev["before"]["rate"] > 0.95 and ev["after"]["rate"] == 0.0 and ev["test"]["p_value"] < 1e-6
    vest = next(f for f in sample_findings() if f.activities == ["Fill Knowledge Form"])
    assert all(t["ci"][0] >= -0.05 and t["ci"][1] <= 0.05 for t in vest.evidence["tests"] if "risk_difference" in t)


def _log(tmp_path: Path, effect: bool, seed: int = 3) -> Path:
    """A 'Double Check' step in half the cases, by people; with `effect`, its cases reopen far more often."""
    rng = random.Random(seed)
    rows = []
    for i in range(1500):
        t = datetime(2024, 1, 1, 9) + timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 400))
        steps = ["Open", "Work"]
        extra = rng.random() < 0.5
        if extra:
            steps.append("Double Check")
        steps += ["Resolve", "Close"]
        if (effect and extra and rng.random() < 0.5) or rng.random() < 0.05:
            steps += ["Reopen", "Resolve", "Close"]
        for act in steps:
            t += timedelta(minutes=rng.randint(10, 600))
            rows.append((f"c{i}", act, t.strftime("%Y-%m-%d %H:%M:%S"), rng.choice(["ann", "bob", "cid"]), "T1"))
    return tiny_log(tmp_path, rows)


def test_vestigial_only_without_effect(tmp_path: Path) -> None:
    assert legacy(run_audit(_log(tmp_path, effect=False))) == {"Double Check": "vestigial"}
    assert legacy(run_audit(_log(tmp_path, effect=True))) == {}


def test_declared(tmp_path: Path) -> None:
    found = run_audit(_log(tmp_path, effect=True), '[tools]\nlegacy = ["Work"]\n', tmp_path)
    assert legacy(found) == {"Work": "declared"}


def test_tiny_log_makes_no_claims(tmp_path: Path) -> None:
    rows = [(f"c{i}", a, f"2024-01-0{1 + i} 1{j}:00", "ann", "T") for i in range(3) for j, a in enumerate(["Open", "Form", "Close"])]
    with Engine() as engine:
        result = audit.run(load(tiny_log(tmp_path, rows), ReadOptions(), engine), audit.AuditOptions())
    assert legacy(result.findings) == {}


def _neutral_log(tmp_path: Path, *, check_last: bool, names: dict[str, str]) -> Path:
    """The no-effect log of `_log`, with the step moved to the end of its cases, or activities renamed."""
    rng = random.Random(5)
    rows = []
    for i in range(1500):
        t = datetime(2024, 1, 1, 9) + timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 400))
        steps = ["Open", "Work", "Resolve", "Close"]
        if rng.random() < 0.5:
            steps.insert(len(steps) if check_last else 2, "Double Check")
        if rng.random() < 0.05:
            steps[-1:-1] = ["Reopen", "Resolve"]
        for act in steps:
            t += timedelta(minutes=rng.randint(10, 600))
            rows.append((f"c{i}", names.get(act, act), t.strftime("%Y-%m-%d %H:%M:%S"), rng.choice(["ann", "bob"]), "T1"))
    return tiny_log(tmp_path, rows)


def test_no_vestigial_claim_on_the_last_step_or_without_outcomes(tmp_path: Path) -> None:
    """BPIC 2013's open problems: 'Completed' (the closure, which no name revealed) was "changing no
    outcome": resolved, reopened and chased were 0 against 0 because the log has none of them, and the step
    that ends a case cannot be judged by outcomes that it marks."""
    with Engine() as engine:
        last = audit.run(load(_neutral_log(tmp_path / "a", check_last=True, names={}), ReadOptions(), engine), audit.AuditOptions())
    assert legacy(last.findings) == {}
    assert any(n.startswith("Double Check: ends ") and "not judged as vestigial" in n for n in last.notes)
    # Names that say nothing, and a pack that says there is no resolution, closure, reopen or contact (else
    # the step that ends every case would stand in as closure, from behaviour)
    blind = {"Resolve": "Stage C", "Close": "Stage D", "Reopen": "Stage E", "Open": "Stage A", "Work": "Stage B"}
    none = rules.RulePack(roles={"resolution": (), "closure": (), "reopen": (), "customer_contact": ()})
    with Engine() as engine:
        path = _neutral_log(tmp_path / "b", check_last=False, names=blind)
        result = audit.run(load(path, ReadOptions(), engine), audit.AuditOptions(rules=none))
    assert legacy(result.findings) == {}
    assert any(n.startswith("vestigial steps: not judged: the log names no resolution") for n in result.notes)
    # the same log with its roles named: the step is judged, and found to change nothing
    with Engine() as engine:
        path = _neutral_log(tmp_path / "c", check_last=False, names={})
        named = audit.run(load(path, ReadOptions(), engine), audit.AuditOptions())
    assert legacy(named.findings) == {"Double Check": "vestigial"}


def test_a_step_upstream_of_the_orphaned_one_is_not_orphaned(tmp_path: Path) -> None:
    """'Siebel Import' consumed 'Export to Siebel' until a cut-over. 'Update Knowledge Base', done in half of
    the cases just before the export, was flagged too: the import came within three events of it, but only
    through the export."""
    rng = random.Random(13)
    cut = datetime(2024, 3, 1)
    rows, after = [], set()
    for i in range(300):
        c = f"L{i:03d}"
        t = datetime(2024, 1, 8, 9) + timedelta(days=rng.uniform(0, 110))
        a = rng.choice(["anna", "ben", "carla", "dario", "emma"])

        def add(act: str, who: str, team: str = "Tier 1", c: str = c) -> None:
            rows.append((c, act, t.strftime("%Y-%m-%d %H:%M:%S"), who, team))  # noqa: B023 - t as it is now

        add("Create Ticket", "kim", "Service Desk")
        t += timedelta(hours=rng.uniform(1, 20))
        add("Reply to Customer", a)
        t += timedelta(hours=rng.uniform(0.5, 3))
        if rng.random() < 0.5:
            add("Update Knowledge Base", a)
            t += timedelta(hours=rng.uniform(0.5, 3))
        add("Export to Siebel", a)
        if t < cut:
            t += timedelta(minutes=rng.uniform(1, 5))
            add("Siebel Import", "svc-siebel", "Integration")
        else:
            after.add(c)
        t += timedelta(hours=rng.uniform(2, 30))
        add("Resolve Ticket", a)
        t += timedelta(hours=rng.uniform(24, 120))
        add("Close Ticket", a)
    found = [f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "legacy_step"]
    assert [f.activities for f in found] == [["Export to Siebel"]]
    assert set(found[0].case_ids) == after


def test_a_rare_step_absent_for_a_while_has_not_stopped() -> None:
    """20 follow-ups in two months, none in the last two weeks, were listed as 'discontinued'."""
    from auditor.detectors.legacy_step import _beyond_chance

    first, last = pd.Timestamp("2024-01-12"), pd.Timestamp("2024-03-05")
    assert not _beyond_chance(first, last, 20, pd.Timedelta(days=15))  # about 5 of its 2.8-day intervals
    assert _beyond_chance(first, last, 20, pd.Timedelta(days=30))
    assert _beyond_chance(first, last, 745, pd.Timedelta(days=15))  # a steady step gone for two weeks

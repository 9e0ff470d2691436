"""compliant_failure: cases that follow the process and are resolved, yet fail the customer."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from audit_helpers import SAMPLE, SAMPLE_RULES, run_audit, sample_truth, tiny_log

from auditor import audit, rules
from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions

REFERENCE = Path(__file__).resolve().parents[1] / "models" / "support-desk.bpmn"


def _sample(model: Path | None) -> list:  # type: ignore[type-arg]
    with Engine() as engine:
        options = audit.AuditOptions(rules=rules.load(SAMPLE_RULES), model=model)
        return [f for f in audit.run(load(SAMPLE, ReadOptions(), engine), options).findings if f.kind == "compliant_failure"]


def test_sample_truth_with_the_reference_model() -> None:
    (f,) = _sample(REFERENCE)
    assert set(f.case_ids) == set(sample_truth()["kinds"]["compliant_failure"]["case_ids"])
    assert f.evidence["model"] == "reference model support-desk.bpmn"
    assert f.evidence["reasons"]["far_longer"] == 60
    assert f.evidence["far_longer"]["median_hours_to_resolution"] > 5 * f.evidence["far_longer"]["their_variants_median_hours"]


def test_sample_truth_with_the_discovered_model() -> None:
    (f,) = _sample(None)
    assert set(f.case_ids) == set(sample_truth()["kinds"]["compliant_failure"]["case_ids"])
    assert f.evidence["model"].startswith("model discovered from this log")


def _log(tmp_path: Path, slow: int) -> Path:
    rng = random.Random(7)
    rows = []
    for i in range(200):
        t = datetime(2024, 1, 1, 9) + timedelta(days=rng.randint(0, 150), minutes=rng.randint(0, 300))
        factor = 30 if i < slow else 1
        for act in ("Open", "Work", "Reply to Customer", "Resolve"):
            t += timedelta(minutes=rng.randint(20, 120) * factor)
            rows.append((f"c{i:03d}", act, t.strftime("%Y-%m-%d %H:%M:%S"), "ann", "T1"))
    return tiny_log(tmp_path, rows)


def test_far_longer_compliant_cases(tmp_path: Path) -> None:
    found = [f for f in run_audit(_log(tmp_path, slow=3)) if f.kind == "compliant_failure"]
    assert len(found) == 1 and found[0].case_ids == ["c000", "c001", "c002"]


def test_nothing_when_every_compliant_case_is_normal(tmp_path: Path) -> None:
    assert not [f for f in run_audit(_log(tmp_path, slow=0)) if f.kind == "compliant_failure"]


def test_too_few_cases_to_discover_a_model_from(tmp_path: Path) -> None:
    """A one-case log gave a high compliant failure against the model discovered from that very case."""
    from auditor.engine import Engine
    from auditor.ingest import load
    from auditor.options import ReadOptions

    rows = [("c1", a, f"2024-01-01 {9 + k}:00", "ann", "T1")
            for k, a in enumerate(["Open", "Reopen Ticket", "Resolve", "Close"])]
    with Engine() as engine:
        result = audit.run(load(tiny_log(tmp_path, rows), ReadOptions(), engine), audit.AuditOptions())
    assert not [f for f in result.findings if f.kind == "compliant_failure"]
    assert "compliant failures: 1 case is too few to discover a reference model from (at least 20); not judged. " \
           "Give one with --model" in result.notes

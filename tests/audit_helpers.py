"""Helpers for detector tests: audit a tiny hand-built log, or the sample log with its rule pack."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from conftest import ROOT

from auditor import audit, rules
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.ingest import load
from auditor.options import ReadOptions

SAMPLE = ROOT / "logs" / "support-desk.csv"
SAMPLE_RULES = ROOT / "models" / "support-desk.rules.toml"


def tiny_log(tmp_path: Path, rows: list[tuple[Any, ...]], columns: tuple[str, ...] = ("case", "activity", "timestamp", "resource", "team")) -> Path:
    """rows: (case, activity, 'YYYY-MM-DD HH:MM', resource, team): a CSV the pipeline reads as it is."""
    path = tmp_path / "tiny.csv"
    tmp_path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(columns)[: len(rows[0])]).to_csv(path, index=False)
    return path


def run_audit(path: Path, rules_text: str | None = None, tmp_path: Path | None = None, **opts: Any) -> list[Finding]:
    pack = rules.RulePack()
    if rules_text is not None:
        assert tmp_path is not None
        rp = tmp_path / "rules.toml"
        rp.write_text(rules_text)
        pack = rules.load(rp)
    with Engine() as engine:
        log = load(path, ReadOptions(), engine)
        return audit.run(log, audit.AuditOptions(rules=pack, **opts)).findings


@lru_cache(maxsize=2)
def sample_findings(with_rules: bool = True) -> tuple[Finding, ...]:
    pack = rules.load(SAMPLE_RULES) if with_rules else rules.RulePack()
    with Engine() as engine:
        log = load(SAMPLE, ReadOptions(), engine)
        return tuple(audit.run(log, audit.AuditOptions(rules=pack)).findings)


def sample_truth() -> dict[str, Any]:
    return json.loads((ROOT / "logs" / "support-desk.truth.json").read_text())


def cases_of(findings: tuple[Finding, ...] | list[Finding], kind: str, *, single: bool | None = None) -> set[str]:
    out: set[str] = set()
    for f in findings:
        if f.kind != kind or (single is True and len(f.activities) != 1) or (single is False and len(f.activities) == 1):
            continue
        out |= set(f.case_ids)
    return out

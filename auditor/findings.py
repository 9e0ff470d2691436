"""The one Finding type every detector returns, and its JSON form (the contract's findings JSON).

Business rules:
- `case_ids` lists every affected case, as sorted strings: a reviewer must be able to pull each one.
- `case_share` is affected cases over all cases of the log.
- Every finding says what it costs: the extra elapsed hours per affected case against comparable cases
  without it, and in total (`cost`, an addition to the contract's keys), so a review can rank by cost.
- Severity follows from reach and cost relative to the log, never from the detector's taste: see
  `severity_for`.
- Findings are ranked by total cost, then by reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

KINDS = (
    "legacy_step",
    "tool_driven_step",
    "rework_loop",
    "ping_pong",
    "reopened_after_close",
    "order_violation",
    "long_wait",
    "stalled_case",
    "customer_chasing",
    "compliant_failure",
)
SEVERITIES = ("info", "low", "medium", "high")
# Said under every ranked list of findings: summing the column would count a case once per finding.
OVERLAP_NOTE = "A case can be in several findings, so their extra hours overlap: they do not add up."


@dataclass(frozen=True)
class Cost:
    """Extra elapsed hours a finding adds: affected cases against comparable cases without it.

    `method` says how the comparison was made, so the number can be checked. Business hours appear only
    when working hours were given.
    """

    hours_per_case: float | None
    hours_total: float | None
    method: str
    business_hours_per_case: float | None = None
    business_hours_total: float | None = None
    compared_cases: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "extra_hours_per_case": _round(self.hours_per_case),
            "extra_hours_total": _round(self.hours_total),
            "method": self.method,
            "compared_cases": self.compared_cases,
        }
        if self.business_hours_per_case is not None:
            out["extra_business_hours_per_case"] = _round(self.business_hours_per_case)
            out["extra_business_hours_total"] = _round(self.business_hours_total)
        return out


class CaseIds(list[str]):
    """Case ids that are sorted distinct strings by construction (the engine sorted them): a Finding takes
    them as they are, without checking millions of ids again in Python."""


@dataclass
class Finding:
    kind: str
    title: str
    activities: list[str]
    case_ids: list[str]
    total_cases: int
    severity: str = "low"
    evidence: dict[str, Any] = field(default_factory=dict)
    cost: Cost | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        ids = self.case_ids
        if type(ids) is CaseIds:
            return
        # Detectors usually hand over sorted distinct strings already (millions at 10M events): checking
        # that is ten times cheaper than sorting again.
        strings = isinstance(ids, list) and all(type(c) is str for c in ids)
        if not (strings and all(a < b for a, b in pairwise(ids))):
            self.case_ids = sorted({str(c) for c in ids})

    @property
    def cases(self) -> int:
        return len(self.case_ids)

    @property
    def case_share(self) -> float:
        return self.cases / self.total_cases if self.total_cases else 0.0

    def sort_key(self) -> tuple[float, int, str, str]:
        total = self.cost.hours_total if self.cost and self.cost.hours_total is not None else 0.0
        return (-total, -self.cases, self.kind, self.title)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "title": self.title,
            "activities": list(self.activities),
            "cases": self.cases,
            "case_share": round(self.case_share, 4),
            "case_ids": list(self.case_ids),
            "severity": self.severity,
            "evidence": _jsonable(self.evidence),
        }
        if self.cost is not None:
            out["cost"] = self.cost.to_json()
        return out


def severity_for(
    case_share: float, hours_total: float | None, log_hours: float | None = None, *, customer_facing: bool = True
) -> str:
    """high: reaches ≥10% of the cases or costs ≥5% of all the log's case hours; medium: ≥2% of cases or ≥1%
    of the hours; else low. Relative to the log, so a big log does not make everything high.

    Findings that do not touch the customer directly (tool bookkeeping) are capped at medium unless they
    reach a quarter of the cases.
    """
    cost_share = (hours_total or 0.0) / log_hours if log_hours else 0.0
    if case_share >= 0.10 or cost_share >= 0.05:
        level = "high"
    elif case_share >= 0.02 or cost_share >= 0.01:
        level = "medium"
    else:
        level = "low"
    if not customer_facing and level == "high" and case_share < 0.25:
        level = "medium"
    return level


def rank(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=Finding.sort_key)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _jsonable(value: Any) -> Any:
    """Evidence as plain JSON: numbers rounded, timestamps ISO 8601 UTC, numpy scalars unwrapped."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if hasattr(value, "item") and callable(value.item):  # numpy / pandas scalars
        return _jsonable(value.item())
    if isinstance(value, float):
        return round(value, 4)
    return value


def log_header(events: int, cases: int, activities: int, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """The `log` object of the findings JSON."""
    return {
        "events": events,
        "cases": cases,
        "activities": activities,
        "start": _jsonable(start) if start else None,
        "end": _jsonable(end) if end else None,
    }

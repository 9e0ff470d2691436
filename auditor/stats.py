"""`auditor stats`: the size and shape of a log, computed in the engine.

Business rule: a variant is a case's sequence of activities ordered by timestamp, then by source order
(`seq`), so cases whose events share a timestamp get the order the source gave them (see variants.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import ibis

from auditor.ingest import EventLog
from auditor.variants import compute as compute_variants


@dataclass(frozen=True)
class ActivityCount:
    activity: str
    events: int
    cases: int
    event_share: float


@dataclass(frozen=True)
class VariantCount:
    activities: list[str]
    cases: int
    case_share: float


@dataclass(frozen=True)
class LogStats:
    name: str
    events: int
    cases: int
    activities: int
    resources: int
    teams: int
    start: datetime | None
    end: datetime | None
    events_per_case: dict[str, float]
    variants: int
    top_activities: list[ActivityCount] = field(default_factory=list)
    top_variants: list[VariantCount] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = _iso(self.start)
        data["end"] = _iso(self.end)
        return data


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def compute(log: EventLog, *, top: int = 10) -> LogStats:
    t = log.table
    overview = t.aggregate(
        events=t.count(),
        cases=t.case_id.nunique(),
        activities=t.activity.nunique(),
        resources=t.resource.nunique(),
        teams=t.team.nunique(),
        start=t.timestamp.min(),
        end=t.timestamp.max(),
    ).execute().iloc[0]
    per_case = t.group_by("case_id").aggregate(n=t.count())
    epc = per_case.aggregate(
        min=per_case.n.min(), median=per_case.n.median(), mean=per_case.n.mean(), max=per_case.n.max()
    ).execute().iloc[0]
    events = int(overview["events"])
    cases = int(overview["cases"])
    acts = (
        t.group_by("activity")
        .aggregate(events=t.count(), cases=t.case_id.nunique())
        .order_by([ibis.desc("events"), "activity"])
        .limit(top)
        .execute()
    )
    vs = compute_variants(log, top=top)
    return LogStats(
        name=log.name,
        events=events,
        cases=cases,
        activities=int(overview["activities"]),
        resources=int(overview["resources"]),
        teams=int(overview["teams"]),
        start=_to_dt(overview["start"]),
        end=_to_dt(overview["end"]),
        events_per_case={k: float(epc[k]) for k in ("min", "median", "mean", "max")},
        variants=vs.total_variants,
        top_activities=[
            ActivityCount(str(a), int(e), int(c), round(int(e) / events, 4) if events else 0.0)
            for a, e, c in zip(acts["activity"], acts["events"], acts["cases"], strict=True)
        ],
        top_variants=[
            VariantCount(list(v.activities), v.cases, round(v.cases / cases, 4) if cases else 0.0)
            for v in vs.variants
        ],
    )


def _to_dt(value: Any) -> datetime | None:
    if value is None or (hasattr(value, "isnull") and value.isnull()):
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
        return pd.Timestamp(value).to_pydatetime()
    except (TypeError, ValueError):
        return None

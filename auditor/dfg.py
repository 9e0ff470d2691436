"""The directly-follows graph (DFG) of a log, computed in the engine.

Business rules:
- A case's events are ordered by timestamp, then by source order (`seq`), exactly as for variants
  (variants.py), so events with equal timestamps keep the order the source gave them.
- Activity B directly follows activity A when, in some case, the event right after an A event is a B event.
  An edge A → B counts its `events` (how many times B directly followed A, repeats within a case included)
  and its `cases` (how many distinct cases show it at least once).
- The waiting time of an edge is the time between the A event and the B event that follows it, in hours;
  per edge the median, the 90th percentile (both interpolated, as pandas and numpy do by default) and the
  mean over its events are reported.
- Each case contributes one start (its first activity) and one end (its last activity); a case with one
  event starts and ends with the same activity and contributes no edge.
- An activity counts its events and the distinct cases it occurs in.

Cost: one scan of the log and one sort (the window over each case ordered by timestamp and seq), written
once to a narrow temporary table; the two aggregations that follow read only that table. pandas touches
only the aggregates (activities × activities at most).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from auditor.engine import Engine
from auditor.ingest import EventLog

US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class ActivityStats:
    """One activity: its events, the cases it occurs in, and how many cases start and end with it."""

    activity: str
    events: int
    cases: int
    starts: int
    ends: int


@dataclass(frozen=True)
class Edge:
    """A directly-follows relation `source` → `target` with its waiting times (hours)."""

    source: str
    target: str
    events: int
    cases: int
    median_hours: float
    p90_hours: float
    mean_hours: float


@dataclass(frozen=True)
class Dfg:
    """The directly-follows graph: activities sorted by name, edges sorted by (source, target)."""

    activities: tuple[ActivityStats, ...]
    edges: tuple[Edge, ...]
    events: int
    cases: int
    start: datetime | None
    end: datetime | None

    def activity(self, name: str) -> ActivityStats | None:
        return next((a for a in self.activities if a.activity == name), None)

    def edge(self, source: str, target: str) -> Edge | None:
        return next((e for e in self.edges if e.source == source and e.target == target), None)

    @property
    def start_counts(self) -> dict[str, int]:
        """Cases per first activity (activities no case starts with are left out)."""
        return {a.activity: a.starts for a in self.activities if a.starts}

    @property
    def end_counts(self) -> dict[str, int]:
        """Cases per last activity (activities no case ends with are left out)."""
        return {a.activity: a.ends for a in self.activities if a.ends}

    @property
    def activity_counts(self) -> dict[str, int]:
        return {a.activity: a.events for a in self.activities}


def of_log(log: EventLog) -> Dfg:
    """The DFG of the whole log."""
    return compute(log.table, log.engine)


def steps(table: ir.Table) -> ir.Table:
    """Each event with the activity that directly follows it in its case (NULL for the last event), the wait
    until then in whole microseconds, and whether it is the case's first event.

    Every window term shares one partition and one order, so DuckDB sorts the log once for all of them.
    """
    w = ibis.window(group_by=table.case_id, order_by=[table.timestamp, table.seq])
    return table.select(
        case_id=table.case_id,
        activity=table.activity,
        timestamp=table.timestamp,
        target=table.activity.lead().over(w),
        # Whole microseconds: integer sums are exact, so the mean does not depend on the order in which
        # parallel threads add them up, and the same log always gives the same bytes.
        wait_us=table.timestamp.lead().over(w).delta(table.timestamp, unit="microsecond"),
        is_start=ibis.row_number().over(w) == 0,
    )


def compute(table: ir.Table, engine: Engine) -> Dfg:
    """The DFG of `table` (canonical columns case_id, activity, timestamp, seq; any filter already applied)."""
    # Written once (the scan and the sort); both aggregations below read only this narrow table.
    steps_table = engine.materialize(steps(table), "dfg_steps")
    try:
        follows = steps_table.filter(steps_table.target.notnull())
        edges_df = (
            follows.group_by(["activity", "target"])
            .aggregate(
                events=follows.count(),
                cases=follows.case_id.nunique(),
                median_us=follows.wait_us.median(),
                p90_us=follows.wait_us.quantile(0.9),
                mean_us=follows.wait_us.mean(),
            )
            .execute()
        )
        acts_df = (
            steps_table.group_by("activity")
            .aggregate(
                events=steps_table.count(),
                cases=steps_table.case_id.nunique(),
                starts=steps_table.is_start.cast("int64").sum(),
                ends=steps_table.target.isnull().cast("int64").sum(),
                first=steps_table.timestamp.min(),
                last=steps_table.timestamp.max(),
            )
            .execute()
        )
    finally:
        engine.drop(steps_table)
    return _assemble(acts_df, edges_df)


def _assemble(acts_df: pd.DataFrame, edges_df: pd.DataFrame) -> Dfg:
    acts = sorted(
        (
            ActivityStats(str(a), int(e), int(c), int(s), int(n))
            for a, e, c, s, n in zip(
                acts_df["activity"],
                acts_df["events"],
                acts_df["cases"],
                acts_df["starts"],
                acts_df["ends"],
                strict=True,
            )
        ),
        key=lambda a: a.activity,
    )
    edges = sorted(
        (
            Edge(str(s), str(t), int(e), int(c), _hours(m), _hours(p), _hours(mean))
            for s, t, e, c, m, p, mean in zip(
                edges_df["activity"],
                edges_df["target"],
                edges_df["events"],
                edges_df["cases"],
                edges_df["median_us"],
                edges_df["p90_us"],
                edges_df["mean_us"],
                strict=True,
            )
        ),
        key=lambda e: (e.source, e.target),
    )
    return Dfg(
        activities=tuple(acts),
        edges=tuple(edges),
        events=sum(a.events for a in acts),
        # Every case has exactly one first event.
        cases=sum(a.starts for a in acts),
        start=utc_datetime(acts_df["first"].min()) if len(acts_df) else None,
        end=utc_datetime(acts_df["last"].max()) if len(acts_df) else None,
    )


def _hours(microseconds: Any) -> float:
    return (
        float(microseconds) / US_PER_HOUR if microseconds is not None and not pd.isna(microseconds) else 0.0
    )


def utc_datetime(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")).to_pydatetime()

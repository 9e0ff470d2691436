"""Caveats about the input that qualify every finding of an audit, stated in its notes.

Business rules:
- A source that looks like a CRM field-history export read without its profile: which profile to use;
  what the reader noticed about the source (XES traces sharing a name, read as one case).
- A source listed newest first: the events of one moment are taken oldest first (`seq` counts from the end).
- Rows rejected or left out as duplicates (vendor twin rows named): the findings cover the rest.
- No resource in the log: ping-pong between people, system accounts, chained bookkeeping and touch time
  cannot be judged. No team: ping-pong between teams cannot.
- A few events far before or after the rest of the log (a mistyped year): the log's start or end, to which
  durations, stalled cases and discontinued steps are measured, moved with them.
- Timestamps without a time of day (every event at one clock time; two across a daylight-saving change):
  durations are whole days, the order within a day is the source's, and rows dropped as exact duplicates
  may be real repeats on the same day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from auditor.dfg import utc_datetime
from auditor.engine import Engine
from auditor.ingest import EventLog


@dataclass(frozen=True)
class Caveats:
    notes: list[str]
    rest_end: datetime | None  # the end of the rest of the log when a few events lie far after it
    whole_days: bool  # the timestamps carry no time of day


def input_notes(log: EventLog, events: ir.Table) -> Caveats:
    """The notes about the input, in the order of the module's rules, and what detectors must know of it."""
    s = log.summary
    notes = list(s.notes)
    if s.rejected or s.duplicates:
        notes.append(
            f"{_count(s.rejected, 'row')} of {log.name or 'the source'} rejected and "
            f"{_count(s.duplicates, 'exact duplicate')}{_twins(s.twins)} left out: the findings cover the other "
            f"{_count(s.accepted, 'event')} (`auditor ingest` writes the rejected rows with their reasons)"
        )
    seconds = Engine.epoch_us(events.timestamp) % 86_400_000_000
    row = events.aggregate(
        n=seconds.nunique(), resources=events.resource.count(), teams=events.team.count()
    ).execute().iloc[0]
    if not int(row["resources"]):
        notes.append(
            "the log names no resource (who did each step): ping-pong between people, system accounts, "
            "chained bookkeeping and touch time cannot be judged, so process cycle efficiency and touch and "
            "waiting hours are not given"
        )
    if not int(row["teams"]):
        notes.append("the log names no team: ping-pong between teams is not judged, and there are no team figures")
    outlying, rest_end = _outlying_ends(events)
    notes.extend(outlying)
    if int(row["n"]) <= 2:
        dropped = (
            f"; the {_count(s.duplicates, 'row')} equal in every field to another, left out as duplicates, may "
            "be real repeats on the same day" if s.duplicates else ""
        )
        notes.append(
            "the timestamps carry no time of day: waits and durations are whole days, and the events of a "
            f"case on one day are in the order the source lists them{dropped}"
        )
    return Caveats(notes, rest_end, int(row["n"]) <= 2)


# A few events far beyond the rest of the log (a mistyped year, a test record) move the log's end or start,
# to which stalled cases' idle time, case durations and discontinued steps are measured. The rest is the
# log without its OUTLYING_EVENTS - 1 earliest or latest events (a thousandth of a large log); an end is
# outlying when it lies further from the rest than twice the rest's own span, and at least OUTLYING_DAYS
# away (BPIC 2013's open problems, a sparse head of problems opened years before the rest, is not).
OUTLYING_EVENTS = 10
OUTLYING_DAYS = 30


def _outlying_ends(events: ir.Table) -> tuple[list[str], datetime | None]:
    n = int(events.count().execute())
    if n < 2 * OUTLYING_EVENTS:
        return [], None
    k = max(OUTLYING_EVENTS, n // 1000)
    ts = events.select("timestamp")
    first, lo = (utc_datetime(v) for v in ts.order_by("timestamp").limit(k).execute()["timestamp"].iloc[[0, -1]])
    last, hi = (utc_datetime(v) for v in ts.order_by(ibis.desc("timestamp")).limit(k).execute()["timestamp"].iloc[[0, -1]])
    if None in (first, lo, last, hi):
        return [], None
    assert first is not None and lo is not None and last is not None and hi is not None
    span = hi - lo
    reach = max(2 * span, timedelta(days=OUTLYING_DAYS))
    notes = []
    rest_end = None
    t = events.timestamp
    if last - hi > reach:
        out, rest = t > hi + reach, t <= hi + reach
        row = events.aggregate(m=out.sum(), rest_end=t.max(where=rest), from_=t.min(where=out)).execute().iloc[0]
        rest_end = utc_datetime(row["rest_end"])
        notes.append(_outlying_note(int(row["m"]), "after", rest_end, utc_datetime(row["from_"]), last))
    if lo - first > reach:
        out, rest = t < lo - reach, t >= lo - reach
        row = events.aggregate(m=out.sum(), rest_start=t.min(where=rest), to=t.max(where=out)).execute().iloc[0]
        notes.append(_outlying_note(int(row["m"]), "before", utc_datetime(row["rest_start"]), first, utc_datetime(row["to"])))
    return notes, rest_end


def _outlying_note(m: int, side: str, rest: datetime | None, start: datetime | None, end: datetime | None) -> str:
    when = f"{start:%Y-%m-%d}" if start == end or start is None or end is None else f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    edge = "end" if side == "after" else "start"
    return (
        f"{_count(m, 'event')} ({when}) {'lies' if m == 1 else 'lie'} far {side} the rest of the log, which "
        f"{edge}s on {rest:%Y-%m-%d}: "
        f"a mistyped date? Case durations, stalled cases' idle time and discontinued or introduced steps are "
        f"measured to the log's {edge}"
    )


def _twins(n: int) -> str:
    return f" (of which {_count(n, 'vendor twin row')}: a CRM's second record of one change)" if n else ""


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")

"""Business time: elapsed time counted only inside working hours, as support teams measure their SLAs.

Business rule: `--working-hours "Mon-Fri 08:00-18:00"` in the zone of `--timezone`. Several segments are
separated by `;` (`Mon-Fri 08:00-18:00; Sat 09:00-13:00`); a segment may list several time ranges separated
by `,` (a lunch break: `Mon-Fri 08:00-12:00, 13:00-17:00`); a range that ends before it starts runs past
midnight into the next day (a night shift: `Mon-Fri 22:00-06:00` works Friday night into Saturday 06:00).
Ranges of one day may not overlap. The business time between two instants is F(b) - F(a), where F counts
working seconds from a fixed Monday; so it is exact across days, weeks and time-zone changes, and computed
in the engine with arithmetic only (no calendar table, no loop). Public holidays are not known and count as
working days.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from auditor.engine import Engine
from auditor.errors import UsageError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = r"\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}"
_SEGMENT = re.compile(
    r"^\s*(?P<days>[A-Za-z]{3}(\s*-\s*[A-Za-z]{3})?(\s*,\s*[A-Za-z]{3}(\s*-\s*[A-Za-z]{3})?)*)\s+"
    rf"(?P<ranges>{_RANGE}(\s*,\s*{_RANGE})*)\s*$"
)
_DAY = 86400
_MONDAY = 4 * 86400  # 1970-01-05 was a Monday


@dataclass(frozen=True)
class WorkingHours:
    """Per weekday (Monday first), its working windows as seconds from midnight, (start, end), in order and
    not overlapping; a night shift's part after midnight is a window of the next day."""

    windows: tuple[tuple[tuple[int, int], ...], ...]
    zone: str = "UTC"
    spec: str = ""

    @property
    def weekly_seconds(self) -> int:
        return sum(e - s for day in self.windows for s, e in day)


def parse(spec: str, zone: str = "UTC") -> WorkingHours:
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for part in [p for p in spec.split(";") if p.strip()]:
        m = _SEGMENT.match(part)
        if not m:
            raise UsageError(
                f"--working-hours {spec!r}: cannot read {part.strip()!r}; write e.g. 'Mon-Fri 08:00-18:00', "
                "'Mon-Fri 08:00-12:00, 13:00-17:00; Sat 09:00-13:00' or 'Mon-Fri 22:00-06:00'"
            )
        for item in m.group("ranges").split(","):
            a, b = (x.strip() for x in item.split("-"))
            start, end = _seconds(a, spec), _seconds(b, spec)
            if end == start or (start == _DAY and end == 0):
                raise UsageError(f"--working-hours {spec!r}: {a}-{b} is no time at all")
            for day in _expand(m.group("days"), spec):
                if end > start:
                    days[day].append((start, end))
                else:  # past midnight: the rest of the night belongs to the next day
                    days[day].append((start, _DAY))
                    if end:
                        days[(day + 1) % 7].append((0, end))
    windows: list[tuple[tuple[int, int], ...]] = []
    for d, ranges in enumerate(days):
        ordered = sorted(w for w in ranges if w[1] > w[0])
        for (_, end), (start, _) in itertools.pairwise(ordered):
            if start < end:
                raise UsageError(f"--working-hours {spec!r}: the working times of {_DAYS[d].title()} overlap")
        windows.append(tuple(ordered))
    if not any(windows):
        raise UsageError(f"--working-hours {spec!r}: no working window given")
    return WorkingHours(tuple(windows), zone, spec)


def _seconds(hhmm: str, spec: str) -> int:
    h, m = (int(x) for x in hhmm.split(":"))
    if h > 24 or m > 59 or (h == 24 and m):
        raise UsageError(f"--working-hours {spec!r}: {hhmm} is not a time of day")
    return h * 3600 + m * 60


def _expand(days: str, spec: str) -> list[int]:
    out: list[int] = []
    for item in days.split(","):
        ends = [d.strip().lower() for d in item.split("-")]
        if any(d not in _DAYS for d in ends):
            raise UsageError(f"--working-hours {spec!r}: {item.strip()!r} is not a day or range (Mon..Sun)")
        a, b = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
        out += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    return out


def cumulative(ts: ir.TimestampValue, wh: WorkingHours) -> ir.NumericValue:
    """Working seconds from a fixed Monday to `ts` (an instant), in the working hours' zone."""
    local = Engine.utc_to_local(ts, wh.zone)
    secs = local.epoch_seconds() - _MONDAY
    days = (secs / 86400).floor()
    week = (days / 7).floor()
    dow = days - week * 7
    tod = secs - days * 86400
    daily = [sum(e - s for s, e in day) for day in wh.windows]
    prefix = [sum(daily[:d]) for d in range(7)]
    before = ibis.cases(*[(dow == d, prefix[d]) for d in range(7)], else_=0)
    # The i-th window of each day (none: length 0); the worked part of each, summed.
    inside: ir.NumericValue = ibis.literal(0)
    for i in range(max(len(day) for day in wh.windows)):
        nth = [day[i] if i < len(day) else (0, 0) for day in wh.windows]
        start = ibis.cases(*[(dow == d, s) for d, (s, _) in enumerate(nth)], else_=0)
        length = ibis.cases(*[(dow == d, e - s) for d, (s, e) in enumerate(nth)], else_=0)
        inside = inside + ibis.greatest(ibis.literal(0), ibis.least(tod - start, length))
    return week * wh.weekly_seconds + before + inside


def business_hours_between(a: ir.TimestampValue, b: ir.TimestampValue, wh: WorkingHours) -> ir.NumericValue:
    return (cumulative(b, wh) - cumulative(a, wh)) / 3600.0

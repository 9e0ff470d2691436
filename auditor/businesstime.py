"""Business time: elapsed time counted only inside working hours, as support teams measure their SLAs.

Business rule: `--working-hours "Mon-Fri 08:00-18:00"` (several segments separated by `;`, e.g.
`Mon-Fri 08:00-18:00; Sat 09:00-13:00`) in the zone of `--timezone`. The business time between two instants
is F(b) - F(a), where F counts working seconds from a fixed Monday; so it is exact across days, weeks and
time-zone changes, and computed in the engine with arithmetic only (no calendar table, no loop).
Public holidays are not known and count as working days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from auditor.engine import Engine
from auditor.errors import UsageError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEGMENT = re.compile(
    r"^\s*(?P<days>[A-Za-z]{3}(\s*-\s*[A-Za-z]{3})?(\s*,\s*[A-Za-z]{3}(\s*-\s*[A-Za-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
_MONDAY = 4 * 86400  # 1970-01-05 was a Monday


@dataclass(frozen=True)
class WorkingHours:
    """Per weekday (Monday first), the working window as seconds from midnight: (start, end), or None."""

    windows: tuple[tuple[int, int] | None, ...]
    zone: str = "UTC"
    spec: str = ""

    @property
    def weekly_seconds(self) -> int:
        return sum(e - s for w in self.windows if w for s, e in [w])


def parse(spec: str, zone: str = "UTC") -> WorkingHours:
    windows: list[tuple[int, int] | None] = [None] * 7
    for part in [p for p in spec.split(";") if p.strip()]:
        m = _SEGMENT.match(part)
        if not m:
            raise UsageError(
                f"--working-hours {spec!r}: cannot read {part.strip()!r}; write e.g. 'Mon-Fri 08:00-18:00' "
                "or 'Mon-Fri 08:00-18:00; Sat 09:00-13:00'"
            )
        start, end = _seconds(m.group("start"), spec), _seconds(m.group("end"), spec)
        if end <= start:
            raise UsageError(f"--working-hours {spec!r}: {m.group('start')}-{m.group('end')} ends before it starts")
        for day in _expand(m.group("days"), spec):
            if windows[day] is not None:
                raise UsageError(f"--working-hours {spec!r}: {_DAYS[day].title()} is given twice")
            windows[day] = (start, end)
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
    lengths = [(w[1] - w[0]) if w else 0 for w in wh.windows]
    prefix = [sum(lengths[:d]) for d in range(7)]
    before = ibis.cases(*[(dow == d, prefix[d]) for d in range(7)], else_=0)
    starts = ibis.cases(*[(dow == d, (w[0] if w else 0)) for d, w in enumerate(wh.windows)], else_=0)
    length = ibis.cases(*[(dow == d, lengths[d]) for d in range(7)], else_=0)
    inside = ibis.greatest(ibis.literal(0), ibis.least(tod - starts, length))
    return week * wh.weekly_seconds + before + inside


def business_hours_between(a: ir.TimestampValue, b: ir.TimestampValue, wh: WorkingHours) -> ir.NumericValue:
    return (cumulative(b, wh) - cumulative(a, wh)) / 3600.0

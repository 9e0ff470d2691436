"""How a timestamp column is read, and the rule that nothing about it is guessed silently.

Business rules:
- Everything is stored as a UTC instant. Text with an offset (`+02:00`, `Z`) is read as that instant; naive
  text, naive typed columns and dates are wall-clock time in `--timezone` (default UTC).
- `--timestamp-format` (strftime) wins. Otherwise the column's type decides (typed timestamps, epoch
  numbers), or, for text, the one known format that reads the most values. Numbers (typed or text) of 12 or
  14 digits that all read as yyyymmddHHMM[SS] are that wall-clock time; other epoch numbers are seconds or
  milliseconds by their magnitude; numbers between 20000 and 80000 are spreadsheet serial dates (days since
  1899-12-30, wall-clock time in `--timezone`).
- Day-first and month-first readings are never chosen between silently: when two formats read the same
  values into different instants (03/04/2024), the user must say which with `--timestamp-format`.
- A value the chosen format cannot read rejects its row, with the format named in the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import ibis
import ibis.expr.types as ir

from auditor.engine import Engine
from auditor.errors import TimestampError, UsageError

_DATES_DM = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y", "%d-%m-%y")
_DATES_MD = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m.%d.%Y")
_DATES_Y = ("%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
_DATES_TEXT = (
    "%d-%b-%Y", "%d %b %Y", "%b %d %Y", "%b %d, %Y", "%d-%b-%y", "%d %B %Y", "%B %d, %Y",
    "%d/%b/%y", "%d/%b/%Y",  # Jira's CSV export: 01/Mar/24 9:15 AM
)
_TIMES = (
    " %H:%M:%S", " %H:%M", " %H:%M:%S.%f", " %I:%M:%S %p", " %I:%M %p", "",
    # report exports (Salesforce, Excel) put a comma between date and time
    ", %H:%M:%S", ", %H:%M", ", %I:%M:%S %p", ", %I:%M %p",
)
# ISO-like text with a space before its offset (`2024-03-01 09:15:00 +0100`), which the ISO reading refuses;
# RFC 2822, as e-mail and HTTP write dates (`Wed, 20 Mar 2024 17:12:09 +0100`, `... GMT`)
_AWARE = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S.%f %z",
          "%a, %d %b %Y %H:%M:%S %z", "%a, %d %b %Y %H:%M:%S %Z")
FORMATS: tuple[str, ...] = (
    *(d + t for d in (*_DATES_Y, *_DATES_DM, *_DATES_MD, *_DATES_TEXT) for t in _TIMES),
    # ISO dates with a 12-hour clock (`2024-03-18 1:44 PM`), which the ISO reading refuses
    "%Y-%m-%d %I:%M %p", "%Y-%m-%d %I:%M:%S %p",
    *_AWARE,
)
# A time followed by an offset or a zone's name ("PST", "Asia/Tokyo", "UTC+01:00"; not "PM"): that text says
# which instant it is, and --timezone must not replace it (the naive reading silently dropped the name).
_OFFSET = r".*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?|[A-Za-z]{3,}[A-Za-z_/+:0-9-]*)(\[[^\]]+\])?"
_EPOCH = r"-?\d{9,13}(\.\d+)?"
# A time of day alone (`09:15`, `9:15:30.250`, `7:05 PM`, `07:05 p.m.`): half of a date column and a time column
_TIME_OF_DAY = r"\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*([AaPp]\.?\s?[Mm]\.?)?"
_MERIDIEM = r".*\d\s*[AaPp]\.?\s?[Mm]\.?"  # ends with a 12-hour clock's AM or PM
# A value with a time in it; a date alone has none
_HAS_TIME = r".*\d:\d\d.*"
_SAMPLE = 20_000


@dataclass(frozen=True)
class TimestampPlan:
    """How one column becomes UTC instants. `kind`: utc, naive, date, epoch_s, epoch_ms, excel, iso, format."""

    kind: str
    fmt: str | None
    zone: str
    description: str


_EPOCH_LIMIT = 1e11  # seconds: about the year 5138
# Spreadsheets store a moment as days since 1899-12-30, the fraction being the time of day: 20000 is 1954,
# 80000 is 2119. Epoch seconds of those sizes are January 1970, which no support log holds.
_EXCEL_LOW, _EXCEL_HIGH = 20_000, 80_000
_EXCEL_EPOCH = -2_209_161_600  # 1899-12-30 in epoch seconds
_EPOCH_LOW = 100_000_000 * 1_000_000  # 1973-03-03, in microseconds
_YEAR_LOW = -2_208_988_800 * 1_000_000  # 1900-01-01
_YEAR_HIGH = 7_258_118_400 * 1_000_000  # 2200-01-01


def check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        known = {z.casefold(): z for z in available_timezones()}
        same = known.get(zone.strip().casefold())
        hint = (f"did you mean {same!r}? (zone names are case-sensitive)" if same
                else "use an IANA name such as 'Europe/Berlin' or 'UTC'")
        raise UsageError(f"--timezone {zone!r} is not a time zone; {hint}") from exc
    return zone


def plan(engine: Engine, table: ir.Table, column: str, *, fmt: str | None, zone: str, source: str) -> TimestampPlan:
    """Decides how `column` is read. Scans the data (in the engine) only for text without --timestamp-format."""
    check_zone(zone)
    col = table[column]
    dtype = col.type()
    if fmt:
        if not dtype.is_string():
            raise UsageError(
                f"{source}: --timestamp-format applies to text, but column {column!r} is already typed ({dtype})"
            )
        _check_format(engine, fmt)
        return TimestampPlan("format", fmt, zone, f"{fmt} (from --timestamp-format)")
    if dtype.is_timestamp():
        if dtype.timezone:
            return TimestampPlan("utc", None, zone, "typed instants")
        return TimestampPlan("naive", None, zone, f"typed timestamps, read in {zone}")
    if dtype.is_date():
        return TimestampPlan("date", None, zone, f"dates, read as midnight in {zone}")
    if dtype.is_numeric():
        return _compact_plan(table, col, zone) or _epoch_plan(col, zone)
    if not dtype.is_string():
        raise TimestampError(
            f"{source}: column {column!r} has type {dtype}, which is not a timestamp; pass --timestamp COL"
        )
    return _plan_text(engine, table, column, zone, source)


def value_kind(table: ir.Table, column: str) -> str:
    """What a column's values are, on a sample: `time` (times of day only), `date` (dates only: no time in
    any value, and not plain numbers, which are epoch seconds or ids), or `other`."""
    col = table[column]
    dtype = col.type()
    if dtype.is_time():
        return "time"
    if dtype.is_date():
        return "date"
    if not dtype.is_string():
        return "other"
    sample = table.select(v=Engine.clean_text(col))
    sample = sample.filter(sample.v.notnull()).limit(2_000)
    row = sample.aggregate(
        n=sample.count(),
        time=sample.v.count(where=Engine.full_match(sample.v, _TIME_OF_DAY)),
        clock=sample.v.count(where=Engine.full_match(sample.v, _HAS_TIME)),
        number=sample.v.count(where=sample.v.try_cast("float64").notnull()),
    ).execute().iloc[0]
    n = int(row["n"])
    if n and int(row["time"]) == n:
        return "time"
    if n and int(row["clock"]) == 0 and int(row["number"]) < n:
        return "date"
    return "other"


def to_utc(value: ir.Value, p: TimestampPlan, *, strict: bool = True) -> ir.TimestampValue:
    """The expression that turns the column into UTC instants under plan `p` (NULL where it cannot).

    A wall-clock time that the zone skipped (the hour clocks spring forward) has no instant: NULL, so the
    row is rejected with that reason. `strict=False` gives the engine's lenient reading instead, which
    moves such a time by an hour, for telling that reason apart from an unreadable value."""
    zone = p.zone
    if p.kind == "utc":
        return value
    if p.kind in ("naive", "date"):
        ts = value.cast("timestamp") if p.kind == "date" else value
        return _local(ts, zone, strict)
    if p.kind == "excel":
        # a decimal comma (45352,3) where the export's locale writes one
        days = (value.cast("float64") if value.type().is_numeric()
                else Engine.trim_text(value).replace(",", ".").try_cast("float64"))
        # to the millisecond: a day's fraction in binary floating point is a few microseconds off
        seconds = (days * 86_400_000).round() / 1000 + _EXCEL_EPOCH
        wall = Engine.utc_to_local(_epoch_instant(seconds), "UTC")
        return _localise(wall, zone, strict)
    if p.kind in ("epoch_s", "epoch_ms"):
        num = value.cast("float64") if value.type().is_numeric() else value.try_cast("float64")
        if p.kind == "epoch_ms":
            num = num / 1000
        return _epoch_instant(num)
    # Parsed text is only trimmed of spaces: the exact cleaning costs about 1 s at 10M rows here, where the
    # candidate formats each read the text; a placeholder ("NULL") does not parse and is rejected as missing.
    text = _digits(value) if value.type().is_numeric() else Engine.trim_text(value)
    if p.kind == "iso":
        return _iso(text, zone, strict)
    assert p.fmt is not None
    return _read_format(text, p.fmt, zone, strict)


def _read_format(text: ir.StringValue, fmt: str, zone: str, strict: bool) -> ir.TimestampValue:
    """Text read with a strftime format: with an offset (%z, %Z) it is an instant already; else wall-clock
    time in `zone` (--timezone is for wall-clock text)."""
    parsed = Engine.try_strptime(text, fmt)
    if "%z" in fmt or "%Z" in fmt:
        return parsed
    return _localise(parsed, zone, strict)


def plausible(ts: ir.TimestampValue, p: TimestampPlan) -> ir.BooleanValue:
    """Whether an instant can be an event of a support log: from 1900 up to (not including) 2200; for epoch
    numbers from 1973-03-03 (1e8 seconds) on. Outside that it is another unit (seconds among milliseconds
    read as January 1970, milliseconds among seconds as the year 56,000) or a placeholder such as 0."""
    low, high = _EPOCH_LOW if p.kind in ("epoch_s", "epoch_ms") else _YEAR_LOW, _YEAR_HIGH
    if p.kind == "excel":  # a 0 or a 5 among serial dates is a placeholder, not the year 1900
        low, high = (_EXCEL_EPOCH + 86_400 * _EXCEL_LOW) * 1_000_000, (_EXCEL_EPOCH + 86_400 * _EXCEL_HIGH) * 1_000_000
    us = Engine.epoch_us(ts)
    return (us >= low) & (us < high)


def plausible_range(p: TimestampPlan) -> str:
    """The range `plausible` accepts, as the reason of a rejected row states it."""
    if p.kind in ("epoch_s", "epoch_ms"):
        return f"not between 1973-03-03 and 2199 as {p.description}: another unit, or a placeholder such as 0"
    if p.kind == "excel":
        return f"not between 1954 and 2118 as {p.description}: a placeholder, or not a date"
    return "outside the years 1900-2199"


def _local(ts: ir.TimestampValue, zone: str, strict: bool) -> ir.TimestampValue:
    instant = Engine.local_to_utc(ts, zone)
    if not strict:
        return instant
    # Only a time that exists in the zone reads back as itself.
    return ibis.ifelse(Engine.utc_to_local(instant, zone) == ts, instant, ibis.null(instant.type()))


def _localise(ts: ir.TimestampValue, zone: str, strict: bool) -> ir.TimestampValue:
    if zone == "UTC":
        return ts.cast("timestamp('UTC')")
    return _local(ts, zone, strict)


def _aware(text: ir.StringValue) -> ir.TimestampValue:
    """Text as an instant (naive text as UTC), including "09:15:00 +0100" or "09:15:00 Z" with a blank before
    the offset, and Java's "09:15:00+01:00[Europe/Berlin]" (the offset is the instant; the zone is dropped);
    that second reading runs only for the values the first leaves NULL, so it costs nothing on clean text."""
    direct = text.try_cast("timestamp('UTC')")
    return ibis.cases((direct.isnull(), Engine.close_offset_gap(text).try_cast("timestamp('UTC')")), else_=direct)


def _iso(text: ir.StringValue, zone: str, strict: bool) -> ir.TimestampValue:
    if zone == "UTC":
        # The engine's session zone is UTC: naive text is read as UTC, text with an offset as that instant.
        return _aware(text)
    has_offset = Engine.full_match(text, _OFFSET)
    aware = _aware(text)
    naive = _local(text.try_cast("timestamp"), zone, strict)
    return ibis.ifelse(has_offset, aware, naive)


def _epoch_instant(seconds: ir.NumericValue) -> ir.TimestampValue:
    """Epoch seconds as an instant. Beyond the engine's range the conversion fails the whole read: held at
    the year 5138, which `plausible` rejects like any other instant far out of range. A value that is no
    number stays NULL (the engine's GREATEST skips NULL, which made it the year -1200, "implausible" rather
    than unreadable)."""
    clamped = ibis.least(ibis.greatest(seconds, -_EPOCH_LIMIT), _EPOCH_LIMIT)
    return Engine.epoch_to_utc(ibis.ifelse(seconds.isnull(), ibis.null("float64"), clamped))


def _digits(value: ir.Value) -> ir.StringValue:
    """A number's digits as text: a whole float without its `.0`, which no format reads."""
    return value.try_cast("int64").cast("string")


# A date and time written as one number, yyyymmddHHMM or yyyymmddHHMMSS (SAP and mainframe exports). The
# 12 digits pass for epoch milliseconds (1976) and the 14 for no date at all; a column whose every sampled
# value reads as such a date (1900-2199) is read so.
_COMPACT = {12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}


def _compact_plan(table: ir.Table, value: ir.Value, zone: str) -> TimestampPlan | None:
    text = _digits(value) if value.type().is_numeric() else Engine.trim_text(value)
    sample = table.select(v=text)
    sample = sample.filter(sample.v.notnull()).limit(_SAMPLE)
    reads = {}
    for digits, fmt in _COMPACT.items():
        year = Engine.try_strptime(sample.v, fmt).year()
        reads[digits] = sample.v.count(where=(sample.v.length() == digits) & year.between(1900, 2199))
    row = sample.aggregate(n=sample.count(), **{f"c{d}": r for d, r in reads.items()}).execute().iloc[0]
    n = int(row["n"])
    found = next((f for d, f in _COMPACT.items() if n and int(row[f"c{d}"]) == n), None)
    return None if found is None else TimestampPlan("format", found, zone, _describe(found, zone))


def _epoch_plan(col: ir.Value, zone: str) -> TimestampPlan:
    value = col.cast("float64").abs().median().execute()
    magnitude = None if value is None or value != value else float(value)
    if magnitude is not None and _EXCEL_LOW <= magnitude < _EXCEL_HIGH:
        return TimestampPlan("excel", None, zone, f"Excel serial dates (days since 1899-12-30), read in {zone}")
    if magnitude is not None and magnitude > 1e11:
        return TimestampPlan("epoch_ms", None, zone, "epoch milliseconds")
    return TimestampPlan("epoch_s", None, zone, "epoch seconds")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_format(engine: Engine, fmt: str) -> None:
    try:
        engine.con.execute("SELECT try_strptime('', ?)", [fmt]).fetchall()
    except Exception as exc:
        raise UsageError(f"--timestamp-format {fmt!r} is not a valid strftime format ({exc})") from exc


def _candidates(text: ir.StringValue, zone: str, formats: tuple[str, ...]) -> dict[str, ir.TimestampValue]:
    # The engine's naive cast reads "2024-03-18 3:55 PM" as 03:55, dropping the PM: a 12-hour clock is never ISO
    # (the candidates run on a sample; the column is read by the chosen plan).
    iso = _iso(text, zone, False)
    out: dict[str, ir.TimestampValue] = {"iso": ibis.ifelse(Engine.full_match(text, _MERIDIEM), ibis.null(iso.type()), iso)}
    # Clamped as in `to_utc`: a 13-digit value read as seconds failed the whole ingest while the format was
    # chosen; clamped, it is merely implausible and counts against the candidate.
    out["epoch"] = ibis.ifelse(
        Engine.full_match(text, _EPOCH), _epoch_instant(text.try_cast("float64")), ibis.null()
    )
    for f in formats:
        out[f] = _read_format(text, f, zone, False)
    return out


def _plausible_formats(examples: list[str]) -> tuple[str, ...]:
    """The known formats that read at least one of a few examples (Python's strptime shares the codes), so
    the engine only tries formats with a chance."""
    found = []
    for f in FORMATS:
        for value in examples:
            try:
                datetime.strptime(value, f)
            except ValueError:
                continue
            found.append(f)
            break
    return tuple(found)


def _describe(name: str, zone: str) -> str:
    if name == "iso":
        return f"ISO 8601 (naive values read in {zone})"
    if name == "epoch":
        return "epoch seconds"
    return f"{name} (detected; read in {zone})"


def _refuse_both_orders(
    values: ir.Table, mine: ir.TimestampValue, theirs: ir.TimestampValue, chosen: str, other: str, column: str,
    source: str,
) -> None:
    """An error when some values only `other` reads and some values both read differently: the column
    proves both orders, so a value both read is a guess either way."""
    # `other` is read only where the chosen format fails, few values of a clean column: the check then
    # costs about one parse of the column (0.2 s per 2M values) instead of two.
    only_theirs = ibis.ifelse(mine.isnull(), theirs, ibis.null(theirs.type()))
    own = values.aggregate(x=values.v.min(where=only_theirs.notnull())).execute()["x"].iloc[0]
    if not isinstance(own, str):
        return
    split = values.aggregate(x=values.v.min(where=mine.notnull() & theirs.notnull() & (mine != theirs)))
    split = split.execute()["x"].iloc[0]
    if isinstance(split, str):
        raise TimestampError(
            f"{source}: column {column!r} holds dates only {chosen!r} reads and dates only {other!r} reads "
            f"(such as {own!r}), so values such as {split!r} could be either; pass "
            "--timestamp-format with the one your export uses (the rows in the other order are then rejected)"
        )


def _plan_text(engine: Engine, table: ir.Table, column: str, zone: str, source: str) -> TimestampPlan:
    values = table.select(v=Engine.clean_text(table[column]))
    values = values.filter(values.v.notnull())
    # Narrow the candidates on a sample; scan every value only when two candidates still compete.
    sample = values.limit(_SAMPLE)
    examples = [str(v) for v in sample.limit(200).execute()["v"].tolist()]
    if not examples:
        raise TimestampError(f"{source}: column {column!r} has no timestamps at all; pass --timestamp COL")
    cheap = _candidates(sample.v, zone, ())
    n_sample, n_iso, n_epoch = (
        int(x)
        for x in sample.aggregate(n=sample.count(), iso=cheap["iso"].count(), epoch=cheap["epoch"].count())
        .execute()
        .iloc[0]
    )
    # ISO 8601 is year-first and epoch numbers are plain numbers: neither can be read two ways.
    if n_iso == n_sample:
        return TimestampPlan("iso", None, zone, _describe("iso", zone))
    if all(e.isdigit() and len(e) in _COMPACT for e in examples):
        compact = _compact_plan(table, table[column], zone)
        if compact is not None:
            return compact
    if n_epoch == n_sample:
        return _epoch_plan(Engine.clean_text(table[column]).try_cast("float64"), zone)
    numbers = Engine.clean_text(table[column]).replace(",", ".").try_cast("float64")
    if all(_is_number(e.replace(",", ".")) for e in examples):
        numeric = _epoch_plan(numbers, zone)
        if numeric.kind == "excel":
            return numeric
    formats = _plausible_formats(examples[:50])
    cands = _candidates(sample.v, zone, formats)
    names = list(cands)
    counts = sample.aggregate(**{f"c{i}": cands[n].count() for i, n in enumerate(names)}).execute()
    sample_counts = {n: int(counts[f"c{i}"].iloc[0]) for i, n in enumerate(names)}
    best_sample = max(sample_counts.values(), default=0)
    if best_sample == 0:
        raise TimestampError(
            f"{source}: no known timestamp format reads column {column!r} (values such as "
            f"{', '.join(repr(e) for e in examples[:3])}); pass --timestamp-format with their strftime codes "
            "(for instance '%d.%m.%Y %H:%M:%S' reads '31.12.2024 23:59:00')"
        )
    survivors = [n for n, c in sample_counts.items() if c * 2 >= best_sample]
    chosen = survivors[0]
    if len(survivors) > 1:
        full = _candidates(values.v, zone, tuple(n for n in survivors if n not in ("iso", "epoch")))
        agg = values.aggregate(**{f"c{i}": full[n].count() for i, n in enumerate(survivors)}).execute()
        full_counts = {n: int(agg[f"c{i}"].iloc[0]) for i, n in enumerate(survivors)}
        top = max(full_counts.values())
        leaders = [n for n in survivors if full_counts[n] == top]
        chosen = leaders[0]
        for other in leaders[1:]:
            diff = values.filter(full[chosen].notnull() & full[other].notnull() & (full[chosen] != full[other]))
            example = diff.select("v").limit(1).execute()["v"].tolist()
            if example:
                raise TimestampError(
                    f"{source}: timestamps in column {column!r} such as {example[0]!r} read both as {chosen!r} and "
                    f"as {other!r} (day-first or month-first?); pass --timestamp-format with the one your export uses"
                )
        # A format that reads fewer values wins no vote when some values only it reads and values both read
        # differ: the column proves both orders (13/04 day-first, 04/15 month-first), and 03/04 would be
        # guessed. Formats that never disagree (with and without seconds) are left alone.
        for other in survivors:
            if other not in leaders:
                _refuse_both_orders(values, full[chosen], full[other], chosen, other, column, source)
    # The minority order may read too few values to survive the sample's vote, or none of the first
    # examples: its twin, day and month swapped, is tested over the whole column (only for such formats).
    if "%d" in chosen and "%m" in chosen:
        twin = chosen.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
        pair = _candidates(values.v, zone, (chosen, twin))
        _refuse_both_orders(values, pair[chosen], pair[twin], chosen, twin, column, source)
    if chosen == "iso":
        return TimestampPlan("iso", None, zone, _describe("iso", zone))
    if chosen == "epoch":
        return _epoch_plan(Engine.clean_text(table[column]).try_cast("float64"), zone)
    return TimestampPlan("format", chosen, zone, _describe(chosen, zone))

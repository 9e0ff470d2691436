"""Reading SOURCE into the canonical event log, losing nothing.

Business rules:
- The canonical log is one table: `case_id` (text), `activity` (text), `timestamp` (UTC), `resource` and
  `team` (text or NULL), `seq` (the event's row in the source, so equal timestamps keep the source order),
  and every other source column kept as an attribute.
- Every input row ends in exactly one place: the log, the rejected rows (with the reason), or the count of
  exact duplicate events. rows read = accepted + rejected + duplicates, always.
- A row is rejected when it has no case id, no activity, or a timestamp that cannot be read, or when the
  reader could not split it into fields. Text is trimmed; an empty value counts as missing.
- An exact duplicate is a row whose every source field equals an earlier row's; the first one is kept.
- A Parquet file written by `auditor ingest` carries its mapping and is read back as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import ibis
import ibis.expr.types as ir

from auditor.engine import ROW, CsvDialect, Engine, RawRejects, free_name
from auditor.errors import InputError, MappingError, StrictModeError, TimestampError, UsageError
from auditor.mapping import (
    ColumnMapping,
    infer_mapping,
    normalise,
    resolve_column,
    score,
    timestamp_candidates,
)
from auditor.options import ReadOptions
from auditor.profiles import looks_like
from auditor.profiles.base import REASON, TWIN, Profile
from auditor.readers import text
from auditor.timestamps import TimestampPlan, plan, plausible, plausible_range, to_utc, value_kind

CANONICAL = ("case_id", "activity", "timestamp", "resource", "team", "seq")
START = "start_timestamp"  # optional: when the activity instance began (a start/complete lifecycle log)
META_KEY = "auditor"
FORMATS = {
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv", ".tsv.gz": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".xes": "xes", ".xes.gz": "xes",
    ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".ndjson": "jsonl",
}

Progress = Callable[[str], None]


@dataclass
class IngestSummary:
    """What happened to every input row."""

    source: str
    format: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    twins: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    mapping: ColumnMapping | None = None
    timestamps: str = ""
    # The zone naive times were read in (a canonical Parquet: the one it was ingested with, if recorded);
    # working hours follow it unless --timezone is given.
    timezone: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    profile: str | None = None
    cases: int = 0
    newest_first: bool = False  # the source lists events newest first; `seq` counts rows from its end
    # What the reader of the log must know about the source (a profile it looks like, its order, XES
    # traces sharing a name, unfinished activity instances): printed by the commands, noted by the audit.
    notes: list[str] = field(default_factory=list)

    def balanced(self) -> bool:
        return self.rows_read == self.accepted + self.rejected + self.duplicates


@dataclass
class EventLog:
    """The canonical log in the engine, with how it was read."""

    engine: Engine
    table: ir.Table
    summary: IngestSummary
    rejected: ir.Table | None = None
    name: str = ""

    @property
    def mapping(self) -> ColumnMapping | None:
        return self.summary.mapping


def has_starts(t: ir.Table) -> bool:
    """Whether the log carries activity-instance starts (an instant column `start_timestamp`; a source
    column of that name that is text is only an attribute)."""
    return START in t.columns and t[START].type().is_timestamp()


def first_moment(t: ir.Table) -> ir.Value:
    """A group's first moment, as an aggregate: its first event, or, in a start/complete lifecycle log, the
    start of an activity instance that began before it."""
    first = t.timestamp.min()
    if has_starts(t):
        return ibis.least(first, t[START].min().fill_null(first))
    return first


def detect_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    known = ", ".join(sorted(FORMATS))
    raise UsageError(f"{path}: unknown file type; SOURCE must end in one of {known}")


def load(source: Path, options: ReadOptions, engine: Engine, progress: Progress | None = None) -> EventLog:
    """Reads SOURCE into the engine as the canonical log (accepted rows), keeping the rejected rows."""
    say = progress or (lambda _msg: None)
    if not source.exists():
        raise InputError(f"{source}: no such file")
    if source.is_dir():
        raise InputError(f"{source}: is a directory; SOURCE must be a log file")
    fmt = detect_format(source)
    summary = IngestSummary(source=str(source), format=fmt, profile=options.profile, timezone=options.timezone)
    say(f"reading {source.name}")
    meta: dict[str, str] = {}
    rejects = RawRejects([])
    if fmt == "csv":
        raw, rejects = _read_csv(source, options, engine, summary)
    elif fmt == "jsonl":
        raw, rejects = _read_jsonl(source, options, engine)
    elif fmt == "parquet":
        raw, meta = engine.load_parquet(source)
    else:
        from auditor.readers.xes import read_xes, repeated_trace_names

        xes = read_xes(source, max_decompressed_bytes=options.max_decompressed_bytes)
        summary.notes.extend(repeated_trace_names(xes, source.name))
        raw = engine.load_arrow(xes)
    if META_KEY in meta:
        ignored = [f"--{k.replace('_', '-')}" for k in ("case", "activity", "timestamp", "resource", "team", "sep",
                                                        "encoding", "timestamp_format", "profile")
                   if getattr(options, k)]
        if ignored:
            # The file carries its mapping and its instants; a silently dropped option looks applied.
            summary.notes.append(
                f"{source.name} was written by `auditor ingest` and is read with its recorded mapping: "
                f"{', '.join(ignored)} {'does' if len(ignored) == 1 else 'do'} not apply (ingest the original "
                "export again to map it differently)"
            )
        return _canonical_parquet(engine, raw, meta[META_KEY], source, summary)
    source_cols = [c for c in raw.columns if c != ROW]
    if not source_cols:
        raise InputError(f"{source}: no columns found; check the file and --sep")
    say("checking rows")
    return _build(engine, raw, source_cols, rejects, options, summary, source, say)


def _read_csv(
    source: Path, options: ReadOptions, engine: Engine, summary: IngestSummary
) -> tuple[ir.Table, RawRejects]:
    encoding = text.detect_encoding(source, options.encoding)
    readable = text.to_utf8(source, encoding, engine.temp_dir)
    sep = options.sep
    if sep is None and source.name.lower().endswith((".tsv", ".tsv.gz")):
        sep = "\t"
    if sep is not None:
        sep = sep.encode().decode("unicode_escape") if sep.startswith("\\") else sep
        if len(sep) != 1:
            raise UsageError(f"--sep must be one character, got {options.sep!r}")
    # Excel writes `sep=;` as the first line for its own reader: the delimiter, unless --sep says otherwise,
    # and no row (row numbers count the data rows after the header).
    hint = text.sep_hint(readable)
    sep, skip = sep or hint, int(hint is not None)
    # Two exports glued together (a Windows one, CRLF, then a Linux one, LF) derail the reader at the
    # switch: unquoted, it stops with an error; quoted, the rest of the file becomes one rejected "row" and
    # the row counts no longer add up. Both show as an error or a rejected row, so only then is the file
    # searched for mixed line endings (a clean file is not read an extra time), and read again with LF.
    loaded: tuple[ir.Table, RawRejects, CsvDialect] | None
    try:
        loaded = _load_csv(readable, sep, skip, engine)
    except InputError:
        if not text.mixed_line_endings(readable):
            raise
        loaded = None
    else:
        if loaded[1].rows and text.mixed_line_endings(readable):
            engine.drop(loaded[0])
            loaded = None
    if loaded is None:
        readable = text.lf_line_endings(readable, engine.temp_dir)
        loaded = _load_csv(readable, sep, skip, engine)
    raw, rejects, dialect = loaded
    summary.encoding, summary.delimiter = encoding, dialect.delimiter
    cols = [c for c in raw.columns if c != ROW]
    if raw.count().execute() == 0:
        if not rejects.rows:
            raise InputError(f"{source}: has a header ({len(cols)} columns) but no data rows")
        # Every row split wrongly: the mapping would only say a column holds no timestamps, hiding the cause.
        for kind, what in (("too many fields", "more"), ("too few fields", "fewer")):
            if all(why.startswith(kind) for _, why, _ in rejects.rows):
                raise InputError(
                    f"{source}: every row has {what} fields than the header names ({len(cols)}: "
                    f"{', '.join(repr(c) for c in cols[:10])}), such as row 1: {rejects.rows[0][2][:80]!r}; "
                    "give every column a name in the header, or check --sep"
                )
    return raw, rejects


def _load_csv(readable: Path, sep: str | None, skip: int, engine: Engine) -> tuple[ir.Table, RawRejects, CsvDialect]:
    # DuckDB's sniffer judges quoting from a sample: one badly quoted line in it (an unescaped `"` in a
    # free text) makes it give up quoting for the whole file, and every properly quoted field with a
    # delimiter inside then splits into too many fields: valid rows rejected, the broken one accepted. It
    # fails outright on some headers with a quoted line break. So a file that holds a `"` but was not
    # judged quoted with it, or that the sniffer cannot read, is read with RFC 4180 quoting.
    try:
        dialect = engine.sniff_csv(readable, sep=sep, skip=skip)
    except InputError:
        delimiter = sep or text.guess_delimiter(readable)
        if delimiter is None:
            raise
        dialect = CsvDialect(delimiter, '"', '"', "utf-8", rfc4180=True, skip=skip)
    else:
        if dialect.quote != '"' and text.holds(readable, b'"'):
            dialect = replace(dialect, quote='"', escape='"', rfc4180=True)
    header = text.csv_header(readable, dialect.delimiter, skip) if dialect.rfc4180 else None
    raw, rejects = engine.load_csv(readable, dialect, header)
    return raw, rejects, dialect


def _read_jsonl(source: Path, options: ReadOptions, engine: Engine) -> tuple[ir.Table, RawRejects]:
    encoding = text.detect_encoding(source, options.encoding)
    readable = text.to_utf8(source, encoding, engine.temp_dir)
    if readable == source and source.name.lower().endswith(".gz"):
        readable = text.to_utf8(source, "utf-8-sig", engine.temp_dir)
    raw, rejects = engine.load_jsonl(readable)
    if raw.count().execute() == 0 and not rejects.rows:
        raise InputError(f"{source}: has no JSON records")
    return raw, rejects


def _clean(value: ir.Value, *, name: bool = False) -> ir.StringValue:
    """Text without leading or trailing whitespace; an empty value or a placeholder ("NULL", "#N/A") is
    missing."""
    return Engine.clean_text(value, name=name)


def _build(
    engine: Engine,
    raw: ir.Table,
    source_cols: list[str],
    rejects: RawRejects,
    options: ReadOptions,
    summary: IngestSummary,
    source: Path,
    say: Progress,
) -> EventLog:
    name = source.name
    profile = _profile(options.profile)
    given: dict[str, str | None] = {
        "case": options.case, "activity": options.activity, "timestamp": options.timestamp,
        "resource": options.resource, "team": options.team,
    }
    # A field-history export read without its profile (or with another one) gives a log of field names:
    # the error, or the summary, says which profile the columns look like.
    layout = looks_like(source_cols)
    hint = f"the columns look like a {layout} field-history export: try --profile {layout}"
    try:
        if profile is not None:
            mapping = _profile_mapping(profile, source_cols, given, name)
        else:
            mapping = infer_mapping(source_cols, given=given, source=name)
    except MappingError as exc:
        if layout is None or (profile is not None and profile.name == layout):
            raise
        raise MappingError(f"{exc}; {hint}") from exc
    if profile is None and layout is not None:
        summary.notes.append(
            f"{hint}, which turns each field change into a process event (as read now, the activities are "
            f"the {mapping.activity!r} column's values)"
        )
    if profile is None and "timestamp" in mapping.inferred:
        mapping = _events_time(engine, raw, source_cols, mapping, options, name, summary)
    if options.fill_case:
        raw = _fill_case(engine, raw, mapping.case, summary)
    mapping, ts_raw, tsplan = _timestamp(engine, raw, source_cols, mapping, options, name, summary)
    summary.mapping = mapping
    summary.timestamps = tsplan.description
    ts_label = f"{mapping.timestamp!r} + {mapping.time!r}" if mapping.time else repr(mapping.timestamp)

    case = _clean(raw[mapping.case])
    act = _clean(raw[mapping.activity], name=True) if profile is None else ibis.literal("", "string")
    ts_read = to_utc(ts_raw, tsplan)
    in_range = plausible(ts_read, tsplan)
    ts = ibis.ifelse(in_range, ts_read, ibis.null(ts_read.type()))
    res = _clean(raw[mapping.resource], name=True) if mapping.resource else ibis.null("string")
    team = _clean(raw[mapping.team], name=True) if mapping.team else ibis.null("string")
    ts_text = _clean(ts_raw)
    reason = ibis.cases(
        (case.isnull(), f"missing case id (column {mapping.case!r})"),
        (act.isnull(), f"missing activity (column {mapping.activity!r})"),
        (ts_text.isnull(), f"missing timestamp (column {ts_label})"),
        (
            ts_read.notnull() & ~in_range,
            ibis.literal("timestamp '") + ts_text.substr(0, 60)
            + f"' in column {ts_label} is {plausible_range(tsplan)}",
        ),
        (
            ts.isnull() & to_utc(ts_raw, tsplan, strict=False).notnull(),
            ibis.literal("timestamp '") + ts_text.substr(0, 60)
            + f"' in column {ts_label} does not exist in {tsplan.zone}: the clocks skipped that hour "
            "(daylight saving); check --timezone",
        ),
        (
            ts.isnull(),
            ibis.literal("timestamp '") + ts_text.substr(0, 60)
            + f"' in column {ts_label} does not read as {tsplan.description}; "
            "pass --timestamp-format",
        ),
        else_=ibis.null("string"),
    )
    rows_read = int(raw.count().execute()) + len(rejects.rows)
    mapped = {c for c in (mapping.case, mapping.timestamp, mapping.time, mapping.resource, mapping.team) if c}
    if profile is None:
        mapped.add(mapping.activity)
    attrs = [c for c in source_cols if c not in mapped]
    rename = {c: _attr_name(c, source_cols) for c in attrs}
    starts = _start_column(engine, raw, attrs, options, name, summary)
    if starts is not None:
        attrs.remove(starts[0])
    # One pass trims and parses every row into the log's shape; a rejected row is one whose required
    # value came out missing. Rejected rows are few, so their reasons and original fields are looked up
    # afterwards, rather than trimming and parsing every row a second time to find them.
    parsed = engine.materialize(
        raw.select(
            case_id=case, activity=act, timestamp=ts, resource=res, team=team, seq=raw[ROW],
            **{rename[c]: raw[c] for c in attrs},
            **({START: starts[1]} if starts is not None else {}),
        ),
        "parsed",
    )
    missing = parsed.case_id.isnull() | parsed.activity.isnull() | parsed.timestamp.isnull()
    bad_seq = parsed.filter(missing).select(bad_seq=parsed.seq)
    has_bad = int(bad_seq.count().execute()) > 0
    is_bad = raw.semi_join(bad_seq, raw[ROW] == bad_seq.bad_seq) if has_bad else raw.filter(ibis.literal(False))
    bad = is_bad.select(ROW, *source_cols, __reason=reason)
    if has_bad:
        bad = engine.materialize(bad, "bad")
    say("removing duplicates")
    # Exact duplicates: every source field equal; the first in source order is kept. A hash of the fields
    # finds the few candidate groups cheaply; only those are compared field by field.
    row_hash = ibis.struct({c: raw[c] for c in source_cols}).hash()
    # An exact, cheap pre-check: when no two rows share a hash, no two rows are equal, and the
    # field-by-field search (which reads the table a second time) is skipped.
    distinct_hashes = int(raw.aggregate(n=row_hash.nunique()).execute()["n"].iloc[0])
    if distinct_hashes == rows_read - len(rejects.rows):
        duplicates = 0
        dup_rows = None
    else:
        hashed = raw.mutate(__hash=row_hash)
        shared_hash = hashed.group_by("__hash").aggregate(__n=hashed.count())
        shared_hash = shared_hash.filter(shared_hash.__n > 1).select("__hash")
        candidates = hashed.semi_join(shared_hash, "__hash").anti_join(bad, ROW)
        rank = ibis.row_number().over(group_by=[candidates[c] for c in source_cols], order_by=candidates[ROW])
        ranked = candidates.mutate(__rank=rank)
        dup_rows = engine.materialize(ranked.filter(ranked.__rank > 0).select(ROW), "dups")
        duplicates = int(dup_rows.count().execute())
    events = parsed
    if has_bad:
        events = events.filter(~missing)
    if dup_rows is not None and duplicates:
        events = events.anti_join(dup_rows, events.seq == dup_rows[ROW])
    late_rejects: list[ir.Table] = []
    # An export listed newest first (a CRM's history list, ORDER BY ... DESC) also lists the events of one
    # moment in reverse: `seq`, which orders equal timestamps, then counts rows from the end of the file, so
    # a case's creation still comes before the field changes saved with it.
    flip_from: int | None = None
    if _newest_first(parsed):
        flip_from = int(parsed.seq.max().execute()) + 1
        events = events.mutate(seq=flip_from - events.seq)
        summary.newest_first = True
        summary.notes.append(NEWEST_FIRST_NOTE)
    events, lifecycle_rejects = _lifecycle(engine, events, options.lifecycle, summary)
    if lifecycle_rejects is not None:
        late_rejects.append(lifecycle_rejects)
        # Pairing starts with completes is a join, which loses the source order the Parquet promises.
        events = events.order_by("seq")
    twins = 0
    if profile is not None:
        say(f"applying the {profile.name} profile")
        converted = engine.materialize(
            profile.to_events(events.drop("activity", "team"), options, name), "profile"
        )
        if REASON not in converted.columns:
            converted = converted.mutate(**{REASON: ibis.null("string")})
        twins = int(converted.filter(converted[TWIN]).count().execute())
        not_twin = converted.filter(~converted[TWIN])
        late_rejects.append(not_twin.filter(not_twin.activity.isnull()).select("seq", REASON))
        events = not_twin.filter(not_twin.activity.notnull()).drop(TWIN, REASON)
        events = events.select(*CANONICAL, *[c for c in events.columns if c not in CANONICAL])
        # A profile's conversion (joins, unions of field changes) loses the source order that the written
        # Parquet promises; the sort is paid only on this path.
        events = events.order_by("seq")
    if events is not parsed:
        # A dirty log is copied once more without its rejected and duplicate rows, so that later queries
        # do not filter again; a clean one is the parsed table itself.
        events = engine.materialize(events, "log")
        engine.drop(parsed)

    rejected = _rejected_table(engine, raw, bad, rejects, source_cols, late_rejects, flip_from)
    engine.drop(raw)
    summary.rows_read = rows_read
    summary.accepted = int(events.count().execute())
    summary.duplicates = duplicates + twins
    summary.twins = twins
    summary.rejected = int(rejected.count().execute())
    summary.cases = int(events.case_id.nunique().execute())
    reasons = rejected.group_by(kind=_reason_kind(rejected.reason)).aggregate(n=rejected.count()).execute()
    summary.reasons = {str(k): int(n) for k, n in zip(reasons["kind"], reasons["n"], strict=True)}
    no_case = summary.reasons.get(f"missing case id (column {mapping.case!r})", 0)
    if no_case >= max(3, 0.2 * rows_read):
        # A grouped report prints the case's id on its first row only: most of the log is "missing" it.
        summary.notes.append(
            f"{no_case:,} of {rows_read:,} rows have no case id (column {mapping.case!r}): if the export prints "
            "each case's id once, on the first row of its group, pass --fill-case (or export it with the id on "
            "every row)"
        )
    if not summary.balanced():  # pragma: no cover - an invariant; a failure here is a bug, not bad input
        raise AssertionError(f"row accounting does not balance: {summary}")
    if options.strict and summary.rejected:
        raise StrictModeError(
            f"{name}: {summary.rejected} row(s) rejected and --strict was given; "
            f"first reason: {_first_reason(rejected)}"
        )
    if summary.accepted == 0 and rows_read == 0:
        raise InputError(f"{name}: holds no data rows, only its columns; export the log again with its events")
    if summary.accepted == 0:
        raise InputError(
            f"{name}: no row could be read as an event ({summary.rejected} rejected, first reason: "
            f"{_first_reason(rejected)}); check the mapping options"
        )
    return EventLog(engine=engine, table=events, summary=summary, rejected=rejected, name=name)


def _fill_case(engine: Engine, raw: ir.Table, col: str, summary: IngestSummary) -> ir.Table:
    """`--fill-case`: a row without a case id belongs to the case of the nearest row above it that has one
    (a grouped report prints the id once per group). Rows before the first id stay without one and are
    rejected. The source table is replaced by a copy with the column filled."""
    value = Engine.clean_text(raw[col])
    w = ibis.window(order_by=raw[ROW], preceding=None, following=0)
    grouped = raw.mutate(__group=value.notnull().cast("int64").sum().over(w), __value=value)
    filled = grouped.mutate(__filled=grouped.__value.max().over(group_by=grouped.__group))
    n = int(filled.filter(filled.__value.isnull() & filled.__filled.notnull()).count().execute())
    out = engine.materialize(
        filled.mutate(**{col: filled.__filled}).drop("__group", "__value", "__filled"), "filled"
    )
    engine.drop(raw)
    summary.notes.append(f"--fill-case: {n:,} rows without a case id took the id of the row above them")
    return out


# Names of a column of times of day beside a column of dates (normalised); a column of another name is paired
# only when the engine typed it as a time of day.
_TIME_NAMES = ("time", "time of day", "event time", "uhrzeit", "zeit", "heure", "hora", "ora", "tijd")


def _timestamp(
    engine: Engine,
    raw: ir.Table,
    cols: list[str],
    mapping: ColumnMapping,
    options: ReadOptions,
    name: str,
    summary: IngestSummary,
) -> tuple[ColumnMapping, ir.Value, TimestampPlan]:
    """The timestamp column, its values and how they are read. An export with a date column and a separate
    time-of-day column (`Date`, `Time`; `Datum`, `Uhrzeit`) is read as both joined, and a note says so: the
    date alone would put every event of a day at midnight, in no order."""
    fmt, zone = options.timestamp_format, options.timezone
    # Sampled once: it decides both the pairing and the error for times of day without a date.
    kind = None if options.timestamp_format and options.timestamp else value_kind(raw, mapping.timestamp)
    pair = _date_time_pair(raw, cols, mapping, kind) if kind in ("date", "time") else None
    if pair is not None:
        date_col, time_col = pair
        joined = _clean(_as_text(raw[date_col])) + " " + _clean(_as_text(raw[time_col]))
        label = f"{date_col} + {time_col}"
        try:
            p = plan(engine, raw.mutate(**{label: joined}), label, fmt=fmt, zone=zone, source=name)
        except InputError:
            p = None
        if p is not None:
            summary.notes.append(
                f"timestamps joined from the date column {date_col!r} and the time column {time_col!r}"
            )
            roles = ("timestamp",) if "timestamp" in mapping.inferred else ()
            return replace(mapping, timestamp=date_col, time=time_col, inferred=(*mapping.inferred, *roles)), joined, p
    col = mapping.timestamp
    if pair is None and "timestamp" in mapping.inferred and kind == "time":
        raise TimestampError(
            f"{name}: column {col!r} holds times of day without a date; pass --timestamp COL with the column that "
            "holds the dates (or the full date and time)"
        )
    return mapping, raw[col], plan(engine, raw, col, fmt=fmt, zone=zone, source=name)


CASE_DATE_SAMPLE = 20_000  # rows: enough cases with several events to tell a case's date from its events'
CASE_DATE_SHARE = 0.9  # of the sampled cases with 2+ events in which the inferred column never changes


def _events_time(
    engine: Engine, raw: ir.Table, cols: list[str], mapping: ColumnMapping, options: ReadOptions, name: str,
    summary: IngestSummary,
) -> ColumnMapping:
    """The inferred timestamp column, unless it holds the case's own date (when it was opened, repeated on
    each of its events: every event of a case would be at one moment, in no order) while another column
    named as a time changes within the cases: that one is the events' time, and a note says why."""
    taken = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team}
    others = [c for c in timestamp_candidates(c for c in cols if c not in taken) if normalise(c) not in _START_NAMES]
    if not others:
        return mapping
    sample = raw.select(
        __case=_clean(raw[mapping.case]), __ts=raw[mapping.timestamp], **{f"__o{i}": raw[c] for i, c in enumerate(others)}
    ).limit(CASE_DATE_SAMPLE)
    sample = sample.filter(sample.__case.notnull())
    per_case = sample.group_by("__case").aggregate(
        __n=sample.count(), __ts=sample.__ts.nunique(), **{f"__o{i}": sample[f"__o{i}"].nunique() for i in range(len(others))}
    )
    per_case = per_case.filter(per_case.__n >= 2)
    row = per_case.aggregate(
        cases=per_case.count(),
        constant=(per_case.__ts <= 1).cast("int64").sum(),
        **{f"o{i}": (per_case[f"__o{i}"] > 1).cast("int64").sum() for i in range(len(others))},
    ).execute().iloc[0]
    cases, constant = int(row["cases"]), int(row["constant"] or 0)
    if cases < 2 or constant < CASE_DATE_SHARE * cases:
        return mapping
    for i, col in enumerate(others):
        if int(row[f"o{i}"] or 0) * 2 < cases or value_kind(raw, col) == "time":
            continue
        try:
            plan(engine, raw, col, fmt=options.timestamp_format, zone=options.timezone, source=name)
        except InputError:
            continue
        summary.notes.append(
            f"the events' time is read from column {col!r}, not {mapping.timestamp!r}: {mapping.timestamp!r} holds "
            f"one value per case in {constant:,} of the {cases:,} sampled cases with several events (the case's own "
            f"date), while {col!r} changes within them; pass --timestamp to choose"
        )
        return replace(mapping, timestamp=col)
    return mapping


def _as_text(value: ir.Value) -> ir.StringValue:
    return value if value.type().is_string() else value.cast("string")


def _date_time_pair(raw: ir.Table, cols: list[str], mapping: ColumnMapping, kind: str) -> tuple[str, str] | None:
    """(date column, time column) when the timestamp column, whose values are of `kind` (date or time), is one
    half of such a pair and an unmapped column is the other half; None otherwise."""
    col = mapping.timestamp
    taken = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team}
    free = [c for c in cols if c not in taken]
    if kind == "date":
        named = [c for c in free if normalise(c) in _TIME_NAMES or raw[c].type().is_time()]
        time_col = next((c for c in named if value_kind(raw, c) == "time"), None)
        return (col, time_col) if time_col else None
    dated = sorted((c for c in free if score(c, "timestamp") > 0), key=lambda c: -score(c, "timestamp"))
    date_col = next((c for c in dated if value_kind(raw, c) == "date"), None)
    return (date_col, col) if date_col else None


# Columns that hold when the activity instance began, beside the (complete) timestamp, normalised.
# Not "start date": exports use it for the case's own start, a property of the ticket.
_START_NAMES = ("start timestamp", "start time", "starttime", "start datetime", "started at", "begin time")


def _start_column(
    engine: Engine, raw: ir.Table, attrs: list[str], options: ReadOptions, name: str, summary: IngestSummary
) -> tuple[str, ir.Value] | None:
    """A start-time column beside the mapped timestamp (`start_timestamp`, `start_time`), read as instants
    in the timestamp's zone, so that lead times count from the first start as they do for XES lifecycle
    logs. Its own format is detected; a value it cannot read is a missing start, not a rejected row (the
    complete timestamp is the event's time). A column that reads as no timestamps at all stays an attribute."""
    col = next((c for c in attrs if normalise(c) in _START_NAMES), None)
    if col is None:
        return None
    text = raw[col].type().is_string()
    try:
        p = plan(engine, raw, col, fmt=options.timestamp_format if text else None, zone=options.timezone, source=name)
    except InputError:
        return None
    value = to_utc(raw[col], p, strict=False)
    summary.notes.append(f"activity starts read from column {col!r} ({p.description}): lead times count from them")
    return col, ibis.ifelse(plausible(value, p), value, ibis.null(value.type()))


def _reason_kind(reason: ir.StringValue) -> ir.StringValue:
    """The reason without its row-specific part, for the summary's counts."""
    return ibis.cases(
        (reason.startswith("timestamp '") & reason.contains("the clocks skipped"), "skipped local time (daylight saving)"),
        (reason.startswith("timestamp '") & reason.contains("' is "), "implausible timestamp"),
        (reason.startswith("timestamp '"), "unreadable timestamp"),
        # "too many fields: <the parser's detail>"; a column name may hold a colon too (XES: concept:name)
        else_=reason.split(": ")[0],
    )


def _first_reason(rejected: ir.Table) -> str:
    first = rejected.order_by("row").limit(1).execute()
    return str(first["reason"].iloc[0]) if len(first) else "none"


def _attr_name(col: str, source_cols: list[str]) -> str:
    """The attribute's column name in the log: its own, unless it collides (case-insensitively, as the
    engine compares names) with a canonical column or another source column."""
    return free_name(col, _others(col, source_cols, CANONICAL))


def _others(col: str, source_cols: list[str], reserved: tuple[str, ...]) -> set[str]:
    """The names, in lower case, that `col` must not take: the reserved ones and the other source columns."""
    return {c.lower() for c in reserved} | {c.lower() for c in source_cols if c != col}


def _rejected_table(
    engine: Engine,
    raw: ir.Table,
    bad: ir.Table,
    rejects: RawRejects,
    source_cols: list[str],
    late_rejects: list[ir.Table],
    flip_from: int | None = None,
) -> ir.Table:
    """`row`, `reason`, then the original fields as text: the contract's rejected-rows layout.
    `late_rejects`: rows rejected after parsing (by a profile, or lifecycle transitions), as `seq` and
    REASON; `flip_from`: set when `seq` counts rows from the end (a newest-first export), row = flip_from - seq."""
    out = {c: free_name(c, _others(c, source_cols, ("row", "reason"))) for c in source_cols}
    parts = [
        bad.select(row=bad[ROW], reason=bad.__reason, **{out[c]: bad[c].cast("string") for c in source_cols})
    ]
    if rejects.rows:
        structural = ibis.memtable(
            {
                "row": [r for r, _, _ in rejects.rows],
                "reason": [f"{why}; the line reads: {line[:500]}" for _, why, line in rejects.rows],
            },
            schema={"row": "int64", "reason": "string"},
        )
        parts.append(structural.mutate(**{out[c]: ibis.null("string") for c in source_cols}))
    for late in late_rejects:
        # The original fields come from the source rows themselves, exactly as read.
        source_row = late.seq if flip_from is None else flip_from - late.seq
        p = late.select(__p_row=source_row, __p_reason=late[REASON].fill_null("the profile found no activity for this row"))
        j = p.join(raw, p.__p_row == raw[ROW])
        parts.append(j.select(row=j.__p_row, reason=j.__p_reason, **{out[c]: j[c].cast("string") for c in source_cols}))
    table = parts[0]
    for other in parts[1:]:
        table = table.union(other)
    return engine.materialize(table.order_by("row"), "rejected")


NEWEST_FIRST_NOTE = (
    "the source lists each case's events newest first: events with the same timestamp are taken in the "
    "reverse of the listed order (the export's oldest first), and `seq` counts rows from the end"
)
NEWEST_FIRST_SAMPLE = 200_000  # rows: the order of an export shows in its first rows
NEWEST_FIRST_MIN = 5  # backward steps within a case, at least, and nine times the forward ones


def _newest_first(parsed: ir.Table) -> bool:
    """Whether the source lists each case's events newest first: between consecutive rows of one case,
    time goes back nearly always (at least nine times as often as forward, and `NEWEST_FIRST_MIN` times)."""
    s = parsed.filter(parsed.seq <= NEWEST_FIRST_SAMPLE).select("case_id", "timestamp", "seq")
    w = ibis.window(order_by="seq")
    s = s.mutate(p_case=s.case_id.lag().over(w), p_ts=s.timestamp.lag().over(w))
    same = s.filter((s.p_case == s.case_id) & s.timestamp.notnull() & s.p_ts.notnull())
    row = same.aggregate(
        back=(same.timestamp < same.p_ts).cast("int64").sum(), forward=(same.timestamp > same.p_ts).cast("int64").sum()
    ).execute().iloc[0]
    back, forward = int(row["back"] or 0), int(row["forward"] or 0)
    return back >= NEWEST_FIRST_MIN and back >= 9 * forward


LIFECYCLE_COLUMNS = ("lifecycle:transition", "lifecycle_transition", "lifecycle", "transition")
# The XES standard lifecycle model's transitions other than `complete`.
NON_COMPLETE = ("schedule", "assign", "reassign", "start", "suspend", "resume", "withdraw", "manualskip",
                "autoskip", "pi_abort", "ate_abort")


def _lifecycle(
    engine: Engine, events: ir.Table, mode: str, summary: IngestSummary
) -> tuple[ir.Table, ir.Table | None]:
    """Business rule: a log that records each activity instance as a start and a complete event (XES
    lifecycle) is analysed on its complete events, one per instance: otherwise every activity would look
    repeated (rework) and the start-to-complete time would count as waiting. The other standard transitions
    are rejected with their reason, so no row is lost; a complete event keeps its instance's start as
    `start_timestamp`, and instances started but never completed are counted in a note. Logs whose
    lifecycle column carries sub-statuses instead (BPIC 2013: "Wait - User") are left alone; `mode` "all"
    keeps every transition."""
    if mode not in ("complete", "all"):
        raise UsageError(f"--lifecycle must be complete or all, not {mode!r}")
    lower = {c.lower(): c for c in events.columns}
    col = next((lower[c] for c in LIFECYCLE_COLUMNS if c in lower), None)
    if mode == "all" or col is None or not events[col].type().is_string():
        return events, None
    values = {str(v) for v in events.select(v=events[col].strip().lower()).distinct().execute()["v"] if v is not None}
    if not {"start", "complete"} <= values:
        return events, None
    transition = events[col].strip().lower()
    other = transition.isin(list(NON_COMPLETE)).fill_null(False)
    reason = (
        ibis.literal("lifecycle '") + transition + f"' event (column {col!r}): each activity is analysed on its "
        "'complete' event; pass --lifecycle all to keep every transition"
    )
    rejects = engine.materialize(events.filter(other).select("seq", **{REASON: reason}), "lifecycle_rejects")
    # The n-th start of an activity in a case opens the instance its n-th complete closes: the complete
    # event keeps that start as `start_timestamp` (pm4py's name for it), so lead time can count from the
    # first start and a start without its complete (work in progress) can be counted.
    kind = events.mutate(__t=transition)
    n = ibis.row_number().over(group_by=["case_id", "activity", "__t"], order_by=["timestamp", "seq"])
    # numbered once: the pairing and the count of unfinished instances both read it
    kind = engine.materialize(kind.mutate(__n=n), "lifecycle_numbered")
    starts = kind.filter(kind.__t == "start").select(
        s_case=kind.case_id, s_act=kind.activity, s_n=kind.__n, start_timestamp=kind.timestamp
    )
    done = kind.filter(~kind.__t.isin(list(NON_COMPLETE)).fill_null(False))
    paired = done.left_join(
        starts,
        [done.case_id == starts.s_case, done.activity == starts.s_act, done.__n == starts.s_n, done.__t == "complete"],
    )
    paired = paired.drop("s_case", "s_act", "s_n", "__t", "__n")
    paired = engine.materialize(paired, "lifecycle_paired")
    completes = kind.filter(kind.__t == "complete").select(c_case=kind.case_id, c_act=kind.activity, c_n=kind.__n)
    open_starts = starts.anti_join(
        completes, [starts.s_case == completes.c_case, starts.s_act == completes.c_act, starts.s_n == completes.c_n]
    )
    row = open_starts.aggregate(k=open_starts.count(), cases=open_starts.s_case.nunique()).execute().iloc[0]
    engine.drop(kind)
    if int(row["k"]):
        summary.notes.append(
            f"{int(row['k']):,} activity instance{'s were' if int(row['k']) != 1 else ' was'} started and never "
            f"completed (in {int(row['cases']):,} case{'s' if int(row['cases']) != 1 else ''}): work in progress "
            "or abandoned; their start events are among the rejected rows, so these activities are not in the "
            "cases' paths"
        )
    return paired, rejects


def _profile(name: str | None) -> Profile | None:
    if not name:
        return None
    from auditor.profiles import get_profile

    return get_profile(name)


def _profile_mapping(profile: Profile, cols: list[str], given: dict[str, str | None], source: str) -> ColumnMapping:
    """Profiles produce the activity and the team themselves; the case, time and resource come from the
    export's own columns (or the options)."""
    chosen: dict[str, str | None] = {}
    inferred: list[str] = []
    for role in ("case", "timestamp", "resource"):
        if given.get(role):
            chosen[role] = resolve_column(str(given[role]), cols, option=f"--{role}", source=source)
            continue
        found = next((c for name in profile.columns.get(role, ()) for c in cols if normalise(c) == normalise(name)), None)
        if found is None and role != "resource":
            expected = ", ".join(profile.columns.get(role, ()))
            raise MappingError(
                f"{source}: the {profile.name} profile expects a {role} column ({expected}); pass --{role} COL. "
                f"Available columns: {', '.join(repr(c) for c in cols)}"
            )
        chosen[role] = found
        if found:
            inferred.append(role)
    return ColumnMapping(
        case=str(chosen["case"]),
        activity=f"({profile.name} profile)",
        timestamp=str(chosen["timestamp"]),
        resource=chosen.get("resource"),
        team=None,
        inferred=tuple(inferred),
    )


def _canonical_parquet(engine: Engine, raw: ir.Table, meta: str, source: Path, summary: IngestSummary) -> EventLog:
    try:
        info = json.loads(meta)
        mapping = ColumnMapping(**{k: v for k, v in info["mapping"].items() if k != "inferred"})
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{source}: its auditor metadata is damaged ({exc}); ingest the original export again") from exc
    missing = [c for c in CANONICAL if c not in raw.columns]
    if missing:
        raise InputError(f"{source}: written by auditor but lacks columns {missing}; ingest the original export again")
    table = raw.drop(ROW)
    n = int(table.count().execute())
    summary.mapping = mapping
    summary.rows_read = summary.accepted = n
    summary.timestamps = "typed instants (auditor Parquet)"
    summary.cases = int(table.case_id.nunique().execute())
    summary.profile = info.get("profile")
    summary.timezone = info.get("timezone")  # None in files written before it was recorded
    return EventLog(engine=engine, table=table, summary=summary, name=str(info.get("name", source.name)))


def check_output(out: Path, source: Path | None = None) -> None:
    """Fails early, before any reading, when OUT cannot be the canonical log, or when writing it or its
    rejected rows would overwrite SOURCE (re-reading a fixed `x.rejected.csv` into `x.parquet`)."""
    if out.suffix.lower() != ".parquet":
        raise UsageError(f"-o {out}: the canonical log is written as Parquet; name it *.parquet")
    if out.exists() and out.is_dir():
        raise UsageError(f"-o {out}: is a directory; name the Parquet file to write")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"-o {out}: {parent} is a file, not a folder")
    if source is not None and source.exists():
        for target in (out, rejected_path(out)):
            if target.exists() and target.samefile(source):
                raise UsageError(
                    f"-o {out}: writing it would overwrite the source {source} ({target.name}); choose another "
                    "output name"
                )


def rejected_path(out: Path) -> Path:
    """Where the rejected rows of OUT go: `x.parquet` -> `x.rejected.csv` beside it."""
    return out.with_name(out.stem + ".rejected.csv")


def write(log: EventLog, out: Path) -> Path:
    """Writes the canonical log as Parquet (mapping in its metadata) and the rejected rows beside it as
    `<stem>.rejected.csv` (its header alone when none was). Returns the rejected file's path."""
    check_output(out, Path(log.summary.source))
    mapping = log.summary.mapping
    meta = {
        "version": 1,
        "name": log.name,
        "mapping": mapping.as_dict() if mapping else {},
        "profile": log.summary.profile,
        "timestamps": log.summary.timestamps,
        "timezone": log.summary.timezone,
        "source": Path(log.summary.source).name,
    }
    # Rows stay in source order (`seq`): sorting 10M events by case before writing cost more than a third
    # of the ingest, and every reader (auditor, pm4py's format_dataframe) orders by case and time itself.
    log.engine.write_parquet(log.table, out, {META_KEY: json.dumps(meta)})
    # Always written, with its header and no row when nothing was rejected: the contract names the file, a
    # script may open it unconditionally, and a stale file from an earlier run must not be taken for this
    # run's.
    rejected = rejected_path(out)
    if log.rejected is not None:
        log.engine.write_csv(log.rejected, rejected)
    else:  # a canonical log read again: nothing can be rejected
        rejected.write_text("row,reason\n", encoding="utf-8")
    return rejected

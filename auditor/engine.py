"""The execution engine: the one module that knows which backend runs the work.

Business rule it enforces: heavy work over events runs in the engine (DuckDB by default), expressed as Ibis
expressions so that the same code can later run on Spark or a SQL database. Everything that only DuckDB can
do (its CSV reader and sniffer, its reject tables, Parquet key-value metadata, `timezone()`,
`try_strptime()`) lives here and nowhere else; the rest of the package sees Ibis tables and expressions.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.errors import InputError, UsageError

ROW = "__row"  # 1-based data row number in the source, carried until the canonical `seq`
# Names starting with this are the readers' and ingestion's own working columns; a source column named so
# is renamed as it is read (see `free_name`), so no working column can ever collide with one.
INTERNAL = "__"
# What exports write for "no value" (spreadsheets, SQL dumps, pandas/Python `str()` of a missing value):
# in a case, activity, resource, team or timestamp column they mean the field is empty, not a case called
# "NULL" that collects every orphan row, nor a person called "N/A" handing work around. Kept narrow: "NA"
# (a region), "-" and "none" can be real values.
MISSING_MARKERS = ("NULL", "null", "Null", "N/A", "n/a", "#N/A", "#NA", "#N/A N/A", "<NA>", "None", "NaN", "nan",
                   "(null)", "(blank)", "undefined")
_MARKER_LEN = max(len(m) for m in MISSING_MARKERS)
_MARKER_STARTS = sorted({ord(m[0]) for m in MISSING_MARKERS})
# Python's str.isspace characters, plus the zero-width space (U+200B) and the byte-order mark (U+FEFF)
_SPACE = r"\s\x{0b}\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200b}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}"
_OUTER_SPACE = f"^[{_SPACE}]*(?:{'|'.join(re.escape(m) for m in MISSING_MARKERS)})[{_SPACE}]*$|^[{_SPACE}]+|[{_SPACE}]+$"

_TS = dt.Timestamp()
_TS_UTC = dt.Timestamp(timezone="UTC")


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(value: str, fmt: str) -> _TS:  # type: ignore[valid-type]
    """DuckDB's strptime that yields NULL instead of failing."""


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime_tz(value: str, fmt: str) -> _TS_UTC:  # type: ignore[valid-type]
    """try_strptime for formats with %z: DuckDB returns an instant."""


@ibis.udf.scalar.builtin(name="timezone")
def _timezone(zone: str, value: _TS) -> _TS_UTC:  # type: ignore[valid-type]
    """Reads a naive timestamp as wall-clock time in `zone` and returns the instant."""


@ibis.udf.scalar.builtin(name="timezone")
def _to_local(zone: str, value: _TS_UTC) -> _TS:  # type: ignore[valid-type]
    """The wall-clock time in `zone` of an instant (a naive timestamp)."""


@ibis.udf.scalar.builtin(name="to_timestamp")
def _epoch_seconds(value: float) -> _TS_UTC:  # type: ignore[valid-type]
    """Seconds since 1970-01-01 UTC to an instant."""


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(value: _TS_UTC) -> int:  # type: ignore[empty-body, valid-type]
    """Microseconds since 1970-01-01 UTC of an instant."""


@ibis.udf.scalar.builtin(name="epoch")
def _epoch(value: _TS_UTC) -> float:  # type: ignore[empty-body, valid-type]
    """Seconds since 1970-01-01 UTC of an instant, with fractions."""


@ibis.udf.scalar.builtin(name="divide")
def _int_divide(value: int, divisor: int) -> int:  # type: ignore[empty-body]
    """Integer division, truncating (ibis's `//` goes through a float: slower, and inexact above 2**53)."""


@ibis.udf.scalar.builtin(name="trim")
def _trim(value: str) -> str:  # type: ignore[empty-body]
    """Removes leading and trailing spaces (much cheaper in DuckDB than trimming a character set)."""


@ibis.udf.scalar.builtin(name="strlen")
def _strlen(value: str) -> int:  # type: ignore[empty-body]
    """Length in bytes (LENGTH counts characters, which costs far more)."""


@ibis.udf.scalar.builtin(name="ord")
def _ord(value: str) -> int:  # type: ignore[empty-body]
    """The code point of the first character (0 for an empty string)."""


@ibis.udf.scalar.builtin(name="regexp_replace")
def _regexp_replace(value: str, pattern: str, replacement: str, flags: str) -> str:  # type: ignore[empty-body]
    """DuckDB's regexp_replace with flags ('g': every match)."""


@ibis.udf.scalar.builtin(name="nullif")
def _nullif(value: str, empty: str) -> str:  # type: ignore[empty-body]
    """NULL where value equals the second argument."""


@ibis.udf.scalar.builtin(name="regexp_full_match")
def _full_match(value: str, pattern: str) -> bool:  # type: ignore[empty-body]
    """True when the whole string matches the RE2 pattern."""


@ibis.udf.scalar.builtin(name="regexp_matches")
def _matches(value: str, pattern: str) -> bool:  # type: ignore[empty-body]
    """True when the RE2 pattern matches somewhere in the string."""


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quote: str
    escape: str
    encoding: str
    # Read with RFC 4180 quoting and the header parsed here, without DuckDB's sniffer: for files whose
    # quoting the sniffer misjudged or could not judge (see Engine.sniff_csv).
    rfc4180: bool = False
    skip: int = 0  # lines before the header (Excel's `sep=;` line)


@dataclass(frozen=True)
class RawRejects:
    """Rows the reader itself could not split into fields: data row number, reason, raw text."""

    rows: list[tuple[int, str, str]]


class Engine:
    """An embedded DuckDB database behind an Ibis backend.

    `memory_limit` bounds DuckDB's buffer pool; larger-than-memory work spills to `temp_directory`.
    """

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="auditor-")
        self.backend = ibis.duckdb.connect()
        con = self.con
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = '{_sql_str(self._tmp.name)}'")
        con.execute("SET preserve_insertion_order = true")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        self._memory_limit = memory_limit or os.environ.get("AUDITOR_MEMORY_LIMIT")
        if self._memory_limit:
            con.execute(f"SET memory_limit = '{_sql_str(self._memory_limit)}'")
        self._names = itertools.count()

    @contextmanager
    def unordered(self) -> Iterator[None]:
        """Inside the block, tables are built without keeping their rows in input order, so DuckDB need not
        put its parallel results back in order. Only for work whose every result is ordered explicitly or
        not at all (the audit's detectors); reading a log numbers its rows and needs the order."""
        self.con.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            self.con.execute("SET preserve_insertion_order = true")

    @contextmanager
    def capped_memory(self, limit: str) -> Iterator[None]:
        """DuckDB's memory limit lowered to `limit` inside the block (work beyond it spills), then restored;
        unless the user set AUDITOR_MEMORY_LIMIT, which always wins."""
        if os.environ.get("AUDITOR_MEMORY_LIMIT"):
            yield
            return
        self.con.execute(f"SET memory_limit = '{_sql_str(limit)}'")
        try:
            yield
        finally:
            if self._memory_limit:
                self.con.execute(f"SET memory_limit = '{_sql_str(self._memory_limit)}'")
            else:
                self.con.execute("RESET memory_limit")

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.backend.con

    def close(self) -> None:
        self.backend.disconnect()
        self._tmp.cleanup()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def temp_dir(self) -> Path:
        return Path(self._tmp.name)

    def _name(self, stem: str) -> str:
        return f"_{stem}_{next(self._names)}"

    # ------------------------------------------------------------------ reading sources

    def sniff_csv(self, path: Path, *, sep: str | None, skip: int = 0) -> CsvDialect:
        """The dialect DuckDB's sniffer finds, for the reader's options and for reporting."""
        opts = (f", delim='{_sql_str(sep)}'" if sep else "") + (f", skip={int(skip)}" if skip else "")
        try:
            row = self.con.execute(
                f"SELECT Delimiter, Quote, Escape FROM sniff_csv('{_sql_str(str(path))}'{opts}, header=true, store_rejects=true)"
            ).fetchone()
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot read as CSV ({_first_line(exc)}); check --sep and --encoding") from exc
        assert row is not None
        delim, quote, escape = (str(v) for v in row)
        return CsvDialect(
            delimiter=sep or delim,
            quote="" if quote == "(empty)" else quote,
            escape="" if escape == "(empty)" else escape,
            encoding="utf-8",
            skip=skip,
        )

    def _column_names(self, header: list[str], text: str, delimiter: str) -> list[str]:
        """The header's column names as DuckDB's reader names them (duplicates and blanks numbered): it
        reads a file of the header alone."""
        head = self.temp_dir / f"{self._name('header')}.csv"
        head.write_text(text, encoding="utf-8")
        try:
            cur = self.con.execute(
                f"SELECT * FROM read_csv('{_sql_str(str(head))}', header=true, all_varchar=true, "
                f"delim='{_sql_str(delimiter)}', quote='\"', escape='\"')"
            )
            names = [str(d[0]) for d in cur.description]
        except duckdb.Error:
            names = []
        finally:
            head.unlink(missing_ok=True)
        return names if len(names) == len(header) else [h.strip() or f"column{i}" for i, h in enumerate(header)]

    def load_csv(
        self, path: Path, dialect: CsvDialect, header: tuple[list[str], str] | None = None
    ) -> tuple[ir.Table, RawRejects]:
        """Reads every field as text (nothing is lost to a type guess); rows with the wrong number of
        fields or broken quoting are kept aside with their line, not dropped. With `dialect.rfc4180`,
        `header` is the header's fields and text (readers.text.csv_header) and DuckDB's sniffer is not used."""
        name = self._name("raw")
        rej, scan = self._name("rej"), self._name("scan")
        header_lines = 1
        if dialect.rfc4180:
            assert header is not None
            names = self._column_names(header[0], header[1], dialect.delimiter)
            header_lines = header[1].count("\n") or 1
            columns = ", ".join(f"'{_sql_str(n)}': 'VARCHAR'" for n in names)
            head = ["auto_detect = false", "header = false", f"skip = {header_lines + dialect.skip}", f"columns = {{{columns}}}"]
        else:
            head = ["header = true", "all_varchar = true", *([f"skip = {dialect.skip}"] if dialect.skip else [])]
        opts = [
            *head,
            f"delim = '{_sql_str(dialect.delimiter)}'",
            "store_rejects = true",
            f"rejects_table = '{rej}'",
            f"rejects_scan = '{scan}'",
            "strict_mode = true",
        ]
        if dialect.quote:
            opts.append(f"quote = '{_sql_str(dialect.quote)}'")
        if dialect.escape:
            opts.append(f"escape = '{_sql_str(dialect.escape)}'")
        sql = f"CREATE TEMP TABLE {name} AS SELECT * FROM read_csv('{_sql_str(str(path))}', {', '.join(opts)})"
        try:
            self.con.execute(sql)
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot read as CSV ({_first_line(exc)}); check --sep and --encoding") from exc
        rejects = self.con.execute(
            f"SELECT line - {header_lines + dialect.skip} AS row, byte_position, error_type, error_message, csv_line FROM {rej} "
            "ORDER BY line"
        ).fetchall()
        # DuckDB counts a blank line in `line` although it is no row, while the accepted rows are numbered
        # without them: a bad row after a blank line would get the next row's number, and every later
        # row's `seq` would be off by one.
        blanks = _blank_lines_before(path, [int(r[1]) for r in rejects]) if rejects else []
        rows: list[tuple[int, str, str]] = []
        seen: set[int] = set()
        for (line, _pos, etype, message, text), skipped in zip(rejects, blanks, strict=True):
            # DuckDB reports one line per error; a line with two errors is one rejected row.
            if int(line) in seen:
                continue
            seen.add(int(line))
            rows.append((int(line) - skipped, _reject_reason(str(etype), str(message)), str(text or "").strip("\r\n")))
        self._free_internal_names(name)
        self._number_rows(name, [r[0] for r in rows])
        return self.backend.table(name), RawRejects(rows)

    def _number_rows(self, name: str, rejected_rows: list[int]) -> None:
        """Adds ROW: the data row number in the source, counting the rejected rows in between.

        Accepted rows keep their order in the table (rowid). With rejected rows r_1 < … < r_k, the i-th
        accepted row is row i + #{j : r_j - j < i}.
        """
        if not rejected_rows:
            # A view numbers the rows by their place in the table, without rewriting it.
            self.con.execute(f"ALTER TABLE {name} RENAME TO {name}_t")
            self.con.execute(f"CREATE TEMP VIEW {name} AS SELECT *, rowid + 1 AS {ROW} FROM {name}_t")
            return
        thresholds = sorted(r - j for j, r in enumerate(sorted(rejected_rows), start=1))
        thr = self._name("thr")
        self.con.execute(f"CREATE TEMP TABLE {thr} (t BIGINT, k BIGINT)")
        counts: list[tuple[int, int]] = []
        for k, t in enumerate(thresholds, start=1):
            if counts and counts[-1][0] == t:
                counts[-1] = (t, k)
            else:
                counts.append((t, k))
        self.con.executemany(f"INSERT INTO {thr} VALUES (?, ?)", counts)
        numbered = self._name("num")
        self.con.execute(
            f"""CREATE TEMP TABLE {numbered} AS
            SELECT r.* EXCLUDE (__i), r.__i + coalesce(thr.k, 0) AS {ROW}
            FROM (SELECT *, rowid + 1 AS __i FROM {name}) r
            ASOF LEFT JOIN {thr} thr ON r.__i > thr.t
            ORDER BY r.__i"""
        )
        self.con.execute(f"DROP TABLE {name}")
        self.con.execute(f"ALTER TABLE {numbered} RENAME TO {name}")

    def load_jsonl(self, path: Path) -> tuple[ir.Table, RawRejects]:
        """JSON Lines: one object per line; a line that is not a JSON object is a rejected row.

        Each top-level key becomes a text column; a key whose every value is an object becomes one column per
        key inside it (`actor.name`, `actor.kind`); deeper values stay JSON text. Blank lines are not rows.
        """
        lines = self._name("lines")
        try:
            self.con.execute(
                f"""CREATE TEMP TABLE {lines} AS
                SELECT j FROM read_csv('{_sql_str(str(path))}', columns = {{'j': 'VARCHAR'}},
                    header = false, delim = chr(31), quote = '', escape = '', auto_detect = false,
                    strict_mode = false, null_padding = true)"""
            )
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot read as JSON Lines ({_first_line(exc)})") from exc
        # Blank lines are kept as NULL by the reader, so the table order is the line number.
        self.con.execute(f"ALTER TABLE {lines} ADD COLUMN {ROW} BIGINT")
        self.con.execute(f"UPDATE {lines} SET {ROW} = rowid + 1")
        bad = self.con.execute(
            f"""SELECT {ROW}, j FROM {lines}
            WHERE j IS NOT NULL AND trim(j) <> ''
              AND (NOT coalesce(json_valid(j), false) OR json_type(j) <> 'OBJECT')
            ORDER BY {ROW}"""
        ).fetchall()
        keys = [
            str(k)
            for (k,) in self.con.execute(
                f"""SELECT k FROM (
                    SELECT unnest(json_keys(j)) AS k, min({ROW}) AS first
                    FROM {lines} WHERE coalesce(json_valid(j), false) AND json_type(j) = 'OBJECT'
                    GROUP BY k) ORDER BY first, k"""
            ).fetchall()
        ]
        if not keys and bad:
            # No line is an object: the mapping could only say it finds no columns, which hides the cause.
            row, text = bad[0]
            raise InputError(
                f"{path}: no line is a JSON object (line {row}: {str(text)[:60]!r}); JSON Lines needs one object "
                "per line"
            )
        name = self._name("raw")
        nested = self._nested_keys(lines, keys)
        taken = {k.lower() for k in keys} | {f"{k}.{sub}".lower() for k, subs in nested.items() for sub in subs}
        parts = []
        for k in keys:
            if k in nested:
                parts += [f"{_json_text_at(_json_path(k, sub))} AS {_ident(_renamed(f'{k}.{sub}', taken))}" for sub in nested[k]]
            else:
                parts.append(f"{_json_text(k)} AS {_ident(_renamed(k, taken))}")
        cols = ", ".join(parts) or "NULL AS value"
        self.con.execute(
            f"""CREATE TEMP TABLE {name} AS SELECT {cols}, {ROW} FROM {lines}
            WHERE coalesce(json_valid(j), false) AND json_type(j) = 'OBJECT' ORDER BY {ROW}"""
        )
        reasons = [(int(r), "not a JSON object on this line", str(text)) for r, text in bad]
        return self.backend.table(name), RawRejects(reasons)

    def _nested_keys(self, lines: str, keys: list[str]) -> dict[str, list[str]]:
        """Top-level keys whose every value is an object (`"actor": {"name": "bo", "kind": "agent"}`), with
        their own keys in order of appearance: each becomes a column `actor.name`, so that the mapping can
        infer and options can name it (an API export nests the agent, the ticket, the group)."""
        if not keys:
            return {}
        path = """'$."' || replace(k, '"', '\\"') || '"'"""
        valid = "coalesce(json_valid(j), false) AND json_type(j) = 'OBJECT'"
        kinds = self.con.execute(
            f"""SELECT k, count(*) FILTER (WHERE t = 'OBJECT'), count(*) FILTER (WHERE t NOT IN ('OBJECT', 'NULL'))
            FROM (SELECT k, json_type(json_extract(j, {path})) AS t
                  FROM (SELECT unnest(json_keys(j)) AS k, j FROM {lines} WHERE {valid}))
            GROUP BY k"""
        ).fetchall()
        objects = [str(k) for k, obj, other in kinds if obj and not other]
        if not objects:
            return {}
        listed = ", ".join(f"'{_sql_str(k)}'" for k in objects)
        rows = self.con.execute(
            f"""SELECT k, sk, min(r) AS first FROM (
                SELECT k, unnest(json_keys(json_extract(j, {path}))) AS sk, r
                FROM (SELECT unnest(json_keys(j)) AS k, j, {ROW} AS r FROM {lines} WHERE {valid})
                WHERE k IN ({listed}) AND json_type(json_extract(j, {path})) = 'OBJECT')
            GROUP BY k, sk ORDER BY first, k, sk"""
        ).fetchall()
        out: dict[str, list[str]] = {}
        for k, sk, _ in rows:
            out.setdefault(str(k), []).append(str(sk))
        return out

    def load_parquet(self, path: Path) -> tuple[ir.Table, dict[str, str]]:
        """A Parquet file with its key-value metadata (the mapping, when auditor wrote it)."""
        try:
            meta = pq.read_schema(path).metadata or {}
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from exc
        name = self._name("raw")
        source = f"read_parquet('{_sql_str(str(path))}', file_row_number = true)"
        try:
            # Nanosecond timestamps (pandas' datetime64[ns], Spark) to microseconds, the engine's instants:
            # left as they are, a naive column failed in a CASE beside microsecond ones (exit 3) and an aware
            # one was not recognised as a timestamp. The cast rounds to the microsecond.
            columns = [
                (str(col), str(typ))
                for col, typ, *_ in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
                if col != "file_row_number"
            ]
            taken = {col.lower() for col, _ in columns}
            select = ", ".join(
                (f"CAST({_ident(col)} AS {'TIMESTAMPTZ' if typ == 'TIMESTAMPTZ_NS' else 'TIMESTAMP'})"
                 if typ in ("TIMESTAMP_NS", "TIMESTAMPTZ_NS") else _ident(col))
                + f" AS {_ident(_renamed(col, taken))}"
                for col, typ in columns
            )
            self.con.execute(
                f"""CREATE TEMP TABLE {name} AS
                SELECT {select}, file_row_number + 1 AS {ROW}
                FROM {source} ORDER BY {ROW}"""
            )
        except duckdb.Error as exc:
            raise InputError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from exc
        decoded = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in meta.items()}
        return self.backend.table(name), decoded

    def load_arrow(self, table: pa.Table) -> ir.Table:
        name = self._name("raw")
        self.con.register(name + "_view", table)
        self.con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_view")
        self.con.unregister(name + "_view")
        self._free_internal_names(name, keep=ROW)
        return self.backend.table(name)

    def _free_internal_names(self, name: str, keep: str | None = None) -> None:
        """Renames the table's source columns that lie in the internal namespace (`__row`, `__Reason`; the
        engine compares names case-insensitively), except `keep`, a reader's own row number."""
        cols = [str(c[0]) for c in self.con.execute(f"DESCRIBE {name}").fetchall()]
        taken = {c.lower() for c in cols}
        for col in cols:
            new = col if col == keep else _renamed(col, taken)
            if new != col:
                self.con.execute(f"ALTER TABLE {name} RENAME COLUMN {_ident(col)} TO {_ident(new)}")

    # ------------------------------------------------------------------ materialising and writing

    def materialize(self, expr: ir.Table, stem: str = "t") -> ir.Table:
        """Computes an expression once into a temporary table (so later queries do not recompute it)."""
        # Through the backend, so in-memory tables (memtables) in the expression get registered.
        return self.backend.create_table(self._name(stem), expr, temp=True)

    def drop(self, table: ir.Table) -> None:
        """Frees a materialised table that is no longer needed (expressions over it become invalid)."""
        # The bare name: get_name() qualifies temp tables ("temp.main._x_0"), which quoted as one
        # identifier names no table, so nothing was freed.
        name = table.op().name
        views = self.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()
        if views and views[0]:  # a numbered source (see _number_rows): the view, then its table
            self.con.execute(f"DROP VIEW {_ident(name)}")
            name += "_t"
        self.con.execute(f"DROP TABLE IF EXISTS {_ident(name)}")

    def write_parquet(self, expr: ir.Table, path: Path, metadata: dict[str, str]) -> None:
        kv = ", ".join(f"'{_sql_str(k)}': '{_sql_str(v)}'" for k, v in metadata.items())
        path.parent.mkdir(parents=True, exist_ok=True)
        self._copy(
            path,
            f"COPY ({self.backend.compile(expr)}) TO '{_sql_str(str(path))}' "
            # Parquet v2 pages (delta encodings) make the canonical log a third smaller and faster to
            # write; a dictionary is only tried for columns with few distinct values per row group (not
            # for case ids, where it was built and thrown away).
            f"(FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION v2, DICTIONARY_SIZE_LIMIT 1000, "
            f"KV_METADATA {{{kv}}})",
        )

    def write_csv(self, expr: ir.Table, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._copy(path, f"COPY ({self.backend.compile(expr)}) TO '{_sql_str(str(path))}' (FORMAT csv, HEADER true)")

    def _copy(self, path: Path, sql: str) -> None:
        try:
            self.con.execute(sql)
        except duckdb.IOException as exc:  # a read-only place, a full disk: the user's to fix
            raise UsageError(f"{path}: cannot write it ({_first_line(exc)}); check the path and its permissions") from exc

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        return self.con.execute(self.backend.compile(expr)).to_arrow_table()

    def scalar(self, expr: ir.Scalar) -> Any:
        return expr.execute()

    # ------------------------------------------------------------------ expressions Ibis lacks

    @staticmethod
    def try_strptime(value: ir.StringValue, fmt: str) -> ir.TimestampValue:
        """Parses with a strftime format, NULL on failure. With %z the result is an instant (UTC)."""
        if "%z" in fmt or "%Z" in fmt:
            return _try_strptime_tz(value, fmt)
        return _try_strptime(value, fmt)

    @staticmethod
    def local_to_utc(value: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        """Reads naive wall-clock timestamps in `zone` and returns UTC instants."""
        return _timezone(zone, value)

    @staticmethod
    def utc_to_local(value: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        """The wall-clock time in `zone` of UTC instants, as naive timestamps."""
        return _to_local(zone, value)

    @staticmethod
    def epoch_to_utc(seconds: ir.NumericValue) -> ir.TimestampValue:
        return _epoch_seconds(seconds)

    @staticmethod
    def epoch_us(value: ir.TimestampValue) -> ir.IntegerValue:
        """Microseconds since 1970-01-01 UTC, exact (epoch_seconds goes through a float)."""
        return _epoch_us(value)

    @staticmethod
    def epoch_seconds(value: ir.TimestampValue) -> ir.FloatingValue:
        """Seconds since 1970-01-01 UTC, as ibis's `epoch_seconds()` gives them, but read straight off the
        instant: ibis casts it to a local timestamp first, a time-zone conversion per value that cost the
        audit about 0.4 s per column per 10M events in every query that measured a wait."""
        return _epoch(value)

    @staticmethod
    def utc_hour_and_weekday(value: ir.TimestampValue) -> tuple[ir.IntegerValue, ir.IntegerValue]:
        """An instant's hour of day (0-23) and weekday (Monday 0) in UTC, by integer arithmetic on its
        microseconds (exact before 1970 too): reading fields off an instant converts its time zone per value,
        about 0.3 s per field per 10M events."""
        day_us = 86_400_000_000
        us = _epoch_us(value)
        tod = ((us % day_us) + day_us) % day_us
        days = _int_divide(us - tod, day_us)
        # 1970-01-01 was a Thursday (3 counting from Monday)
        return _int_divide(tod, 3_600_000_000), ((days % 7) + 10) % 7

    @staticmethod
    def int_divide(value: ir.IntegerValue, divisor: int) -> ir.IntegerValue:
        """value / divisor truncated toward zero, in integers throughout."""
        return _int_divide(value, divisor)

    @staticmethod
    def trim_text(value: ir.Value) -> ir.StringValue:
        """Text without leading or trailing spaces; an empty value becomes NULL. The cheap form of
        `clean_text`, for the timestamp text that is parsed (a value it leaves, such as "NULL", does not
        parse, and its row is rejected by the reason `clean_text` gives)."""
        text = value if value.type().is_string() else value.cast("string")
        # Trimming copies every string; only the few values with an outer space need it (about 0.4 s
        # per column saved at 10M rows).
        return ibis.cases(
            (text.startswith(" ") | text.endswith(" "), _nullif(_trim(text), "")),
            else_=_nullif(text, ""),
        )

    @staticmethod
    def clean_text(value: ir.Value, *, name: bool = False) -> ir.StringValue:
        """Text without leading or trailing whitespace (Unicode's, as Python's `str.strip`, plus the
        zero-width space and a stray byte-order mark); an empty value or a placeholder of `MISSING_MARKERS`
        becomes NULL.

        Which values are trimmed exactly is decided by their ends, cheaply: a value whose first character is a
        control, a space or not ASCII, or whose last is a space. With `name` (an activity, a person, a
        team: a stray character splits one into two) any trailing whitespace counts (a tab, a non-breaking or
        an ideographic space), for about 0.1 s more per 10M values than a trailing space alone; a case id or a
        timestamp with one is rare, and a timestamp is then rejected.
        """
        if value.type().is_floating():
            # A column of whole numbers that holds a missing value is stored as floats (pandas does so):
            # its ids read as "1042", not "1042.0".
            num = value.cast("float64")
            whole = (num.abs() < 2.0**53) & (num % 1 == 0)
            value = ibis.ifelse(whole, num.cast("int64").cast("string"), num.cast("string"))
        text = value if value.type().is_string() else value.cast("string")
        # Trimming copies every string, so only the values that may need it take the exact path (about
        # 0.4 s per column saved at 10M rows); a regex or a test of the last character costs 0.5 s more. A
        # short value that starts as a placeholder does takes it too: the exact path's pattern also empties
        # a whole placeholder, and a separate comparison for every value cost 0.2 s per column. The pattern
        # is used once: DuckDB computes a twice-used expression for every row, not only those that need it.
        first = _ord(text)
        edge = (first <= 32) | (first >= 128)
        edge = edge | (_matches(text, f"[{_SPACE}]$") if name else text.endswith(" "))
        edge = edge | (first.isin(_MARKER_STARTS) & (_strlen(text) <= _MARKER_LEN))
        return ibis.cases(
            (edge, _nullif(_regexp_replace(text, _OUTER_SPACE, "", "g"), "")),
            else_=_nullif(text, ""),
        )

    @staticmethod
    def close_offset_gap(value: ir.StringValue) -> ir.StringValue:
        """The text without the blank between a time and its offset ("09:15:00 +0100" -> "09:15:00+0100",
        "09:15:00 Z") and without a zone's name in brackets after the offset (Java's ZonedDateTime:
        "09:15:00+01:00[Europe/Berlin]"), forms the engine's cast does not read."""
        return _regexp_replace(value, r"(\d)\s*(Z|[+-]\d{2}:?\d{2})(?:\[[^\]]+\])?$", r"\1\2", "")

    @staticmethod
    def full_match(value: ir.StringValue, pattern: str) -> ir.BooleanValue:
        return _full_match(value, pattern)


def free_name(name: str, taken: set[str]) -> str:
    """`name`, or `src_<name>` as often as needed, so that it neither lies in the internal namespace nor
    equals, case-insensitively as the engine compares names, one of `taken` (lower case)."""
    new = name
    while new.lower() in taken or new.startswith(INTERNAL):
        new = "src_" + new.lstrip("_")
    return new


def _renamed(col: str, taken: set[str]) -> str:
    """A source column's name as read: itself unless it lies in the internal namespace. `taken` holds every
    column's name in lower case and gains the new one."""
    if not col.startswith(INTERNAL):
        return col
    new = free_name(col, taken)
    taken.add(new.lower())
    return new


def _sql_str(text: str) -> str:
    return text.replace("'", "''")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_text(key: str) -> str:
    """The key's value as text. JSON does not tell 3 from 3.0: a whole number written with a decimal part
    reads as "3", so one case id does not become two cases "3" and "3.0"."""
    return _json_text_at(_json_path(key))


def _json_text_at(path: str) -> str:
    """The value at a JSON path as text, as `_json_text` reads it."""
    num = f"TRY_CAST(j ->> '{path}' AS DOUBLE)"
    return (
        f"CASE WHEN json_type(j, '{path}') = 'DOUBLE' AND abs({num}) < 9007199254740992 AND {num} % 1 = 0 "
        f"THEN CAST(CAST({num} AS BIGINT) AS VARCHAR) ELSE j ->> '{path}' END"
    )


def _json_path(*keys: str) -> str:
    return "$." + ".".join(json.dumps(k).replace("'", "''") for k in keys)


def _blank_lines_before(path: Path, positions: list[int]) -> list[int]:
    """For each byte position in the file, how many empty lines (which the CSV reader skips) start before
    it. Read only up to the last position, and only when rows were rejected."""
    import bisect
    import gzip

    limit = max(positions)
    starts: list[int] = []
    offset = 0
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line in fh:
            if offset > limit:
                break
            if line in (b"\n", b"\r\n"):  # a line of spaces is a row to the reader (too few fields)
                starts.append(offset)
            offset += len(line)
    return [bisect.bisect_left(starts, p) for p in positions]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _reject_reason(error_type: str, message: str) -> str:
    kinds = {
        "TOO MANY COLUMNS": "too many fields",
        "MISSING COLUMNS": "too few fields",
        "UNQUOTED VALUE": "broken quoting",
        "INVALID UNICODE": "invalid text encoding",
        "LINE SIZE OVER MAXIMUM": "line too long",
        "INVALID STATE": "broken quoting",
    }
    head = kinds.get(error_type, error_type.lower())
    detail = message.split("\n")[0].strip()
    return f"{head}: {detail}" if detail else head

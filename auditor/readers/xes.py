"""XES and XES.gz event logs as one Arrow table: one row per event, in file order.

`read_xes` is the only entry point. What it returns:

- one row per `<event>`, in the order of the file, and a column `__row` (int64): the 1-based position of the
  event in the file. Events that lack `concept:name` or `time:timestamp` are kept (null there): the caller
  rejects them row by row with a reason; nothing is dropped silently. An `<event>` placed directly under
  `<log>` (outside any trace, which XES does not allow) is kept too, with null trace attributes.
- every trace attribute as `case:<key>` (the trace's `concept:name` becomes `case:concept:name`, as pm4py
  names it), repeated on each event of the trace; every event attribute under its own key.
- types: `string` and `id` as string; `date` as timestamp[us, tz=UTC] (ISO 8601; offsets are converted to
  the UTC instant; digits below the microsecond are truncated). A key whose dates all lack an offset is a
  naive timestamp[us] (wall-clock time: the reader of the log applies --timezone, as for any naive
  column); in a key that mixes both, a date without offset is taken as UTC;
  `int` as int64; `float` as float64; `boolean` as bool (`true`/`false`/`1`/`0`).
- a key missing on some events is null there; a key with no value on any event has no column. When one
  key carries different types across events or traces, or a value cannot be read as its declared type
  (an `int` of "n/a", a `date` of "yesterday"), the whole column falls back to string, holding each value
  exactly as written in the file: no value is ever replaced by a null or a default.
- columns are ordered `__row` first, then by name.

What it ignores, on purpose: log-level attributes, extensions, classifiers and `<global>` default values
(these are not event data: a missing value stays null, it is never filled from a global); the children of
nested attributes (the parent keeps its own value); `<list>` and `<container>` attributes (they have no
value of their own, so they are treated as absent); elements that are not XES attributes; attribute
elements without a `key`. When a key is repeated inside one event or trace, the first one wins.

Hardening, whatever the reader:

- the prolog (everything before the root element) is scanned first and any `<!DOCTYPE` or `<!ENTITY` is
  refused: XES needs no DTD, and refusing it rules out entity bombs and external entities (XXE). The XML
  parser is configured without entity resolution, DTD loading, network access or huge-tree mode besides.
- a `.gz` input (recognised by its content) is decompressed in a streaming way, at most
  `max_decompressed_bytes`, to a private temporary directory that is always removed afterwards.
- broken input raises `InputError` with one line that names the file and says what to do: empty,
  binary/non-XML, not an XES log (the root is not `<log>`), corrupt or truncated gzip, a document that
  does not end with `</log>` (cut off), or that is not well-formed XML. So does a log with no event at
  all, and one whose event attribute would overwrite a column the reader makes (`__row`, or `case:x`
  beside a trace attribute `x`).

Two readers produce the same table:

- the fast path is r4pm (Rust, `r4pm.df.import_xes`). It is used only where it gives exactly what the
  reference gives, which is checked before and after the call: UTF-8 input without namespace prefixes; no
  nested, list, container or id attributes and no key starting with `case:`; every date in the one form
  both readers read alike (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM)`, with its offset: r4pm takes a date
  without one as UTC, where the reference keeps it naive); `<global>` defaults blanked out
  first (r4pm would fill them in); as many rows as `<event` tags in the file; and r4pm silent on stderr
  (it reports values it could not parse and keys of mixed types there, then returns zeros, defaults or
  reformatted values). Its stderr is captured at the file-descriptor level for the duration of the call
  (so the library never prints); output written to stderr by other threads at that moment is swallowed
  and sends the log to the reference reader.
- otherwise, and whenever r4pm (or polars) is not installed, the reference reader: lxml `iterparse` on a
  hardened parser, in pure Python. It is also the one that rejects malformed XML; r4pm is more lenient
  with some well-formedness errors inside a well-formed-looking file (a raw `&` or `<` in a value).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import gzip
import json
import logging
import mmap
import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from auditor.errors import InputError

if TYPE_CHECKING:
    import polars as pl

DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024**3
ROW_COLUMN = "__row"
CASE_PREFIX = "case:"

Engine = Literal["auto", "r4pm", "lxml"]

_LOG = logging.getLogger(__name__)
# One r4pm call at a time: the stderr redirection is process-wide (and r4pm holds the GIL anyway).
_R4PM_LOCK = threading.Lock()

_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 1 << 20  # the prolog must fit in the first MiB
_TAIL_BYTES = 1 << 16
_CHUNK = 4 << 20
_DISK_CHECK_EVERY = 256 << 20
_MIN_FREE_DISK = 512 << 20
_STDERR_KEEP = 1 << 16
_XML_SPACE = " \t\r\n"

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Prolog and tail.
_DTD_IN_PROLOG = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_NAME_START = re.compile(r"[A-Za-z_:\u00c0-\uffff]")
_ROOT_NAME = re.compile(r"[^\s/>]+")
_XML_DECL_ENCODING = re.compile(r"<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")
_DOCUMENT_END = re.compile(
    r"(?:</(?:[A-Za-z_][\w.\-]*:)?log\s*>|<(?:[A-Za-z_][\w.\-]*:)?log(?:\s[^<>]*)?/>)\Z"
)

# Fast-path eligibility scans, on bytes.
_TRACE_OPEN = re.compile(rb"<trace[\s/>]")
# Event start tags (a prefixed or self-closing <event> makes r4pm complain on stderr or panic instead).
_EVENT_OPEN = re.compile(rb"<event[\s/>]")
_GLOBAL_ELEMENT = re.compile(rb"<global\b[^>]*?/>|<global\b[^>]*>.*?</global\s*>", re.DOTALL)
# A closing tag other than </event> or </trace> in the body: nested attributes, lists, containers,
# namespace prefixes, or an attribute written as <string ...></string>.
_OTHER_CLOSING_TAG = re.compile(rb"</(?!event\s*>|trace\s*>)")
# An attribute key starting with case: (r4pm would take it for a trace attribute).
_CASE_KEY = re.compile(rb"\bkey\s*=\s*[\"']case:")
# A <date> whose value is not in the one form that r4pm (chrono) and the reference read alike, or is not
# written key first (then the file is simply left to the reference reader).
_UNUSUAL_DATE = re.compile(
    rb"<date\b(?!\s+key=\"[^\"]*\"\s+value=\"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    rb"(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)\")"
)
# In r4pm's output: values the reference would have read differently (attribute-value normalisation of
# tabs and newlines, undecodable bytes, an entity left undecoded, r4pm's rendering of lists).
_SUSPECT_VALUE = r"[\t\n\r\x{FFFD}]|&#?[A-Za-z0-9_]+;|^\[(?:\]|Attribute \{)"
_SUSPECT_KEY = re.compile(r"[\t\n\r&\ufffd]|^column_\d+$")

# Reference reader.
_ATTRIBUTE_KINDS = {
    "string": "string",
    "id": "string",
    "date": "date",
    "int": "int",
    "float": "float",
    "boolean": "boolean",
    "list": "none",
    "container": "none",
}
_INTEGER = re.compile(r"[+-]?\d+\Z")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_LENIENT_DATE = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d\d):?(\d\d)?)?\s*\Z"
)


def repeated_trace_names(table: pa.Table, label: str, column: str = "case:concept:name") -> list[str]:
    """A note when two traces of the XES file share a name: a trace's events are contiguous, so a name whose
    events come in separate runs names several traces. They are read as one case (the name is the case id),
    which joins two customers' histories into one long case with made-up repeats."""
    if column not in table.column_names or table.num_rows < 2:
        return []
    names = table.column(column)
    runs = 1 + pc.sum(pc.not_equal(names.slice(1), names.slice(0, len(names) - 1)).cast(pa.int64())).as_py()
    distinct = pc.count_distinct(names).as_py()
    if runs <= distinct:
        return []
    return [
        f"{label}: {runs - distinct:,} "
        f"{'trace shares' if runs - distinct == 1 else 'traces share'} a name with an earlier trace: each name "
        "is read as one case, so their events are joined; give the traces unique names if they are different "
        "cases"
    ]


def read_xes(path: Path, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> pa.Table:
    """Read an XES or XES.gz event log into a table of events (see the module docstring for the rules).

    Raises InputError, with one line naming the file and saying what to do, when the file is missing,
    empty, binary, not XML, not an XES log, declares a DTD, is truncated, is corrupt gzip, decompresses to
    more than `max_decompressed_bytes`, is not well-formed, or holds no event.
    """
    return _read_xes(path, max_decompressed_bytes=max_decompressed_bytes, engine="auto")


class FastPathDeclined(Exception):
    """Raised only when a caller forces `engine="r4pm"` and r4pm cannot be trusted with this file."""


@dataclass(frozen=True)
class _Document:
    """What the checks before parsing learned about a plain XML file."""

    size: int
    root_offset: int  # byte offset of the root's '<' (ASCII-compatible encodings only)
    root_name: str
    utf8: bool  # UTF-8 (or ASCII) and ASCII-compatible: r4pm reads it right
    end_offset: int  # byte offset of the closing </log> (ASCII-compatible encodings only)


def _read_xes(path: Path, *, max_decompressed_bytes: int, engine: Engine) -> pa.Table:
    """`read_xes` with the reader chosen: "auto" (r4pm when it can be trusted), "r4pm" (raise
    FastPathDeclined when it cannot) or "lxml" (the reference reader)."""
    path = Path(path)
    label = str(path)
    if max_decompressed_bytes < 0:
        raise ValueError("max_decompressed_bytes must be >= 0")
    if not path.exists():
        raise InputError(f"{label}: no such file; check the path")
    if not path.is_file():
        raise InputError(f"{label}: not a regular file; pass the path of an .xes or .xes.gz file")
    with tempfile.TemporaryDirectory(prefix="auditor-xes-") as tmp:
        workdir = Path(tmp)
        xml = _plain_xml(path, label, workdir, max_decompressed_bytes)
        document = _check_document(xml, label, gzipped=xml != path)
        if engine != "lxml":
            result = _read_r4pm(xml, document, workdir, owned=xml != path)
            if isinstance(result, pa.Table):
                return result
            if engine == "r4pm":
                raise FastPathDeclined(f"{label}: {result}")
            _LOG.debug("%s: read by the reference reader, not r4pm: %s", label, result)
        return _read_reference(xml, label)


# --- Getting a plain XML file ------------------------------------------------------------------------


def _plain_xml(path: Path, label: str, workdir: Path, cap: int) -> Path:
    """The path of the log as plain XML: `path` itself, or its gzip content decompressed into `workdir`."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(64)
    except OSError as exc:
        raise InputError(
            f"{label}: cannot read the file ({exc.strerror or exc}); check its permissions"
        ) from exc
    if not start:
        raise InputError(f"{label}: the file is empty; export the log again")
    if not start.startswith(_GZIP_MAGIC):
        looks_like_xml = start.lstrip(b" \t\r\n\xef\xbb\xbf\xff\xfe\x00").startswith(b"<")
        if path.name.lower().endswith(".gz") and not looks_like_xml:
            raise InputError(
                f"{label}: named .gz but not a gzip file (corrupt or mislabelled); re-download or re-compress it"
            )
        return path
    target = workdir / "log.xes"
    _gunzip(path, target, label, cap)
    return target


def _gunzip(source: Path, target: Path, label: str, cap: int) -> None:
    """Decompress `source` into `target`, chunk by chunk, refusing to write more than `cap` bytes."""
    written = 0
    next_disk_check = _DISK_CHECK_EVERY
    try:
        with gzip.open(source, "rb") as src, open(target, "wb") as dst:
            while True:
                chunk = src.read(min(_CHUNK, cap - written + 1))
                if not chunk:
                    return
                written += len(chunk)
                if written > cap:
                    raise InputError(
                        f"{label}: decompresses to more than max_decompressed_bytes={cap} bytes "
                        f"({_human(cap)}), refused as a possible gzip bomb; decompress it yourself to check "
                        "it, or raise the limit"
                    )
                if written >= next_disk_check:
                    next_disk_check += _DISK_CHECK_EVERY
                    if shutil.disk_usage(target.parent).free < _MIN_FREE_DISK:
                        raise InputError(_no_space(label, target))
                dst.write(chunk)
    except EOFError as exc:
        raise InputError(
            f"{label}: the gzip data ends early (the file is truncated); re-download or re-export it"
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{label}: corrupt gzip data ({exc}); re-download or re-compress it") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(_no_space(label, target)) from exc
        raise InputError(f"{label}: cannot read the file ({exc.strerror or exc}); check the file") from exc


def _no_space(label: str, target: Path) -> str:
    return (
        f"{label}: not enough free disk space in {target.parent.parent} to decompress it; free some space "
        "or point TMPDIR at a larger disk"
    )


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


# --- Checks before parsing ---------------------------------------------------------------------------


def _check_document(xml: Path, label: str, *, gzipped: bool) -> _Document:
    """Check the prolog (no DTD, an XML root named log) and the end (</log>) of a plain XML file."""
    size = xml.stat().st_size
    if size == 0:
        raise InputError(
            f"{label}: the file is empty{' once decompressed' if gzipped else ''}; export the log again"
        )
    with open(xml, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
        encoding, bom, ascii_compatible = _sniff_encoding(head)
        if not ascii_compatible:
            text = head[bom:].decode(encoding, errors="replace")
            _, root_name = _scan_prolog(text, label, complete=size <= len(head))
            _check_root(root_name, label)
            # The reference parser detects a truncated UTF-16/32 document itself.
            return _Document(size, -1, root_name, utf8=False, end_offset=-1)
        if b"\x00" in head:
            raise InputError(
                f"{label}: a binary file, not an XES (XML) log; check that you passed the right file"
            )
        text = head.decode("latin-1")  # one character per byte: offsets stay byte offsets
        root_offset, root_name = _scan_prolog(text, label, complete=size <= len(head), start=bom)
        _check_root(root_name, label)
        declared = _XML_DECL_ENCODING.match(text, bom)
        utf8 = declared is None or _codec_name(declared.group(1)) in ("utf-8", "ascii")
        tail_start = max(root_offset, size - _TAIL_BYTES)
        fh.seek(tail_start)
        end_offset = _find_document_end(fh.read().decode("latin-1"), label)
    return _Document(size, root_offset, root_name, utf8=utf8, end_offset=tail_start + end_offset)


def _sniff_encoding(head: bytes) -> tuple[str, int, bool]:
    """(codec, BOM length, ASCII-compatible) from the first bytes, as XML's appendix F describes."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3, True
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return ("utf-32-le" if head.startswith(codecs.BOM_UTF32_LE) else "utf-32-be"), 4, False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ("utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"), 2, False
    if head.startswith(b"<\x00") and not head.startswith(b"<\x00\x00\x00"):
        return "utf-16-le", 0, False
    if head.startswith(b"\x00<"):
        return "utf-16-be", 0, False
    return "utf-8", 0, True


def _codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def _scan_prolog(text: str, label: str, *, complete: bool, start: int = 0) -> tuple[int, str]:
    """Offset and name of the root element. Refuses a DTD (even one inside a comment of the prolog) and
    anything that is not XML before the root."""
    i = start
    n = len(text)
    while True:
        while i < n and text[i] in _XML_SPACE:
            i += 1
        if i >= n:
            if _DTD_IN_PROLOG.search(text, start):
                raise _dtd_refused(label)
            if complete:
                raise InputError(f"{label}: contains no XML element; check that it is an XES log export")
            raise InputError(
                f"{label}: no root element in the first {_human(_HEAD_BYTES)}; check that it is an XES log export"
            )
        if text.startswith("<?", i):
            j = text.find("?>", i + 2)
        elif text.startswith("<!--", i):
            j = text.find("-->", i + 4)
        elif text.startswith("<", i) and i + 1 < n and _NAME_START.match(text, i + 1):
            if _DTD_IN_PROLOG.search(text, start, i):
                raise _dtd_refused(label)
            name = _ROOT_NAME.match(text, i + 1)
            return i, name.group(0) if name else ""
        elif _DTD_IN_PROLOG.match(text, i):
            raise _dtd_refused(label)
        else:
            raise _not_xml(label)
        if j < 0:  # an unterminated comment or processing instruction
            if _DTD_IN_PROLOG.search(text, start):
                raise _dtd_refused(label)
            raise _not_xml(label)
        i = j + (2 if text.startswith("<?", i) else 3)


def _dtd_refused(label: str) -> InputError:
    return InputError(
        f"{label}: declares a DTD (<!DOCTYPE or <!ENTITY), which XES never needs and which can carry "
        "entity-expansion or external-entity attacks; refused: remove the declaration or re-export the log"
    )


def _not_xml(label: str) -> InputError:
    return InputError(f"{label}: not an XML file; check that you passed an .xes or .xes.gz event log")


def _check_root(root_name: str, label: str) -> None:
    if root_name.rpartition(":")[2] != "log":
        raise InputError(
            f"{label}: XML but not an XES event log (its root element is <{root_name}>, expected <log>); "
            "export the log as XES, or pass it as CSV"
        )


def _find_document_end(tail: str, label: str) -> int:
    """Offset in `tail` of the closing </log>, after which only blanks, comments and PIs may follow."""
    end = tail.rstrip(_XML_SPACE)
    while end.endswith(("-->", "?>")):
        k = end.rfind("<!--" if end.endswith("-->") else "<?")
        if k < 0:
            break
        end = end[:k].rstrip(_XML_SPACE)
    match = _DOCUMENT_END.search(end)
    if match is None:
        raise InputError(
            f"{label}: the XES document is incomplete: it does not end with the closing </log> tag (the file was "
            "probably cut off while copying, downloading or exporting); re-export or re-download it"
        )
    return match.start()


# --- Fast path: r4pm ----------------------------------------------------------------------------------


def _read_r4pm(xml: Path, document: _Document, workdir: Path, *, owned: bool) -> pa.Table | str:
    """The table read by r4pm, or the reason why r4pm cannot be trusted with this file."""
    if not document.utf8:
        return "not UTF-8"
    if ":" in document.root_name:
        return "namespace prefixes"
    if xml.name.endswith(".gz"):
        return "plain XML named .gz (r4pm would gunzip it)"
    try:
        import polars  # noqa: F401  (r4pm.df needs it)
        from r4pm.df import import_xes
    except ImportError:
        return "r4pm or polars is not installed"

    with open(xml, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as body:
        scan = _scan_for_r4pm(body, document)
    if isinstance(scan, str):
        return scan
    events, globals_found = scan
    if globals_found:
        xml = _blank_globals(xml, globals_found, workdir, owned=owned)

    try:
        with _R4PM_LOCK, _stderr_captured() as noise:
            try:
                frame, meta_json = import_xes(str(xml))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException, a BaseException
                return f"r4pm failed ({type(exc).__name__}: {exc})"
    except OSError as exc:  # file descriptor 2 cannot be redirected: r4pm's warnings would go unseen
        return f"cannot capture r4pm's warnings ({exc})"
    if noise and noise[0]:
        said = " ".join(noise[0][:300].decode("utf-8", "replace").split())
        return f"r4pm reported: {said}"
    try:
        meta = json.loads(meta_json)
    except ValueError:
        return "r4pm returned unreadable metadata"
    if meta.get("global_trace_attrs") or meta.get("global_event_attrs"):
        return "global defaults left in the log"
    if frame.height != events or events == 0:
        return f"r4pm returned {frame.height} events where the file has {events} <event> tags"
    return _table_from_polars(frame)


def _scan_for_r4pm(body: mmap.mmap, document: _Document) -> tuple[int, list[tuple[int, int]]] | str:
    """(number of <event> tags, byte spans of <global> elements), or why r4pm would read this file wrong."""
    root, end = document.root_offset, document.end_offset
    first_trace = _TRACE_OPEN.search(body, root, end)
    if first_trace is None:
        return "no <trace> element"
    start = first_trace.start()
    if body.find(b"<!", root, start) >= 0:
        return "comments or markup declarations inside the log header"
    if _OTHER_CLOSING_TAG.search(body, start, end):
        return "nested, list or container attributes, or namespace prefixes"
    if body.find(b"<id", start, end) >= 0:
        return "id attributes (r4pm rewrites them as UUIDs)"
    if body.find(b"case:", start, end) >= 0 and _CASE_KEY.search(body, start, end):
        return "an event attribute key starting with 'case:'"
    if _UNUSUAL_DATE.search(body, start, end):
        return "a date written in another form than YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM)"
    spans: list[tuple[int, int]] = []
    if body.find(b"<global", root, start) >= 0:
        spans = [m.span() for m in _GLOBAL_ELEMENT.finditer(body, root, start)]
    return len(_EVENT_OPEN.findall(body, start, end)), spans


def _blank_globals(xml: Path, spans: list[tuple[int, int]], workdir: Path, *, owned: bool) -> Path:
    """Overwrite the <global> elements with spaces (same length, still well-formed), in a private copy."""
    if not owned:
        copy = workdir / "log.xes"
        shutil.copyfile(xml, copy)
        xml = copy
    with open(xml, "r+b") as fh:
        for begin, stop in spans:
            fh.seek(begin)
            fh.write(b" " * (stop - begin))
    return xml


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[bytes]]:
    """Redirect file descriptor 2 to a temporary file; the list receives what was written there."""
    captured: list[bytes] = []
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read(_STDERR_KEEP))


def _table_from_polars(frame: pl.DataFrame) -> pa.Table | str:
    """r4pm's DataFrame as the reference table, or why it would differ from it."""
    import polars as pl

    full = [name for name in frame.columns if frame[name].null_count() < frame.height]
    frame = frame.select(full)
    strings: list[str] = []
    casts: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if not name or name == ROW_COLUMN or _SUSPECT_KEY.search(name):
            return f"a key the reference reads differently ({name!r})"
        if dtype == pl.String:
            strings.append(name)
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            casts.append(pl.col(name).dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
        elif dtype not in (pl.Int64, pl.Float64, pl.Boolean):
            return f"an unexpected column type {dtype} for {name!r}"
    if strings:
        suspect = frame.select(pl.col(name).str.contains(_SUSPECT_VALUE).any() for name in strings).row(0)
        if any(suspect):
            return "string values the reference reads differently"
    if casts:
        frame = frame.with_columns(casts)
    arrow = frame.to_arrow()
    columns: dict[str, Any] = {}
    for name, column in zip(arrow.column_names, arrow.columns, strict=True):
        typ = column.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
            column = column.cast(pa.string())
        elif pa.types.is_timestamp(typ):
            column = column.cast(_TIMESTAMP)
        columns[name] = column
    return _assemble(columns, frame.height)


def _assemble(columns: dict[str, Any], rows: int) -> pa.Table:
    names = sorted(columns)
    arrays = [pa.array(range(1, rows + 1), type=pa.int64()), *(columns[name] for name in names)]
    return pa.Table.from_arrays(arrays, names=[ROW_COLUMN, *names])


# --- Reference reader: lxml iterparse -----------------------------------------------------------------


class _Column:
    """The values of one key, as written in the file, with the rows they belong to."""

    __slots__ = ("kinds", "raw", "rows")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.raw: list[str] = []
        self.kinds: set[str] = set()


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _read_reference(xml: Path, label: str) -> pa.Table:
    event_columns: dict[str, _Column] = {}
    trace_columns: dict[str, _Column] = {}
    kinds: dict[Any, str] = {}
    trace_starts: list[int] = []
    row = 0
    try:
        with open(xml, "rb") as fh:
            context = etree.iterparse(
                fh,
                events=("start", "end"),
                tag=("{*}trace", "{*}event"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
                remove_comments=True,
                remove_pis=True,
            )
            for action, element in context:
                name = _local(element.tag)
                if name == "trace":
                    if action == "start":
                        trace_starts.append(row)
                        continue
                    start = trace_starts.pop() if trace_starts else row
                    if row > start:
                        _collect(element, start, row, trace_columns, kinds)
                    _release(element)
                elif action == "end":
                    parent = element.getparent()
                    where = _local(parent.tag) if parent is not None else ""
                    if where not in ("trace", "log"):
                        continue  # not an XES event (e.g. an <event> nested in an attribute)
                    _collect(element, row, row + 1, event_columns, kinds)
                    row += 1
                    if where == "log":
                        _release(element)
                    else:
                        element.clear()
    except etree.XMLSyntaxError as exc:
        message = " ".join(str(exc).split())
        raise InputError(
            f"{label}: not well-formed XML ({message}); the file is damaged or not an XES export: re-export it"
        ) from exc
    except OSError as exc:
        raise InputError(f"{label}: cannot read the file ({exc.strerror or exc}); check the file") from exc
    if row == 0:
        raise InputError(
            f"{label}: contains no events (no <event> inside a <trace>); check that it is an XES event log export"
        )
    clashes = sorted(
        key
        for key in event_columns
        if key == ROW_COLUMN or (key.startswith(CASE_PREFIX) and key[len(CASE_PREFIX) :] in trace_columns)
    )
    if clashes:
        raise InputError(
            f"{label}: the event attribute {clashes[0]!r} clashes with a column the reader creates "
            f"({ROW_COLUMN!r}, or 'case:<key>' for a trace attribute); rename it in the log"
        )
    columns = {key: _to_arrow(column, row) for key, column in event_columns.items()}
    columns.update({CASE_PREFIX + key: _to_arrow(column, row) for key, column in trace_columns.items()})
    return _assemble(columns, row)


def _release(element: Any) -> None:
    """Free a processed element and its already-processed preceding siblings."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _collect(element: Any, start: int, stop: int, columns: dict[str, _Column], kinds: dict[Any, str]) -> None:
    """Record the attributes that are children of `element` for rows start..stop-1 (first key wins)."""
    seen: set[str] = set()
    count = stop - start
    for child in element:
        tag = child.tag
        kind = kinds.get(tag)
        if kind is None:
            kind = kinds[tag] = _ATTRIBUTE_KINDS.get(_local(tag), "")
        if not kind:
            continue
        key = child.get("key")
        if not key or key in seen:
            continue
        seen.add(key)
        value = child.get("value")
        if value is None or kind == "none":
            continue
        column = columns.get(key)
        if column is None:
            column = columns[key] = _Column()
        column.kinds.add(kind)
        if count == 1:
            column.rows.append(start)
            column.raw.append(value)
        else:
            column.rows.extend(range(start, stop))
            column.raw.extend([value] * count)


def _to_arrow(column: _Column, rows: int) -> pa.Array:
    """The column as a typed array of length `rows`; raw strings when its kind is mixed or unreadable."""
    values: list[Any] | None = None
    typ: Any = pa.string()
    if len(column.kinds) == 1:
        kind = next(iter(column.kinds))
        if kind == "date":
            values, typ = _convert(column.raw, _parse_date), _TIMESTAMP
            if values is not None:
                if all(v.tzinfo is None for v in values):
                    typ = pa.timestamp("us")  # wall-clock times: --timezone says where
                else:
                    values = [v.replace(tzinfo=UTC) if v.tzinfo is None else v for v in values]
        elif kind == "int":
            values, typ = _convert(column.raw, _parse_int), pa.int64()
        elif kind == "float":
            values, typ = _convert(column.raw, _parse_float), pa.float64()
        elif kind == "boolean":
            values, typ = _convert(column.raw, _parse_boolean), pa.bool_()
    array = None
    if values is not None:
        try:
            array = pa.array(values, type=typ)
        except (pa.ArrowException, OverflowError, ValueError):
            array = None
    if array is None:
        array = pa.array(column.raw, type=pa.string())
    if len(column.rows) == rows:  # rows are increasing and distinct: this is every row, in order
        return array
    positions: list[int | None] = [None] * rows
    for index, row in enumerate(column.rows):
        positions[row] = index
    return array.take(pa.array(positions, type=pa.int64()))


def _convert(raw: list[str], parse: Any) -> list[Any] | None:
    """Every value parsed, or None as soon as one cannot be."""
    out = []
    cache: dict[str, Any] = {}
    for text in raw:
        value = cache.get(text)
        if value is None:
            value = parse(text)
            if value is None:
                return None
            if len(cache) < 4096:
                cache[text] = value
        out.append(value)
    return out


def _parse_date(text: str) -> datetime | None:
    value: datetime | None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = _parse_date_lenient(text)
        if value is None:
            return None
    return value  # naive when the text has no offset (see _to_arrow)


def _parse_date_lenient(text: str) -> datetime | None:
    """ISO 8601 forms `fromisoformat` refuses: lower-case t/z, a comma before the fraction, blanks around."""
    match = _LENIENT_DATE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    tz: timezone | None = None
    if zulu:
        tz = UTC
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        try:
            tz = timezone(-offset if sign == "-" else offset)
        except ValueError:
            return None
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None


def _parse_int(text: str) -> int | None:
    if not _INTEGER.match(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _parse_float(text: str) -> float | None:
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _parse_boolean(text: str) -> bool | None:
    return _BOOLEANS.get(text.strip().lower())

"""Text encodings of delimited files.

Business rule: the encoding named by `--encoding` wins; otherwise UTF-8 (with or without BOM) is taken when
the text is valid UTF-8, and anything else is detected, cp1252 being the usual answer for Western exports.
The engine reads UTF-8 only, so other encodings are transcoded once to a temporary file.
- UTF-8 text with a few stray single-byte characters (an export that pasted in a cp1252 value) is read as
  `utf-8+cp1252`: UTF-8, and each byte that is not valid UTF-8 as its cp1252 character.
- Other text goes to charset-normalizer. A Latin look-alike answer means cp1252; so does a single-byte
  non-Latin answer (Cyrillic, Greek) for text whose non-ASCII letters sit inside Latin words ("Jérôme",
  "Müller"): on a short sample a detector ranks those first, and reading Western names with them garbles
  every accent.
- cp1252 leaves five byte values undefined; those bytes are read as latin-1 (the same code point), one by
  one, so the rest of the file keeps its cp1252 characters (€, curly quotes) and no row is lost.
A file that looks binary is refused with a clear error instead of producing garbage events.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import mmap
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from auditor.errors import InputError, UsageError

_HEAD = 1 << 20
_LATIN_LOOKALIKES = frozenset(
    {"utf-8", "ascii", "latin-1", "cp1250", "cp1252", "cp1254", "cp1257", "cp775", "cp850", "cp852", "cp858",
     "cp437", "mac-roman", "mac-latin2", "mac-iceland"}
)
_NON_LATIN_ISO = frozenset({"iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8", "iso8859-11"})
_DOUBLE_BYTE = frozenset(
    {"cp932", "shift_jis", "shift_jis_2004", "euc_jp", "iso2022_jp", "gb2312", "gbk", "gb18030", "hz", "big5",
     "big5hkscs", "cp950", "euc_kr", "cp949", "johab", "iso2022_kr"}
)
_CHUNK = 16 << 20
MIXED = "utf-8+cp1252"
# A valid UTF-8 sequence of two to four bytes: the evidence that a file with invalid bytes is still UTF-8.
_UTF8_MULTI = re.compile(rb"[\xC2-\xDF][\x80-\xBF]|[\xE0-\xEF][\x80-\xBF]{2}|[\xF0-\xF4][\x80-\xBF]{3}")
_ASCII_LETTER = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _bytes_as_latin1(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return "".join(chr(b) for b in exc.object[exc.start : exc.end]), exc.end


def _bytes_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("cp1252", errors="auditor-latin1"), exc.end


codecs.register_error("auditor-latin1", _bytes_as_latin1)
codecs.register_error("auditor-cp1252", _bytes_as_cp1252)


def open_binary(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_head(path: Path, size: int = _HEAD) -> bytes:
    try:
        with open_binary(path) as fh:
            return fh.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cannot read the file ({exc}); check that it is not truncated") from exc


def detect_encoding(path: Path, declared: str | None) -> str:
    """A Python codec name for the file: `utf-8`, `utf-8-sig`, `utf-16`, `cp1252`, …"""
    if declared:
        if declared.lower() == MIXED:
            return MIXED
        try:
            return codecs.lookup(declared).name
        except LookupError as exc:
            raise UsageError(f"--encoding {declared!r} is not a known encoding (try utf-8, cp1252, latin-1)") from exc
    head = read_head(path)
    if not head.strip():
        raise InputError(f"{path}: the file is empty; export the log again")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # A stray NUL in one free-text field (a pasted control character) is not a binary file: binary files
    # and UTF-16 without a BOM are full of them.
    if head.count(b"\x00") > max(2, len(head) // 1000) or b"\x00" in head[: head.find(b"\n") if b"\n" in head else len(head)]:
        raise InputError(f"{path}: this looks like a binary file, not delimited text; check the file and its format")
    cut = head if len(head) < _HEAD else head[: head.rfind(b"\n") + 1] or head
    try:
        cut.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(cut):
        return MIXED
    # Western exports are cp1252 far more often than the Latin look-alike code pages a detector ranks first
    # on a short sample (cp1250, cp850, mac_latin2, …): any Latin single-byte reading means cp1252.
    from charset_normalizer import from_bytes  # slow to import; only non-UTF-8 files need it

    best = from_bytes(cut).best()
    name = codecs.lookup(best.encoding).name if best is not None else "cp1252"
    if name in _LATIN_LOOKALIKES or (name.startswith(("mac-", "iso8859-")) and name not in _NON_LATIN_ISO):
        return "cp1252"
    # A single-byte non-Latin guess (Cyrillic, Greek) on text whose accents sit inside Latin words is a
    # misreading of cp1252. Double-byte encodings are kept: Shift-JIS's second bytes are often ASCII
    # letters, so Japanese text would pass the Latin-words test.
    if name not in _DOUBLE_BYTE and _latin_words(cut):
        return "cp1252"
    return name


def _mostly_utf8(data: bytes) -> bool:
    """Invalid as UTF-8, yet its valid multi-byte sequences outnumber the bytes that are not."""
    valid = len(_UTF8_MULTI.findall(data))
    if not valid:
        return False
    text = data.decode("utf-8", errors="replace")
    return valid > text.count("\ufffd")


def _latin_words(data: bytes) -> bool:
    """Most non-ASCII bytes touch an ASCII letter: accents inside Latin words, not runs of another script."""
    high = [i for i, b in enumerate(data) if b >= 0x80]
    if not high:
        return True
    inside = sum(
        1 for i in high if (i > 0 and data[i - 1] in _ASCII_LETTER) or (i + 1 < len(data) and data[i + 1] in _ASCII_LETTER)
    )
    return inside >= 0.6 * len(high)


def to_utf8(path: Path, encoding: str, directory: Path) -> Path:
    """The file as UTF-8 without BOM: the file itself when it already is, else a transcoded copy."""
    if encoding == "utf-8":
        return path
    target = directory / (path.name.removesuffix(".gz") + ".utf8")
    if encoding == MIXED:
        codec, errors = "utf-8", "auditor-cp1252"
    elif codecs.lookup(encoding).name == "cp1252":
        codec, errors = "cp1252", "auditor-latin1"
    else:
        codec, errors = encoding, "strict"
    try:
        _transcode(path, codec, target, errors)
    except UnicodeError as exc:
        raise InputError(
            f"{path}: the text is not valid {encoding} ({exc}); pass the right --encoding (e.g. utf-8, cp1252)"
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cannot read the file ({exc}); check that it is not truncated") from exc
    return target


def _transcode(path: Path, encoding: str, target: Path, errors: str = "strict") -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    with open_binary(path) as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))


# ------------------------------------------------------------------ CSV quoting (see ingest._read_csv)


_GZ_SCAN = 64 << 20  # decompressed bytes of a .gz file searched: a whole 800 MB log would take seconds


def holds(path: Path, needle: bytes) -> bool:
    """Whether the file contains these bytes: all of a plain file (memory-mapped, about 0.1 s per GB), the
    first 64 MiB of a gzipped one."""
    if path.stat().st_size == 0:
        return False
    if path.name.lower().endswith(".gz"):
        with open_binary(path) as gz:
            tail, seen = b"", 0
            while seen < _GZ_SCAN and (chunk := gz.read(1 << 22)):
                seen += len(chunk)
                if needle in tail + chunk:
                    return True
                tail = chunk[1 - len(needle):] if len(needle) > 1 else b""
        return False
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(needle) != -1


def mixed_line_endings(path: Path) -> bool:
    """Whether the file ends some lines with CRLF and others with a bare LF. Reads the whole file (stopping
    once both are seen); only for a file the CSV reader already stumbled on."""
    crlf = bare = False
    carry = b""
    with open_binary(path) as fh:
        while chunk := fh.read(_CHUNK):
            chunk = carry + chunk
            # a CR that ends the chunk may pair with an LF that starts the next one
            carry = b"\r" if chunk.endswith(b"\r") else b""
            pairs = chunk.count(b"\r\n")
            crlf = crlf or pairs > 0
            bare = bare or chunk.count(b"\n") > pairs
            if crlf and bare:
                return True
    return False


def lf_line_endings(path: Path, directory: Path) -> Path:
    """A copy of the file with every CRLF turned into LF (inside a quoted field too: the same line break)."""
    target = directory / (path.name.removesuffix(".gz") + ".lf")
    try:
        with open_binary(path) as src, open(target, "wb") as dst:
            carry = b""
            while chunk := src.read(_CHUNK):
                chunk = carry + chunk
                carry = b"\r" if chunk.endswith(b"\r") else b""
                dst.write(chunk[: len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
            dst.write(carry)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cannot read the file ({exc}); check that it is not truncated") from exc
    return target


def guess_delimiter(path: Path) -> str | None:
    """The delimiter Python's csv sniffer finds in the (UTF-8) file's start, among the usual ones; failing
    that, the usual one its first line holds most of; None if it holds none."""
    with open_binary(path) as fh:
        sample = fh.read(65536).decode("utf-8", errors="replace")
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        best = max(",;\t|", key=first.count)
        return best if first.count(best) else None


def sep_hint(path: Path) -> str | None:
    """The delimiter an Excel `sep=;` first line names (spreadsheet padding after it allowed), else None."""
    with open_binary(path) as fh:
        first = fh.read(256).split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")
    found = re.fullmatch(r'"?sep=(.)"?(?:\1)*', first, flags=re.IGNORECASE)
    return found.group(1) if found else None


def csv_header(path: Path, delimiter: str, skip: int = 0) -> tuple[list[str], str]:
    """The (UTF-8) CSV file's header under RFC 4180 quoting, after `skip` lines: its fields and its text as
    in the file."""
    with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
        for _ in range(skip):
            fh.readline()
        taken: list[str] = []

        def lines() -> Iterator[str]:
            for line in fh:
                taken.append(line)
                yield line

        header = next(csv.reader(lines(), delimiter=delimiter, quotechar='"', doublequote=True), None)
    if not header:
        raise InputError(f"{path}: has no header line")
    broken = [h for h in header if "\n" in h or "\r" in h]
    if broken:  # the reader cannot skip a header over several lines
        raise InputError(
            f"{path}: the header's column name {broken[0]!r} holds a line break; remove it (in the "
            "spreadsheet that exported the file) and read the file again"
        )
    return header, "".join(taken)

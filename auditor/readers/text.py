"""Text encodings of delimited files.

Business rule: the encoding named by `--encoding` wins; otherwise UTF-8 (with or without BOM) is taken when
the text is valid UTF-8, and anything else is detected (charset-normalizer), cp1252 being the usual answer for
Western exports. The engine reads UTF-8 only, so other encodings are transcoded once to a temporary file.
A file that looks binary is refused with a clear error instead of producing garbage events.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from pathlib import Path
from typing import IO

from auditor.errors import InputError, UsageError

_HEAD = 1 << 20
_LATIN_LOOKALIKES = frozenset(
    {"utf-8", "ascii", "latin-1", "cp1250", "cp1252", "cp1254", "cp1257", "cp775", "cp850", "cp852", "cp858",
     "cp437", "mac-roman", "mac-latin2", "mac-iceland"}
)
_NON_LATIN_ISO = frozenset({"iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8", "iso8859-11"})
_CHUNK = 16 << 20


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
    if b"\x00" in head:
        raise InputError(f"{path}: this looks like a binary file, not delimited text; check the file and its format")
    cut = head if len(head) < _HEAD else head[: head.rfind(b"\n") + 1] or head
    try:
        cut.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Western exports are cp1252 far more often than the Latin look-alike code pages a detector ranks first
    # on a short sample (cp1250, cp850, mac_latin2, …): any Latin single-byte reading means cp1252.
    from charset_normalizer import from_bytes  # slow to import; only non-UTF-8 files need it

    best = from_bytes(cut).best()
    name = codecs.lookup(best.encoding).name if best is not None else "cp1252"
    if name in _LATIN_LOOKALIKES or (name.startswith(("mac-", "iso8859-")) and name not in _NON_LATIN_ISO):
        return "cp1252"
    return name


def to_utf8(path: Path, encoding: str, directory: Path) -> Path:
    """The file as UTF-8 without BOM: the file itself when it already is, else a transcoded copy.

    cp1252 leaves five byte values undefined; a file using them is read as latin-1 instead, which maps
    every byte, so no row is lost to the decoder.
    """
    if encoding == "utf-8":
        return path
    target = directory / (path.name.removesuffix(".gz") + ".utf8")
    for enc in (encoding, "latin-1") if encoding == "cp1252" else (encoding,):
        try:
            _transcode(path, enc, target)
            return target
        except UnicodeDecodeError:
            continue
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: cannot read the file ({exc}); check that it is not truncated") from exc
    raise InputError(f"{path}: the text is not valid {encoding}; pass the right --encoding")


def _transcode(path: Path, encoding: str, target: Path) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with open_binary(path) as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))

"""Shared fixtures. Real public logs live in ../shared/data beside the checkout (CI has them too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as e:
        yield e


def shared(relative: str) -> Path:
    """A real log from ../shared/data, or a skip when this checkout has none beside it."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real log {relative} not available (../shared/data absent)")
    return path


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path

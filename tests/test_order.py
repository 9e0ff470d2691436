"""Event order packed into one integer (auditor.order): the same traces as the two-column ordered aggregate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import discovery as d
from auditor.engine import Engine
from auditor.ingest import EventLog, IngestSummary, load
from auditor.options import ReadOptions
from auditor.order import Packing, Span, packing

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _span(first: int, last: int, seq_max: int, *, s: bool = True, ms: bool = True) -> Span:
    return Span(
        first_us=first, last_us=last, seq_min=1, seq_max=seq_max, whole_seconds=s, whole_milliseconds=ms
    )


def test_packing_picks_the_coarsest_exact_unit_and_the_narrowest_widths() -> None:
    year = 366 * 86_400 * 1_000_000
    p = packing(_span(1_700_000_000_000_000, 1_700_000_000_000_000 + year, 10_000_000), 22)
    assert p == Packing(
        origin_us=1_700_000_000_000_000, unit_us=1_000_000, seq_origin=1, seq_bits=24, code_bits=5
    )
    assert packing(_span(0, year, 1_000_000, s=False), 22) is not None  # milliseconds: 35 + 20 + 5 bits
    assert packing(_span(0, year, 10_000_000, s=False), 22) is None  # 35 + 24 + 5 > 63
    assert packing(_span(0, 10 * year, 10_000_000, s=False), 22) is None  # 38 + 24 + 5 > 63
    assert packing(_span(0, year, 10_000_000, s=False, ms=False), 22) is None  # microseconds: 45 + 24 + 5
    assert packing(_span(0, year, 1_000, s=False, ms=False), 22) is not None
    assert packing(_span(0, year, 1_000, s=False, ms=False), 100_000) is None  # too many activities
    assert packing(_span(0, 0, 1), 1) == Packing(0, 1_000_000, 1, 0, 1)  # one event


def test_unpack_inverts_the_key() -> None:
    p = Packing(origin_us=-5_000_000, unit_us=1_000_000, seq_origin=3, seq_bits=10, code_bits=4)
    key = ((7 * (1 << 14)) + (100 << 4)) + 9
    assert p.unpack(key) == (2_000_000, 103, 9)


def _log(engine: Engine, rows: list[tuple[str, str, int, int]]) -> EventLog:
    """rows: (case, activity, epoch microseconds, seq)."""
    table = pa.table(
        {
            "case_id": [r[0] for r in rows],
            "activity": [r[1] for r in rows],
            "timestamp": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "seq": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    return EventLog(
        engine=engine, table=engine.load_arrow(table), summary=IngestSummary(source="t", format="csv")
    )


def _traces(log: EventLog, span: Span | None) -> dict[str, list[str]]:
    names = sorted(d.log_profile(log).activity_events)
    traces, ordered = d.coded_traces(log, names, span)
    df = traces.execute()
    return {
        str(c): [ordered[int(x) - 1] for x in tr] for c, tr in zip(df["case_id"], df["trace"], strict=True)
    }


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with Engine() as e:
        yield e


GRAINS = {"s": 1_000_000, "ms": 1_000, "us": 1}


@settings(max_examples=40, deadline=None)
@given(
    grain=st.sampled_from(sorted(GRAINS)),
    events=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from("abcdefg"), st.integers(-3, 6)), min_size=1, max_size=40
    ),
    base=st.integers(-(10**6), 2 * 10**9),
    shuffle=st.randoms(use_true_random=False),
)
def test_packed_order_gives_the_ordered_aggregates_traces(
    engine: Engine, grain: str, events: list[tuple[int, str, int]], base: int, shuffle: object
) -> None:
    """Many shared timestamps (ties broken by seq), times before 1970, rows in any order: the same traces."""
    unit = GRAINS[grain]
    seqs = list(range(1, len(events) + 1))
    shuffle.shuffle(seqs)  # type: ignore[attr-defined]
    rows = [(f"c{c}", a, (base + t) * unit, s) for (c, a, t), s in zip(events, seqs, strict=True)]
    log = _log(engine, rows)
    span = d.log_profile(log).span
    assert span is not None
    assert packing(span, 7) is not None
    expected = {}
    for case in {r[0] for r in rows}:
        expected[case] = [
            a for _, a, _, _ in sorted((r for r in rows if r[0] == case), key=lambda r: (r[2], r[3]))
        ]
    assert _traces(log, span) == expected
    assert _traces(log, None) == expected


def test_sample_log_takes_the_packed_path_with_identical_variants() -> None:
    with Engine() as engine:
        log = load(ROOT / "logs" / "support-desk.csv", ReadOptions(), engine)
        profile = d.log_profile(log)
        assert profile.span is not None and profile.span.whole_seconds
        assert packing(profile.span, len(profile.activity_events)) is not None
        assert _traces(log, profile.span) == _traces(log, None)

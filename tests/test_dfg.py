"""The directly-follows graph: hand-computed numbers on a tiny log, and an independent pandas computation
on a real log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ibis
import numpy as np
import pandas as pd
import pytest
from conftest import shared

from auditor import dfg
from auditor.dfg import Dfg
from auditor.engine import Engine
from auditor.ingest import EventLog, IngestSummary, load
from auditor.options import ReadOptions

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_log(engine: Engine, rows: list[tuple[str, str, float]], name: str = "tiny") -> EventLog:
    """A canonical log from (case, activity, hours after T0) rows; `seq` is the row order."""
    df = pd.DataFrame(
        {
            "case_id": [r[0] for r in rows],
            "activity": [r[1] for r in rows],
            "timestamp": pd.to_datetime([T0 + timedelta(hours=r[2]) for r in rows], utc=True),
            "resource": pd.Series([None] * len(rows), dtype="string"),
            "team": pd.Series([None] * len(rows), dtype="string"),
            "seq": np.arange(1, len(rows) + 1, dtype="int64"),
        }
    )
    schema = {
        "case_id": "string",
        "activity": "string",
        "timestamp": "timestamp('UTC')",
        "resource": "string",
        "team": "string",
        "seq": "int64",
    }
    table = engine.materialize(ibis.memtable(df, schema=schema), "test_log")
    return EventLog(
        engine=engine, table=table, summary=IngestSummary(source=name, format="memory"), name=name
    )


TINY = [
    ("c1", "A", 0),
    ("c1", "B", 1),
    ("c1", "C", 3),
    ("c2", "A", 0),
    ("c2", "C", 2),
    ("c3", "A", 24),
    ("c3", "B", 24.5),
    ("c3", "B", 25.5),
    ("c3", "C", 26.5),
    ("c4", "A", 48),  # one event: a start and an end, no edge
    # Equal timestamps keep the source order: B then A.
    ("c5", "B", 72),
    ("c5", "A", 72),
]


@pytest.fixture
def tiny(engine: Engine) -> Dfg:
    return dfg.of_log(make_log(engine, TINY))


def test_edges_counts_and_waits(tiny: Dfg) -> None:
    ab = tiny.edge("A", "B")
    assert ab is not None and (ab.events, ab.cases) == (2, 2)
    # waits 1 h and 0.5 h: median 0.75, p90 interpolated 0.5 + 0.9 * 0.5, mean 0.75
    assert ab.median_hours == pytest.approx(0.75)
    assert ab.p90_hours == pytest.approx(0.95)
    assert ab.mean_hours == pytest.approx(0.75)
    bb = tiny.edge("B", "B")
    assert bb is not None and (bb.events, bb.cases, bb.median_hours) == (1, 1, pytest.approx(1.0))
    bc = tiny.edge("B", "C")
    assert bc is not None and (bc.events, bc.cases) == (2, 2) and bc.median_hours == pytest.approx(1.5)
    ac = tiny.edge("A", "C")
    assert ac is not None and ac.median_hours == pytest.approx(2.0)
    ba = tiny.edge("B", "A")
    assert ba is not None and ba.median_hours == 0.0
    assert tiny.edge("A", "A") is None
    assert [(e.source, e.target) for e in tiny.edges] == [
        ("A", "B"),
        ("A", "C"),
        ("B", "A"),
        ("B", "B"),
        ("B", "C"),
    ]


def test_starts_ends_activities(tiny: Dfg) -> None:
    assert tiny.start_counts == {"A": 4, "B": 1}
    assert tiny.end_counts == {"A": 2, "C": 3}
    assert tiny.activity_counts == {"A": 5, "B": 4, "C": 3}
    a = tiny.activity("A")
    assert a is not None and a.cases == 5
    b = tiny.activity("B")
    assert b is not None and (b.events, b.cases) == (4, 3)
    assert (tiny.events, tiny.cases) == (12, 5)
    assert tiny.start == T0 and tiny.end == T0 + timedelta(hours=72)


def test_every_event_is_counted_once(tiny: Dfg) -> None:
    # Each event is followed by one event of its case, or ends the case.
    assert sum(e.events for e in tiny.edges) + tiny.cases == tiny.events
    assert sum(tiny.start_counts.values()) == sum(tiny.end_counts.values()) == tiny.cases


def test_sub_second_waits_kept(engine: Engine) -> None:
    log = make_log(engine, [("c", "A", 0), ("c", "B", 0.25 / 3600)])
    edge = dfg.of_log(log).edge("A", "B")
    assert edge is not None and edge.median_hours * 3600 == pytest.approx(0.25)


# ------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def helpdesk() -> Iterator[EventLog]:
    path = shared("helpdesk/helpdesk.xes.gz")
    with Engine() as engine:
        yield load(path, ReadOptions(), engine)


def pandas_dfg(events: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], dict[str, int], dict[str, int]]:
    """The DFG by plain pandas: sort each case by (timestamp, seq), pair each event with the next."""
    ev = events.sort_values(["case_id", "timestamp", "seq"]).reset_index(drop=True)
    nxt = ev.groupby("case_id").shift(-1)
    pairs = pd.DataFrame(
        {
            "case_id": ev["case_id"],
            "source": ev["activity"],
            "target": nxt["activity"],
            "hours": (nxt["timestamp"] - ev["timestamp"]).dt.total_seconds() / 3600.0,
        }
    ).dropna(subset=["target"])
    edges = pairs.groupby(["source", "target"]).agg(
        events=("hours", "size"),
        cases=("case_id", "nunique"),
        median=("hours", "median"),
        p90=("hours", lambda h: float(np.quantile(h, 0.9))),
        mean=("hours", "mean"),
    )
    firsts = ev.groupby("case_id")["activity"].first().value_counts().to_dict()
    lasts = ev.groupby("case_id")["activity"].last().value_counts().to_dict()
    counts = ev["activity"].value_counts().to_dict()
    return edges, firsts, lasts, counts


@pytest.mark.realdata
def test_helpdesk_matches_pandas(helpdesk: EventLog) -> None:
    graph = dfg.of_log(helpdesk)
    events = helpdesk.table.select("case_id", "activity", "timestamp", "seq").execute()
    edges, firsts, lasts, counts = pandas_dfg(events)
    assert len(graph.edges) == len(edges)
    for e in graph.edges:
        row = edges.loc[(e.source, e.target)]
        assert (e.events, e.cases) == (int(row["events"]), int(row["cases"])), (e.source, e.target)
        assert e.median_hours == pytest.approx(row["median"], abs=1e-6)
        assert e.p90_hours == pytest.approx(row["p90"], abs=1e-6)
        assert e.mean_hours == pytest.approx(row["mean"], abs=1e-6)
    assert graph.start_counts == firsts
    assert graph.end_counts == lasts
    assert graph.activity_counts == counts
    assert graph.cases == events["case_id"].nunique() == 4580
    assert graph.events == len(events) == 21221


def test_one_sort_for_the_window(engine: Engine) -> None:
    """The DFG's window terms share one partition and order: the plan has a single window operator."""
    log = make_log(engine, TINY)
    sql = str(engine.backend.compile(dfg.steps(log.table)))
    plan = "\n".join(str(r[1]) for r in engine.con.execute("EXPLAIN " + sql).fetchall())
    assert len(re.findall(r"\bwindow\b", plan, flags=re.IGNORECASE)) == 1, plan

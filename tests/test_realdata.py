"""End-to-end ingestion of the real public logs in ../shared/data: the counts their README states.

Duplicates are checked against an independent pandas computation on the raw events.
"""

from __future__ import annotations

import pytest
from conftest import shared

from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions
from auditor.readers.xes import read_xes

pytestmark = pytest.mark.realdata

CASES = [
    # file, rows read, cases, exact duplicates, team column inferred
    ("helpdesk/helpdesk.xes.gz", 21_348, 4_580, 127, "workgroup"),
    ("bpic2013-problems/bpic2013_closed_problems.xes.gz", 6_660, 1_487, 0, "org:group"),
    ("bpic2013-problems/bpic2013_open_problems.xes.gz", 2_351, 819, 0, "org:group"),
    ("bpic2014-incident-activity/incident_activity_subset.csv.gz", 19_290, 5_282, 0, "assignment_group"),
    ("bpic2014-filtered/bpic2014_incident_activity_filtered.xes.gz", 369_485, 41_353, 5, None),
]


@pytest.mark.parametrize(("relative", "rows", "cases", "dups", "team"), CASES, ids=[c[0].split("/")[0] for c in CASES])
def test_real_log_counts(engine: Engine, relative: str, rows: int, cases: int, dups: int, team: str | None) -> None:
    log = load(shared(relative), ReadOptions(), engine)
    s = log.summary
    assert (s.rows_read, s.cases, s.duplicates, s.rejected) == (rows, cases, dups, 0)
    assert s.accepted == rows - dups
    assert s.mapping is not None and s.mapping.team == team
    assert int(log.table.count().execute()) == rows - dups


@pytest.mark.parametrize("relative", ["helpdesk/helpdesk.xes.gz", "bpic2014-filtered/bpic2014_incident_activity_filtered.xes.gz"])
def test_duplicates_match_pandas(relative: str) -> None:
    df = read_xes(shared(relative)).to_pandas().drop(columns="__row")
    expected = int(df.duplicated(keep="first").sum())
    with Engine() as engine:
        assert load(shared(relative), ReadOptions(), engine).summary.duplicates == expected

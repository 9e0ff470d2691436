"""Property: whatever the mess, rows read = accepted + rejected + duplicates, and exactly the expected rows survive."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions

cell = st.sampled_from(["", "  ", "x", "y", "Zoë", 'quote"d', "semi;colon", "comma,here"])
case = st.sampled_from(["", "C1", "C2", " C3 "])
stamp = st.sampled_from(["", "2024-01-01 10:00:00", "2024-01-02T11:30:00Z", "not a time", "2024-13-45 10:00"])
row = st.tuples(case, cell, stamp, cell)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=25))
def test_accounting_balances(tmp_path_factory, rows: list[tuple[str, str, str, str]]) -> None:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["case", "activity", "timestamp", "note"])
    w.writerow(["C0", "start", "2024-01-01 09:00:00", "anchor"])  # one good row so the format is known
    w.writerows(rows)
    path = Path(tmp_path_factory.mktemp("h")) / "log.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    valid = [r for r in [("C0", "start", "2024-01-01 09:00:00", "anchor"), *rows]
             if r[0].strip() and r[1].strip() and r[2] in ("2024-01-01 09:00:00", "2024-01-01 10:00:00", "2024-01-02T11:30:00Z")]
    distinct = len(dict.fromkeys(valid))
    with Engine() as engine:
        log = load(path, ReadOptions(), engine)
        s = log.summary
        assert s.rows_read == len(rows) + 1
        assert s.balanced()
        assert s.accepted == distinct
        assert s.duplicates == len(valid) - distinct
        assert sorted(log.rejected.execute()["row"].tolist()) == sorted(
            i for i, r in enumerate([("C0", "start", "2024-01-01 09:00:00", "anchor"), *rows], start=1)
            if r not in valid
        )

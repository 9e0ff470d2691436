"""The engine module's own promises."""

from __future__ import annotations

import ibis

from auditor.engine import Engine


def test_drop_frees_a_materialised_table() -> None:
    with Engine() as engine:
        kept = engine.materialize(ibis.memtable({"a": [1, 2]}), "kept")
        gone = engine.materialize(ibis.memtable({"a": [3]}), "gone")
        engine.drop(gone)
        names = {r[0] for r in engine.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert kept.op().name in names
        assert gone.op().name not in names
        assert int(kept.count().execute()) == 2

"""The engine module's own promises."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from auditor.engine import ROW, Engine


def test_drop_frees_a_materialised_table() -> None:
    with Engine() as engine:
        kept = engine.materialize(ibis.memtable({"a": [1, 2]}), "kept")
        gone = engine.materialize(ibis.memtable({"a": [3]}), "gone")
        engine.drop(gone)
        names = {r[0] for r in engine.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert kept.op().name in names
        assert gone.op().name not in names
        assert int(kept.count().execute()) == 2


def test_drop_frees_a_numbered_csv_source(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("case,activity\n1,a\n2,b\n")
    with Engine() as engine:
        raw, rejects = engine.load_csv(src, engine.sniff_csv(src, sep=None))
        assert not rejects.rows
        assert raw.order_by(ROW).execute()[ROW].tolist() == [1, 2]
        engine.drop(raw)
        left = engine.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_raw%'").fetchone()
        assert left == (0,)


def test_capped_memory_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_MEMORY_LIMIT", raising=False)
    with Engine(memory_limit="3GB") as engine:
        def limit() -> str:
            row = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
            assert row is not None
            return str(row[0])

        before = limit()
        with engine.capped_memory("1GB"):
            assert limit() != before
        assert limit() == before
        monkeypatch.setenv("AUDITOR_MEMORY_LIMIT", "3GB")
        with engine.capped_memory("1GB"):
            assert limit() == before  # the user's setting wins


def test_capped_memory_returns_to_duckdbs_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_MEMORY_LIMIT", raising=False)
    with Engine() as engine:
        setting = "SELECT current_setting('memory_limit')"
        before = engine.con.execute(setting).fetchone()
        with engine.capped_memory("1GB"):
            assert engine.con.execute(setting).fetchone() != before
        assert engine.con.execute(setting).fetchone() == before


def test_unordered_is_restored() -> None:
    with Engine() as engine:
        setting = "SELECT current_setting('preserve_insertion_order')"
        assert engine.con.execute(setting).fetchone() == (True,)
        with engine.unordered():
            assert engine.con.execute(setting).fetchone() == (False,)
        assert engine.con.execute(setting).fetchone() == (True,)
        with pytest.raises(RuntimeError), engine.unordered():
            raise RuntimeError("a failing audit step")
        assert engine.con.execute(setting).fetchone() == (True,)


def test_instant_arithmetic_matches_pandas() -> None:
    """Seconds, hour and weekday read off instants by integer arithmetic equal pandas' fields, before 1970
    and with fractions of a second too."""
    import pandas as pd

    ts = pd.to_datetime(["1969-12-31 23:58:59.5", "1965-03-07 05:00:00", "1970-01-01 00:00:00", "2024-03-03 23:59:59.999",
                         "2024-03-04 00:00:00.000001", "2038-01-19 03:14:08"], utc=True, format="ISO8601")
    with Engine() as engine:
        t = ibis.memtable(pd.DataFrame({"ts": ts}))
        hour, weekday = Engine.utc_hour_and_weekday(t.ts)
        out = engine.backend.execute(t.select(t.ts, s=Engine.epoch_seconds(t.ts), h=hour, d=weekday))
    assert out["h"].tolist() == list(ts.hour) and out["d"].tolist() == list(ts.day_of_week)
    assert out["s"].tolist() == [(x - pd.Timestamp(0, tz="UTC")).total_seconds() for x in ts]


def test_no_time_zone_conversion_per_value_in_the_package() -> None:
    """ibis's `.epoch_seconds()`, `.hour()`, `.second()` on an instant compile to a per-value time-zone
    conversion (0.3-0.4 s per column per 10M events); the package uses Engine's arithmetic instead. Only
    business time reads fields of *local* timestamps, which it has converted on purpose."""
    import re

    package = Path(__file__).resolve().parents[1] / "auditor"
    pattern = re.compile(r"\.(epoch_seconds|second|minute|hour)\(\)|\.day_of_week\b")
    offenders = [
        f"{p.relative_to(package)}:{i}"
        for p in package.rglob("*.py")
        if p.name not in {"engine.py", "businesstime.py"}
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []

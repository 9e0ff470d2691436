"""Ingestion loses nothing: every row is in the log, rejected with its reason, or counted as a duplicate."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import FIXTURES, write

from auditor.engine import Engine
from auditor.errors import InputError, MappingError, StrictModeError, TimestampError, UsageError
from auditor.ingest import CANONICAL, load
from auditor.ingest import write as write_log
from auditor.options import ReadOptions

DIRTY = FIXTURES / "dirty.csv"


def events(log) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return log.table.execute()


def utc(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=UTC))


@pytest.mark.parametrize("fmt", [None, "%d.%m.%Y %H:%M:%S"])
def test_dirty_csv_exact_counts(engine: Engine, fmt: str | None) -> None:
    log = load(DIRTY, ReadOptions(timestamp_format=fmt), engine)
    s = log.summary
    assert (s.rows_read, s.accepted, s.rejected, s.duplicates) == (16, 8, 6, 2)
    assert s.balanced()
    assert s.encoding == "utf-8-sig" and s.delimiter == ";"
    rejected = log.rejected.execute()
    assert rejected["row"].tolist() == [4, 5, 7, 8, 12, 15]
    reasons = dict(zip(rejected["row"], rejected["reason"], strict=True))
    assert reasons[4].startswith("missing case id")
    assert reasons[5].startswith("timestamp '31/04/2024 09:00:00'")
    assert reasons[7].startswith("missing timestamp")
    assert reasons[8].startswith("missing activity")
    assert reasons[12].startswith("too many fields") and "extra" in reasons[12]
    assert reasons[15].startswith("timestamp 'garbage'")
    # the original fields follow, as text
    assert list(rejected.columns) == ["row", "reason", "Ticket", "Status", "Changed At", "Agent", "Queue"]
    assert rejected.loc[rejected["row"] == 8, "Ticket"].item() == "T-2"
    ev = events(log)
    assert ev["seq"].tolist() == [1, 2, 6, 9, 10, 13, 14, 16]
    assert ev.loc[ev["seq"] == 14, "activity"].item() == "Waiting; customer"
    assert ev.loc[ev["seq"] == 10, "resource"].item() == "céline"
    assert ev.loc[ev["seq"] == 1, "timestamp"].item() == utc(2024, 4, 3, 9)
    assert ev.loc[ev["seq"] == 9, ["resource", "team"]].isna().all().all()


def test_rejected_file_beside_output(engine: Engine, tmp_path: Path) -> None:
    log = load(DIRTY, ReadOptions(), engine)
    rejected = write_log(log, tmp_path / "x.parquet")
    assert rejected == tmp_path / "x.rejected.csv"
    df = pd.read_csv(rejected)
    assert df["row"].tolist() == [4, 5, 7, 8, 12, 15]
    table = pq.read_table(tmp_path / "x.parquet")
    assert table.column_names[:6] == list(CANONICAL)
    assert table.num_rows == 8
    meta = json.loads(table.schema.metadata[b"auditor"])
    assert meta["mapping"]["case"] == "Ticket"


def test_parquet_round_trip_needs_no_options(engine: Engine, tmp_path: Path) -> None:
    log = load(DIRTY, ReadOptions(), engine)
    write_log(log, tmp_path / "x.parquet")
    again = load(tmp_path / "x.parquet", ReadOptions(), engine)
    assert again.summary.accepted == 8 and again.summary.rejected == 0
    pd.testing.assert_frame_equal(events(again), events(log))
    assert again.mapping is not None and again.mapping.case == "Ticket"


def test_mapping_options_on_a_canonical_parquet_are_noted(engine: Engine, tmp_path: Path) -> None:
    """`stats x.parquet --case Activity --sep ';'` read the recorded mapping and said nothing."""
    write_log(load(DIRTY, ReadOptions(), engine), tmp_path / "x.parquet")
    again = load(tmp_path / "x.parquet", ReadOptions(case="Activity", sep=";"), engine)
    assert again.mapping is not None and again.mapping.case == "Ticket"
    assert any("--case, --sep do not apply" in n for n in again.summary.notes)
    assert not load(tmp_path / "x.parquet", ReadOptions(), engine).summary.notes


def test_a_clean_log_gets_an_empty_rejected_file_over_a_stale_one(engine: Engine, tmp_path: Path) -> None:
    """The contract names OUT.rejected.csv: a script may open it unconditionally. With nothing rejected it
    holds the header alone, never an earlier run's rows."""
    stale = tmp_path / "x.rejected.csv"
    stale.write_text("row,reason\n1,old\n")
    clean = write(tmp_path, "c.csv", "case,activity,timestamp\n1,a,2024-01-01T10:00:00Z\n")
    assert write_log(load(clean, ReadOptions(), engine), tmp_path / "x.parquet") == stale
    again = pd.read_csv(stale)
    assert again.empty and list(again.columns)[:2] == ["row", "reason"]
    assert "case" in again.columns  # the original fields, as for a log with rejected rows
    # a canonical log read again has nothing to reject either
    assert write_log(load(tmp_path / "x.parquet", ReadOptions(), engine), tmp_path / "y.parquet").read_text() == "row,reason\n"


def test_ambiguous_day_month_is_an_error(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "case,activity,time\n1,a,01/02/2024 10:00\n1,b,03/04/2024 11:00\n")
    with pytest.raises(TimestampError, match="--timestamp-format"):
        load(path, ReadOptions(), engine)
    log = load(path, ReadOptions(timestamp_format="%m/%d/%Y %H:%M"), engine)
    assert events(log)["timestamp"].tolist() == [utc(2024, 1, 2, 10), utc(2024, 3, 4, 11)]


def test_a_column_that_proves_both_day_month_orders_is_an_error(engine: Engine, tmp_path: Path) -> None:
    """13/04 reads only day-first and 04/15 only month-first: day-first won 4 rows to 3, and 03/04 and 05/06
    were read day-first without a word, 04/15 rejected. Both orders proven is a question for the user."""
    body = "case,activity,time\n1,a,03/04/2024 10:00\n1,b,05/06/2024 11:00\n1,c,13/04/2024 12:00\n2,a,14/04/2024 10:00\n2,b,04/15/2024 10:00\n"
    path = write(tmp_path, "both.csv", body)
    with pytest.raises(TimestampError, match=r"'04/15/2024 10:00'.*could be either; pass --timestamp-format"):
        load(path, ReadOptions(), engine)
    log = load(path, ReadOptions(timestamp_format="%d/%m/%Y %H:%M"), engine)
    assert log.summary.accepted == 4 and log.summary.rejected == 1


@pytest.mark.parametrize("late", [False, True])
def test_a_few_dates_in_the_other_order_still_prove_both(engine: Engine, tmp_path: Path, late: bool) -> None:
    """Month-first values too few to survive the sample's vote (fewer than half as many as day-first), or
    none among the first 50 values, were rejected and 03/04 read day-first without a word."""
    day_first = [f"{d}/03/2024 10:00" for d in range(13, 29)] * (5 if late else 1)
    rows = [*day_first, "03/04/2024 10:00", "04/15/2024 10:00", "04/16/2024 10:00"]
    body = "case,activity,time\n" + "".join(f"{i // 4},a{i % 4},{v}\n" for i, v in enumerate(rows))
    with pytest.raises(TimestampError, match=r"'04/15/2024 10:00'.*'03/04/2024 10:00' could be either"):
        load(write(tmp_path, "few.csv", body), ReadOptions(), engine)


def test_month_first_detected_when_unambiguous(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "case,activity,time\n1,a,01/02/2024 10:00 AM\n1,b,12/31/2024 01:00 PM\n")
    log = load(path, ReadOptions(), engine)
    assert events(log)["timestamp"].tolist() == [utc(2024, 1, 2, 10), utc(2024, 12, 31, 13)]
    assert "%m/%d/%Y" in log.summary.timestamps


def test_iso_offsets_and_timezone(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.csv",
        "case,activity,timestamp\n1,a,2024-03-01T09:15:00+01:00\n1,b,2024-03-01 10:00:00\n1,c,2024-03-01T10:00:00Z\n",
    )
    ev = events(load(path, ReadOptions(timezone="Europe/Berlin"), engine))
    # the offset wins; naive text is wall-clock time in --timezone
    assert ev["timestamp"].tolist() == [utc(2024, 3, 1, 8, 15), utc(2024, 3, 1, 9), utc(2024, 3, 1, 10)]
    with pytest.raises(UsageError, match="timezone"):
        load(path, ReadOptions(timezone="Mars/Olympus"), engine)


def test_a_zone_name_after_the_time_wins_over_timezone(engine: Engine, tmp_path: Path) -> None:
    """"09:15 Asia/Tokyo" is that instant whatever --timezone says; with a zone other than UTC the name was
    dropped and the time read as --timezone's wall clock. Naive text still follows --timezone."""
    body = ("case,activity,timestamp\n1,A,2024-07-01 09:15:00 Asia/Tokyo\n1,B,2024-07-01 09:15:00 UTC+01:00\n"
            "1,C,2024-07-01 09:15:00\n")
    path = write(tmp_path, "zones.csv", body)
    for zone, naive in (("UTC", utc(2024, 7, 1, 9, 15)), ("America/New_York", utc(2024, 7, 1, 13, 15))):
        ev = events(load(path, ReadOptions(timezone=zone), engine)).set_index("activity")["timestamp"]
        assert ev.to_dict() == {"A": utc(2024, 7, 1, 0, 15), "B": utc(2024, 7, 1, 8, 15), "C": naive}, zone


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_a_blank_before_the_offset_reads_among_iso_text(engine: Engine, tmp_path: Path, zone: str) -> None:
    """"2024-03-01 09:15:00 +0100", a form the README names, was rejected when most of the column was ISO."""
    body = ("case,activity,timestamp\n1,A,2024-03-01T08:00:00Z\n1,B,2024-03-01 09:15:00 +0100\n"
            "1,C,2024-03-01T09:15:00 +01:00\n1,D,2024-03-01T10:00:00Z\n")
    log = load(write(tmp_path, "gap.csv", body), ReadOptions(timezone=zone), engine)
    assert log.summary.rejected == 0
    assert events(log)["timestamp"].tolist() == [utc(2024, 3, 1, 8), utc(2024, 3, 1, 8, 15), utc(2024, 3, 1, 8, 15), utc(2024, 3, 1, 10)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["1709283600", "1709287200"], [utc(2024, 3, 1, 9), utc(2024, 3, 1, 10)]),
     (["1709283600000", "1709287200500"], [utc(2024, 3, 1, 9), pd.Timestamp("2024-03-01 10:00:00.5", tz="UTC")])],
)
def test_epoch_seconds_and_milliseconds(engine: Engine, tmp_path: Path, values: list[str], expected: list[pd.Timestamp]) -> None:
    rows = "".join(f"1,a{i},{v}\n" for i, v in enumerate(values))
    ev = events(load(write(tmp_path, "e.csv", "case,activity,timestamp\n" + rows), ReadOptions(), engine))
    assert ev["timestamp"].tolist() == expected


def test_an_epoch_number_beyond_any_date_is_one_rejected_row(engine: Engine, tmp_path: Path) -> None:
    """A 13-digit number among ISO text, read as epoch seconds while the format was chosen, was out of the
    engine's range and failed the whole ingest (exit 3); it is one row with an unreadable timestamp."""
    body = "case,activity,timestamp\n1,A,2024-03-01T09:15:00Z\n1,B,2024-03-01T10:15:00Z\n1,C,9999999999999\n"
    log = load(write(tmp_path, "big.csv", body), ReadOptions(), engine)
    assert events(log)["activity"].tolist() == ["A", "B"]
    assert log.summary.rejected == 1 and log.summary.balanced()


def test_equal_timestamps_keep_source_order(engine: Engine, tmp_path: Path) -> None:
    body = "case,activity,timestamp\n" + "".join(f"c,step{i},2024-01-01 10:00:00\n" for i in (3, 1, 2))
    ev = events(load(write(tmp_path, "t.csv", body), ReadOptions(), engine))
    assert ev["activity"].tolist() == ["step3", "step1", "step2"]
    assert ev["seq"].tolist() == [1, 2, 3]


def test_cp1252_detected(engine: Engine, tmp_path: Path) -> None:
    text = "Vorgang;Aktivität;Zeitstempel\nA-1;Prüfung – Stufe 1;2024-05-01 08:00:00\nA-1;Lösung € ok;2024-05-02 08:00:00\n"
    path = write(tmp_path, "de.csv", text.encode("cp1252"))
    log = load(path, ReadOptions(case="Vorgang", activity="Aktivität", timestamp="Zeitstempel"), engine)
    assert log.summary.encoding == "cp1252"
    assert events(log)["activity"].tolist() == ["Prüfung – Stufe 1", "Lösung € ok"]


def test_utf8_with_stray_cp1252_bytes(engine: Engine, tmp_path: Path) -> None:
    """A UTF-8 export with one value pasted in as cp1252: both kinds of accent survive."""
    data = "case;activity;timestamp;agent\nE1;Rückruf ok;2024-03-01 08:00;Jérôme\n".encode()
    data += "E1;Close;2024-03-01 09:00;Renée\n".encode("cp1252")
    log = load(write(tmp_path, "m.csv", data), ReadOptions(), engine)
    assert log.summary.encoding == "utf-8+cp1252"
    ev = events(log)
    assert ev["activity"].tolist() == ["Rückruf ok", "Close"]
    assert ev["resource"].tolist() == ["Jérôme", "Renée"]


def test_short_western_cp1252_with_an_undefined_byte(engine: Engine, tmp_path: Path) -> None:
    """A short sample a detector ranks as Cyrillic, with a byte cp1252 leaves undefined: still cp1252, the
    undefined byte read as latin-1 on its own, the euro sign and quotes kept."""
    data = "case;activity;timestamp;agent\nE1;Refund € “quoted”;2024-03-01 08:00;Jérôme\n".encode("cp1252")
    data += b"E1;Close \x81 odd;2024-03-01 09:00;Ren\xe9e\n"
    log = load(write(tmp_path, "w.csv", data), ReadOptions(), engine)
    assert log.summary.encoding == "cp1252"
    ev = events(log)
    assert ev["activity"].tolist() == ["Refund € “quoted”", "Close \x81 odd"]
    assert ev["resource"].tolist() == ["Jérôme", "Renée"]


def test_wrong_declared_encoding_is_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "case,activity,timestamp\nc,a,2024-01-01 10:00\n")
    with pytest.raises(InputError, match=r"not valid utf-16.*--encoding"):
        load(path, ReadOptions(encoding="utf-16"), engine)


def test_cyrillic_cp1251_is_not_forced_to_cp1252(engine: Engine, tmp_path: Path) -> None:
    text = "case;activity;timestamp\n" + "".join(
        f"c{i};Обработка заявки клиента;2024-03-0{1 + i % 5} 08:00\n" for i in range(30)
    )
    log = load(write(tmp_path, "ru.csv", text.encode("cp1251")), ReadOptions(), engine)
    assert events(log)["activity"].iloc[0] == "Обработка заявки клиента"


def test_tsv_gz_and_jsonl(engine: Engine, tmp_path: Path) -> None:
    tsv = tmp_path / "l.tsv.gz"
    with gzip.open(tsv, "wt", encoding="utf-8") as fh:
        fh.write("case_id\tactivity\ttimestamp\n1\ta\t2024-01-01 10:00\n1\tb\t2024-01-01 11:00\n")
    assert load(tsv, ReadOptions(), engine).summary.accepted == 2
    jl = write(
        tmp_path,
        "l.jsonl",
        '{"case": "1", "activity": "a", "timestamp": "2024-01-01T10:00:00Z", "extra": {"x": 1}}\n'
        "\n"
        "this is not json\n"
        '{"case": "1", "activity": "b", "timestamp": "2024-01-01T11:00:00Z"}\n',
    )
    log = load(jl, ReadOptions(), engine)
    s = log.summary
    assert (s.rows_read, s.accepted, s.rejected) == (3, 2, 1)
    assert log.rejected.execute()["row"].tolist() == [3]
    ev = events(log)
    assert ev["timestamp"].tolist() == [utc(2024, 1, 1, 10), utc(2024, 1, 1, 11)]
    assert ev["extra.x"].tolist()[0] == "1"  # an object's keys are columns of their own


def test_jsonl_objects_become_columns_the_mapping_can_infer(engine: Engine, tmp_path: Path) -> None:
    """An API export nests the ticket and the actor: the resource was inferred as the whole object, JSON text
    such as {"name":"bo","kind":"agent"}, and `--resource actor.name` was not a column."""
    lines = [
        {"id": "e1", "ticket": {"id": 7, "priority": "high"}, "type": "ticket.created", "occurred_at": 1709612244491,
         "actor": {"name": None, "kind": "end-user"}, "meta": {"ip": {"v4": "1.2.3.4"}}},
        {"id": "e2", "ticket": {"id": 7, "priority": "high"}, "type": "ticket.solved", "occurred_at": 1709629809542,
         "actor": {"name": "bo", "kind": "agent"}, "meta": {"ip": {"v4": "1.2.3.5"}}},
    ]
    log = load(write(tmp_path, "api.jsonl", "".join(json.dumps(x) + "\n" for x in lines)), ReadOptions(), engine)
    m = log.mapping
    assert m is not None and (m.case, m.activity, m.timestamp, m.resource) == ("ticket.id", "type", "occurred_at", "actor.name")
    ev = events(log)
    assert ev["case_id"].tolist() == ["7", "7"] and ev["resource"].tolist()[1] == "bo"
    assert json.loads(ev["meta.ip"].iloc[0]) == {"v4": "1.2.3.4"}  # deeper values stay JSON text
    log = load(write(tmp_path, "api.jsonl", "".join(json.dumps(x) + "\n" for x in lines)),
               ReadOptions(resource="actor.kind"), engine)
    assert events(log)["resource"].tolist() == ["end-user", "agent"]


def test_attributes_kept_and_collisions_renamed(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Ticket ID,Activity,Timestamp,seq,Priority\nT1,a,2024-01-01 10:00,9,high\n")
    ev = events(load(path, ReadOptions(), engine))
    assert list(ev.columns) == [*CANONICAL, "src_seq", "Priority"]
    assert ev["src_seq"].item() == "9" and ev["seq"].item() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty"),
        ("header.csv", "case,activity,timestamp\n", "no data rows"),
        ("bin.csv", bytes(range(256)) * 8, "binary"),
        ("x.docx", "whatever", "unknown file type"),
    ],
)
def test_broken_input_is_one_clear_error(engine: Engine, tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    with pytest.raises((InputError, UsageError), match=message):
        load(write(tmp_path, name, content), ReadOptions(), engine)


def test_missing_column_lists_available(engine: Engine) -> None:
    with pytest.raises(MappingError, match=r"--case 'Case' is not a column\..*Available columns: 'Ticket', 'Status'"):
        load(DIRTY, ReadOptions(case="Case"), engine)


def test_uninferable_mapping_says_which_option(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "foo,bar,baz\n1,2,3\n")
    with pytest.raises(MappingError, match="pass --case COL --activity COL --timestamp COL"):
        load(path, ReadOptions(), engine)


def test_strict_fails_on_any_rejection(engine: Engine) -> None:
    with pytest.raises(StrictModeError, match="6 row"):
        load(DIRTY, ReadOptions(strict=True), engine)


def test_summary_reason_keeps_a_column_name_with_a_colon(engine: Engine, tmp_path: Path) -> None:
    body = "case:id,concept:name,time:timestamp\nc,a,2024-01-01 10:00\nc,,2024-01-01 11:00\n"
    opts = ReadOptions(case="case:id", activity="concept:name", timestamp="time:timestamp")
    log = load(write(tmp_path, "x.csv", body), opts, engine)
    assert log.summary.reasons == {"missing activity (column 'concept:name')": 1}


def test_a_local_time_skipped_by_daylight_saving_is_rejected_with_that_reason(engine: Engine, tmp_path: Path) -> None:
    body = (
        "case,activity,timestamp\nD1,Create,2024-03-31 01:30:00\nD1,Work,2024-03-31 02:30:00\n"
        "D1,Resolve,2024-03-31 03:30:00\nD2,Create,31.03.2024 02:15\n"
    )
    log = load(write(tmp_path, "dst.csv", body), ReadOptions(timezone="Europe/Berlin"), engine)
    assert log.summary.reasons.get("skipped local time (daylight saving)") == 1
    rejected = log.rejected.execute() if log.rejected is not None else None
    assert rejected is not None
    row = rejected[rejected["row"] == 2].iloc[0]
    assert "does not exist in Europe/Berlin" in row["reason"]
    ev = events(log)
    assert ev[ev.case_id == "D1"]["timestamp"].dt.hour.tolist() == [0, 1]  # 01:30 and 03:30 local, in UTC
    # in UTC nothing is skipped
    assert load(write(tmp_path, "utc.csv", body.split("D2")[0]), ReadOptions(), engine).summary.rejected == 0


def test_row_numbers_with_blank_lines_and_multi_line_fields(engine: Engine, tmp_path: Path) -> None:
    """A blank line is no row and a quoted field over two lines is one row: rejected rows and accepted rows
    are numbered alike (the reader counted blank lines for the rejected ones only)."""
    body = (
        'case,activity,timestamp\nC1,A,2024-03-01 08:00:00\nC1,"multi\nline",2024-03-01 09:00:00\n'
        "C1,B,2024-03-01 09:30:00,x\nC1,C,2024-03-01 10:00:00\n\nC1,D,2024-03-01 11:00:00,y\n"
        "C1,E,2024-03-01 12:00:00\n"
    )
    log = load(write(tmp_path, "ml.csv", body), ReadOptions(), engine)
    assert events(log)[["activity", "seq"]].values.tolist() == [["A", 1], ["multi\nline", 2], ["C", 4], ["E", 6]]
    assert log.rejected is not None
    rejected = log.rejected.execute()
    assert rejected["row"].tolist() == [3, 5]
    assert rejected["reason"].str.contains("the line reads: C1,B").iloc[0]


def test_a_line_of_spaces_is_a_row_not_a_blank_line(engine: Engine, tmp_path: Path) -> None:
    body = "case,activity,timestamp\nC1,A,2024-03-01 08:00:00\n   \nC1,B,2024-03-01 09:30:00,x\nC1,C,2024-03-01 10:00:00\n"
    log = load(write(tmp_path, "ws.csv", body), ReadOptions(), engine)
    assert events(log)[["activity", "seq"]].values.tolist() == [["A", 1], ["C", 4]]
    assert log.rejected is not None
    assert log.rejected.execute()["row"].tolist() == [2, 3]


def test_shift_jis_is_not_taken_for_cp1252(engine: Engine, tmp_path: Path) -> None:
    text = "case,activity,timestamp\n" + "".join(
        f"c{i},問い合わせ受付,2024-03-0{1 + i % 5} 08:00\nc{i},回答送信,2024-03-0{1 + i % 5} 09:00\n" for i in range(30)
    )
    log = load(write(tmp_path, "ja.csv", text.encode("cp932")), ReadOptions(), engine)
    assert sorted(set(events(log)["activity"])) == sorted({"問い合わせ受付", "回答送信"})


@pytest.mark.parametrize("everything_quoted", [False, True])
def test_one_badly_quoted_line_rejects_only_itself(engine: Engine, tmp_path: Path, everything_quoted: bool) -> None:
    """An unescaped quote in a free text made the sniffer drop quoting for the whole file: every quoted
    field with a comma split, the valid rows were rejected and the broken one accepted."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL if everything_quoted else csv.QUOTE_MINIMAL)
    w.writerow(["Case", "Activity", "Timestamp", "Comment"])
    for i in range(40):
        w.writerow([f"C{i}", "Open", f"2024-03-01 09:{i:02d}:00", "new"])
        w.writerow([f"C{i}", "Reply, then wait", f"2024-03-01 10:{i:02d}:00", 'he said "hi"'])
    lines = out.getvalue().splitlines(keepends=True)
    lines.insert(31, 'C15,Note,2024-03-01 11:00:00,"customer says "urgent" again\n')  # data row 31
    log = load(write(tmp_path, "q.csv", "".join(lines)), ReadOptions(), engine)
    assert (log.summary.accepted, log.summary.rejected) == (80, 1)
    ev = events(log)
    assert (ev["activity"] == "Reply, then wait").sum() == 40 and "Note" not in set(ev["activity"])
    assert log.rejected is not None
    rejected = log.rejected.execute()
    assert rejected["row"].tolist() == [31] and rejected["reason"].str.startswith("broken quoting").all()
    # the rows after the broken one keep their numbers
    assert ev["seq"].tolist() == [*range(1, 31), *range(32, 82)]


def test_a_header_with_a_line_break_is_named(engine: Engine, tmp_path: Path) -> None:
    """DuckDB's sniffer reads some such headers and fails on others; the RFC 4180 reading names the column.
    Excel's CRLF rows with an LF inside the cell failed the sniffer; read with LF endings, the header reads."""
    from auditor.readers import text

    rows = "".join(f"C{i // 3},{a},2024-03-01 0{9 + i % 3}:00:00,a\r\n" for i, a in enumerate(["Open", "Work", "Close"] * 2))
    body = 'Case,Activity,Timestamp,"Resource\n(login)"\r\n' + rows  # Excel: CRLF rows, LF inside the cell
    path = write(tmp_path, "h.csv", body)
    with pytest.raises(InputError, match=r"column name 'Resource\\n\(login\)' holds a line break"):
        text.csv_header(path, ",")
    log = load(path, ReadOptions(), engine)
    assert log.summary.mapping is not None and log.summary.mapping.resource == "Resource\n(login)"
    assert log.summary.accepted == 6


def test_implausible_timestamps_are_rejected_with_the_reason(engine: Engine, tmp_path: Path) -> None:
    """Seconds among milliseconds read as January 1970, milliseconds among seconds as the year 56,000 (the
    audit then failed with exit 3), a 0 placeholder as 1970, a number beyond the engine's range failed the
    read: each row is rejected, saying why, and the rest is read."""
    ms = [1709280000000 + i * 3_600_000 for i in range(12)]
    ms[4] = 1709298000  # seconds
    body = "case,activity,timestamp\n" + "".join(f"c{i // 3},A{i % 3},{v}\n" for i, v in enumerate(ms))
    log = load(write(tmp_path, "ms.csv", body), ReadOptions(), engine)
    assert (log.summary.accepted, log.summary.rejected) == (11, 1)
    assert log.summary.reasons == {"implausible timestamp": 1}
    secs = [1709280000 + i * 3600 for i in range(12)]
    secs[2], secs[5], secs[7] = 1709298000000, 0, 10**20
    body = "case,activity,timestamp\n" + "".join(f"c{i // 3},A{i % 3},{v}\n" for i, v in enumerate(secs))
    log = load(write(tmp_path, "s.csv", body), ReadOptions(), engine)
    assert (log.summary.accepted, log.summary.rejected) == (9, 3)
    assert log.rejected is not None
    rejected = log.rejected.execute()
    assert rejected["row"].tolist() == [3, 6, 8]
    assert rejected["reason"].str.contains("is not between 1973-03-03 and 2199 as epoch seconds").all()
    body = "case,activity,timestamp\nc1,A,0001-01-01 00:00:00\nc1,B,2024-03-01 08:00:00\nc1,C,9999-12-31 23:59:59\n"
    log = load(write(tmp_path, "y.csv", body), ReadOptions(), engine)
    assert log.rejected is not None
    assert log.rejected.execute()["reason"].str.endswith("is outside the years 1900-2199").tolist() == [True, True]


def test_jiras_csv_date_format_is_known(engine: Engine, tmp_path: Path) -> None:
    body = "Issue key,Status,Updated\nSUP-1,Open,01/Mar/24 9:15 AM\nSUP-1,Done,12/Mar/24 4:05 PM\n"
    log = load(write(tmp_path, "jira.csv", body), ReadOptions(), engine)
    assert events(log)["timestamp"].tolist() == [utc(2024, 3, 1, 9, 15), utc(2024, 3, 12, 16, 5)]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_an_offset_after_a_space_is_an_instant(engine: Engine, tmp_path: Path, zone: str) -> None:
    """`2024-03-01 09:15:00 +0100` (a space before the offset) was refused; it is that instant whatever
    --timezone says, since --timezone is for wall-clock text."""
    body = "case,activity,timestamp\nc1,Open,2024-03-01 09:15:00 +0100\nc1,Close,2024-03-01 18:00:00 -0500\n"
    log = load(write(tmp_path, "z.csv", body), ReadOptions(timezone=zone), engine)
    assert events(log)["timestamp"].tolist() == [utc(2024, 3, 1, 8, 15), utc(2024, 3, 1, 23, 0)]


def test_an_unknown_format_names_the_values_and_shows_how_to_write_one(engine: Engine, tmp_path: Path) -> None:
    body = "case,activity,timestamp\nc1,Open,day 3 of March\nc1,Close,day 4 of March\n"
    with pytest.raises(TimestampError) as err:
        load(write(tmp_path, "u.csv", body), ReadOptions(), engine)
    message = str(err.value)
    assert "no known timestamp format reads column 'timestamp'" in message and "'day 3 of March'" in message
    assert "'%d.%m.%Y %H:%M:%S' reads '31.12.2024 23:59:00'" in message


def test_quote_search_reads_a_plain_file_whole_and_a_gzipped_one_in_its_first_64_mib(tmp_path: Path) -> None:
    from auditor.readers.text import holds

    plain = tmp_path / "p.csv"
    plain.write_bytes(b"a" * (70 << 20) + b'"')
    assert holds(plain, b'"') and not holds(write(tmp_path, "e.csv", b""), b'"')
    early, late = tmp_path / "early.csv.gz", tmp_path / "late.csv.gz"
    early.write_bytes(gzip.compress(b"a" * (4 << 20) + b'"' + b"a" * (70 << 20), compresslevel=1))
    late.write_bytes(gzip.compress(b"a" * (70 << 20) + b'"', compresslevel=1))
    assert holds(early, b'"') and not holds(late, b'"')  # a whole 800 MB log would take seconds


def test_placeholders_are_missing_and_unicode_whitespace_is_trimmed(engine: Engine, tmp_path: Path) -> None:
    """A spreadsheet's #N/A or a dump's NULL is no value: not a case that collects every orphan row, nor a
    person handing work around. A non-breaking space or a tab around a name does not make a second
    activity, nor a second person. Real values that look alike ("NA", "-", "none") stay."""
    nbsp = "\u00a0"
    body = (
        "case,activity,timestamp,resource,team\n"
        f"c1,Open{nbsp},2024-03-01 08:00:00,NULL,NA\n"
        "c1,Open,2024-03-01 09:00:00,#N/A,-\n"
        f"c1,\tClose ,2024-03-01 10:00:00,{nbsp}Ana{nbsp},none\n"
        "NULL,Open,2024-03-01 11:00:00,Ana,NA\n"
        "c2,N/A,2024-03-01 11:00:00,Ana,NA\n"
        "c2,Open,NULL,Ana,NA\n"
        f"\u200b{nbsp},Open,2024-03-01 12:00:00,Ana,NA\n"
        "c3,\u2003Zoë,2024-03-01 12:00:00,Élodie,None\n"
        f"c3,Open,2024-03-01 13:00:00,Ana{nbsp},NA\n"
        "c3,Open\t,2024-03-01 14:00:00,Ana\u3000,NA\u2009\n"
    )
    log = load(write(tmp_path, "placeholders.csv", body), ReadOptions(), engine)
    ev = events(log).sort_values("seq")
    # a trailing tab, ideographic or thin space is whitespace too, not part of a name
    assert ev["activity"].tolist() == ["Open", "Open", "Close", "Zoë", "Open", "Open"]
    assert ev["resource"].iloc[:2].isna().all()
    assert ev["resource"].iloc[2:].tolist() == ["Ana", "Élodie", "Ana", "Ana"]
    assert ev["team"].iloc[-1] == "NA"
    assert ev["team"].iloc[:3].tolist() == ["NA", "-", "none"] and pd.isna(ev["team"].iloc[3])
    assert log.rejected is not None
    reasons = log.rejected.execute()["reason"].tolist()
    assert [r.split(" (")[0] for r in reasons] == [
        "missing case id", "missing activity", "missing timestamp", "missing case id"
    ]
    assert log.summary.balanced() and log.summary.cases == 2


def test_whole_float_ids_read_without_a_decimal_part(engine: Engine, tmp_path: Path) -> None:
    """pandas stores a column of whole numbers with a gap as floats: case 1042 must not become "1042.0"."""
    path = tmp_path / "floats.parquet"
    pd.DataFrame({
        "case": [1042.0, 1042.0, None, 7.5],
        "activity": ["Open", "Close", "Open", "Open"],
        "timestamp": pd.to_datetime(["2024-03-01 08:00", "2024-03-01 09:00", "2024-03-01 10:00", "2024-03-01 11:00"]),
    }).to_parquet(path)
    log = load(path, ReadOptions(), engine)
    assert sorted(events(log)["case_id"].unique().tolist()) == ["1042", "7.5"]
    assert log.summary.rejected == 1


def test_a_log_listed_newest_first_keeps_one_moments_events_oldest_first(engine: Engine, tmp_path: Path) -> None:
    """Within a case, time runs backwards down the file: two events of one moment are listed backwards too."""
    lines = []
    for i in range(6):
        lines += [f"c{i},Close,2024-03-0{i + 1} 12:00:00", f"c{i},Assign,2024-03-0{i + 1} 09:00:00",
                  f"c{i},Open,2024-03-0{i + 1} 09:00:00"]
    log = load(write(tmp_path, "desc.csv", "case,activity,timestamp\n" + "\n".join(lines) + "\n"), ReadOptions(), engine)
    assert log.summary.newest_first
    ev = events(log).sort_values(["case_id", "timestamp", "seq"])
    assert ev.loc[ev.case_id == "c0", "activity"].tolist() == ["Open", "Assign", "Close"]
    assert ev.loc[ev.case_id == "c0", "seq"].tolist() == [16, 17, 18]  # rows 3, 2, 1 counted from the end
    ascending = "case,activity,timestamp\n" + "\n".join(reversed(lines)) + "\n"
    assert not load(write(tmp_path, "asc.csv", ascending), ReadOptions(), engine).summary.newest_first


def test_jsonl_whole_numbers_read_the_same_with_or_without_a_decimal_part(engine: Engine, tmp_path: Path) -> None:
    """JSON does not tell 3 from 3.0: they are one case, not the cases "3" and "3.0"."""
    src = tmp_path / "n.jsonl"
    src.write_text(
        '{"case": 3, "activity": "A", "timestamp": "2024-01-01T10:00:00Z", "amount": 2.5}\n'
        '{"case": 3.0, "activity": "B", "timestamp": "2024-01-01T11:00:00Z", "amount": 2.0}\n'
    )
    ev = events(load(src, ReadOptions(), engine))
    assert ev["case_id"].tolist() == ["3", "3"] and ev["amount"].tolist() == ["2.5", "2"]


@pytest.mark.parametrize("zone", [None, "UTC", "Europe/Berlin"])
def test_nanosecond_parquet_timestamps_read_as_instants(engine: Engine, tmp_path: Path, zone: str | None) -> None:
    """pandas' datetime64[ns] and Spark write nanosecond timestamps: a naive column failed with an internal
    error (exit 3) and an aware one was 'not a timestamp'. They read as microsecond instants."""
    import pyarrow as pa

    instants = [datetime(2024, 1, 1, 10, 0, 0, 123456), datetime(2024, 1, 1, 11)]
    stamps = pa.array([int(d.replace(tzinfo=UTC).timestamp() * 1e6) * 1000 + 789 for d in instants], pa.int64())
    table = pa.table({"case": ["1", "1"], "activity": ["a", "b"], "timestamp": stamps.cast(pa.timestamp("ns", tz=zone))})
    pq.write_table(table, tmp_path / "ns.parquet")
    ev = events(load(tmp_path / "ns.parquet", ReadOptions(), engine))
    # a naive column is UTC wall-clock time here (no --timezone); nanoseconds round to the microsecond
    assert ev["timestamp"].tolist() == [pd.Timestamp(d, tz="UTC") + pd.Timedelta(microseconds=1) for d in instants]


def test_empty_sources_say_what_is_wrong(engine: Engine, tmp_path: Path) -> None:
    pd.DataFrame({"case": pd.Series([], dtype=str), "activity": pd.Series([], dtype=str),
                  "timestamp": pd.Series([], dtype="datetime64[us, UTC]")}).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(InputError, match="holds no data rows"):
        load(tmp_path / "e.parquet", ReadOptions(), engine)
    with pytest.raises(InputError, match=r"no line is a JSON object \(line 1"):
        load(write(tmp_path, "bad.jsonl", '{"case": 1\n'), ReadOptions(), engine)


def test_a_start_time_column_beside_the_timestamp_gives_lead_times_from_the_start(engine: Engine, tmp_path: Path) -> None:
    """`start_timestamp,complete_timestamp` (CSV) ignored the start: 2.0 h from the first complete instead of
    3.0 h from the first start. With `start_time,end_time` the start was taken as the event's time."""
    from auditor.ingest import first_moment, has_starts

    def lead(path: Path, **opts: Any) -> tuple[str, float]:
        log = load(path, ReadOptions(**opts), engine)
        assert has_starts(log.table)
        t = log.table
        span = t.aggregate(a=first_moment(t), b=t.timestamp.max()).execute().iloc[0]
        assert log.mapping is not None
        return log.mapping.timestamp, (span["b"] - span["a"]).total_seconds() / 3600

    pair = write(tmp_path, "pair.csv", "case,activity,start_timestamp,complete_timestamp\n"
                 "1,A,2024-03-01 09:00,2024-03-01 10:00\n1,B,2024-03-01 11:00,2024-03-01 12:00\n")
    assert lead(pair) == ("complete_timestamp", 3.0)
    named = write(tmp_path, "named.csv", "case,activity,start_time,end_time\n"
                  "1,A,2024-03-01 09:00,2024-03-01 10:00\n1,B,2024-03-01 11:00,2024-03-01 12:30\n")
    assert lead(named) == ("end_time", 3.5)
    # typed naive columns (Parquet) are read in --timezone, the start as well as the timestamp
    pd.DataFrame({"case": ["1", "1"], "activity": ["A", "B"],
                  "start_timestamp": pd.to_datetime(["2024-03-01 09:00", "2024-03-01 11:00"]),
                  "timestamp": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 12:00"])}).to_parquet(tmp_path / "n.parquet")
    assert lead(tmp_path / "n.parquet", timezone="Europe/Berlin") == ("timestamp", 3.0)


@pytest.mark.parametrize(
    ("header", "rows"),
    [
        # DuckDB types these as DATE and TIME
        ("Ticket,Activity,Date,Time,Agent", ["T1,Open,2024-03-01,09:15:00,ann", "T1,Close,2024-03-13,17:05:30,bob"]),
        # text in a German export, a time without seconds
        ("Ticket;Tätigkeit;Datum;Uhrzeit;Bearbeiter", ["T1;Open;01.03.2024;9:15;ann", "T1;Close;13.03.2024;17:05;bob"]),
        # the time column comes first, 12-hour clock
        ("Case ID,Time,Event,Date", ["T1,9:15 AM,Open,03/01/2024", "T1,5:05 PM,Close,03/13/2024"]),
    ],
)
def test_a_date_column_and_a_time_column_are_read_together(
    engine: Engine, tmp_path: Path, header: str, rows: list[str]
) -> None:
    """A date column beside a time-of-day column was an error ("no known format reads column 'Time'") or
    put every event of a day at midnight."""
    log = load(write(tmp_path, "dt.csv", "\n".join([header, *rows]) + "\n"), ReadOptions(timezone="Europe/Berlin"), engine)
    ts = events(log)["timestamp"].tolist()
    assert ts[0] == utc(2024, 3, 1, 8, 15)
    assert ts[1].hour == 16 and ts[1].minute == 5
    assert log.mapping is not None and log.mapping.time is not None
    assert "+" in log.mapping.describe()
    assert any("joined from the date column" in n for n in log.summary.notes)
    attrs = set(events(log).columns) - set(CANONICAL)
    assert not attrs & {"Time", "Uhrzeit", "Date", "Datum"}


def test_a_missing_time_of_day_rejects_its_row_naming_both_columns(engine: Engine, tmp_path: Path) -> None:
    body = "case,activity,date,time\n1,A,2024-03-01,09:00\n1,B,2024-03-01,\n1,C,2024-03-02,10:00\n"
    log = load(write(tmp_path, "dt.csv", body), ReadOptions(), engine)
    assert events(log)["activity"].tolist() == ["A", "C"]
    reasons = log.rejected.execute()["reason"].tolist()  # type: ignore[union-attr]
    assert reasons == ["missing timestamp (column 'date' + 'time')"]


def test_times_of_day_without_a_date_say_so(engine: Engine, tmp_path: Path) -> None:
    body = "case,activity,time\n1,A,09:00\n1,B,10:00\n"
    with pytest.raises(TimestampError, match="holds times of day without a date"):
        load(write(tmp_path, "t.csv", body), ReadOptions(), engine)


def test_a_date_column_alone_reads_as_midnight(engine: Engine, tmp_path: Path) -> None:
    body = "case,activity,date,note\n1,A,2024-03-01,09:00 call\n1,B,2024-03-02,x\n"
    log = load(write(tmp_path, "d.csv", body), ReadOptions(), engine)
    assert events(log)["timestamp"].tolist() == [utc(2024, 3, 1), utc(2024, 3, 2)]
    assert log.mapping is not None and log.mapping.time is None


@pytest.mark.parametrize(("sep", "values"), [(",", ["45352.3", "45353.25", "0"]), (";", ["45352,3", "45353,25", "0"])])
def test_spreadsheet_serial_dates(engine: Engine, tmp_path: Path, sep: str, values: list[str]) -> None:
    """Days since 1899-12-30 (Excel), wall-clock time in --timezone; a 0 is a placeholder, rejected."""
    rows = "".join(f"1{sep}a{i}{sep}{v}\n" for i, v in enumerate(values))
    log = load(write(tmp_path, "x.csv", f"case{sep}activity{sep}timestamp\n" + rows), ReadOptions(timezone="Europe/Berlin"), engine)
    assert events(log)["timestamp"].tolist() == [utc(2024, 3, 1, 6, 12), utc(2024, 3, 2, 5)]
    assert "Excel serial dates" in log.summary.timestamps
    assert log.summary.rejected == 1 and "placeholder" in log.rejected.execute()["reason"].iloc[0]  # type: ignore[union-attr]


@pytest.mark.parametrize("extra", ["Reason", "ROW", "Row", "__ROW", "__row", "__Reason", "SEQ"])
def test_a_source_column_named_like_an_internal_one_is_kept(engine: Engine, tmp_path: Path, extra: str) -> None:
    # the engine compares names case-insensitively: `Reason` beside the rejected file's `reason` failed
    body = f"Case,Activity,Timestamp,{extra}\nA,Open,2024-03-01 10:00,x\nA,Close,2024-03-01 12:00,y\nA,Bad,zz,z\n"
    log = load(write(tmp_path, "x.csv", body), ReadOptions(), engine)
    assert (log.summary.accepted, log.summary.rejected) == (2, 1)
    rejected = log.rejected.execute()
    assert list(rejected.columns[:2]) == ["row", "reason"] and rejected.iloc[0, -1] == "z"
    assert events(log).iloc[:, -1].tolist() == ["x", "y"]


def test_jsonl_and_parquet_keys_named_like_the_row_number_are_kept(engine: Engine, tmp_path: Path) -> None:
    lines = [{"case": "A", "activity": "x", "timestamp": f"2024-01-0{i} 10:00", "__ROW": str(9 - i)} for i in (1, 2)]
    path = write(tmp_path, "x.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    assert events(load(path, ReadOptions(), engine))["src_ROW"].tolist() == ["8", "7"]
    frame = pd.DataFrame({"case": ["A", "A"], "activity": ["x", "y"], "timestamp": ["2024-01-01", "2024-01-02"],
                          "__Row": [5, 6]})
    frame.to_parquet(tmp_path / "x.parquet")
    ev = events(load(tmp_path / "x.parquet", ReadOptions(), engine))
    assert ev["src_Row"].tolist() == [5, 6] and ev["seq"].tolist() == [1, 2]


@pytest.mark.parametrize("quoted", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_crlf_and_lf_lines_in_one_file_are_all_read(engine: Engine, tmp_path: Path, quoted: bool, gz: bool) -> None:
    # two exports glued together: a Windows one, then a Linux one; a bad row in each part keeps its number
    def line(*fields: str) -> str:
        return ",".join(f'"{f}"' if quoted else f for f in fields)

    windows = [line("case", "activity", "timestamp"), line("A", "Open", "2024-03-01 10:00"), line("A", "x", "zz")]
    linux = [line("A", "Close", "2024-03-01 12:00"), line("B", "Open", "zz"), line("B", "Close", "2024-03-01 13:00")]
    body = "".join(f"{x}\r\n" for x in windows) + "".join(f"{x}\n" for x in linux)
    path = write(tmp_path, "x.csv.gz" if gz else "x.csv", gzip.compress(body.encode()) if gz else body)
    log = load(path, ReadOptions(), engine)
    s = log.summary
    assert (s.rows_read, s.accepted, s.rejected) == (5, 3, 2)
    assert log.rejected.execute()["row"].tolist() == [2, 4]
    assert events(log)["seq"].tolist() == [1, 3, 5]


def test_a_crlf_file_ending_in_a_bare_lf_blank_line(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", b"case,activity,timestamp\r\nA,Open,2024-03-01 10:00\r\nA,Close,2024-03-01 12:00\r\n\n")
    assert load(path, ReadOptions(), engine).summary.accepted == 2


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_line_endings_are_judged_across_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    from auditor.readers import text

    monkeypatch.setattr(text, "_CHUNK", chunk)
    crlf = write(tmp_path, "a.csv", b"ab\r\ncd\r\n\r\nef\r\n")
    assert not text.mixed_line_endings(crlf)
    mixed = write(tmp_path, "b.csv", b"ab\r\ncd\nef\r")
    assert text.mixed_line_endings(mixed)
    assert text.lf_line_endings(mixed, tmp_path).read_bytes() == b"ab\ncd\nef\r"


@pytest.mark.parametrize("digits", [12, 14])
@pytest.mark.parametrize("typed", [None, "int64", "float64"])
def test_dates_written_as_one_number_are_not_epoch_milliseconds(
    engine: Engine, tmp_path: Path, digits: int, typed: str | None
) -> None:
    values = ["202403080421", "202403082143", "202403090009"]
    if digits == 14:
        values = [v + "07" for v in values]
    expected = [utc(2024, 3, 8, 4, 21), utc(2024, 3, 8, 21, 43), utc(2024, 3, 9, 0, 9)]
    if digits == 14:
        expected = [t + pd.Timedelta(seconds=7) for t in expected]
    frame = pd.DataFrame({"case": ["A"] * 3, "activity": ["a", "b", "c"], "timestamp": values})
    if typed is None:
        path = tmp_path / "x.csv"
        frame.to_csv(path, index=False)
    else:
        path = tmp_path / "x.parquet"
        frame.astype({"timestamp": typed}).to_parquet(path)
    log = load(path, ReadOptions(), engine)
    assert "%Y%m%d%H%M" in log.summary.timestamps
    assert events(log)["timestamp"].tolist() == expected


def test_a_date_constant_within_each_case_is_not_the_events_time(engine: Engine, tmp_path: Path) -> None:
    """`Date` outranks `Zeitstempel` by name, but holds the case's date on each of its events: every event of
    a case was at one moment. The column that changes within cases is taken, and a note says why."""
    body = (
        "Case,Activity,Date,Zeitstempel\nA,Open,2024-03-01,2024-03-01 08:00\nA,Work,2024-03-01,2024-03-02 09:00\n"
        "A,Close,2024-03-01,2024-03-03 10:00\nB,Open,2024-03-05,2024-03-05 08:00\nB,Close,2024-03-05,2024-03-05 09:00\n"
    )
    path = write(tmp_path, "x.csv", body)
    log = load(path, ReadOptions(), engine)
    assert log.mapping is not None and log.mapping.timestamp == "Zeitstempel"
    assert any("'Date' holds one value per case in 2 of the 2" in n for n in log.summary.notes)
    assert events(log)["timestamp"].tolist()[:2] == [utc(2024, 3, 1, 8), utc(2024, 3, 2, 9)]
    assert load(path, ReadOptions(timestamp="Date"), engine).mapping.timestamp == "Date"  # type: ignore[union-attr]


@pytest.mark.parametrize("quoted", [False, True])
def test_excels_sep_line_names_the_delimiter_and_is_no_row(engine: Engine, tmp_path: Path, quoted: bool) -> None:
    note = '"Say ""hi"", then; wait"' if quoted else "wait"
    body = f"sep=;\nTicket;Activity;Timestamp;Note\nT1;Open;2024-03-01 07:12;{note}\nT1;Close;2024-03-01 09:12;x;y\n"
    body += "T2;Open;2024-03-01 10:00;z\n"
    log = load(write(tmp_path, "x.csv", body), ReadOptions(), engine)
    s = log.summary
    assert s.delimiter == ";" and s.mapping is not None and s.mapping.case == "Ticket"
    assert log.rejected.execute()["row"].tolist() == [2]
    ev = events(log)
    assert ev["seq"].tolist() == [1, 3]
    assert ev["Note"].iloc[0] == ('Say "hi", then; wait' if quoted else "wait")


def test_the_sep_line_is_skipped_by_the_rfc4180_reading_too(engine: Engine, tmp_path: Path) -> None:
    from auditor.readers import text

    path = write(tmp_path, "x.csv", 'sep=,\n"Ticket","Note"\nT1,"a, b"\n')
    assert text.sep_hint(path) == ","
    assert text.csv_header(path, ",", 1) == (["Ticket", "Note"], '"Ticket","Note"\n')
    assert text.sep_hint(write(tmp_path, "y.csv", '"sep=;";;\nTicket;Note\n')) == ";"
    assert text.sep_hint(write(tmp_path, "z.csv", "sep=;x\n")) is None


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-03-18 1:44 AM", "2024-03-18 3:55 PM"], [utc(2024, 3, 18, 1, 44), utc(2024, 3, 18, 15, 55)]),
        (["2024-03-18 1:44:05 AM", "2024-03-18 3:55:10 PM"], [utc(2024, 3, 18, 1, 44, 5), utc(2024, 3, 18, 15, 55, 10)]),
        (["Wed, 20 Mar 2024 17:12:09 +0100", "Thu, 21 Mar 2024 19:39:28 -0500"],
         [utc(2024, 3, 20, 16, 12, 9), utc(2024, 3, 22, 0, 39, 28)]),
        (["Wed, 20 Mar 2024 17:12:09 GMT", "Thu, 21 Mar 2024 19:39:28 GMT"],
         [utc(2024, 3, 20, 17, 12, 9), utc(2024, 3, 21, 19, 39, 28)]),
        (["2024-03-01 07:12:09 Z", "2024-03-02 08:12:09 Z"], [utc(2024, 3, 1, 7, 12, 9), utc(2024, 3, 2, 8, 12, 9)]),
        (["2024-03-01T07:12:09+01:00[Europe/Berlin]", "2024-03-02T08:12:09Z[UTC]"],
         [utc(2024, 3, 1, 6, 12, 9), utc(2024, 3, 2, 8, 12, 9)]),
    ],
)
def test_more_known_formats(engine: Engine, tmp_path: Path, zone: str, values: list[str], expected: list[pd.Timestamp]) -> None:
    """An ISO date with a 12-hour clock, RFC 2822, a blank before `Z`, Java's offset with the zone in brackets."""
    rows = "".join(f'1,a{i},"{v}"\n' for i, v in enumerate(values))
    path = write(tmp_path, "f.csv", "case,activity,timestamp\n" + rows)
    ev = events(load(path, ReadOptions(timezone=zone), engine))
    if values[0].endswith("M"):  # naive: wall-clock time in the zone (the naive ISO cast read 3:55 PM as 03:55)
        expected = [t.tz_localize(None).tz_localize(zone).tz_convert("UTC") for t in expected]
    assert ev["timestamp"].tolist() == expected


def test_a_header_shorter_than_every_row_says_so(engine: Engine, tmp_path: Path) -> None:
    """It said column 'Timestamp' held no timestamps at all: every row had been rejected as too many fields."""
    path = write(tmp_path, "x.csv", "Ticket,Activity,Timestamp\nT1,Open,2024-03-01 07:12:09,Anna\n")
    with pytest.raises(InputError, match=r"every row has more fields than the header names \(3: 'Ticket'"):
        load(path, ReadOptions(), engine)


def test_one_nul_byte_in_a_field_is_not_a_binary_file(engine: Engine, tmp_path: Path) -> None:
    """One pasted control character in a comment refused the whole file as 'binary'."""
    rows = "".join(f"T{i},Open,2024-03-01 10:{i:02d},note {i}\n" for i in range(50))
    body = b"Ticket,Activity,Timestamp,Comment\n" + rows.encode() + b"T9,Close,2024-03-02 10:00,bad \x00 char\n"
    log = load(write(tmp_path, "nul.csv", body), ReadOptions(), engine)
    assert log.summary.accepted == 51 and log.summary.balanced()
    with pytest.raises(InputError, match="binary"):
        load(write(tmp_path, "bin.csv", b"\x00\x01\x02PK" * 400), ReadOptions(), engine)


def test_text_among_epoch_numbers_is_unreadable_not_implausible(engine: Engine, tmp_path: Path) -> None:
    lines = ['{"case": "C0", "activity": "Open", "timestamp": "2024-03-01T07:12:09Z"}\n'] + [
        f'{{"case": "C0", "activity": "A{i}", "timestamp": {1709295129000 + i * 60000}}}\n' for i in range(5)]
    log = load(write(tmp_path, "e.jsonl", "".join(lines)), ReadOptions(), engine)
    reasons = log.rejected.execute()["reason"].tolist()  # type: ignore[union-attr]
    assert reasons == ["timestamp '2024-03-01T07:12:09Z' in column 'timestamp' does not read as epoch milliseconds; "
                       "pass --timestamp-format"]


def test_a_grouped_report_is_noted_and_filled_with_fill_case(engine: Engine, tmp_path: Path) -> None:
    """A report that prints each case's id once per group: 48 of 61 rows were 'missing case id', without a
    word about why."""
    body = "Case Number,Status,Edit Date\n" + "".join(
        f"{'T-' + str(i) if k == 0 else ''},S{k},2024-03-0{1 + i} 0{k}:00\n" for i in range(4) for k in range(4))
    log = load(write(tmp_path, "g.csv", body), ReadOptions(), engine)
    assert log.summary.rejected == 12
    assert any("12 of 16 rows have no case id" in n and "--fill-case" in n for n in log.summary.notes)
    header, rows = body.split("\n", 1)
    log = load(write(tmp_path, "g.csv", f"{header}\n,S,2024-03-01 00:00\n{rows}"), ReadOptions(fill_case=True), engine)
    ev = events(log)
    assert ev.groupby("case_id").size().to_dict() == {"T-0": 4, "T-1": 4, "T-2": 4, "T-3": 4}
    assert log.summary.rejected == 1  # the row above the first id has no case to belong to
    assert any("12 rows without a case id took the id of the row above" in n for n in log.summary.notes)

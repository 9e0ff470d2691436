"""The XES / XES.gz reader: values and types, both readers agreeing, hardening, broken input, real logs."""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from auditor.engine import Engine as LogEngine
from auditor.errors import InputError
from auditor.ingest import load
from auditor.options import ReadOptions
from auditor.readers.xes import DEFAULT_MAX_DECOMPRESSED_BYTES, Engine, FastPathDeclined, _read_xes, read_xes

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "xes"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CAP = DEFAULT_MAX_DECOMPRESSED_BYTES

realdata = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data (the public logs) is absent")


def read(path: Path, engine: Engine, cap: int = CAP) -> pa.Table:
    return _read_xes(path, max_decompressed_bytes=cap, engine=engine)


def gz(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data))
    return path


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def refused(path: Path, cap: int = CAP) -> str:
    """The message of the InputError that reading `path` raises, checked to be one line naming the file."""
    with pytest.raises(InputError) as info:
        read_xes(path, max_decompressed_bytes=cap)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- Values and types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["auto", "r4pm", "lxml"])
def test_typed_attributes(engine: Engine) -> None:
    table = read(FIXTURES / "typed.xes", engine)
    schema = table.schema
    assert schema.field("__row").type == pa.int64()
    assert schema.field("concept:name").type == pa.string()
    assert schema.field("time:timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("due").type == pa.timestamp("us", tz="UTC")
    assert schema.field("attempt").type == pa.int64()
    assert schema.field("cost").type == pa.float64()
    assert schema.field("escalated").type == pa.bool_()
    assert schema.field("case:priority").type == pa.int64()
    assert schema.field("case:vip").type == pa.bool_()
    assert table.column("attempt").to_pylist() == [1, -2, None, 2**63 - 1, None, None]
    assert table.column("cost").to_pylist() == [12.5, -0.75, None, None, None, None]
    assert table.column("escalated").to_pylist() == [False, True, None, None, None, None]
    # Entities and character references are decoded.
    assert table.column("org:resource").to_pylist() == ["Ann & Bo", "Zoë", "Ann & Bo", "Cy", None, None]
    assert table.column("note").to_pylist()[1] == '<b>urgent</b> "now"'


@pytest.mark.parametrize("engine", ["auto", "r4pm", "lxml"])
def test_offsets_become_utc_instants(engine: Engine) -> None:
    stamps = read(FIXTURES / "typed.xes", engine).column("time:timestamp").to_pylist()
    assert stamps == [
        utc(2024, 3, 1, 8, 0, 0),  # 10:00+02:00
        utc(2024, 3, 1, 9, 30, 0, 250000),  # 19:30:00.250+10:00
        None,  # the event without timestamp is kept
        utc(2024, 3, 2, 0, 0, 0),  # Z
        utc(2024, 3, 2, 4, 59, 59, 123456),  # 23:59:59.123456789-05:00, truncated to the microsecond
        utc(2024, 3, 1, 0, 0, 0),  # 2024-02-29T23:00-01:00 crosses the day
    ]
    # A date without offset is taken as UTC.
    assert read(FIXTURES / "typed.xes", engine).column("due").to_pylist()[4] == utc(2024, 3, 5, 12)


@pytest.mark.parametrize("engine", ["auto", "r4pm", "lxml"])
def test_rows_missing_keys_trace_attributes_and_no_globals(engine: Engine) -> None:
    table = read(FIXTURES / "typed.xes", engine)
    assert table.column("__row").to_pylist() == [1, 2, 3, 4, 5, 6]
    # Trace attributes become case:<key>, repeated on every event of the trace, null elsewhere.
    assert table.column("case:concept:name").to_pylist() == ["T-1", "T-1", "T-1", None, None, "T-3"]
    assert table.column("case:priority").to_pylist() == [2, 2, 2, None, None, 5]
    assert table.column("case:channel").to_pylist() == [None, None, None, "phone", "phone", None]
    # Missing keys are null: the <global> defaults never fill them; log-level attributes are no columns.
    assert table.column("concept:name").to_pylist() == [
        "Open ticket",
        "Reply",
        "Note without timestamp",
        None,
        "Close",
        "Open ticket",
    ]
    values = {v for name in table.column_names for v in table.column(name).to_pylist()}
    assert not {"GLOBAL-CASE", "GLOBAL-ACTIVITY", "GLOBAL-RESOURCE"} & values
    assert "source" not in table.column_names
    assert table.column_names == ["__row", *sorted(table.column_names[1:])]


def test_both_readers_give_the_same_table(tmp_path: Path) -> None:
    plain = FIXTURES / "typed.xes"
    packed = gz(tmp_path, "typed.xes.gz", plain.read_bytes())
    reference = read(plain, "lxml")
    for path in (plain, packed):
        engines: tuple[Engine, ...] = ("r4pm", "lxml", "auto")
        for engine in engines:
            table = read(path, engine)
            assert table.equals(reference), (path.name, engine)
            assert table.schema == reference.schema


def test_reference_only_rules() -> None:
    """Nested, list, container and id attributes, mixed types, unreadable values, duplicate keys, an event
    outside any trace: r4pm is not trusted with them, and the reference reader applies the documented rules."""
    path = FIXTURES / "extras.xes"
    with pytest.raises(FastPathDeclined):
        read(path, "r4pm")
    table = read(path, "auto")
    assert table.equals(read(path, "lxml"))
    assert table.column_names == [
        "__row",
        "case:concept:name",
        "concept:name",
        "count",
        "dup",
        "mixed",
        "team",
        "time:timestamp",
        "uid",
        "when",
    ]
    rows = table.to_pylist()
    assert [r["concept:name"] for r in rows] == ["A", "B", "Stray"]
    assert [r["case:concept:name"] for r in rows] == ["X-1", "X-1", None]  # the stray event is kept
    assert [r["uid"] for r in rows] == ["not-a-uuid", "4F6A9C3E-0000-4000-8000-000000000001", None]
    assert rows[0]["team"] == "L1"  # a nested attribute keeps its own value
    assert rows[0]["dup"] == "first"
    # Mixed types, or one value that does not read as its type: the column is the text as written.
    assert table.schema.field("mixed").type == pa.string()
    assert [r["mixed"] for r in rows] == ["abc", "7", None]
    assert [r["count"] for r in rows] == ["3", "n/a", None]
    assert [r["when"] for r in rows] == [None, "yesterday", None]


def test_namespace_prefixes() -> None:
    table = read_xes(FIXTURES / "prefixed.xes")
    assert table.to_pylist() == [
        {
            "__row": 1,
            "case:concept:name": "P-1",
            "concept:name": "A",
            "time:timestamp": utc(2024, 1, 1, 7, 0, 0),
        }
    ]


def test_without_r4pm_the_reference_reader_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = read(FIXTURES / "typed.xes", "r4pm")
    monkeypatch.setitem(sys.modules, "r4pm.df", None)  # `from r4pm.df import …` now raises ImportError
    with pytest.raises(FastPathDeclined):
        read(FIXTURES / "typed.xes", "r4pm")
    assert read_xes(FIXTURES / "typed.xes").equals(fast)


def test_r4pm_warnings_are_not_printed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = (FIXTURES / "typed.xes").read_text(encoding="utf-8")
    path = tmp_path / "bad-int.xes"
    path.write_text(text.replace('<int key="attempt" value="-2"/>', '<int key="attempt" value="n/a"/>'))
    table = read_xes(path)
    assert capfd.readouterr().err == ""
    assert table.column("attempt").to_pylist()[:2] == ["1", "n/a"]  # never a silent 0
    assert table.equals(read(path, "lxml"))


def test_other_encodings(tmp_path: Path) -> None:
    body = (
        "<log><trace><string key='concept:name' value='Caf\u00e9'/><event>"
        "<string key='concept:name' value='R\u00e9ponse'/></event></trace></log>"
    )
    latin = tmp_path / "latin1.xes"
    latin.write_bytes(("<?xml version='1.0' encoding='ISO-8859-1'?>\n" + body).encode("latin-1"))
    utf16 = tmp_path / "utf16.xes"
    utf16.write_bytes(("<?xml version='1.0' encoding='UTF-16'?>\n" + body).encode("utf-16"))
    for path in (latin, utf16):
        rows = read_xes(path).to_pylist()
        assert rows == [{"__row": 1, "case:concept:name": "Caf\u00e9", "concept:name": "R\u00e9ponse"}]


# --- Hardening ------------------------------------------------------------------------------------------


def test_billion_laughs_is_refused() -> None:
    message = refused(FIXTURES / "billion_laughs.xes")
    assert "DTD" in message


def test_external_entity_is_refused() -> None:
    message = refused(FIXTURES / "xxe.xes")
    assert "DTD" in message
    assert "root:" not in message


@pytest.mark.parametrize(
    "prolog",
    [
        "<!DOCTYPE log>",
        "<?xml version='1.0'?>\n<!-- a comment -->\n<?pi data?>\n<!doctype log SYSTEM 'http://example.invalid/x.dtd'>",
        "<!ENTITY e 'x'>",
        "<!-- <!DOCTYPE log> -->",
    ],
)
def test_any_dtd_in_the_prolog_is_refused(tmp_path: Path, prolog: str) -> None:
    path = tmp_path / "dtd.xes"
    path.write_text(prolog + "\n<log><trace><event><string key='a' value='1'/></event></trace></log>\n")
    assert "DTD" in refused(path)


def test_reference_parser_is_hardened_on_its_own() -> None:
    """Defence in depth: even past the prolog check, the parser expands no bomb and reads no local file."""
    from auditor.readers.xes import _read_reference

    with pytest.raises(InputError):
        _read_reference(FIXTURES / "billion_laughs.xes", "billion_laughs.xes")
    table = _read_reference(FIXTURES / "xxe.xes", "xxe.xes")
    values = {str(v) for name in table.column_names for v in table.column(name).to_pylist()}
    assert not any("root:" in v for v in values)


def test_gzip_bomb_is_refused_and_cleaned_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    bomb = gz(tmp_path, "bomb.xes.gz", b"<log>" + b" " * (16 << 20) + b"</log>")
    assert bomb.stat().st_size < 100_000
    message = refused(bomb, cap=1 << 20)
    assert str(1 << 20) in message
    assert os.listdir(scratch) == []
    # Under the cap, the same kind of file is read (and the temporary copy removed as well).
    small = gz(tmp_path, "small.xes.gz", (FIXTURES / "typed.xes").read_bytes())
    assert read_xes(small, max_decompressed_bytes=1 << 20).num_rows == 6
    assert os.listdir(scratch) == []


# --- Broken input ---------------------------------------------------------------------------------------


def test_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xes"
    empty.write_bytes(b"")
    assert "empty" in refused(empty)
    assert "empty" in refused(gz(tmp_path, "empty.xes.gz", b""))
    blank = tmp_path / "blank.xes"
    blank.write_text("  \n\n")
    assert "no XML element" in refused(blank)


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "absent.xes")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("image.xes", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        ("table.xes", b"case,activity,timestamp\n1,Open,2024-01-01\n", "not an XML file"),
        ("page.xes", b"<?xml version='1.0'?><html><body>hi</body></html>", "expected <log>"),
        ("ocel.xes", b"<ocel:global-log/>", "expected <log>"),
    ],
)
def test_not_an_xes_log(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert expected in refused(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress((FIXTURES / "typed.xes").read_bytes()))
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    corrupt = tmp_path / "corrupt.xes.gz"
    corrupt.write_bytes(bytes(data))
    assert "gzip" in refused(corrupt)
    mislabelled = tmp_path / "mislabelled.xes.gz"
    mislabelled.write_bytes(b"PK\x03\x04 this is a zip archive")
    assert "gzip" in refused(mislabelled)


def test_truncated_plain_and_gz(tmp_path: Path) -> None:
    data = (FIXTURES / "typed.xes").read_bytes()
    cut = data[: int(len(data) * 0.7)]
    plain = tmp_path / "cut.xes"
    plain.write_bytes(cut)
    assert "incomplete" in refused(plain)
    # Cut right after a complete trace: what is left looks tidy, but the document is still incomplete.
    after_trace = data[: data.index(b"</trace>") + len(b"</trace>")] + b"\n"
    tidy = tmp_path / "tidy-cut.xes"
    tidy.write_bytes(after_trace)
    assert "incomplete" in refused(tidy)
    # A complete gzip of a truncated document, and a truncated gzip of a complete document.
    assert "incomplete" in refused(gz(tmp_path, "cut.xes.gz", cut))
    packed = gzip.compress(data)
    short = tmp_path / "short.xes.gz"
    short.write_bytes(packed[: int(len(packed) * 0.7)])
    assert "truncated" in refused(short)


def test_not_well_formed_inside(tmp_path: Path) -> None:
    data = (FIXTURES / "typed.xes").read_text(encoding="utf-8")
    broken = tmp_path / "broken.xes"
    broken.write_text(data.replace("</event>", "</evnt>", 2).replace("</evnt>", "</event>", 1))
    assert "not well-formed" in refused(broken)


def test_a_log_without_events(tmp_path: Path) -> None:
    path = tmp_path / "no-events.xes"
    path.write_text("<log><trace><string key='concept:name' value='t'/></trace></log>")
    assert "no events" in refused(path)


def test_reserved_and_clashing_keys(tmp_path: Path) -> None:
    clash = tmp_path / "clash.xes"
    clash.write_text(
        "<log><trace><string key='x' value='T'/><event><string key='case:x' value='E'/></event></trace></log>"
    )
    assert "case:x" in refused(clash)
    row = tmp_path / "row.xes"
    row.write_text("<log><trace><event><int key='__row' value='1'/></event></trace></log>")
    assert "__row" in refused(row)


# --- Real logs ------------------------------------------------------------------------------------------

REAL = {
    "helpdesk": ("helpdesk/helpdesk.xes.gz", 21_348, 4_580),
    "bpic2013-closed": ("bpic2013-problems/bpic2013_closed_problems.xes.gz", 6_660, 1_487),
    "bpic2013-open": ("bpic2013-problems/bpic2013_open_problems.xes.gz", 2_351, 819),
    "bpic14-filtered": ("bpic2014-filtered/bpic2014_incident_activity_filtered.xes.gz", 369_485, 41_353),
}


@realdata
@pytest.mark.realdata
@pytest.mark.parametrize("name", list(REAL))
def test_real_log_counts(name: str) -> None:
    relative, events, cases = REAL[name]
    table = read_xes(DATA / relative)
    assert table.num_rows == events
    assert len(set(table.column("case:concept:name").to_pylist())) == cases
    assert table.column("__row").to_pylist() == list(range(1, events + 1))
    assert table.schema.field("time:timestamp").type == pa.timestamp("us", tz="UTC")


@realdata
@pytest.mark.realdata
@pytest.mark.parametrize("name", list(REAL))
def test_real_log_fast_path_equals_reference(name: str) -> None:
    path = DATA / REAL[name][0]
    fast = read(path, "r4pm")  # raises FastPathDeclined if r4pm could not be trusted with a real log
    assert fast.equals(read(path, "lxml"))


@realdata
@pytest.mark.realdata
def test_real_log_globals_are_not_filled() -> None:
    """BPIC 2013 declares <global> defaults ("UNKNOWN"); raw r4pm fills them in, the reader must not."""
    table = read_xes(DATA / REAL["bpic2013-closed"][0])
    roles = table.column("org:role").to_pylist()
    assert roles.count(None) == 2_078
    assert "UNKNOWN" not in roles


@realdata
@pytest.mark.realdata
def test_real_helpdesk_matches_pm4py() -> None:
    import pm4py

    path = DATA / REAL["helpdesk"][0]
    ours = read_xes(path)
    reference = pm4py.read_xes(str(path), variant="iterparse")
    assert ours.num_rows == len(reference)
    for column in ("case:concept:name", "concept:name", "org:resource", "workgroup", "customer"):
        assert ours.column(column).to_pylist() == reference[column].tolist(), column
    ours_ts = ours.column("time:timestamp").to_pylist()
    assert ours_ts == [t.to_pydatetime() for t in reference["time:timestamp"]]
    first = ours.slice(0, 1).to_pylist()[0]
    assert first["case:concept:name"] == "Case 1"
    assert first["concept:name"] == "Assign seriousness"
    assert first["time:timestamp"] == utc(2012, 10, 9, 14, 50, 17)


@realdata
@pytest.mark.realdata
def test_real_log_truncated_is_refused(tmp_path: Path) -> None:
    data = gzip.decompress((DATA / REAL["helpdesk"][0]).read_bytes())
    cut = data[: int(len(data) * 0.7)]
    plain = tmp_path / "helpdesk-cut.xes"
    plain.write_bytes(cut)
    assert "incomplete" in refused(plain)
    assert "incomplete" in refused(gz(tmp_path, "helpdesk-cut.xes.gz", cut))


def _lifecycle_xes(path: Path) -> Path:
    def event(act: str, minute: int, transition: str) -> str:
        return (
            f"<event><string key='concept:name' value='{act}'/>"
            f"<date key='time:timestamp' value='2024-03-04T08:{minute:02d}:00+00:00'/>"
            f"<string key='lifecycle:transition' value='{transition}'/></event>"
        )

    traces = []
    for case in range(4):
        body = "".join(
            event(act, 10 * i, "start") + event(act, 10 * i + 5, "complete")
            for i, act in enumerate(["Open", "Work", "Close"])
        )
        traces.append(f"<trace><string key='concept:name' value='c{case}'/>{body}</trace>")
    path.write_text("<log>" + "".join(traces) + "</log>", encoding="utf-8")
    return path


def test_start_and_complete_transitions_are_one_event_each(engine: LogEngine, tmp_path: Path) -> None:
    """A start/complete log is analysed on its complete events; the starts are rejected with their reason,
    so the row accounting still balances, and `--lifecycle all` keeps them."""
    path = _lifecycle_xes(tmp_path / "lc.xes")
    log = load(path, ReadOptions(), engine)
    s = log.summary
    assert (s.rows_read, s.accepted, s.rejected) == (24, 12, 12)
    assert s.reasons == {"lifecycle 'start' event (column 'lifecycle:transition')": 12}
    ev = log.table.order_by(["case_id", "timestamp"]).execute()
    assert ev[ev.case_id == "c0"]["activity"].tolist() == ["Open", "Work", "Close"]
    assert ev["timestamp"].dt.minute.tolist()[:3] == [5, 15, 25]
    # each complete event keeps its instance's start, so lead time can count from the first start
    assert ev["start_timestamp"].dt.minute.tolist()[:3] == [0, 10, 20]
    assert load(path, ReadOptions(lifecycle="all"), engine).summary.accepted == 24
    # the written log is in source order, as the Parquet promises, though pairing starts is a join
    seqs = log.table.execute()["seq"].tolist()
    assert seqs == sorted(seqs)


def test_lead_time_counts_from_the_first_start_and_unfinished_work_is_noted(engine: LogEngine, tmp_path: Path) -> None:
    """c1: A 10:00-11:00, B 12:00-13:00 is 3 hours, not the 2 hours between the completes. c3: A started and
    never completed: the start is rejected like every start, and the note says work was left unfinished."""
    from auditor import variants
    from auditor.audit import AuditOptions, build_context

    def event(act: str, when: str, transition: str) -> str:
        return (f'<event><string key="concept:name" value="{act}"/><date key="time:timestamp" value="{when}"/>'
                f'<string key="lifecycle:transition" value="{transition}"/></event>')

    c1 = "".join(event(a, f"2024-01-01T{h}:00:00Z", t) for a, h, t in
                 [("A", 10, "start"), ("A", 11, "complete"), ("B", 12, "start"), ("B", 13, "complete")])
    c3 = event("A", "2024-01-02T10:00:00Z", "start") + event("B", "2024-01-02T12:00:00Z", "complete")
    path = tmp_path / "lc.xes"
    path.write_text(f'<log><trace><string key="concept:name" value="c1"/>{c1}</trace>'
                    f'<trace><string key="concept:name" value="c3"/>{c3}</trace></log>', encoding="utf-8")
    log = load(path, ReadOptions(), engine)
    assert log.summary.notes == [
        "1 activity instance was started and never completed (in 1 case): work in progress or abandoned; their "
        "start events are among the rejected rows, so these activities are not in the cases' paths"
    ]
    assert {tuple(v.activities): v.median_hours for v in variants.compute(log, top=5).variants} == {
        ("A", "B"): 3.0, ("B",): 0.0
    }
    cases = build_context(log, AuditOptions()).cases.execute().set_index("case_id")
    assert cases.loc["c1", "hours"] == 3.0


def test_sub_status_lifecycles_are_not_filtered(engine: LogEngine, tmp_path: Path) -> None:
    """BPIC 2013 style: the lifecycle column holds sub-statuses, not start/complete: every row stays."""
    path = tmp_path / "sub.xes"
    events = "".join(
        f"<event><string key='concept:name' value='Accepted'/><date key='time:timestamp' "
        f"value='2024-03-04T08:0{i}:00+00:00'/><string key='lifecycle:transition' value='{v}'/></event>"
        for i, v in enumerate(["In Progress", "Wait - User", "complete"])
    )
    path.write_text(f"<log><trace><string key='concept:name' value='p1'/>{events}</trace></log>", encoding="utf-8")
    assert load(path, ReadOptions(), engine).summary.accepted == 3


def test_traces_that_share_a_name_are_noted(engine: LogEngine, tmp_path: Path) -> None:
    """Two traces named c1 are read as one case (the name is the case id); the reader says so."""
    def trace(name: str, *events: tuple[str, str]) -> str:
        body = "".join(f'<event><string key="concept:name" value="{a}"/><date key="time:timestamp" value="{t}"/></event>'
                       for a, t in events)
        return f'<trace><string key="concept:name" value="{name}"/>{body}</trace>'

    xes = tmp_path / "dup.xes"
    xes.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0">'
        + trace("c1", ("A", "2024-01-01T10:00:00Z"), ("B", "2024-01-01T11:00:00Z"))
        + trace("c2", ("A", "2024-02-01T10:00:00Z"))
        + trace("c1", ("A", "2024-03-01T10:00:00Z"), ("C", "2024-03-01T11:00:00Z"))
        + "</log>",
        encoding="utf-8",
    )
    log = load(xes, ReadOptions(), engine)
    assert log.summary.cases == 2
    assert log.summary.notes == [
        "dup.xes: 1 trace shares a name with an earlier trace: each name is read as one case, so their events "
        "are joined; give the traces unique names if they are different cases"
    ]


def _naive_log(tmp_path: Path, stamps: list[str]) -> Path:
    events = "".join(
        f'<event><string key="concept:name" value="{a}"/><date key="time:timestamp" value="{t}"/></event>'
        for a, t in zip("ABC", stamps, strict=False)
    )
    path = tmp_path / "naive.xes"
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0"><trace>'
                    f'<string key="concept:name" value="T1"/>{events}</trace></log>')
    return path


@pytest.mark.parametrize("engine", ["auto", "lxml"])
def test_dates_without_offset_are_wall_clock_times(tmp_path: Path, engine: Engine) -> None:
    """A log whose dates carry no offset was read as UTC whatever --timezone said. Such a key is naive, and
    ingest reads it in --timezone like any naive column; r4pm (which takes them as UTC) is not used for it."""
    path = _naive_log(tmp_path, ["2024-03-01T10:00:00", "2024-03-01T12:00:00.000"])
    column = read(path, engine).column("time:timestamp")
    assert column.type == pa.timestamp("us") and column.to_pylist() == [datetime(2024, 3, 1, 10), datetime(2024, 3, 1, 12)]
    with pytest.raises(FastPathDeclined):
        read(path, "r4pm")
    with LogEngine() as log_engine:
        log = load(path, ReadOptions(timezone="Europe/Berlin"), log_engine)
        stamps = log.table.order_by("seq").execute()["timestamp"].tolist()
    assert [t.to_pydatetime() for t in stamps] == [utc(2024, 3, 1, 9), utc(2024, 3, 1, 11)]  # CET is UTC+1


def test_a_key_mixing_naive_and_offset_dates_takes_the_naive_ones_as_utc(tmp_path: Path) -> None:
    path = _naive_log(tmp_path, ["2024-03-01T10:00:00", "2024-03-01T12:00:00+01:00"])
    column = read(path, "auto").column("time:timestamp")
    assert column.type == pa.timestamp("us", tz="UTC")
    assert column.to_pylist() == [utc(2024, 3, 1, 10), utc(2024, 3, 1, 11)]

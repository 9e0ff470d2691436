"""Conformance against the reference model: clean sample tickets conform, planted problems do not."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from auditor import conformance, discovery, variants
from auditor.cli import app
from auditor.engine import Engine
from auditor.errors import InputError
from auditor.ingest import EventLog, load
from auditor.options import ReadOptions

runner = CliRunner()
SAMPLE = ROOT / "logs" / "support-desk.csv"
REFERENCE = ROOT / "models" / "support-desk.bpmn"
TRUTH = json.loads((ROOT / "logs" / "support-desk.truth.json").read_text())


@pytest.fixture(scope="module")
def sample() -> Iterator[EventLog]:
    with Engine() as engine:
        yield load(SAMPLE, ReadOptions(), engine)


@pytest.fixture(scope="module")
def checked(sample: EventLog) -> tuple[conformance.Conformance, pd.DataFrame]:
    report, cases = conformance.check(sample, REFERENCE)
    per_case = cases.execute()
    # each case's trace, computed here in pandas: its activities by timestamp, then source order
    ev = sample.table.select("case_id", "activity", "timestamp", "seq").execute()
    ev = ev.sort_values(["case_id", "timestamp", "seq"])
    traces = ev.groupby("case_id")["activity"].agg(list).rename("trace").reset_index()
    return report, per_case.merge(traces, on="case_id")


def _ids(kind: str) -> set[str]:
    return set(TRUTH["kinds"][kind]["case_ids"])


def test_reference_model_reads() -> None:
    model = conformance.load_model(REFERENCE)
    assert set(model.activities) == {
        "Create Ticket", "Auto-Assign", "Take in Charge", "Update Status Field", "Fill Knowledge Form",
        "Adjust Invoice", "Escalate to Tier 2", "Escalate to Network Ops", "Run Line Test", "Investigate",
        "Request Info", "Customer Reply", "Reply to Customer", "Resolve Ticket", "Sync to Legacy CRM",
        "Legacy CRM Import", "Send Survey", "Close Ticket",
    }  # fmt: skip
    assert model.duplicate_labels() == []


def test_clean_closed_tickets_conform(checked: tuple[conformance.Conformance, pd.DataFrame]) -> None:
    _, cases = checked
    clean = cases[cases.case_id.isin(set(TRUTH["clean_case_ids"]))]
    assert len(clean) == 1875
    closed = clean[clean.trace.map(lambda t: t[-1] == "Close Ticket")]
    still_open = clean[clean.trace.map(lambda t: t[-1] != "Close Ticket")]
    assert len(still_open) == 106  # logs/README.md: clean tickets opened in the last days
    assert (closed.fitness == 1.0).all() and closed.conforms.all()
    # Open tickets have followed the model so far; they only lack its last steps.
    assert still_open.conforms_so_far.all() and not still_open.conforms.any()
    compliant = cases[cases.case_id.isin(_ids("compliant_failure"))]
    assert len(compliant) == 60 and compliant.conforms.all()  # the happy path, only slow


@pytest.mark.parametrize(
    "kind",
    ["reopened_after_close", "ping_pong", "customer_chasing", "long_wait", "rework_loop"],
)
def test_planted_problems_deviate(checked: tuple[conformance.Conformance, pd.DataFrame], kind: str) -> None:
    _, cases = checked
    planted = cases[cases.case_id.isin(_ids(kind))]
    assert len(planted) == len(_ids(kind))
    assert not planted.conforms.any() and not planted.conforms_so_far.any()
    assert (planted.fitness < 1.0).all()


def test_order_violations_deviate(checked: tuple[conformance.Conformance, pd.DataFrame]) -> None:
    _, cases = checked
    for rule in TRUTH["kinds"]["order_violation"]["rules"]:
        ids = set(rule["case_ids"])
        planted = cases[cases.case_id.isin(ids)]
        assert len(planted) == len(ids) and not planted.conforms.any(), rule["after"]


def test_report(checked: tuple[conformance.Conformance, pd.DataFrame]) -> None:
    report, cases = checked
    assert report.cases == 3000 == len(cases)
    assert report.fitness.fitting_cases == int(cases.conforms.sum())
    assert 0.9 < report.fitness.log_fitness < 1.0
    unknown = report.unknown_activities()
    assert unknown["Reopen Ticket"] == 120 and unknown["Return to Tier 1"] == 180
    by_activity = {a.activity: a for a in report.activities}
    assert (
        by_activity["Reopen Ticket"].inserted_cases == 120 and by_activity["Reopen Ticket"].skipped_cases == 0
    )
    # The survey sent before resolution: one of the two is out of place in each of the 90 tickets.
    early = set(TRUTH["kinds"]["order_violation"]["rules"][0]["case_ids"])
    ranks = set(cases[cases.case_id.isin(early)].variant_rank)
    for v in report.variants:
        if v.rank in ranks:
            assert v.aligned and set(v.inserted) & {"Send Survey", "Resolve Ticket"}
    assert report.aligned_cases == report.deviating_cases
    worst = report.deviating
    assert worst[0].lost >= worst[-1].lost
    data = report.to_json(top=3)
    assert len(data["variants_deviating_most"]) == 3
    assert data["conforming_cases"] == report.fitness.fitting_cases
    assert "alignments" in data["method"]["deviations"]


def test_variant_ranks_follow_auditor_variants(
    sample: EventLog, checked: tuple[conformance.Conformance, pd.DataFrame]
) -> None:
    _, cases = checked
    listed = variants.compute(sample).variants
    by_trace = cases.drop_duplicates("variant_rank").set_index("variant_rank").trace
    for rank, v in enumerate(listed[:40], start=1):
        assert tuple(by_trace[rank]) == v.activities


def test_deterministic(sample: EventLog) -> None:
    options = conformance.ConformOptions(align_max_variants=40)
    first, _ = conformance.check(sample, REFERENCE, options)
    second, _ = conformance.check(sample, REFERENCE, options)
    assert first.to_json(top=50) == second.to_json(top=50)


def test_no_alignment_budget(sample: EventLog, checked: tuple[conformance.Conformance, pd.DataFrame]) -> None:
    report, _ = conformance.check(sample, REFERENCE, conformance.ConformOptions(align_max_variants=0))
    assert report.aligned_variants == 0 and report.activities == []
    assert report.fitness == checked[0].fitness


def test_case_conformance_on_discovered_pnml(sample: EventLog, tmp_path: Path) -> None:
    """The library function the compliant-failure detector calls, on a model auditor discovered."""
    result = discovery.run(sample, discovery.DiscoveryOptions())
    discovery.write(result, tmp_path, ["pnml"])
    table = conformance.case_conformance(sample, tmp_path / "model.pnml")
    assert table.columns == ("case_id", "variant_rank", "fitness", "conforms", "conforms_so_far")
    df = table.execute()
    assert len(df) == 3000 and df.case_id.is_unique
    share = float(df.conforms.mean())
    assert share == pytest.approx(result.quality.fitness.fitting_share, abs=1e-9)


# ---------------------------------------------------------------- CLI


def _conform(*args: str) -> Any:
    return runner.invoke(app, ["conform", str(SAMPLE), "--model", str(REFERENCE), *args])


def test_cli_conform_json_and_cases(tmp_path: Path) -> None:
    out = tmp_path / "cases.csv"
    res = _conform("--format", "json", "--cases-out", str(out), "--top", "2")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["log"]["cases"] == 3000 and len(data["variants_deviating_most"]) == 2
    assert "fitness" in res.stderr
    cases = pd.read_csv(out)
    assert list(cases.columns) == ["case_id", "variant_rank", "fitness", "conforms", "conforms_so_far"]
    assert len(cases) == 3000 and int(cases.conforms.sum()) == data["conforming_cases"]


def test_cli_conform_table_quiet() -> None:
    res = _conform("-q", "--align-max", "20")
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert "activities skipped or inserted" in res.stdout and "variants deviating most" in res.stdout


def test_cli_conform_table_and_summary_print_the_same_fitness() -> None:
    """The table rounded the JSON's rounded fitness again: 0.966 on stdout beside 0.965 on stderr."""
    res = _conform("--align-max", "20")
    assert res.exit_code == 0, res.output
    out, err = (re.findall(r"fitness (0\.\d{3})", text) for text in (res.stdout, res.stderr))
    assert out and err and set(out) == set(err), (out, err)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("model.xml", "<x/>", "must end in .bpmn or .pnml"),
        ("missing.bpmn", None, "no such file"),
        ("broken.bpmn", "<definitions", "cannot read as BPMN"),
    ],
)
def test_cli_conform_bad_model(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    res = runner.invoke(app, ["conform", str(SAMPLE), "--model", str(path)])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and message in res.stderr


def test_cli_conform_cases_out_must_be_csv(tmp_path: Path) -> None:
    res = _conform("--cases-out", str(tmp_path / "cases.json"))
    assert res.exit_code == 2 and ".csv" in res.stderr


def _bpmn(path: Path, process: str) -> Path:
    """A BPMN 2.0 file holding one process with these elements."""
    ns = 'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><definitions {ns} id="d"><process id="p">{process}</process></definitions>',
        encoding="utf-8",
    )
    return path


def _sequence_bpmn(path: Path, names: list[str]) -> Path:
    """A BPMN process: start, the tasks with these names (XML-escaped already) one after another, end."""
    ids = ["s", *[f"t{i}" for i in range(len(names))], "e"]
    tasks = "".join(f'<task id="t{i}" name="{n}"/>' for i, n in enumerate(names))
    flows = "".join(f'<sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in enumerate(itertools.pairwise(ids)))
    return _bpmn(path, f'<startEvent id="s"/>{tasks}<endEvent id="e"/>{flows}')


def _three_cases(tmp_path: Path, activities: list[str]) -> Path:
    """A log of three cases, each doing these activities in this order."""
    log = tmp_path / "log.csv"
    rows = [(f"c{i}", act, f"2024-01-0{1 + i} 0{h}:00") for i in range(3) for h, act in enumerate(activities)]
    pd.DataFrame(rows, columns=["case", "activity", "timestamp"]).to_csv(log, index=False)
    return log


def test_a_bpmn_subprocess_is_refused_not_misread(tmp_path: Path) -> None:
    """pm4py's conversion drops a subprocess's boundaries and replay then fails every case silently."""
    path = _bpmn(
        tmp_path / "sub.bpmn",
        '<startEvent id="s"/><task id="a" name="Open"/>'
        '<subProcess id="sp"><startEvent id="s2"/><task id="b" name="Work"/><endEvent id="e2"/>'
        '<sequenceFlow id="f3" sourceRef="s2" targetRef="b"/><sequenceFlow id="f4" sourceRef="b" targetRef="e2"/>'
        '</subProcess><endEvent id="e"/>'
        '<sequenceFlow id="f1" sourceRef="s" targetRef="a"/><sequenceFlow id="f2" sourceRef="a" targetRef="sp"/>'
        '<sequenceFlow id="f5" sourceRef="sp" targetRef="e"/>',
    )
    with pytest.raises(InputError, match="subProcess; nested BPMN is not supported"):
        conformance.load_model(path)


def test_model_labels_are_read_without_outer_spaces(tmp_path: Path) -> None:
    """The log's names are trimmed on reading; a model's "Assign " must match the log's "Assign"."""
    path = _sequence_bpmn(tmp_path / "ws.bpmn", ["Open ", "  Close"])
    assert sorted(conformance.load_model(path).activities) == ["Close", "Open"]


def test_model_tasks_no_case_does_are_named_with_the_log_name_meant(tmp_path: Path) -> None:
    """A model label that differs from the log's name in letter case makes every case deviate: the summary
    and the JSON name the task and the log's activity it likely means."""
    model = _sequence_bpmn(tmp_path / "case.bpmn", ["Open", "resolve ticket", "Archive"])
    log = _three_cases(tmp_path, ["Open", "Resolve Ticket"])
    res = runner.invoke(app, ["conform", str(log), "--model", str(model), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["absent_model_activities"] == [
        {"activity": "Archive", "close_matches": []},
        {"activity": "resolve ticket", "close_matches": ["Resolve Ticket"]},
    ]
    assert "note: no case does the model's tasks 'Archive', 'resolve ticket' (the log has 'Resolve Ticket')" in res.stderr


def test_a_pnml_transition_without_a_name_is_silent(tmp_path: Path) -> None:
    """pm4py labels an unnamed PNML transition by its id ("t2"): a task no case could do. It has no activity."""
    def place(pid: str) -> str:
        return f'<place id="{pid}"/>'

    def arc(i: int, src: str, dst: str) -> str:
        return f'<arc id="a{i}" source="{src}" target="{dst}"/>'

    named = '<transition id="{0}"><name><text>{1}</text></name></transition>'
    net = (
        '<?xml version="1.0" encoding="UTF-8"?><pnml><net id="n" type="http://www.pnml.org/version-2009/grammar/pnmlcoremodel"><page id="p">'
        '<place id="p0"><initialMarking><text>1</text></initialMarking></place>' + place("p1") + place("p2")
        + '<place id="p3"><finalMarking><text>1</text></finalMarking></place>'
        + named.format("t1", "Open") + '<transition id="t2"/>' + named.format("t3", "Close")
        + arc(1, "p0", "t1") + arc(2, "t1", "p1") + arc(3, "p1", "t2") + arc(4, "t2", "p2") + arc(5, "p2", "t3")
        + arc(6, "t3", "p3") + "</page></net></pnml>"
    )
    model = tmp_path / "silent.pnml"
    model.write_text(net, encoding="utf-8")
    assert sorted(conformance.load_model(model).activities) == ["Close", "Open"]
    log = _three_cases(tmp_path, ["Open", "Close"])
    res = runner.invoke(app, ["conform", str(log), "--model", str(model), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["conforming_cases"] == 3 and data["absent_model_activities"] == []


def test_bpmn_names_keep_tabs_and_read_line_breaks_as_spaces(tmp_path: Path) -> None:
    """pm4py deleted a name's line breaks ("Resolve\\nTicket" read as "ResolveTicket"): a modeller's wrapped
    label reads as "Resolve Ticket". And a discovered model keeps a tab in a name on its way to BPMN and back."""
    model = _sequence_bpmn(tmp_path / "wrap.bpmn", ["Open", "Resolve&#10;Ticket"])
    assert sorted(conformance.load_model(model).activities) == ["Open", "Resolve Ticket"]
    log = _three_cases(tmp_path, ["Open", "Call\tback", "Close"])
    out = tmp_path / "d"
    assert runner.invoke(app, ["discover", str(log), "-o", str(out), "--formats", "bpmn", "-q"]).exit_code == 0
    assert "Call&#9;back" in (out / "model.bpmn").read_text(encoding="utf-8")
    res = runner.invoke(app, ["conform", str(log), "--model", str(out / "model.bpmn"), "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["conforming_cases"] == 3

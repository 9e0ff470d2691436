"""Discovery from engine variants: same model as pm4py on the events, quality, outputs, CLI, real logs."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, shared
from lxml import etree
from typer.testing import CliRunner

from auditor import discovery as d
from auditor import variants
from auditor.cli import app
from auditor.engine import Engine
from auditor.errors import InputError, UsageError
from auditor.ingest import EventLog, load
from auditor.options import ReadOptions

pm4py = d.pm4py
runner = CliRunner()
SAMPLE = ROOT / "logs" / "support-desk.csv"
BPMN_NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
}


@pytest.fixture(scope="module")
def sample() -> Iterator[EventLog]:
    with Engine() as engine:
        yield load(SAMPLE, ReadOptions(), engine)


@pytest.fixture(scope="module")
def small(sample: EventLog) -> tuple[list[tuple[d.Trace, int]], pd.DataFrame]:
    """The first 600 tickets of the sample: their variants (engine) and their events (a pm4py DataFrame)."""
    t = sample.table
    first = t.select("case_id").distinct().order_by("case_id").limit(600)
    sub = t.semi_join(first, "case_id")
    counts = [(v.activities, v.cases) for v in variants.compute(_log(sample, sub)).variants]
    df = (
        sub.select("case_id", "activity", "timestamp", "seq")
        .order_by(["case_id", "timestamp", "seq"])
        .execute()
    )
    df = pm4py.format_dataframe(df, case_id="case_id", activity_key="activity", timestamp_key="timestamp")
    return counts, df


def _log(base: EventLog, table: object) -> EventLog:
    return EventLog(engine=base.engine, table=table, summary=base.summary, name=base.name)  # type: ignore[arg-type]


def _arcs(net: object) -> list[tuple[str, str]]:
    """A net's structure by labels (hidden transitions and places anonymous), for comparing two nets."""

    def name(node: object) -> str:
        label = getattr(node, "label", "place")
        return "tau" if label is None else str(label)

    return sorted((name(a.source), name(a.target)) for a in net.arcs)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- variants in, the same model out


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_inductive_from_variants_equals_pm4py_on_events(small: tuple, noise: float) -> None:
    counts, df = small
    model = d.discover(counts, d.DiscoveryOptions(noise=noise))
    tree = pm4py.discover_process_tree_inductive(df, noise_threshold=noise)
    assert str(model.tree) == str(tree)
    net, _, _ = pm4py.discover_petri_net_inductive(df, noise_threshold=noise)
    assert _arcs(model.net) == _arcs(net)


def test_heuristics_from_variant_counts_equals_pm4py_on_events(small: tuple) -> None:
    counts, df = small
    model = d.discover(counts, d.DiscoveryOptions(miner=d.Miner.heuristics))
    net, _, _ = pm4py.discover_petri_net_heuristics(df)
    assert _arcs(model.net) == _arcs(net)
    assert len(model.net.places) == len(net.places)


@pytest.mark.parametrize("miner", [d.Miner.inductive, d.Miner.heuristics])
def test_weighted_quality_equals_pm4py_on_events(small: tuple, miner: d.Miner) -> None:
    counts, df = small
    model = d.discover(counts, d.DiscoveryOptions(miner=miner))
    q, replays = d.quality(model, counts)
    net, im, fm = model.net, model.initial_marking, model.final_marking
    fit = pm4py.fitness_token_based_replay(df, net, im, fm)
    assert q.fitness.log_fitness == pytest.approx(fit["log_fitness"], abs=1e-12)
    assert q.fitness.average_trace_fitness == pytest.approx(fit["average_trace_fitness"], abs=1e-12)
    assert 100 * q.fitness.fitting_share == pytest.approx(fit["perc_fit_traces"], abs=1e-9)
    assert q.precision == pytest.approx(pm4py.precision_token_based_replay(df, net, im, fm), abs=1e-12)
    assert q.cases == 600 and sum(r.cases for r in replays) == 600


def test_unknown_activities_cost_fitness(small: tuple) -> None:
    counts, _ = small
    # Discovered from the five most frequent variants only: rarer activities are not in the model.
    model = d.discover(counts[:5], d.DiscoveryOptions())
    q, replays = d.quality(model, counts)
    odd = [r for r in replays if r.unknown]
    assert odd and all(not r.fit and not r.fit_so_far for r in odd)
    assert q.fitness.log_fitness < 1.0


def test_variant_counts_match_auditor_variants(sample: EventLog) -> None:
    """The integer-coded variant query gives the variants, counts and order of auditor.variants."""
    fast = d.variant_counts(sample, 10_000)
    listed = variants.compute(sample)
    assert fast.counts == [(v.activities, v.cases) for v in listed.variants]
    assert (fast.total_cases, fast.total_variants) == (listed.total_cases, listed.total_variants)
    assert sum(fast.activity_events.values()) == sample.summary.accepted
    assert len(d.variant_counts(sample, 7).counts) == 7


def test_select_covers_the_requested_share() -> None:
    counts = [(("a",), 50), (("b",), 30), (("c",), 15), (("d",), 5)]
    assert [t for t, _ in d.select(counts, 100, 1.0, 10)] == [("a",), ("b",), ("c",), ("d",)]
    assert [t for t, _ in d.select(counts, 100, 0.8, 10)] == [("a",), ("b",)]
    assert [t for t, _ in d.select(counts, 100, 0.81, 10)] == [("a",), ("b",), ("c",)]
    assert [t for t, _ in d.select(counts, 100, 1.0, 2)] == [("a",), ("b",)]


# ---------------------------------------------------------------- the job on a log, outputs, model.json


@pytest.fixture(scope="module")
def written(sample: EventLog, tmp_path_factory: pytest.TempPathFactory) -> tuple[d.Discovery, Path]:
    out = tmp_path_factory.mktemp("model")
    result = d.run(sample, d.DiscoveryOptions())
    d.write(result, out, d.FORMATS)
    return result, out


def test_outputs_have_stable_names(written: tuple[d.Discovery, Path]) -> None:
    _, out = written
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.svg", "model.png", "model.pdf", "model.dot", "model.bpmn", "model.pnml", "model.json"]
    )
    assert (out / "model.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "model.pdf").read_bytes()[:4] == b"%PDF"
    assert (out / "model.dot").read_text().lstrip().startswith("digraph")


def test_bpmn_reads_back_with_layout(written: tuple[d.Discovery, Path]) -> None:
    result, out = written
    bpmn = pm4py.read_bpmn(str(out / "model.bpmn"))
    tasks = sorted(n.get_name() for n in bpmn.get_nodes() if type(n).__name__ == "Task")
    assert tasks == result.model.activities
    # Diagram interchange: a shape for every flow node and an edge for every sequence flow (what bpmn.io and
    # Camunda Modeler need to draw the model).
    doc = etree.parse(str(out / "model.bpmn"))
    process = doc.find("bpmn:process", BPMN_NS)
    assert process is not None
    nodes = {e.get("id") for e in process if etree.QName(e).localname != "sequenceFlow"}
    flows = {e.get("id") for e in process if etree.QName(e).localname == "sequenceFlow"}
    shapes = {s.get("bpmnElement") for s in doc.iterfind(".//bpmndi:BPMNShape", BPMN_NS)}
    edges = {s.get("bpmnElement") for s in doc.iterfind(".//bpmndi:BPMNEdge", BPMN_NS)}
    plane = doc.find(".//bpmndi:BPMNPlane", BPMN_NS)
    assert plane is not None and plane.get("bpmnElement") == process.get("id")
    assert nodes <= shapes and flows <= edges


def test_pnml_reads_back(written: tuple[d.Discovery, Path], sample: EventLog) -> None:
    result, out = written
    net, im, fm = pm4py.read_pnml(str(out / "model.pnml"))
    back = d.Model(net, im, fm)
    assert back.activities == result.model.activities
    assert _arcs(net) == _arcs(result.model.net)


def _svg_texts(path: Path) -> set[str]:
    return {t.text for t in etree.parse(str(path)).iter("{http://www.w3.org/2000/svg}text") if t.text}


def test_svg_names_every_frequent_activity(written: tuple[d.Discovery, Path]) -> None:
    result, out = written
    assert set(result.model.activities) <= _svg_texts(out / "model.svg")


def test_model_json(written: tuple[d.Discovery, Path]) -> None:
    result, out = written
    data = json.loads((out / "model.json").read_text())
    assert data["miner"] == "inductive" and data["parameters"] == {"variant": "IM", "noise_threshold": 0.0}
    assert data["log"] == {"name": "support-desk.csv", "cases": 3000, "variants": result.input.total_variants}
    assert data["input"]["complete"] is True and data["input"]["case_share"] == 1.0
    assert data["input"]["variants"] == data["log"]["variants"]
    q = data["quality"]
    assert 0.99 < q["fitness"] <= 1.0 and 0 < q["precision"] < 1
    assert "token-based replay" in q["fitness_method"] and "ETConformance" in q["precision_method"]
    assert q["evaluated_on"]["cases"] == 3000
    assert data["files"]["bpmn"] == "model.bpmn" and data["files"]["pnml"] == "model.pnml"
    assert len(data["model"]["activities"]) == 22 and data["activities_outside_model"] == []
    assert data["versions"]["pm4py"]


def test_capped_input_is_stated(sample: EventLog) -> None:
    result = d.run(sample, d.DiscoveryOptions(max_variants=10))
    assert result.input.variants == 10 and not result.input.complete
    assert 0 < result.input.case_share < 1
    assert any("discovered from" in line and "--max-variants" in line for line in result.summary())
    data = result.to_json()
    assert data["input"]["complete"] is False and "at most 10" in data["input"]["rule"]
    assert {a["activity"] for a in data["activities_outside_model"]} >= {"Reopen Ticket"}


def test_option_errors() -> None:
    with pytest.raises(UsageError, match="--noise"):
        d.DiscoveryOptions(noise=1.5)
    with pytest.raises(UsageError, match="inductive"):
        d.DiscoveryOptions(miner=d.Miner.heuristics, noise=0.2)
    with pytest.raises(UsageError, match="--coverage"):
        d.DiscoveryOptions(coverage=0)
    with pytest.raises(UsageError, match="unknown format 'gif'"):
        d.parse_formats("svg,gif")
    assert d.parse_formats(" SVG, bpmn,svg") == ("svg", "bpmn")


def test_model_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"must end in \.bpmn or \.pnml"):
        d.read_model(tmp_path / "model.xml")
    with pytest.raises(InputError, match="no such file"):
        d.read_model(tmp_path / "missing.bpmn")
    bad = tmp_path / "bad.bpmn"
    bad.write_text("<not closed")
    with pytest.raises(InputError, match="cannot read as BPMN"):
        d.read_model(bad)
    bad = tmp_path / "bad.pnml"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(InputError, match="cannot read as PNML"):
        d.read_model(bad)


def test_import_prints_nothing() -> None:
    """pm4py's greeting must not reach stdout (JSON goes there) nor stderr (--quiet)."""
    for code in ("import auditor.discovery", "from auditor import discovery; import pm4py"):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "" and proc.stderr == ""


# ---------------------------------------------------------------- CLI


def test_cli_discover_json(tmp_path: Path) -> None:
    out = tmp_path / "m"
    res = runner.invoke(
        app, ["discover", str(SAMPLE), "-o", str(out), "--format", "json", "--miner", "heuristics"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["miner"] == "heuristics" and data == json.loads((out / "model.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["model.bpmn", "model.json", "model.pnml", "model.svg"]
    assert "fitness" in res.stderr and "precision" in res.stderr
    # the heuristics net has no process tree: its BPMN is a conversion that can replay differently
    assert "note: the figures are the Petri net's (model.pnml); model.bpmn is pm4py's conversion" in res.stderr


def test_cli_discover_quiet_and_formats(tmp_path: Path) -> None:
    out = tmp_path / "m"
    res = runner.invoke(
        app, ["discover", str(SAMPLE), "-o", str(out), "--formats", "dot,pnml", "--noise", "0.2", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and res.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["model.dot", "model.json", "model.pnml"]
    assert json.loads((out / "model.json").read_text())["parameters"]["variant"] == "IMf"


@pytest.mark.parametrize(
    "args",
    [
        ["--miner", "alpha"],
        ["--formats", "svg,gif"],
        ["--noise", "2"],
        ["--miner", "heuristics", "--noise", "0.1"],
        ["--dependency", "0.5"],  # the inductive miner has no dependency threshold: not ignored in silence
    ],
)
def test_cli_discover_usage_errors(tmp_path: Path, args: list[str]) -> None:
    res = runner.invoke(app, ["discover", str(SAMPLE), "-o", str(tmp_path / "m"), *args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_cli_discover_output_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("x")
    res = runner.invoke(app, ["discover", str(SAMPLE), "-o", str(f)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "not a directory" in res.stderr


def test_cli_variants() -> None:
    res = runner.invoke(app, ["variants", str(SAMPLE), "--top", "3", "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["log"]["cases"] == 3000 and data["shown"] == 3
    first = data["variants"][0]
    assert first["rank"] == 1 and first["activities"][0] == "Create Ticket"
    assert first["cases"] >= data["variants"][1]["cases"] and 0 < first["case_share"] < 1
    assert first["median_hours"] > 0
    # the cumulative share, as the table shows it, ends at the share of cases shown
    counts = [v["cases"] for v in data["variants"]]
    assert [v["cumulative_case_share"] for v in data["variants"]] == [
        round(sum(counts[: i + 1]) / 3000, 6) for i in range(3)
    ]
    assert data["variants"][-1]["cumulative_case_share"] == data["shown_case_share"]
    res = runner.invoke(app, ["variants", str(SAMPLE), "--top", "2"])
    assert res.exit_code == 0 and "median throughput" in res.stdout and "Create Ticket →" in res.stdout


def test_cli_discover_pictures_of_a_hostile_file_name(tmp_path: Path) -> None:
    """The picture's title is the file name: &, <, quotes and non-ASCII must not break dot."""
    source = tmp_path / 'Billing & <Payments> "Q1" ünï.csv'
    source.write_text(
        "case,activity,time\n"
        + "".join(f"c{i},Open,2024-01-0{1 + i % 3} 08:00\nc{i},Close,2024-01-0{1 + i % 3} 09:00\n" for i in range(6)),
        encoding="utf-8",
    )
    out = tmp_path / "m"
    res = runner.invoke(app, ["discover", str(source), "-o", str(out), "--formats", "svg,dot"])
    assert res.exit_code == 0, res.output
    svg = (out / "model.svg").read_text(encoding="utf-8")
    assert "Billing &amp; &lt;Payments&gt;" in svg and "ünï" in svg


def test_cli_discover_activity_names_that_graphviz_would_interpret(tmp_path: Path) -> None:
    """"<b>x</b>" was read by dot as an HTML label (exit 3, even for --formats bpmn, whose layout runs dot);
    "\\N" was drawn as a node id. The pictures show the names literally, and the BPMN keeps them exactly."""
    names = ["<b>x</b>", "back\\slash \\N \\G \\l", "B & C"]
    source = tmp_path / "names.csv"
    rows = "".join(f'c{i},"{n}",2024-01-0{1 + i % 3} 0{8 + k}:00\n' for i in range(4) for k, n in enumerate(names))
    source.write_text("case,activity,time\n" + rows, encoding="utf-8")
    out = tmp_path / "m"
    res = runner.invoke(app, ["discover", str(source), "-o", str(out), "--formats", "svg,bpmn"])
    assert res.exit_code == 0, res.output
    svg = (out / "model.svg").read_text(encoding="utf-8")
    for name in names:
        assert f">{html.escape(name, quote=False)}</text>" in svg
    res = runner.invoke(app, ["conform", str(source), "--model", str(out / "model.bpmn"), "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["fitness"] == 1.0


def test_the_same_model_gives_the_same_pnml_file(tmp_path: Path) -> None:
    """pm4py named the net after the clock, gave transitions random uuids and arcs memory addresses, in a
    varying order: a model under version control changed on every run. The file still reads back."""
    files = []
    for run in ("a", "b"):
        res = runner.invoke(app, ["discover", str(SAMPLE), "-o", str(tmp_path / run), "--formats", "pnml", "-q"])
        assert res.exit_code == 0, res.output
        files.append((tmp_path / run / "model.pnml").read_bytes())
    assert files[0] == files[1]
    res = runner.invoke(app, ["conform", str(SAMPLE), "--model", str(tmp_path / "a" / "model.pnml"), "--format", "json", "-q"])
    assert res.exit_code == 0 and json.loads(res.stdout)["fitness"] > 0.99


# ---------------------------------------------------------------- real logs


@pytest.mark.realdata
@pytest.mark.parametrize(
    "relative",
    ["bpic2014-incident-activity/incident_activity_subset.csv.gz", "helpdesk/helpdesk.xes.gz"],
)
def test_real_logs_discover(tmp_path: Path, relative: str) -> None:
    if relative.endswith(".xes.gz") and not (ROOT / "auditor" / "readers" / "xes.py").exists():
        pytest.skip("no XES reader")
    source = shared(relative)
    out = tmp_path / "m"
    res = runner.invoke(app, ["discover", str(source), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "fitness" in res.stderr
    net, _, _ = pm4py.read_pnml(str(out / "model.pnml"))
    bpmn = pm4py.read_bpmn(str(out / "model.bpmn"))
    assert net.transitions and bpmn.get_nodes()
    data = json.loads((out / "model.json").read_text())
    assert 0.9 <= data["quality"]["fitness"] <= 1.0 and 0 < data["quality"]["precision"] <= 1.0
    assert set(data["model"]["activities"]) <= _svg_texts(out / "model.svg")


def test_coded_variants_equal_an_independent_pandas_computation(sample: EventLog) -> None:
    """variants.compute (integer codes, packed order) against pandas on the events: same variants, counts,
    order (most cases, then shorter, then by sequence) and median hours."""
    listed = variants.compute(sample)
    ev = sample.table.select("case_id", "activity", "timestamp", "seq").execute()
    ev = ev.sort_values(["case_id", "timestamp", "seq"])
    per_case = ev.groupby("case_id").agg(
        trace=("activity", tuple), start=("timestamp", "min"), end=("timestamp", "max")
    )
    per_case["hours"] = (per_case["end"] - per_case["start"]).dt.total_seconds() / 3600.0
    expected = per_case.groupby("trace").agg(cases=("hours", "size"), median_hours=("hours", "median")).reset_index()
    expected["length"] = expected["trace"].map(len)
    expected = expected.sort_values(["cases", "length", "trace"], ascending=[False, True, True])
    assert [v.activities for v in listed.variants] == list(expected["trace"])
    assert [v.cases for v in listed.variants] == expected["cases"].tolist()
    assert [v.median_hours for v in listed.variants] == pytest.approx(expected["median_hours"].tolist(), abs=1e-9)
    assert listed.total_cases == len(per_case) and listed.total_variants == len(expected)

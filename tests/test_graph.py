"""The process map: golden DOT, determinism, escaping rendered by `dot`, the findings overlay, the filters,
the data exports, and `auditor graph` end to end."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT, shared
from lxml import etree
from test_dfg import T0, TINY, make_log
from typer.testing import CliRunner

from auditor import processmap
from auditor.cli import app
from auditor.engine import Engine
from auditor.errors import InputError, UsageError
from auditor.ingest import EventLog, load
from auditor.options import ReadOptions
from auditor.processmap import MapOptions, build, run_dot
from auditor.render import MapView, node_id
from auditor.render import dot as dotmod
from auditor.render.graphdata import edges_csv, nodes_csv, to_data

GOLDEN = Path(__file__).resolve().parent / "golden"
SAMPLE = ROOT / "logs" / "support-desk.csv"
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed (make dot)")
runner = CliRunner()
ALL = MapOptions(min_share=0)

FINDINGS: list[dict[str, Any]] = [
    {
        "kind": "tool_driven_step",
        "title": "A is done by a bot",
        "activities": ["A"],
        "cases": 5,
        "case_share": 1.0,
        "case_ids": ["c1", "c2", "c3", "c4", "c5"],
        "severity": "low",
        "evidence": {},
    },
    {
        "kind": "legacy_step",
        "title": "nothing reads B",
        "activities": ["B"],
        "cases": 3,
        "case_share": 0.6,
        "case_ids": ["c1", "c3", "c5"],
        "severity": "medium",
        "evidence": {},
    },
    {
        "kind": "long_wait",
        "title": "customers wait between B and C",
        "activities": ["B", "C"],
        "cases": 2,
        "case_share": 0.4,
        "case_ids": ["c1", "c3"],
        "severity": "high",
        "evidence": {"edges": [{"source": "B", "target": "C", "cases": 2}]},
    },
    # C → A is no directly-follows path of the log: drawn anyway, as the finding names it.
    {
        "kind": "ping_pong",
        "title": "C hands back to A",
        "activities": ["C", "A"],
        "cases": 1,
        "case_share": 0.2,
        "case_ids": ["c2"],
        "severity": "high",
        "evidence": {
            "level": "team",
            "teams": ["x", "y"],
            "edges": [{"source": "C", "target": "A", "cases": 1}],
        },
    },
]


def check_golden(name: str, text: str) -> None:
    """Compares with tests/golden/NAME; AUDITOR_UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    path = GOLDEN / name
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes().decode("utf-8") == text, f"{name} differs; AUDITOR_UPDATE_GOLDEN=1 rewrites it"


def node_lines(dot_text: str, activity: str) -> str:
    return next(line for line in dot_text.splitlines() if line.strip().startswith(node_id(activity) + " ["))


def edge_line(dot_text: str, source: str, target: str) -> str:
    head = f"{node_id(source)} -> {node_id(target)} ["
    return next(line for line in dot_text.splitlines() if line.strip().startswith(head))


def svg_nodes(svg: bytes) -> dict[str, tuple[list[str], str]]:
    """node id → (the text lines drawn in the node, its tooltip)."""
    root = etree.fromstring(svg)
    out: dict[str, tuple[list[str], str]] = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        title = g.find(f"{SVG}title")
        assert title is not None
        texts = ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
        link = next(g.iter(f"{SVG}a"), None)
        out[str(title.text)] = (texts, str(link.get(f"{XLINK}title")) if link is not None else "")
    return out


@pytest.fixture
def tiny(engine: Engine) -> EventLog:
    return make_log(engine, TINY)


# --------------------------------------------------------------------------------------------- golden, ids


def test_golden_dot(tiny: EventLog) -> None:
    check_golden("tiny.dot", dotmod.to_dot(build(tiny, [], ALL)))


def test_golden_dot_with_findings(tiny: EventLog) -> None:
    check_golden("tiny-findings.dot", dotmod.to_dot(build(tiny, FINDINGS, ALL)))


def test_node_ids_are_stable_hashes() -> None:
    # The same name has the same id in every run and every log (SHA-256, not Python's salted hash()).
    assert node_id("Resolve Ticket") == "a" + hashlib.sha256(b"Resolve Ticket").hexdigest()[:10]
    assert node_id("Resolve Ticket") == "a2548105123"  # pinned: ids must not change between releases
    assert len({node_id(n) for n in ("A", "B", "a", "A ", "Ä")}) == 5
    assert re.fullmatch(r"a[0-9a-f]{10}", node_id('x"\n<b>'))


def test_same_log_same_bytes() -> None:
    """Two engines, different thread counts: byte-identical DOT and JSON."""
    texts = []
    for threads in (1, 2):
        with Engine(threads=threads) as engine:
            view = build(load(SAMPLE, ReadOptions(), engine), FINDINGS)
            texts.append((dotmod.to_dot(view), json.dumps(to_data(view))))
    assert texts[0] == texts[1]


# --------------------------------------------------------------------------------------------- escaping

HOSTILE = [
    'He said "hi"',
    "back\\slash \\N \\n \\\\",
    "<b>bold</b> &amp;",
    "two\nlines",
    "{brace} | pipe [x]",
    "Ünïcødé ✓ 日本 — ok",
    "'single' ]]> <!-- -->",
    "trailing\\",
    "-- -> digraph }",
]


@needs_dot
def test_hostile_names_render_literally(engine: Engine, tmp_path: Path) -> None:
    rows = [(f"c{i}", name, float(j)) for i in range(2) for j, name in enumerate(HOSTILE)]
    view = build(make_log(engine, rows, name='log "x" <y>'), [], ALL)
    text = dotmod.to_dot(view)
    svg = run_dot(text, "svg")
    nodes = svg_nodes(svg)
    for name in HOSTILE:
        lines, tooltip = nodes[node_id(name)]
        # The name's lines, then the counts line.
        assert "\n".join(lines[:-1]) == name, (name, lines)
        assert lines[-1] == "2 cases"
        assert tooltip.startswith(name + "\n"), (name, tooltip)
    assert b"log &quot;x&quot; &lt;y&gt;" in svg or b'log "x" &lt;y&gt;' in svg
    # Other renderers read the same DOT without complaint.
    for fmt in ("png", "pdf"):
        assert len(run_dot(text, fmt)) > 1000


def test_html_text_escapes() -> None:
    assert dotmod.html_text("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;"
    assert dotmod.html_text("x\\y") == "x\\\\y"  # graphviz reads a pair as one
    assert dotmod.html_text("a\r\nb\rc") == "a<BR/>b<BR/>c"
    assert dotmod.html_text("tab\there\x00") == "tab&#9225;here&#9216;"
    assert dotmod.html_text("x" * 30, limit=10) == "x" * 9 + "…"
    assert (
        dotmod.html_text("Escalate to Network Operations Centre", wrap=24)
        == "Escalate to Network<BR/>Operations Centre"
    )
    assert dotmod.quoted('q"b\\\n&') == '"q\\"b\\\\\\\\\\n&amp;"'


@needs_dot
def test_control_characters_do_not_break_dot(engine: Engine) -> None:
    names = ["bell\x07", "tab\tx", "nul\x00x", "del\x7f", "\u2028sep", "\U0001f600 emoji"]
    rows = [("c", n, float(i)) for i, n in enumerate(names)]
    svg = run_dot(dotmod.to_dot(build(make_log(engine, rows), [], ALL)), "svg")
    nodes = svg_nodes(svg)
    assert nodes[node_id("tab\tx")][0][0] == "tab␉x"
    assert nodes[node_id("\U0001f600 emoji")][0][0] == "\U0001f600 emoji"


# --------------------------------------------------------------------------------------------- overlay


def test_overlay_styles(tiny: EventLog) -> None:
    text = dotmod.to_dot(build(tiny, FINDINGS, ALL))
    a, b, c = node_lines(text, "A"), node_lines(text, "B"), node_lines(text, "C")
    # tool-driven: blue with a gear
    assert f'fillcolor="{dotmod.TOOL_FILL}"' in a and "⚙ A" in a
    # legacy: grey and dashed
    assert f'fillcolor="{dotmod.LEGACY_FILL}"' in b and "dashed" in b and f'color="{dotmod.LEGACY_LINE}"' in b
    assert "⚙" not in b and "dashed" not in c and "fillcolor" not in c
    # stuck: thick red, labelled with the cases
    bc = edge_line(text, "B", "C")
    assert f'color="{dotmod.STUCK}"' in bc and "2 stuck · long wait" in bc
    assert float(re.search(r"penwidth=([\d.]+)", bc).group(1)) >= dotmod.STUCK_WIDTH  # type: ignore[union-attr]
    ca = edge_line(text, "C", "A")  # not a directly-follows path: drawn because the finding names it
    assert f'color="{dotmod.STUCK}"' in ca and "1 stuck · ping pong" in ca
    ab = edge_line(text, "A", "B")
    assert dotmod.STUCK not in ab and "stuck" not in ab
    # the legend explains each style that appears
    for words in ("grey dashed box: legacy step", "blue box with ⚙: tool-driven step", "thick red path"):
        assert words in text


def test_step_findings_style_steps_not_paths(tiny: EventLog) -> None:
    """A tool-driven step's evidence.edges (its trigger) is no place where customers get stuck."""
    finding = {
        **FINDINGS[0],
        "evidence": {"trigger": "B", "edges": [{"source": "B", "target": "A", "cases": 1}]},
    }
    text = dotmod.to_dot(build(tiny, [finding], ALL))
    assert dotmod.STUCK not in edge_line(text, "B", "A") and "thick red" not in text


def test_stuck_paths_summed_up_and_capped(tiny: EventLog, monkeypatch: pytest.MonkeyPatch) -> None:
    def finding(kind: str, severity: str, edges: list[tuple[str, str, int]]) -> dict[str, Any]:
        return {
            "kind": kind,
            "title": f"{kind} {severity}",
            "activities": [],
            "cases": 9,
            "severity": severity,
            "evidence": {"edges": [{"source": a, "target": b, "cases": n} for a, b, n in edges]},
        }

    findings = [
        finding("ping_pong", "low", [("A", "B", 2)]),
        finding("ping_pong", "low", [("A", "B", 1)]),
        finding("rework_loop", "low", [("A", "B", 1), ("B", "B", 1)]),
        finding("long_wait", "high", [("A", "C", 1)]),
    ]
    text = dotmod.to_dot(build(tiny, findings, ALL))
    # one line per kind with the largest count (findings may share cases) and how many findings
    assert "⚠ 2 stuck · ping pong (2 findings)<BR/>⚠ 1 stuck · rework loop" in edge_line(text, "A", "B")
    # without --min-share 0 at most MAX_STUCK_PATHS are red: the most severe first, then the most cases
    monkeypatch.setattr(processmap, "MAX_STUCK_PATHS", 2)
    view = build(tiny, findings, MapOptions())
    red = {(e.source, e.target) for e in view.edges if e.stuck}
    assert red == {("A", "C"), ("A", "B")}
    assert any(n.startswith("1 more stuck path not drawn (at most 1 case each") for n in view.notes)


def test_legend_lists_only_styles_that_appear(tiny: EventLog) -> None:
    plain = dotmod.to_dot(build(tiny, [], ALL))
    assert "legacy step" not in plain and "tool-driven" not in plain and "thick red" not in plain
    assert "median wait" in plain and "path width" in plain and "start" in plain
    only_legacy = dotmod.to_dot(build(tiny, FINDINGS[1:2], ALL))
    assert (
        "legacy step" in only_legacy and "tool-driven" not in only_legacy and "thick red" not in only_legacy
    )


def test_findings_outside_the_view_are_noted(tiny: EventLog) -> None:
    findings = [
        {"kind": "legacy_step", "title": "x", "activities": ["Nowhere"], "cases": 1},
        {
            "kind": "rework_loop",
            "title": "y",
            "activities": ["A"],
            "cases": 1,
            "evidence": {"edges": [{"source": "A", "target": "Elsewhere", "cases": 4}]},
        },
    ]
    view = build(tiny, findings, ALL)
    note = next(n for n in view.notes if n.startswith("findings about activities not in this view"))
    assert "Nowhere (legacy_step)" in note and "A → Elsewhere" in note
    assert "Nowhere" not in {n.activity for n in view.nodes}


@pytest.mark.parametrize(
    "bad",
    [
        [{"title": "no kind"}],
        [{"kind": "legacy_step", "activities": "A"}],
        [{"kind": "long_wait", "evidence": {"edges": [{"source": "A", "target": "B"}]}}],
        [{"kind": "long_wait", "evidence": {"edges": {"source": "A"}}}],
    ],
)
def test_malformed_findings_are_input_errors(tiny: EventLog, bad: list[dict[str, Any]]) -> None:
    with pytest.raises(InputError):
        build(tiny, bad, ALL)


def test_load_findings(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"log": {}, "findings": FINDINGS}), encoding="utf-8")
    assert processmap.load_findings(path) == FINDINGS
    path.write_text(json.dumps(FINDINGS), encoding="utf-8")
    assert processmap.load_findings(path) == FINDINGS
    for content in ("{not json", '{"findings": 3}', '[{"no": "kind"}]'):
        path.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match="--findings"):
            processmap.load_findings(path)
    with pytest.raises(InputError, match="no such file"):
        processmap.load_findings(tmp_path / "missing.json")


# --------------------------------------------------------------------------------------------- filters

# 10 cases: A B C ×5, A D C ×3, A E E C ×2 (E: 2 cases, 4 events = 12.5% of the 32 events).
FILTER_ROWS = (
    [(f"p{i}", a, float(j)) for i in range(5) for j, a in enumerate("ABC")]
    + [(f"q{i}", a, float(j)) for i in range(3) for j, a in enumerate("ADC")]
    + [(f"r{i}", a, float(j)) for i in range(2) for j, a in enumerate("AEEC")]
)


def test_min_share_hides_and_says_so(engine: Engine) -> None:
    log = make_log(engine, FILTER_ROWS)
    view = build(log, [], MapOptions(min_share=0.25))
    assert {n.activity for n in view.nodes} == {"A", "B", "C", "D"}  # E is in 20% of the cases
    assert all("E" not in (e.source, e.target) for e in view.edges)
    note = view.notes[0]
    assert note.startswith("hidden below 25% of cases (fewer than 3): 1 activity (4 events, 12.5%)")
    assert "E (12.5% of events)" in note  # above 1% of events: named, never silent
    assert "3 paths (6 of 22 transitions, 27.3%)" in note  # A → E, E → E, E → C
    # exactly at the share is shown
    at = build(log, [], MapOptions(min_share=0.2))
    assert "E" in {n.activity for n in at.nodes}
    # the title carries the note
    assert "hidden below 25% of cases" in dotmod.to_dot(view)


def test_min_share_zero_shows_everything(engine: Engine) -> None:
    log = make_log(engine, FILTER_ROWS)
    view = build(log, [], ALL)
    assert len(view.nodes) == 5 and len(view.edges) == 7 and view.notes == ()


def test_findings_survive_min_share(engine: Engine) -> None:
    log = make_log(engine, FILTER_ROWS)
    findings = [
        {
            "kind": "long_wait",
            "title": "E repeats",
            "activities": ["E"],
            "cases": 2,
            "evidence": {"edges": [{"source": "E", "target": "E", "cases": 2}]},
        }
    ]
    view = build(log, findings, MapOptions(min_share=0.5))
    assert "E" in {n.activity for n in view.nodes}
    assert any(e.source == e.target == "E" and e.stuck_cases == 2 for e in view.edges)
    assert any(
        n.startswith("shown although below 50% of cases, as findings name them: E") for n in view.notes
    )


def test_every_shown_activity_stays_connected() -> None:
    """Thin paths are hidden, but each shown activity keeps its busiest way in and out."""
    with Engine() as engine:
        log = load(SAMPLE, ReadOptions(), engine)
        view = build(log, [], MapOptions(min_share=0.05))
        auto = build(log, [], MapOptions())
    for v in (view, auto):
        for n in v.nodes:
            ins = [e for e in v.edges if e.target == n.activity and e.source != n.activity]
            outs = [e for e in v.edges if e.source == n.activity and e.target != n.activity]
            assert ins or any(t.activity == n.activity for t in v.starts), n.activity
            assert outs or any(t.activity == n.activity for t in v.ends), n.activity
    # --min-share 0.05 hides activities below 150 of the 3,000 cases, and names the notable ones
    shown = {n.activity for n in view.nodes}
    assert "Reopen Ticket" not in shown and "Escalate to Tier 2" not in shown and "Return to Tier 1" in shown
    assert "Reopen Ticket" not in view.notes[0]  # 120 events: below 1% of events, counted not named
    # automatic: every activity, thin paths hidden, and said so
    assert len(auto.nodes) == 22 and auto.notes[0].startswith("automatic: paths below")
    assert len(auto.edges) <= 2 * 22
    # automatic hiding never leaves out more than a tenth of the transitions
    transitions = auto.title.events - auto.title.cases
    assert sum(e.events for e in auto.edges) >= (1 - processmap.AUTO_MAX_HIDDEN) * transitions


def test_top_variants(engine: Engine) -> None:
    log = make_log(engine, FILTER_ROWS)
    view = build(log, [], MapOptions(top_variants=2, min_share=0))
    assert view.title.cases == 8 and view.title.total_cases == 10
    assert {n.activity for n in view.nodes} == {"A", "B", "C", "D"}
    assert view.notes[0] == "only the 2 most frequent variants of 3: 8 of 10 cases (80.0%)"
    assert (
        view.notes[1] == "not in these variants: 1 activity (4 events, 12.5%), among them E (12.5% of events)"
    )
    text = dotmod.to_dot(view)
    assert "8 of 10 cases" in text and "only the 2 most frequent variants of 3" in text
    one = build(log, [], MapOptions(top_variants=1, min_share=0))
    assert {n.activity for n in one.nodes} == {"A", "B", "C"} and one.title.cases == 5


def test_top_variants_do_not_draw_stuck_paths_outside_the_view(engine: Engine) -> None:
    log = make_log(engine, FILTER_ROWS)
    stuck = {"kind": "rework_loop", "title": "stuck", "activities": ["A"], "cases": 5, "severity": "high",
             "evidence": {"stuck_path": [{"source": "A", "target": "B", "cases": 5, "extra_hours_total": 9.0},
                                         {"source": "A", "target": "D", "cases": 3, "extra_hours_total": 4.0}]}}
    one = build(log, [stuck], MapOptions(top_variants=1, min_share=0))
    assert {(e.source, e.target) for e in one.edges} == {("A", "B"), ("B", "C")}
    assert next(e for e in one.edges if (e.source, e.target) == ("A", "B")).stuck
    # D is in the log, not in the top variant: the finding's arrow into it is not drawn as a 0-case path
    assert any(n.startswith("findings about activities not in this view") for n in one.notes)
    two = build(log, [stuck], MapOptions(top_variants=2, min_share=0))
    assert ("A", "D") in {(e.source, e.target) for e in two.edges if e.stuck}
    # a stuck path between two activities of the view that no case of the view takes
    across = {**stuck, "evidence": {"stuck_path": [{"source": "C", "target": "A", "cases": 2, "extra_hours_total": 1.0}]}}
    view = build(log, [across], MapOptions(top_variants=1, min_share=0))
    assert ("C", "A") not in {(e.source, e.target) for e in view.edges}
    assert "1 stuck path no case of these variants takes, not drawn: C → A" in view.notes
    # on the whole log it is drawn, as a ping-pong handoff across skipped events is
    assert ("C", "A") in {(e.source, e.target) for e in build(log, [across], ALL).edges}


def test_direction_and_usage_errors(tiny: EventLog) -> None:
    assert "rankdir=TB" in dotmod.to_dot(build(tiny, [], MapOptions(direction="TB")))
    assert "rankdir=LR" in dotmod.to_dot(build(tiny, [], MapOptions()))
    for bad in (MapOptions(direction="RL"), MapOptions(min_share=1.0), MapOptions(top_variants=0)):
        with pytest.raises(UsageError):
            build(tiny, [], bad)


# --------------------------------------------------------------------------------------------- numbers


def test_wait_classes() -> None:
    assert dotmod.wait_limits([]) == ()
    assert dotmod.wait_limits([2.0, 2.0]) == ()
    limits = dotmod.wait_limits([0.001, 0.5, 3.0, 30.0, 220.0])
    assert limits == (5 / 60, 1.0, 4.0, 24.0)
    assert [dotmod.limit_label(x) for x in limits] == ["5 min", "1 h", "4 h", "1 d"]
    assert dotmod.wait_class(0.01, limits) == 0 and dotmod.wait_class(1.0, limits) == 2
    assert dotmod.wait_colours(1) == (dotmod.PALETTE[2],) and len(dotmod.wait_colours(5)) == 5
    assert [dotmod.duration(h) for h in (0.001, 0.5, 3.25, 30, 144, 300)] == [
        "4 s",
        "30 min",
        "3.2 h",
        "30 h",
        "6.0 d",
        "12 d",
    ]


# --------------------------------------------------------------------------------------------- data


def test_json_and_csv(tiny: EventLog) -> None:
    view: MapView = build(tiny, FINDINGS, ALL)
    data = to_data(view)
    assert data["log"] == {
        "name": "tiny",
        "events": 12,
        "cases": 5,
        "activities": 3,
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-01-04T00:00:00Z",
    }
    ab = next(e for e in data["edges"] if (e["source"], e["target"]) == ("A", "B"))
    assert ab == {
        "source": "A",
        "target": "B",
        "source_id": node_id("A"),
        "target_id": node_id("B"),
        "events": 2,
        "cases": 2,
        "case_share": 0.4,
        "median_hours": 0.75,
        "p90_hours": 0.95,
        "mean_hours": 0.75,
        "stuck": [],
    }
    ca = next(e for e in data["edges"] if (e["source"], e["target"]) == ("C", "A"))
    assert ca["events"] == 0 and ca["median_hours"] is None and ca["stuck"][0]["cases"] == 1
    a = next(n for n in data["nodes"] if n["activity"] == "A")
    assert a["findings"] == ["tool_driven_step"] and a["starts"] == 4 and a["ends"] == 2
    edges = pd.read_csv(io.StringIO(edges_csv(view)), keep_default_na=False)
    assert list(edges.columns) == [
        "source",
        "target",
        "cases",
        "case_share",
        "events",
        "median_hours",
        "p90_hours",
        "mean_hours",
        "stuck_cases",
        "findings",
    ]
    starts = edges[edges["source"] == ""]
    assert dict(zip(starts["target"], starts["cases"], strict=True)) == {"A": 4, "B": 1}
    bc = edges[(edges["source"] == "B") & (edges["target"] == "C")].iloc[0]
    assert (bc["stuck_cases"], bc["findings"], bc["median_hours"]) == ("2", "long_wait", "1.5")
    nodes = pd.read_csv(io.StringIO(nodes_csv(view)))
    assert set(nodes["activity"]) == {"A", "B", "C"} and nodes["events"].sum() == 12


# --------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    rows = [(c, a, (T0 + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")) for c, a, h in TINY]
    pd.DataFrame(rows, columns=["case", "activity", "timestamp"]).to_csv(path, index=False)
    return path


@needs_dot
def test_cli_graph_formats(tiny_csv: Path, tmp_path: Path) -> None:
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps({"log": {}, "findings": FINDINGS}), encoding="utf-8")
    for name in ("map.svg", "map.dot", "map.json", "map.csv", "map.png", "map.pdf"):
        out = tmp_path / "out" / name
        res = runner.invoke(
            app, ["graph", str(tiny_csv), "-o", str(out), "--findings", str(findings), "--min-share", "0"]
        )
        assert res.exit_code == 0, res.output
        assert out.exists() and out.stat().st_size > 0
        assert res.stdout == "" and f"wrote {out}" in res.stderr
        if name.endswith(".csv"):
            assert "map.nodes.csv" in res.stderr
    assert (tmp_path / "out" / "map.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert (tmp_path / "out" / "map.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "map.pdf").read_bytes()[:4] == b"%PDF"
    assert "digraph process_map" in (tmp_path / "out" / "map.dot").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "out" / "map.json").read_text(encoding="utf-8"))["log"]["cases"] == 5
    assert (tmp_path / "out" / "map.nodes.csv").exists()


def test_cli_graph_warns_about_findings_of_another_log(tiny_csv: Path, tmp_path: Path) -> None:
    """Saved findings are drawn as saved; when their header names another log, the user is told."""
    findings = tmp_path / "findings.json"
    out = tmp_path / "m.dot"
    for header, warned in (({"events": 999, "cases": 7}, True), ({"events": len(TINY), "cases": 5}, False),
                           ({}, False)):
        findings.write_text(json.dumps({"log": header, "findings": FINDINGS}), encoding="utf-8")
        res = runner.invoke(app, ["graph", str(tiny_csv), "-o", str(out), "--findings", str(findings)])
        assert res.exit_code == 0, res.output
        expected = (f"warning: the findings in findings.json were made on a log of 999 events and 7 cases, this one "
                    f"has {len(TINY)} events and 5 cases")
        assert (expected in res.stderr) is warned, res.stderr
        # the picture says it too: pasted into a review, it must not pass for this log's findings
        assert ("were made on a log of 999 events" in out.read_text(encoding="utf-8")) is warned


def test_cli_graph_says_when_saved_findings_draw_nothing(tiny_csv: Path, tmp_path: Path, tiny: EventLog) -> None:
    findings = tmp_path / "f.json"
    out = tmp_path / "m.dot"
    findings.write_text("[]", encoding="utf-8")
    res = runner.invoke(app, ["graph", str(tiny_csv), "-o", str(out), "--findings", str(findings)])
    assert res.exit_code == 0 and "f.json holds no findings: the plain map is drawn" in res.stderr
    findings.write_text(json.dumps([{"kind": "rework_loop"}, {"kind": "ping_pong", "evidence": {}}, *FINDINGS]), encoding="utf-8")
    res = runner.invoke(app, ["graph", str(tiny_csv), "-o", str(out), "--findings", str(findings)])
    assert res.exit_code == 0, res.output
    assert "2 findings have nothing to draw (no activity, stuck path or edges): ping_pong, rework_loop" in res.stderr
    assert "nothing to draw" not in "".join(build(tiny, FINDINGS, ALL).notes)  # every one of these draws


def test_cli_graph_options_and_errors(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.dot"
    res = runner.invoke(
        app, ["graph", str(tiny_csv), "-o", str(out), "--direction", "TB", "--top-variants", "1", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and "rankdir=TB" in out.read_text(encoding="utf-8")
    assert "only the 1 most frequent variant of 5" in out.read_text(encoding="utf-8")
    for args in (
        ["-o", str(tmp_path / "m.gif")],
        ["-o", str(out), "--findings", str(tmp_path / "none.json")],
        ["-o", str(out), "--min-share", "1.5"],
        ["-o", str(out), "--direction", "RL"],
        # audit options where no audit runs: ignored, a typo in them passed unnoticed
        ["-o", str(out), "--no-findings", "--rules", str(tmp_path / "nonexistent.toml")],
        ["-o", str(out), "--no-findings", "--working-hours", "garbage"],
        ["-o", str(out), "--findings", str(tmp_path / "none.json"), "--model", str(tmp_path / "none.bpmn")],
    ):
        res = runner.invoke(app, ["graph", str(tiny_csv), *args])
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output


def test_cli_graph_without_dot(tiny_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processmap.shutil, "which", lambda _name: None)
    res = runner.invoke(app, ["graph", str(tiny_csv), "-o", str(tmp_path / "m.svg")])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "apt-get install graphviz" in res.stderr
    # DOT needs no graphviz
    res = runner.invoke(app, ["graph", str(tiny_csv), "-o", str(tmp_path / "m.dot")])
    assert res.exit_code == 0, res.output


# --------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def helpdesk_svg() -> Iterator[tuple[bytes, dict[str, float]]]:
    path = shared("helpdesk/helpdesk.xes.gz")
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' not installed")
    with Engine() as engine:
        log = load(path, ReadOptions(), engine)
        counts = log.table.group_by("activity").aggregate(n=log.table.count()).execute()
        total = counts["n"].sum()
        shares = {str(a): int(n) / total for a, n in zip(counts["activity"], counts["n"], strict=True)}
        yield run_dot(dotmod.to_dot(build(log)), "svg"), shares


@pytest.mark.realdata
def test_helpdesk_svg_names_every_activity_above_one_percent(
    helpdesk_svg: tuple[bytes, dict[str, float]],
) -> None:
    svg, shares = helpdesk_svg
    nodes = svg_nodes(svg)
    drawn = {" ".join(lines[:-1]) for lines, _ in nodes.values() if lines}
    notable = {a for a, s in shares.items() if s > 0.01}
    assert notable and notable <= drawn, notable - drawn
    assert b"helpdesk.xes.gz" in svg and b"4,580 cases" in svg


@needs_dot
def test_a_log_of_one_event(engine: Engine) -> None:
    view = build(make_log(engine, [("c", "Only", 0.0)]), [], MapOptions(min_share=0.5, top_variants=3))
    assert [n.activity for n in view.nodes] == ["Only"] and view.edges == ()
    svg = run_dot(dotmod.to_dot(view), "svg")
    assert svg_nodes(svg)[node_id("Only")][0] == ["Only", "1 case"]


def test_graph_runs_the_audit_and_draws_its_stuck_paths(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "map.dot"
    res = CliRunner().invoke(
        app, ["graph", str(root / "logs" / "support-desk.csv"), "--rules", str(root / "models" / "support-desk.rules.toml"), "-o", str(out), "-q"]
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "stuck" in text and "⚙" in text  # red stuck paths and tool-driven steps from the audit
    assert "180 stuck · ping pong" in text  # Escalate to Network Ops → Run Line Test carries the ping-pong cases
    plain = tmp_path / "plain.dot"
    res = CliRunner().invoke(app, ["graph", str(root / "logs" / "support-desk.csv"), "--no-findings", "-o", str(plain), "-q"])
    assert res.exit_code == 0 and "stuck" not in plain.read_text()
    res = CliRunner().invoke(app, ["graph", str(root / "logs" / "support-desk.csv"), "--no-findings", "--findings", str(plain), "-o", str(plain)])
    assert res.exit_code == 2


def test_many_activities_of_about_the_same_frequency_never_make_an_empty_map(engine: Engine) -> None:
    """60 activities, each in about a tenth of the cases: one step of the automatic thresholds hid every one
    of them, and the map was empty. The 40 most frequent stay; the notes say that the paths stay dense and
    that the paths of hidden activities are not drawn, instead of claiming a path threshold."""
    rng = random.Random(5)
    rows = []
    for c in range(400):
        for k in range(rng.randint(4, 10)):
            rows.append((f"c{c}", f"Step {rng.randrange(60):02d}", float(k)))
    view = build(make_log(engine, rows), [], MapOptions())
    assert processmap.AUTO_MAX_ACTIVITIES <= len(view.nodes) < 60
    assert not any(n.startswith("automatic: paths below") for n in view.notes)
    assert any(n.startswith("automatic: the paths of the hidden activities are not drawn") for n in view.notes)
    assert any("paths drawn, more than the" in n for n in view.notes)

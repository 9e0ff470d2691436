"""The process map behind `auditor graph`: the DFG, its filters, the findings overlay, and the files.

Business rules:
- The map is the directly-follows graph of the log (auditor.dfg), drawn as auditor.render.dot says.
- `top_variants=N` keeps only the cases of the N most frequent variants (auditor.variants' order: most
  cases first, then shorter, then by sequence); the map is the DFG of those cases and the title says how
  many variants and cases that is. Activities of the log that no kept case has are named in the notes when
  they hold more than 1% of the log's events, and counted otherwise.
- `min_share=F` hides the activities that occur in fewer than F of the view's cases, and the paths (and
  start/end arrows) that fewer than F of the cases take, except each shown activity's busiest way in and
  busiest way out (so no box floats unconnected). `min_share=0` shows everything. Without `min_share`
  (None) the map chooses: every activity unless there are more than AUTO_MAX_ACTIVITIES (then the
  smallest share of AUTO_SHARES that leaves at most that many, or, when that share would hide them all,
  the AUTO_MAX_ACTIVITIES most frequent), and the smallest path threshold of AUTO_SHARES that leaves
  about two paths per activity, but never one that hides more than AUTO_MAX_HIDDEN of the transitions:
  when none can, the paths stay and the notes say the map is denser than a legible one. What is hidden is never silent: the notes (in the title, the
  JSON and on stderr) count the hidden activities, paths and their transitions, and name every hidden
  activity that holds more than 1% of the events.
- Findings (dicts in the contract's findings JSON format, from `--findings FILE` or from an audit run in
  the same process) are drawn over the map:
  - `legacy_step` and `tool_driven_step`: the finding's `activities` are styled (grey dashed; blue with ⚙).
  - a finding of any other kind whose `evidence` has `"stuck_path"` (the audit's edges on which its cases
    spend their extra time) or, failing that, `"edges"`: `[{"source": A, "target": B, "cases": n}, ...]`
    marks each path A → B as a place where customers get stuck: a thick red arrow labelled with n and the
    kind. This is the convention detectors follow to put their evidence on the map. (The `edges`
    of the two step kinds describe the step's mechanism, e.g. the trigger of a timer, and are not drawn
    red.) Several findings on one path are summed up per kind: the largest n, and how many findings.
  - A marked path that is not a directly-follows path of the view is drawn anyway (without counts).
  - At most MAX_STUCK_PATHS red paths are drawn: first those with the most severe finding, then those
    with the most stuck cases (all of them with `min_share=0`); the notes count the rest. Activities that a finding styles or that a drawn red path
    touches are shown whatever the share threshold (the notes say which); findings about activities that
    are not in the view at all (after `top_variants`) are listed in the notes instead.
- Files by the suffix of the output: `.dot` (the DOT text), `.svg`, `.png`, `.pdf` (rendered by the
  graphviz `dot` binary), `.json` and `.csv` (auditor.render.graphdata; `.csv` writes the edges to FILE and
  the nodes beside it as `<stem>.nodes.csv`).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor import dfg as dfg_mod
from auditor.errors import AuditorError, InputError, UsageError
from auditor.ingest import EventLog
from auditor.render import LEGACY, TOOL_DRIVEN, EdgeView, MapTitle, MapView, Mark, NodeView, Terminal
from auditor.render.dot import to_dot
from auditor.render.graphdata import edges_csv, nodes_csv, to_json
from auditor.variants import top_cases

FORMATS = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".json": "json",
    ".csv": "csv",
}
IMAGE_FORMATS = ("svg", "png", "pdf")
DIRECTIONS = ("LR", "TB")
# Without --min-share the map hides only as much as it must to stay legible (say so in its notes):
AUTO_SHARES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)  # the thresholds tried, smallest first
AUTO_MAX_ACTIVITIES = 40  # more boxes than this do not fit a slide
AUTO_MIN_PATHS, AUTO_PATHS_PER_ACTIVITY = 20, 2  # about two arrows per box stays readable
AUTO_MAX_HIDDEN = 0.1  # ... but never hide more than this share of the transitions automatically
START, END = "\x00start", "\x00end"  # keys of the start/end arrows (no activity name holds NUL)
MAX_STUCK_PATHS = 12  # red arrows drawn (unless --min-share 0): the ones with the most stuck cases
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}  # the contract's severities
STEP_KINDS = (LEGACY, TOOL_DRIVEN)  # findings about a step: the step is styled, never a path
NOTABLE_EVENT_SHARE = 0.01  # an activity above this share of events is never hidden without its name
PNG_DPI = 120  # readable when a reviewer pastes the picture into a slide
DOT_TIMEOUT = 600  # seconds; a map that takes longer has far too many paths to read anyway
INSTALL_DOT = (
    "install graphviz: 'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS), "
    "or see https://graphviz.org/download/"
)


class DotMissingError(AuditorError):
    """The graphviz `dot` binary is needed and absent."""


@dataclass(frozen=True)
class MapOptions:
    """What `auditor graph` shows; see the module docstring for the rules."""

    min_share: float | None = None  # None: automatic (see AUTO_*); 0 shows everything
    top_variants: int | None = None
    direction: str = "LR"


@dataclass
class Overlay:
    """The findings, sorted onto activities and paths."""

    nodes: dict[str, list[Mark]] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[Mark]] = field(default_factory=dict)
    blank: list[str] = field(default_factory=list)  # kinds of the findings with nothing to draw

    @property
    def activities(self) -> set[str]:
        return set(self.nodes) | {a for edge in self.edges for a in edge}


# ---------------------------------------------------------------------------------------------- findings


def load_findings(path: Path) -> list[dict[str, Any]]:
    """The findings of a findings JSON file (`auditor audit --format json`; a bare list is accepted too)."""
    return load_saved_audit(path)[0]


def load_saved_audit(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The findings of a findings JSON file, and its `log` header (None for a bare list)."""
    where = f"--findings {path}"
    if not path.exists():
        raise InputError(f"{where}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: cannot read it ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not JSON ({exc.msg} at line {exc.lineno}); expected the output of `auditor audit --format json`"
        ) from exc
    findings = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(findings, list):
        raise InputError(
            f'{where}: expected an object with a "findings" list (as `auditor audit --format json` writes)'
        )
    for i, f in enumerate(findings, start=1):
        if not isinstance(f, dict) or not isinstance(f.get("kind"), str):
            raise InputError(f'{where}: finding {i} is not an object with a "kind"')
    header = data.get("log") if isinstance(data, dict) else None
    return findings, header if isinstance(header, dict) else None


def origin_note(header: Mapping[str, Any] | None, log: EventLog, path: Path) -> str | None:
    """A warning when saved findings were made on another log than the one drawn: their events or cases
    differ (the header of `auditor audit --format json`). Their case counts would then be another log's."""
    if not header:
        return None
    events, cases = header.get("events"), header.get("cases")
    mine = (log.summary.accepted, log.summary.cases)
    if (events, cases) == mine or not isinstance(events, int) or not isinstance(cases, int):
        return None
    return (
        f"the findings in {path.name} were made on a log of {events:,} events and {cases:,} cases, this one has "
        f"{mine[0]:,} events and {mine[1]:,} cases: they are drawn as saved, their counts are the other log's"
    )


def overlay_of(findings: Sequence[Mapping[str, Any]], origin: str = "findings") -> Overlay:
    """Sorts findings (contract JSON dicts) onto activities and paths; malformed ones are an InputError."""
    overlay = Overlay()
    for i, f in enumerate(findings, start=1):
        kind = f.get("kind")
        if not isinstance(kind, str):
            raise InputError(f'{origin}: finding {i} has no "kind"')
        title = str(f.get("title") or kind)
        severity = str(f.get("severity") or "")
        cases = f.get("cases")
        total = cases if isinstance(cases, int) and not isinstance(cases, bool) else 0
        if kind in (LEGACY, TOOL_DRIVEN):
            acts = f.get("activities")
            if not isinstance(acts, list) or not all(isinstance(a, str) for a in acts):
                raise InputError(
                    f'{origin}: finding {i} ({kind}) needs "activities": a list of activity names'
                )
            for a in acts:
                overlay.nodes.setdefault(a, []).append(Mark(kind, title, total, severity))
        drawn = kind in (LEGACY, TOOL_DRIVEN) and bool(f.get("activities"))
        evidence = f.get("evidence")
        # Where the finding's cases spend their extra time (the audit's stuck path) is what the map shows
        # in red; a finding without one (e.g. hand-made) shows its own edges.
        key_name = "stuck_path" if isinstance(evidence, Mapping) and evidence.get("stuck_path") else "edges"
        edges = evidence.get(key_name) if isinstance(evidence, Mapping) else None
        if not drawn and (not edges or kind in STEP_KINDS):
            overlay.blank.append(kind)
        if edges is None:
            continue
        if not isinstance(edges, list):
            raise InputError(f"{origin}: finding {i} ({kind}): evidence.{key_name} must be a list")
        for j, e in enumerate(edges, start=1):
            ok = (
                isinstance(e, Mapping)
                and isinstance(e.get("source"), str)
                and isinstance(e.get("target"), str)
                and isinstance(e.get("cases"), int)
                and not isinstance(e.get("cases"), bool)
            )
            if not ok:
                raise InputError(
                    f'{origin}: finding {i} ({kind}): evidence.{key_name}[{j}] needs "source" and "target" '
                    '(activity names) and "cases" (a whole number)'
                )
            if kind in STEP_KINDS:
                # Their edges show the mechanism (the trigger of a tool-driven step), not customers stuck.
                continue
            key = (str(e["source"]), str(e["target"]))
            overlay.edges.setdefault(key, []).append(Mark(kind, title, int(e["cases"]), severity))
    return overlay


# ---------------------------------------------------------------------------------------------- the view


def build(
    log: EventLog,
    findings: Sequence[Mapping[str, Any]] = (),
    options: MapOptions | None = None,
    warnings: Sequence[str] = (),
) -> MapView:
    """The map of `log` with `findings` drawn over it (see the module docstring for the rules). `warnings`
    (saved findings made on another log) lead the notes, so the picture carries them too."""
    opts = options or MapOptions()
    if opts.direction.upper() not in DIRECTIONS:
        raise UsageError(f"--direction {opts.direction}: use LR (left to right) or TB (top to bottom)")
    if opts.min_share is not None and not 0.0 <= opts.min_share < 1.0:
        raise UsageError(
            f"--min-share {opts.min_share}: give a share of cases from 0 up to (not including) 1"
        )
    if opts.top_variants is not None and opts.top_variants < 1:
        raise UsageError(f"--top-variants {opts.top_variants}: give a number of variants, at least 1")
    overlay = overlay_of(findings)
    engine, table = log.engine, log.table
    notes: list[str] = []

    full_counts: dict[str, int] | None = None
    if opts.top_variants is not None:
        vs, keep = top_cases(log, opts.top_variants)
        view_table = engine.materialize(table.semi_join(keep, "case_id"), "map_view")
        engine.drop(keep)
        try:
            graph = dfg_mod.compute(view_table, engine)
        finally:
            engine.drop(view_table)
        counts = table.group_by("activity").aggregate(events=table.count()).execute()
        full_counts = {str(a): int(n) for a, n in zip(counts["activity"], counts["events"], strict=True)}
        total = table.aggregate(start=table.timestamp.min(), end=table.timestamp.max()).execute().iloc[0]
        total_events, total_cases = sum(full_counts.values()), vs.total_cases
        total_start, total_end = dfg_mod.utc_datetime(total["start"]), dfg_mod.utc_datetime(total["end"])
        shown = len(vs.variants)
        notes.append(
            f"only the {shown:,} most frequent variant{'s' if shown != 1 else ''} of {vs.total_variants:,}: "
            f"{vs.covered_cases:,} of {vs.total_cases:,} cases ({vs.coverage:.1%})"
        )
        missing = {a: n for a, n in full_counts.items() if graph.activity(a) is None}
        if missing:
            notes.append(_hidden_activities_note("not in these variants", missing, total_events))
    else:
        graph = dfg_mod.compute(table, engine)
        total_events, total_cases = graph.events, graph.cases
        total_start, total_end = graph.start, graph.end

    view = _filter(graph, overlay, opts, notes)
    if overlay.blank:
        kinds = sorted(set(overlay.blank))
        n = len(overlay.blank)
        notes.append(
            f"{n:,} finding{'s have' if n != 1 else ' has'} nothing to draw (no activity, stuck path or edges): "
            + ", ".join(kinds)
        )
    title = MapTitle(
        log_name=log.name or Path(log.summary.source).name,
        cases=graph.cases,
        events=graph.events,
        start=graph.start,
        end=graph.end,
        total_cases=total_cases,
        total_events=total_events,
        total_activities=len(full_counts) if full_counts is not None else len(graph.activities),
        total_start=total_start,
        total_end=total_end,
    )
    return MapView(
        title=title,
        nodes=view.nodes,
        edges=view.edges,
        starts=view.starts,
        ends=view.ends,
        direction=opts.direction.upper(),
        min_share=opts.min_share,
        activity_share=view.activity_share,
        path_share=view.path_share,
        top_variants=opts.top_variants,
        notes=(*(f"warning: {w}" for w in warnings), *notes),
    )


@dataclass(frozen=True)
class _Shown:
    nodes: tuple[NodeView, ...]
    edges: tuple[EdgeView, ...]
    starts: tuple[Terminal, ...]
    ends: tuple[Terminal, ...]
    activity_share: float
    path_share: float


def _filter(graph: dfg_mod.Dfg, overlay: Overlay, opts: MapOptions, notes: list[str]) -> _Shown:
    """Applies the share thresholds and the overlay to the DFG, and says what it hid."""
    cases = graph.cases
    auto = opts.min_share is None
    present = {a.activity for a in graph.activities}
    # The stuck paths drawn: every one with --min-share 0, else the MAX_STUCK_PATHS first by the most severe
    # finding on them, then by the most stuck cases (a map where every arrow is red shows nothing); the
    # rest are counted in the notes.
    ranked = sorted(overlay.edges.items(), key=lambda kv: (_priority(kv[1]), kv[0]))
    in_dfg = {(e.source, e.target) for e in graph.edges}
    drawable = [(key, marks) for key, marks in ranked if key[0] in present and key[1] in present]
    if opts.top_variants is not None:
        # A view of some variants: a stuck path no case of the view takes is not drawn as a 0-case arrow.
        # (On the whole log a ping-pong handoff across skipped events is drawn although not directly-follows.)
        outside = [key for key, _ in drawable if key not in in_dfg]
        drawable = [(key, marks) for key, marks in drawable if key in in_dfg]
        if outside:
            notes.append(
                f"{len(outside):,} stuck path{'s' if len(outside) != 1 else ''} no case of these variants takes, "
                f"not drawn: {_names([f'{s} → {t}' for s, t in outside])}"
            )
    limit = len(drawable) if opts.min_share == 0 else MAX_STUCK_PATHS
    stuck_drawn = dict(drawable[:limit])
    stuck_left = drawable[limit:]
    named = (set(overlay.nodes) | {a for key in stuck_drawn for a in key}) & present
    if auto:
        act_share = _auto_share([a.cases for a in graph.activities], cases, AUTO_MAX_ACTIVITIES)
    else:
        act_share = float(opts.min_share or 0.0)
    kept = {a.activity for a in graph.activities if _enough(a.cases, act_share, cases) or a.activity in named}
    # Named by a finding, so shown although below the share (said in the notes).
    rescued = sorted(
        a.activity for a in graph.activities if a.activity in named and not _enough(a.cases, act_share, cases)
    )
    stuck_at = set(stuck_drawn)
    candidates = [e for e in graph.edges if e.source in kept and e.target in kept]
    connectors = _connectors(graph, kept)
    most = max(AUTO_MIN_PATHS, AUTO_PATHS_PER_ACTIVITY * len(kept))
    path_share = _auto_path_share(candidates, connectors, cases, most) if auto else act_share

    def shown(key: tuple[str, str], n: int) -> bool:
        return _enough(n, path_share, cases) or key in connectors or key in stuck_at

    nodes = tuple(
        NodeView(a.activity, a.events, a.cases, a.starts, a.ends, tuple(overlay.nodes.get(a.activity, ())))
        for a in graph.activities
        if a.activity in kept
    )
    edges: list[EdgeView] = []
    hidden_paths = hidden_transitions = 0
    for e in graph.edges:
        if e.source in kept and e.target in kept and shown((e.source, e.target), e.cases):
            stuck = tuple(stuck_drawn.get((e.source, e.target), ()))
            edges.append(
                EdgeView(
                    e.source, e.target, e.events, e.cases, e.median_hours, e.p90_hours, e.mean_hours, stuck
                )
            )
        else:
            hidden_paths += 1
            hidden_transitions += e.events
    for (s, t), marks in sorted(stuck_drawn.items()):
        if (s, t) not in in_dfg:
            edges.append(EdgeView(s, t, 0, 0, None, None, None, tuple(marks)))
    not_drawn = [f"{s} → {t}" for s, t in sorted(overlay.edges) if s not in present or t not in present]
    edges.sort(key=lambda e: (e.source, e.target))
    starts = tuple(
        Terminal(a, n) for a, n in sorted(graph.start_counts.items()) if a in kept and shown((START, a), n)
    )
    ends = tuple(
        Terminal(a, n) for a, n in sorted(graph.end_counts.items()) if a in kept and shown((a, END), n)
    )
    hidden_terminals = sum(graph.start_counts.values()) - sum(t.cases for t in starts)
    hidden_terminals += sum(graph.end_counts.values()) - sum(t.cases for t in ends)

    hidden = {a.activity: a.events for a in graph.activities if a.activity not in kept}
    if auto:
        if hidden:
            notes.append(
                _hidden_activities_note(
                    f"automatic: activities below {_share_text(act_share)} of cases hidden (more than "
                    f"{AUTO_MAX_ACTIVITIES} activities; --min-share 0 shows all)",
                    hidden,
                    graph.events,
                )
            )
        if (hidden_paths or hidden_terminals) and path_share > 0:
            notes.append(
                f"automatic: paths below {_share_text(path_share)} of cases hidden to keep the map legible "
                f"(--min-share 0 shows all): "
                + _hidden_paths_text(hidden_paths, hidden_transitions, graph.events - cases, hidden_terminals)
                + "; every activity keeps its busiest path in and out"
            )
        elif hidden_paths or hidden_terminals:
            # No path threshold applied: what is missing went with the hidden activities.
            notes.append(
                "automatic: the paths of the hidden activities are not drawn: "
                + _hidden_paths_text(hidden_paths, hidden_transitions, graph.events - cases, hidden_terminals)
            )
        drawn = sum(1 for e in edges if e.cases)
        if drawn > most:
            notes.append(
                f"automatic: {drawn:,} paths drawn, more than the {most:,} a legible map of {len(kept):,} "
                f"activities holds: hiding the thin ones would leave out more than "
                f"{_share_text(AUTO_MAX_HIDDEN)} of the transitions, so they stay; --min-share or --top-variants "
                "thins the map"
            )
    elif act_share > 0:
        # Shown from ceil(share × cases) cases on: say the whole number.
        label = (
            f"hidden below {_share_text(act_share)} of cases (fewer than {math.ceil(act_share * cases):,})"
        )
        parts = [_hidden_activities_note(label, hidden, graph.events)] if hidden else []
        if hidden_paths or hidden_terminals:
            text = _hidden_paths_text(
                hidden_paths, hidden_transitions, graph.events - cases, hidden_terminals
            )
            parts.append(text if hidden else f"{label}: {text}")
        if parts:
            notes.append("; ".join(parts) + "; every activity shown keeps its busiest path in and out")
        else:
            notes.append(f"nothing is below {_share_text(act_share)} of cases: everything is shown")
    if rescued:
        notes.append(
            f"shown although below {_share_text(act_share)} of cases, as findings name them: {_names(rescued)}"
        )
    if stuck_left:
        most_left = max(m.cases for _, marks in stuck_left for m in marks)
        notes.append(
            f"{len(stuck_left):,} more stuck path{'s' if len(stuck_left) != 1 else ''} not drawn (at most "
            f"{most_left:,} case{'s' if most_left != 1 else ''} each; drawn are the {MAX_STUCK_PATHS} with the most severe findings and the "
            "most stuck cases; --min-share 0 draws every one)"
        )
    for name, marks in sorted(overlay.nodes.items()):
        if name not in present:
            not_drawn.append(f"{name} ({', '.join(sorted({m.kind for m in marks}))})")
    if not_drawn:
        notes.append(f"findings about activities not in this view, not drawn: {_names(not_drawn)}")
    return _Shown(nodes, tuple(edges), starts, ends, act_share, path_share)


def _priority(marks: Sequence[Mark]) -> tuple[int, int]:
    """Sort key of a stuck path: the most severe finding on it first, then the most stuck cases."""
    return (-max(SEVERITY_RANK.get(m.severity, -1) for m in marks), -max(m.cases for m in marks))


def _enough(n: int, share: float, cases: int) -> bool:
    """Below the share is hidden; exactly at the share is shown."""
    return share <= 0 or n >= share * cases


def _auto_share(counts: Sequence[int], cases: int, limit: int) -> float:
    """The smallest of AUTO_SHARES that leaves at most `limit` items (0 when they already fit). When that
    share would leave none (many items of about the same frequency: one step of AUTO_SHARES hides them
    all), the share of the `limit`-th most frequent item: the `limit` most frequent stay (more on ties)."""
    if len(counts) <= limit:
        return 0.0
    for share in AUTO_SHARES:
        left = sum(1 for n in counts if _enough(n, share, cases))
        if left <= limit:
            if left:
                return share
            break
    else:
        return AUTO_SHARES[-1]
    # just below the item's own share, so that float rounding cannot hide it
    return sorted(counts, reverse=True)[limit - 1] / cases * (1 - 1e-12)


def _auto_path_share(
    candidates: Sequence[dfg_mod.Edge], always: set[tuple[str, str]], cases: int, limit: int
) -> float:
    """The smallest of AUTO_SHARES that leaves at most `limit` paths, but never one that hides more than
    AUTO_MAX_HIDDEN of the transitions: a dense map is better than one that leaves out much of what happened."""
    if len(candidates) <= limit:
        return 0.0
    total = sum(e.events for e in candidates) or 1
    chosen = 0.0
    for share in AUTO_SHARES:
        shown = [e for e in candidates if _enough(e.cases, share, cases) or (e.source, e.target) in always]
        if (total - sum(e.events for e in shown)) / total > AUTO_MAX_HIDDEN:
            break
        chosen = share
        if len(shown) <= limit:
            break
    return chosen


def _connectors(graph: dfg_mod.Dfg, kept: set[str]) -> set[tuple[str, str]]:
    """For every shown activity, its busiest way in and its busiest way out (a path from or to another shown
    activity, or the start or end arrow), so that no activity is left floating when thin paths are hidden.
    Ties go to the name that sorts first."""
    into: dict[str, tuple[int, str, tuple[str, str]]] = {}
    out: dict[str, tuple[int, str, tuple[str, str]]] = {}

    def offer(
        best: dict[str, tuple[int, str, tuple[str, str]]], at: str, n: int, other: str, key: tuple[str, str]
    ) -> None:
        current = best.get(at)
        if current is None or (-n, other) < (-current[0], current[1]):
            best[at] = (n, other, key)

    for e in graph.edges:
        if e.source in kept and e.target in kept and e.source != e.target:
            offer(into, e.target, e.cases, e.source, (e.source, e.target))
            offer(out, e.source, e.cases, e.target, (e.source, e.target))
    for a, n in graph.start_counts.items():
        if a in kept:
            offer(into, a, n, "", (START, a))
    for a, n in graph.end_counts.items():
        if a in kept:
            offer(out, a, n, "", (a, END))
    return {key for _, _, key in (*into.values(), *out.values())}


def _hidden_paths_text(paths: int, transitions: int, all_transitions: int, terminals: int) -> str:
    parts = []
    if paths:
        parts.append(
            f"{paths:,} path{'s' if paths != 1 else ''} ({transitions:,} of {all_transitions:,} transitions, "
            f"{_pct(transitions, all_transitions)})"
        )
    if terminals:
        parts.append(f"start/end arrows of {terminals:,} case starts and ends")
    return ", ".join(parts)


def _share_text(share: float) -> str:
    return f"{share * 100:g}%"


def _hidden_activities_note(label: str, hidden: Mapping[str, int], total_events: int) -> str:
    events = sum(hidden.values())
    text = (
        f"{label}: {len(hidden):,} activit{'ies' if len(hidden) != 1 else 'y'} "
        f"({events:,} events, {_pct(events, total_events)})"
    )
    notable = sorted(
        ((a, n) for a, n in hidden.items() if total_events and n / total_events > NOTABLE_EVENT_SHARE),
        key=lambda an: (-an[1], an[0]),
    )
    if notable:
        text += ", among them " + ", ".join(f"{a} ({_pct(n, total_events)} of events)" for a, n in notable)
    return text


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def _names(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


# ---------------------------------------------------------------------------------------------- files


def output_format(path: Path) -> str:
    """The format the suffix of `path` asks for, or a UsageError naming the ones there are."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"-o {path}: name the map .svg, .png, .pdf, .dot, .json or .csv (the suffix picks the format)"
        )
    return fmt


def require_dot() -> str:
    """The path of the graphviz `dot` binary, or one clear error saying how to install it."""
    found = shutil.which("dot")
    if found is None:
        raise DotMissingError(
            f"the graphviz 'dot' program is needed to draw the map and is not installed: {INSTALL_DOT}; or write -o FILE.dot"
        )
    return found


def check_output(path: Path) -> str:
    """Fails early, before reading the log, when the map cannot be written to `path`; returns the format."""
    fmt = output_format(path)
    if path.exists() and path.is_dir():
        raise UsageError(f"-o {path}: is a directory; name the file to write")
    if fmt in IMAGE_FORMATS:
        require_dot()
    return fmt


def render(view: MapView, fmt: str) -> bytes:
    """The bytes of the map in `fmt` (`dot`, `svg`, `png`, `pdf`, `json`; `csv` gives the edges file)."""
    if fmt == "dot":
        return to_dot(view).encode("utf-8")
    if fmt == "json":
        return to_json(view).encode("utf-8")
    if fmt == "csv":
        return edges_csv(view).encode("utf-8")
    if fmt not in IMAGE_FORMATS:
        raise UsageError(f"unknown map format {fmt!r}")
    return run_dot(to_dot(view), fmt)


def run_dot(dot_text: str, fmt: str) -> bytes:
    """Renders DOT text with the graphviz `dot` binary."""
    args = [require_dot(), f"-T{fmt}"]
    if fmt == "png":
        args.append(f"-Gdpi={PNG_DPI}")
    try:
        done = subprocess.run(
            args, input=dot_text.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AuditorError(
            f"graphviz 'dot' took more than {DOT_TIMEOUT} s to draw the map; raise --min-share or use --top-variants"
        ) from exc
    if done.returncode != 0 or not done.stdout:
        first = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[0]
        # Our DOT is always valid, so this is a bug (or graphviz ran out of memory), not bad input.
        raise RuntimeError(f"graphviz 'dot' failed (exit {done.returncode}): {first}")
    return done.stdout


def write(view: MapView, path: Path) -> list[Path]:
    """Writes the map in the format the suffix of `path` asks for; returns the files written."""
    fmt = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [path]
    data = render(view, fmt)
    _write_bytes(path, data)
    if fmt == "csv":
        nodes = nodes_path(path)
        _write_bytes(nodes, nodes_csv(view).encode("utf-8"))
        written.append(nodes)
    return written


def nodes_path(edges_csv_path: Path) -> Path:
    """`map.csv` → `map.nodes.csv`: the nodes file beside the edges file."""
    return edges_csv_path.with_name(edges_csv_path.stem + ".nodes.csv")


def _write_bytes(path: Path, data: bytes) -> None:
    # Written beside the target and renamed: an interrupted run never leaves half a picture behind.
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)

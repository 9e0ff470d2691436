"""The process map as data, for a review to chart on its own: JSON, and CSV for spreadsheets.

Pure functions of a `MapView` (no I/O). Both describe exactly what the picture shows (the same filters):

- JSON: `{"log": {...}, "view": {...}, "nodes": [...], "edges": [...]}`. `log` has the keys of the findings
  JSON's `log` (events, cases, activities, start, end) plus `name`, for the whole log; `view` says what the
  map shows (cases, events, start, end, direction, min_share as asked (null: automatic), the activity_share
  and path_share in effect, top_variants, notes). A node has `id`,
  `activity`, `events`, `cases`, `case_share`, `event_share`, `starts`, `ends`, `findings` (the kinds
  drawn on it); an edge has `source`, `target`, `source_id`, `target_id`, `events`, `cases`,
  `case_share`, `median_hours`, `p90_hours`, `mean_hours` (null for a path drawn only because a finding
  names it), and `stuck` (`[{kind, title, cases}]`).
- CSV: the edges file has one row per path, columns `source, target, cases, case_share, events,
  median_hours, p90_hours, mean_hours, stuck_cases, findings`; first activities and last activities are
  rows too, with `source` empty (a case starts) or `target` empty (a case ends), so a chart of the flow
  needs no second file. The nodes file has `id, activity, events, event_share, cases, case_share, starts,
  ends, legacy_step, tool_driven_step`.
- Hours are rounded to 6 decimals (a few milliseconds), shares to 6 decimals.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from auditor.render import LEGACY, TOOL_DRIVEN, MapView, node_id

EDGE_COLUMNS = (
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
)
NODE_COLUMNS = (
    "id",
    "activity",
    "events",
    "event_share",
    "cases",
    "case_share",
    "starts",
    "ends",
    "legacy_step",
    "tool_driven_step",
)


def _iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def to_data(view: MapView) -> dict[str, Any]:
    t = view.title
    cases, events = t.cases, t.events
    return {
        "log": {
            "name": t.log_name,
            "events": t.total_events,
            "cases": t.total_cases,
            "activities": t.total_activities,
            "start": _iso(t.total_start),
            "end": _iso(t.total_end),
        },
        "view": {
            "cases": cases,
            "events": events,
            "start": _iso(t.start),
            "end": _iso(t.end),
            "direction": view.direction,
            "min_share": view.min_share,
            "activity_share": view.activity_share,
            "path_share": view.path_share,
            "top_variants": view.top_variants,
            "notes": list(view.notes),
        },
        "nodes": [
            {
                "id": n.id,
                "activity": n.activity,
                "events": n.events,
                "cases": n.cases,
                "case_share": _share(n.cases, cases),
                "event_share": _share(n.events, events),
                "starts": n.starts,
                "ends": n.ends,
                "findings": sorted({m.kind for m in n.marks}),
            }
            for n in view.nodes
        ],
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "source_id": node_id(e.source),
                "target_id": node_id(e.target),
                "events": e.events,
                "cases": e.cases,
                "case_share": _share(e.cases, cases),
                "median_hours": _r(e.median_hours),
                "p90_hours": _r(e.p90_hours),
                "mean_hours": _r(e.mean_hours),
                "stuck": [{"kind": m.kind, "title": m.title, "cases": m.cases} for m in e.stuck],
            }
            for e in view.edges
        ],
    }


def to_json(view: MapView) -> str:
    return json.dumps(to_data(view), indent=2, ensure_ascii=False) + "\n"


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def edges_csv(view: MapView) -> str:
    cases = view.title.cases
    rows: list[list[Any]] = [list(EDGE_COLUMNS)]
    for t in view.starts:
        rows.append(["", t.activity, t.cases, _share(t.cases, cases), t.cases, None, None, None, None, ""])
    for e in view.edges:
        rows.append(
            [
                e.source,
                e.target,
                e.cases,
                _share(e.cases, cases),
                e.events,
                _r(e.median_hours),
                _r(e.p90_hours),
                _r(e.mean_hours),
                e.stuck_cases or None,
                ";".join(sorted({m.kind for m in e.stuck})),
            ]
        )
    for t in view.ends:
        rows.append([t.activity, "", t.cases, _share(t.cases, cases), t.cases, None, None, None, None, ""])
    return _csv(rows)


def nodes_csv(view: MapView) -> str:
    t = view.title
    rows: list[list[Any]] = [list(NODE_COLUMNS)]
    for n in view.nodes:
        rows.append(
            [
                n.id,
                n.activity,
                n.events,
                _share(n.events, t.events),
                n.cases,
                _share(n.cases, t.cases),
                n.starts,
                n.ends,
                any(m.kind == LEGACY for m in n.marks),
                any(m.kind == TOOL_DRIVEN for m in n.marks),
            ]
        )
    return _csv(rows)

"""Findings as Markdown for a review document: pure text, no I/O.

Business rule: the table ranks findings as the audit does (by total cost, then reach); each finding then
gets its key evidence and the first case ids. The full case lists live in the JSON, and the text says so.
"""

from __future__ import annotations

from typing import Any

from auditor.findings import OVERLAP_NOTE

CASE_IDS_SHOWN = 20


_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_PUNCTUATION = set("\\`*_[]|#")


def _cell(text: Any) -> str:
    """Text that renders as itself in a table cell or a line: activity names may hold HTML (`<b>`), pipes,
    asterisks or backticks, which Markdown would otherwise interpret."""
    out = []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        out.append(_ENTITIES.get(ch) or ("\\" + ch if ch in _PUNCTUATION else ch))
    return "".join(out)


def _code(text: Any) -> str:
    """A code span that shows `text` literally, backticks and pipes included."""
    body = str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    longest = 0
    run = 0
    for ch in body:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or longest else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _hours(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def findings_markdown(result: dict[str, Any], *, title: str = "Audit findings") -> str:
    log = result["log"]
    findings = result["findings"]
    out = [
        f"# {title}",
        "",
        f"{log['events']:,} events · {log['cases']:,} cases · {log['activities']:,} activities · "
        f"{log['start'] or '?'} to {log['end'] or '?'}",
        "",
    ]
    # The caveats come first: what the audit could not judge, or what was left out of it, qualifies every
    # number below.
    notes = result.get("notes") or []
    if notes:
        out += ["## Notes", "", *(f"- {_cell(n)}" for n in notes), ""]
    lean = result.get("lean")
    if lean:
        fig = lean["log"]
        out += [
            "## Lean figures",
            "",
            "| process cycle efficiency | first-pass yield | rework rate | touch hours | waiting hours | tool-driven events |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {_pct(fig.get('process_cycle_efficiency'))} | {_pct(fig.get('first_pass_yield'))} | "
            f"{_pct(fig.get('rework_rate'))} | {_hours(fig.get('touch_hours'))} | {_hours(fig.get('waiting_hours'))} | "
            f"{_pct(fig.get('tool_driven_share'))} |",
            "",
            f"Touch time is estimated: {lean['method']}.",
            "",
            "Value classes: " + "; ".join(
                f"{v['activity']} **{v['value']}** ({v['source']})" for v in lean["values"]
            ),
            "",
        ]
    changes = result.get("process_changes") or []
    if changes:
        out += [
            "## Process changes",
            "",
            "Activities that stopped or began during the log: context for the findings, not findings.",
            "",
            "| activity | change | date | events |",
            "| --- | --- | --- | ---: |",
            *(f"| {_cell(c['activity'])} | {c['change']} | {c['date']} | {c['events']:,} |" for c in changes),
            "",
        ]
    if not findings:
        return "\n".join([*out, "No findings.", ""])
    out += [
        "| # | severity | kind | finding | cases | share | extra h / case | extra h total |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for i, f in enumerate(findings, start=1):
        cost = f.get("cost") or {}
        out.append(
            f"| {i} | {f['severity']} | {f['kind']} | {_cell(f['title'])} | {f['cases']:,} | {f['case_share']:.1%} | "
            f"{_hours(cost.get('extra_hours_per_case'))} | {_hours(cost.get('extra_hours_total'))} |"
        )
    out += ["", OVERLAP_NOTE, ""]
    for i, f in enumerate(findings, start=1):
        out += [f"## {i}. {_cell(f['title'])}", ""]
        out.append(f"- kind: `{f['kind']}` · severity: **{f['severity']}** · activities: "
                   + ", ".join(_code(a) for a in f["activities"]))
        cost = f.get("cost")
        if cost:
            out.append(f"- cost: {_hours(cost.get('extra_hours_per_case'))} extra hours per case, "
                       f"{_hours(cost.get('extra_hours_total'))} in total ({cost.get('method')})")
        for key, value in f["evidence"].items():
            if key == "edges":
                continue
            if key == "stuck_path" and value:
                out.append("- stuck path: " + "; ".join(_stuck_edge(edge) for edge in value))
                continue
            out.append(f"- {key}: {_cell(_short(value))}")
        shown = f["case_ids"][:CASE_IDS_SHOWN]
        more = f["cases"] - len(shown)
        tail = f" … and {more:,} more (all in the JSON)" if more > 0 else ""
        out += [f"- cases: {', '.join(_code(c) for c in shown)}{tail}", ""]
    return "\n".join(out)


def _stuck_edge(edge: dict[str, Any]) -> str:
    """`A` → `B`: its extra hours and where they come from (slower passes, or more passes per case)."""
    text = (f"{_code(edge['source'])} → {_code(edge['target'])} ({edge['cases']:,} cases, "
            f"{_hours(edge.get('extra_hours_total'))} extra h")
    if "slower_hours" in edge:
        text += (f": {_hours(edge['slower_hours'])} h slower passes, {_hours(edge['more_often_hours'])} h more "
                 f"passes, {edge['passes_per_case']:g} passes per case against {edge['others_passes_per_case']:g}")
    return text + ")"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
    if isinstance(value, list):
        items = [_short(v) for v in value[:10]]
        return "[" + ", ".join(items) + (", …" if len(value) > 10 else "") + "]"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)

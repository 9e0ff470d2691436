"""The process map as DOT text: a pure function of a `MapView` (no I/O, no graphviz call).

What the picture means (the legend drawn with it says the same):
- A box is an activity: its name (wrapped at WRAP characters), then the cases it occurs in (and its events,
  `× n`, when cases repeat it).
- An arrow A → B is a directly-follows path. Its width grows with the cases that take it (linearly, from
  1 pt to 8 pt for the busiest path); its label gives those cases (and the transitions, `× n`, when cases
  take it more than once) and the median wait between the two steps; its colour is the median wait's class.
- Wait classes: up to five, on a sequential colour-blind-safe palette (viridis, light green = short to dark
  purple = long; red is kept for stuck paths). The class limits are round durations (1 min … 1 year),
  evenly spaced on a log scale between the shortest and the longest median wait of the drawn paths, so a
  log of minutes and a log of weeks both get readable classes; the legend states each class.
- The start and end markers: a green `start` circle with a dashed grey arrow to each first activity, and
  every last activity's dashed grey arrow to the `end` circle, labelled with their cases.
- Findings: a `legacy_step` activity is drawn grey with a dashed border; a `tool_driven_step` activity is
  blue with a gear mark (⚙); a path that findings mark as stuck (auditor.processmap decides which) is a
  thick red arrow with one label line per finding kind: `⚠ n stuck · kind (k findings)`, n the largest
  count among them (findings of one kind may share cases, so they are not added up); the tooltip lists each
  finding. The legend lists only the styles that appear.

Escaping: every text from the log goes into an HTML-like label. `&`, `<`, `>`, `"` and `'` become
character references, a line break becomes `<BR/>`, other control characters become their visible Unicode
control pictures (␀, ␉, …), and a backslash is doubled because graphviz reads a pair of backslashes in
HTML-label text as one. Tooltips are quoted strings: graphviz unescapes those twice (and expands `\\N`,
`\\G`, …), so a backslash is written as four, and `&` is written `&amp;` because graphviz passes entities
through to SVG. Names longer than `MAX_NAME` characters are shortened in the picture (with `…`); the JSON
and CSV exports keep them whole.

Determinism: nodes, edges and every number are written in a fixed order with fixed formatting, and node
ids are hashes of the names (see `auditor.render.node_id`), so the same view gives byte-identical DOT.
"""

from __future__ import annotations

import math
import textwrap
from collections import deque
from collections.abc import Iterable, Sequence

from auditor.render import EdgeView, MapView, Mark, NodeView, Terminal, node_id

FONT = "Helvetica,Arial,sans-serif"
MAX_NAME = 120  # characters of an activity name drawn in the picture
WRAP = 24  # characters per line in a box: long names wrap on spaces instead of making wide boxes

# Viridis, without its lightest yellow (unreadable as a thin line on white): short waits first.
PALETTE = ("#7ad151", "#22a884", "#2a788e", "#414487", "#440154")
STUCK = "#d62728"
STUCK_TEXT = "#b71c1c"
TERMINAL = "#8c8c8c"
LEGACY_FILL, LEGACY_LINE, LEGACY_TEXT = "#e6e6e6", "#7f7f7f", "#595959"
TOOL_FILL, TOOL_LINE = "#cfe3f7", "#1f5fa8"
PLAIN_FILL, PLAIN_LINE = "#ffffff", "#4d4d4d"
START_FILL, END_FILL = "#2e7d32", "#424242"
GEAR = "⚙"
WARN = "⚠"
MIN_WIDTH, MAX_WIDTH = 1.0, 8.0
STUCK_WIDTH = 6.0
MAX_STUCK_LINES = 3  # finding kinds listed on one red path (the tooltip lists every finding)

# Round durations, in hours, that class limits snap to.
LADDER = (
    1 / 60,
    5 / 60,
    15 / 60,
    0.5,
    1.0,
    2.0,
    4.0,
    8.0,
    24.0,
    48.0,
    72.0,
    168.0,
    336.0,
    720.0,
    2160.0,
    8760.0,
)


# ---------------------------------------------------------------------------------------------- escaping


def html_text(text: str, *, wrap: int | None = None, limit: int | None = None) -> str:
    """`text` for an HTML-like label, rendered literally by graphviz (see the module docstring)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    lines = text.split("\n")
    if wrap:
        lines = [part for line in lines for part in (_wrap(line, wrap) or [""])]
    return "<BR/>".join("".join(_html_char(c) for c in line) for line in lines)


def _wrap(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    # Keep every character: textwrap would drop the spaces it breaks at and collapse runs of them.
    parts = textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=False, drop_whitespace=False)
    return [p.rstrip(" ") if i < len(parts) - 1 else p for i, p in enumerate(parts)] or [line]


def _html_char(c: str) -> str:
    if c == "&":
        return "&amp;"
    if c == "<":
        return "&lt;"
    if c == ">":
        return "&gt;"
    if c == '"':
        return "&quot;"
    if c == "'":
        return "&#39;"
    if c == "\\":
        return "\\\\"
    code = ord(c)
    if code < 0x20:
        return f"&#{0x2400 + code};"  # U+2400.. Control Pictures: a visible stand-in
    if code == 0x7F:
        return "&#9249;"  # ␡
    if 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
        return "&#65533;"  # not allowed in XML (a lone surrogate from a broken file)
    return c


def quoted(text: str, *, limit: int = 500) -> str:
    """A DOT quoted string (for tooltips) that graphviz shows literally."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out = []
    for c in text:
        code = ord(c)
        if c == "\\":
            out.append("\\\\\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "&":
            # graphviz copies an `&name;` it finds in a tooltip into the SVG as an entity: spell `&` out.
            out.append("&amp;")
        elif code < 0x20 or code == 0x7F:
            out.append(chr(0x2400 + code) if code < 0x20 else "␡")
        elif 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append("\ufffd")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------------------------------------- numbers


def count(n: int) -> str:
    return f"{n:,}"


def duration(hours: float) -> str:
    """A wait as a person reads it: seconds, minutes, hours up to two days, then days."""
    seconds = hours * 3600.0
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if hours < 59.5 / 60:
        return f"{hours * 60:.0f} min"
    if hours < 9.95:
        return f"{hours:.1f} h"
    if hours < 47.5:
        return f"{hours:.0f} h"
    days = hours / 24.0
    return f"{days:.1f} d" if days < 9.95 else f"{days:.0f} d"


def limit_label(hours: float) -> str:
    """A class limit (a LADDER value) as a round duration."""
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 24 or hours % 24:
        return f"{hours:g} h"
    if hours == 8760:
        return "1 year"
    return f"{hours / 24:g} d"


def wait_limits(medians: Iterable[float]) -> tuple[float, ...]:
    """Class limits (hours) for the median waits of the drawn paths: four steps evenly spaced on a log scale
    from the shortest (at least a minute) to the longest median, each snapped to the nearest round duration
    of LADDER; a limit that would leave a class empty is dropped."""
    values = sorted(medians)
    if not values:
        return ()
    lo, hi = max(values[0], LADDER[0]), values[-1]
    if hi <= lo:
        return ()
    limits: set[float] = set()
    for i in range(1, 5):
        v = lo * (hi / lo) ** (i / 5)
        # Nearest on a log scale; a tie goes to the shorter duration.
        snapped = min(LADDER, key=lambda r: (abs(math.log(v) - math.log(r)), r))
        if values[0] < snapped <= values[-1]:
            limits.add(snapped)
    return tuple(sorted(limits))


def wait_colours(n_classes: int) -> tuple[str, ...]:
    """`n_classes` colours spread over the palette, shortest wait first."""
    if n_classes <= 1:
        return (PALETTE[2],)
    last = len(PALETTE) - 1
    return tuple(PALETTE[round(i * last / (n_classes - 1))] for i in range(n_classes))


def wait_class(hours: float, limits: Sequence[float]) -> int:
    return sum(1 for lim in limits if hours >= lim)


# ---------------------------------------------------------------------------------------------- the graph


def to_dot(view: MapView) -> str:
    """The DOT text of the map (UTF-8 when written)."""
    nodes = _layout_order(view)
    order = {n.activity: i for i, n in enumerate(nodes)}
    drawn = [e for e in view.edges if e.source in order and e.target in order]
    drawn.sort(key=lambda e: (order[e.source], -e.cases, order[e.target]))
    medians = [e.median_hours for e in drawn if e.median_hours is not None and e.in_dfg]
    limits = wait_limits(medians)
    colours = wait_colours(len(limits) + 1)
    busiest = (
        max(
            [e.cases for e in drawn] + [t.cases for t in (*view.starts, *view.ends)],
            default=1,
        )
        or 1
    )

    lines = [
        "digraph process_map {",
        f"  graph [rankdir={_direction(view.direction)}, fontname={quoted(FONT)}, fontsize=12, "
        'labelloc="t", labeljust="l", nodesep=0.35, ranksep=0.55, pad=0.3, newrank=true, '
        'outputorder="edgesfirst", bgcolor="white"];',
        f'  node [fontname={quoted(FONT)}, fontsize=11, shape=box, style="rounded,filled", '
        f'fillcolor="{PLAIN_FILL}", color="{PLAIN_LINE}", penwidth=1.2, margin="0.15,0.06"];',
        f'  edge [fontname={quoted(FONT)}, fontsize=9, arrowsize=0.7, color="{TERMINAL}"];',
        f"  label=<{_title(view, limits, colours, busiest)}>;",
    ]
    if view.starts:
        lines.append(
            f'  start [label="start", shape=circle, fixedsize=true, width=0.55, fontsize=9, fontcolor="white", '
            f'style="filled", fillcolor="{START_FILL}", color="{START_FILL}", tooltip="cases start here"];'
        )
    if view.ends:
        lines.append(
            f'  end [label="end", shape=doublecircle, fixedsize=true, width=0.5, fontsize=9, fontcolor="white", '
            f'style="filled", fillcolor="{END_FILL}", color="{END_FILL}", tooltip="cases end here"];'
        )
    for n in nodes:
        lines.append(f"  {n.id} [{_node_attrs(n, view.title.cases)}];")
    for t in sorted(view.starts, key=lambda t: (order.get(t.activity, len(order)), t.activity)):
        if t.activity in order:
            lines.append(f"  start -> {node_id(t.activity)} [{_terminal_attrs(t, busiest, 'starts')}];")
    for t in sorted(view.ends, key=lambda t: (order.get(t.activity, len(order)), t.activity)):
        if t.activity in order:
            lines.append(f"  {node_id(t.activity)} -> end [{_terminal_attrs(t, busiest, 'ends')}];")
    for e in drawn:
        lines.append(
            f"  {node_id(e.source)} -> {node_id(e.target)} [{_edge_attrs(e, busiest, limits, colours)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _direction(direction: str) -> str:
    return "TB" if direction.upper() == "TB" else "LR"


def _layout_order(view: MapView) -> list[NodeView]:
    """Nodes in the order the process runs: breadth-first from the most common first activities along the
    busiest paths, then whatever is left by frequency. graphviz keeps this order where it has a choice,
    which puts the main path on one line; it depends only on the data, so it is deterministic."""
    by_name = {n.activity: n for n in view.nodes}
    out: dict[str, list[EdgeView]] = {}
    for e in view.edges:
        out.setdefault(e.source, []).append(e)
    seen: set[str] = set()
    result: list[NodeView] = []
    seeds = [t.activity for t in sorted(view.starts, key=lambda t: (-t.cases, t.activity))]
    queue = deque(a for a in seeds if a in by_name)
    while queue:
        a = queue.popleft()
        if a in seen:
            continue
        seen.add(a)
        result.append(by_name[a])
        for e in sorted(out.get(a, []), key=lambda e: (-e.cases, e.target)):
            if e.target in by_name and e.target not in seen:
                queue.append(e.target)
    rest = sorted((n for n in view.nodes if n.activity not in seen), key=lambda n: (-n.events, n.activity))
    return result + rest


def _width(cases: int, busiest: int) -> str:
    return f"{MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * cases / busiest:.2f}"


def plural(n: int, noun: str) -> str:
    """`1 case`, `2,000 cases`."""
    return f"{count(n)} {noun}" + ("" if n == 1 else "s")


def _times(cases: int, events: int) -> str:
    """`1,234 cases`, with `× events` when cases repeat it."""
    return plural(cases, "case") + (f" · {count(events)}×" if events > cases else "")


def _node_attrs(n: NodeView, view_cases: int) -> str:
    name = html_text(n.activity, wrap=WRAP, limit=MAX_NAME)
    gear = f"{GEAR} " if n.tool_driven else ""
    colour = LEGACY_TEXT if n.legacy and not n.tool_driven else "#000000"
    label = (
        f'<FONT COLOR="{colour}"><B>{gear}{name}</B></FONT><BR/>'
        f'<FONT POINT-SIZE="9" COLOR="#555555">{_times(n.cases, n.events)}</FONT>'
    )
    share = f"{n.cases / view_cases:.1%}" if view_cases else "-"
    tip = f"{n.activity}\n{plural(n.cases, 'case')} ({share}), {plural(n.events, 'event')}"
    if n.starts or n.ends:
        tip += f"; {plural(n.starts, 'case')} start here, {count(n.ends)} end here"
    for m in n.marks:
        tip += f"\n{m.kind}: {m.title}"
    attrs = [f"label=<{label}>", f"tooltip={quoted(tip)}"]
    # A step can be both: blue fill and gear for tool-driven, grey dashed border for legacy.
    if n.tool_driven:
        attrs.append(f'fillcolor="{TOOL_FILL}"')
    elif n.legacy:
        attrs.append(f'fillcolor="{LEGACY_FILL}"')
    if n.legacy:
        attrs += ['style="rounded,filled,dashed"', f'color="{LEGACY_LINE}"', "penwidth=1.6"]
    elif n.tool_driven:
        attrs += [f'color="{TOOL_LINE}"', "penwidth=1.6"]
    return ", ".join(attrs)


def _terminal_attrs(t: Terminal, busiest: int, what: str) -> str:
    tip = plural(t.cases, "case") + (
        f" start with {t.activity}" if what == "starts" else f" end with {t.activity}"
    )
    return ", ".join(
        [
            "label="
            + _padded(f'<FONT COLOR="#666666">{count(t.cases)}</FONT>', float(_width(t.cases, busiest))),
            'style="dashed"',
            f'color="{TERMINAL}"',
            f"penwidth={_width(t.cases, busiest)}",
            f"tooltip={quoted(tip)}",
        ]
    )


def _edge_attrs(e: EdgeView, busiest: int, limits: Sequence[float], colours: Sequence[str]) -> str:
    parts: list[str] = []
    tip = f"{e.source} → {e.target}"
    if e.in_dfg and e.median_hours is not None:
        parts.append(_times(e.cases, e.events))
        parts.append(f"med {duration(e.median_hours)}")
        tip += (
            f"\n{plural(e.cases, 'case')}, {plural(e.events, 'transition')}"
            f"\nwait: median {duration(e.median_hours)}, p90 {duration(e.p90_hours or 0.0)}, "
            f"mean {duration(e.mean_hours or 0.0)}"
        )
        colour = colours[wait_class(e.median_hours, limits)]
        width = float(_width(e.cases, busiest))
    else:
        tip += "\nnot a directly-follows path in this view: drawn because a finding names it"
        colour, width = STUCK, STUCK_WIDTH
    label = "<BR/>".join(html_text(p) for p in parts)
    attrs = [f'color="{colour}"']
    if e.stuck:
        label = (
            label + "<BR/>" if label else ""
        ) + f'<FONT COLOR="{STUCK_TEXT}"><B>{_stuck_lines(e.stuck)}</B></FONT>'
        for m in _by_cases(e.stuck):
            tip += f"\n{m.kind}: {plural(m.cases, 'case')}: {m.title}"
        attrs = [f'color="{STUCK}"']
        width = max(width, STUCK_WIDTH)
    attrs += [
        f"label={_padded(label, width)}",
        f"penwidth={width:.2f}",
        # Heavier paths pull harder toward a straight line: the main flow reads left to right.
        f"weight={1 + round(9 * e.cases / busiest)}",
        f"tooltip={quoted(tip)}",
    ]
    return ", ".join(attrs)


def _padded(markup: str, width: float) -> str:
    """An edge label kept clear of a thick line: dot places labels beside the line's centre, not its edge."""
    if not markup:
        return '""'
    pad = 1 + math.ceil(width / 2)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="{pad}"><TR><TD>{markup}</TD></TR></TABLE>>'


def _stuck_lines(marks: Sequence[Mark], most: int = MAX_STUCK_LINES) -> str:
    """One line per finding kind, busiest first: `⚠ 180 stuck · ping pong (38 findings)`. Findings of a kind
    may share cases, so the largest count is given, not a sum."""
    kinds: dict[str, list[int]] = {}
    for m in marks:
        kinds.setdefault(m.kind, []).append(m.cases)
    ranked = sorted(kinds.items(), key=lambda kv: (-max(kv[1]), kv[0]))
    lines = [
        f"{WARN} {count(max(ns))} stuck · {html_text(kind.replace('_', ' '))}"
        + (f" ({len(ns)} findings)" if len(ns) > 1 else "")
        for kind, ns in ranked[:most]
    ]
    if len(ranked) > most:
        lines.append(f"+ {len(ranked) - most} more kinds")
    return "<BR/>".join(lines)


def _by_cases(marks: Iterable[Mark]) -> list[Mark]:
    return sorted(marks, key=lambda m: (-m.cases, m.kind, m.title))


# ---------------------------------------------------------------------------------------------- title


def _title(view: MapView, limits: Sequence[float], colours: Sequence[str], busiest: int) -> str:
    t = view.title
    span = ""
    if t.start is not None and t.end is not None:
        span = f" · {t.start:%Y-%m-%d} to {t.end:%Y-%m-%d} (UTC)"
    of = f" of {count(t.total_cases)}" if t.total_cases != t.cases else ""
    rows = [
        f'<FONT POINT-SIZE="18"><B>{html_text(t.log_name, limit=MAX_NAME)}</B></FONT>',
        f"{count(t.cases)}{of} cases · {count(t.events)} events{span}",
        *(f'<FONT COLOR="#8a4b00">{html_text(note)}</FONT>' for note in view.notes),
    ]
    body = "".join(_row(r) for r in rows) + _legend(view, limits, colours, busiest)
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">{body}</TABLE>'


def _row(markup: str, size: int | None = None) -> str:
    text = f'<FONT POINT-SIZE="{size}">{markup}</FONT>' if size else markup
    return f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{text}</TD></TR>'


def _legend(view: MapView, limits: Sequence[float], colours: Sequence[str], busiest: int) -> str:
    """The legend, as rows of the title table; the findings rows list only the styles that appear.

    graphviz stretches a nested table to the width of the widest row, so the samples are coloured cells
    that read well at any width (a colour scale, style swatches), never fixed-size boxes.
    """
    rows = [_row("<B>median wait</B> between the two steps, by the colour of the path:", 10)]
    bounds: list[float | None] = [None, *limits, None]
    cells = []
    for i, colour in enumerate(colours):
        lo, hi = bounds[i], bounds[i + 1]
        if lo is None and hi is None:
            text = "every path"
        elif lo is None:
            text = f"&lt; {limit_label(hi or 0.0)}"
        elif hi is None:
            text = f"≥ {limit_label(lo)}"
        else:
            text = f"{limit_label(lo)} – {limit_label(hi)}"
        ink = "#000000" if i < len(colours) / 2 and len(colours) > 1 else "#ffffff"
        cells.append(f'<TD BGCOLOR="{colour}"><FONT POINT-SIZE="10" COLOR="{ink}">{text}</FONT></TD>')
    rows.append(_cells(cells))
    rows.append(
        _row(
            f"<B>path width</B>: the cases taking it (thickest: {count(busiest)}) · <B>path label</B>: cases "
            "(· transitions×, when cases repeat it) and median wait · <B>box</B>: the activity, its cases "
            "(· events×)",
            10,
        )
    )
    rows.append(
        _row(
            f'<FONT COLOR="{START_FILL}"><B>start</B></FONT> and <B>end</B>: the dashed grey arrows give the '
            "cases that start or end with the activity",
            10,
        )
    )
    findings: list[str] = []
    if any(n.legacy for n in view.nodes):
        findings.append(
            f'<TD BORDER="1" STYLE="dashed" COLOR="{LEGACY_LINE}" BGCOLOR="{LEGACY_FILL}">'
            f'<FONT POINT-SIZE="10" COLOR="{LEGACY_TEXT}">grey dashed box: legacy step</FONT></TD>'
        )
    if any(n.tool_driven for n in view.nodes):
        findings.append(
            f'<TD BORDER="1" COLOR="{TOOL_LINE}" BGCOLOR="{TOOL_FILL}">'
            f'<FONT POINT-SIZE="10">blue box with {GEAR}: tool-driven step</FONT></TD>'
        )
    if any(e.stuck for e in view.edges):
        findings.append(
            f'<TD BGCOLOR="{STUCK}"><FONT POINT-SIZE="10" COLOR="#ffffff"><B>thick red path, {WARN} n stuck: '
            "customers get stuck here (n cases)</B></FONT></TD>"
        )
    if findings:
        rows.append(_row("<B>findings</B> drawn on the map:", 10))
        rows.append(_cells(findings))
    return "".join(rows)


def _cells(cells: Sequence[str]) -> str:
    return (
        '<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="3"><TR>'
        + "".join(cells)
        + "</TR></TABLE></TD></TR>"
    )

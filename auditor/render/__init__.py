"""What a process map shows, as plain data: the view the renderers draw (DOT, JSON, CSV).

`auditor.processmap` decides what is in the view (filters, findings overlay, notes on what was hidden);
the renderers in this package only turn a `MapView` into text, with no I/O, so that the same view always
gives the same bytes.

Business rules held here:
- A node id is stable: `a` followed by the first 10 hex digits of the SHA-256 of the activity name (UTF-8),
  so the same activity has the same id in every map of every log, whatever else the log holds, and a diff of
  two DOT files lines up. Python's `hash()` is salted per process and is never used.
- Shares are relative to the cases (or events) in the view, i.e. after `--top-variants`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

LEGACY = "legacy_step"
TOOL_DRIVEN = "tool_driven_step"


def node_id(activity: str) -> str:
    """The stable DOT id of an activity (see the module docstring)."""
    return "a" + hashlib.sha256(activity.encode("utf-8", "surrogatepass")).hexdigest()[:10]


@dataclass(frozen=True)
class Mark:
    """A finding drawn on a node or an edge: its kind, title, the cases it concerns there, its severity."""

    kind: str
    title: str
    cases: int
    severity: str = ""


@dataclass(frozen=True)
class NodeView:
    activity: str
    events: int
    cases: int
    starts: int
    ends: int
    marks: tuple[Mark, ...] = ()

    @property
    def id(self) -> str:
        return node_id(self.activity)

    @property
    def legacy(self) -> bool:
        return any(m.kind == LEGACY for m in self.marks)

    @property
    def tool_driven(self) -> bool:
        return any(m.kind == TOOL_DRIVEN for m in self.marks)


@dataclass(frozen=True)
class EdgeView:
    """A path between two shown activities. `events` and `cases` are 0 and the waits None when the path
    is drawn only because a finding names it (it is no directly-follows relation in the view)."""

    source: str
    target: str
    events: int
    cases: int
    median_hours: float | None
    p90_hours: float | None
    mean_hours: float | None
    stuck: tuple[Mark, ...] = ()

    @property
    def in_dfg(self) -> bool:
        return self.events > 0

    @property
    def stuck_cases(self) -> int:
        """The largest case count among the findings on this path (their cases may overlap, so they are
        not added)."""
        return max((m.cases for m in self.stuck), default=0)


@dataclass(frozen=True)
class Terminal:
    """Cases that start (or end) with an activity."""

    activity: str
    cases: int


@dataclass(frozen=True)
class MapTitle:
    """What the title says: the log, the cases and events in the view and its date range; `total_*` are the
    whole log's (they differ from the view's only with `--top-variants`)."""

    log_name: str
    cases: int
    events: int
    start: datetime | None
    end: datetime | None
    total_cases: int
    total_events: int
    total_activities: int
    total_start: datetime | None
    total_end: datetime | None


@dataclass(frozen=True)
class MapView:
    title: MapTitle
    nodes: tuple[NodeView, ...]
    edges: tuple[EdgeView, ...]
    starts: tuple[Terminal, ...]
    ends: tuple[Terminal, ...]
    direction: str = "LR"
    min_share: float | None = None  # as asked; None: chosen automatically
    activity_share: float = 0.0  # in effect: activities below this share of cases are hidden
    path_share: float = 0.0  # in effect: paths below this share of cases are hidden (see processmap)
    top_variants: int | None = None
    # Sentences for the reader: filters applied, what was hidden and how much, findings not drawn.
    notes: tuple[str, ...] = field(default_factory=tuple)

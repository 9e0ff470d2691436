"""Process discovery, replay and model quality: the only module that imports pm4py.

Business rules:
- The miner reads the log's variants with their case counts, never the events, so discovery costs grow with
  the number of variants, not of events. The variants are computed in the engine in one scan and sort
  (`variant_counts`: activities coded as integers, ordered as `auditor.variants` orders them).
  - Inductive miner: the variants go in as pm4py's own variant-count structure (UVCL: a Counter of activity
    tuples), which is exactly what pm4py derives from an event table before mining; the model is the one
    pm4py discovers on the full log, and `--noise` (IMf) filters on the real case counts.
  - Heuristics miner: the counts its dependency measures need (activity, start and end counts,
    directly-follows, length-two loops a-b-a, successors at distance two) are summed over the variants,
    each weighted by its cases, and handed to pm4py's miner on those counts.
- Too many variants: the most frequent are kept until they cover `coverage` of the cases, at most
  `max_variants` (default: every variant, at most 1,000). The share of cases covered is always reported.
- Quality is measured on the log's variants (every variant, at most `eval_max_variants`, default 5,000, the
  most frequent first), each replayed once and weighted by its cases:
  - fitness: token-based replay; log fitness = 1/2 (1 - m/c) + 1/2 (1 - r/p) over the missing, consumed,
    remaining and produced tokens summed over the cases, which is pm4py's log fitness on the full log. An
    event whose activity the model does not contain costs one missing and one remaining token (pm4py's
    replay would skip it silently, and a model that ignores an activity would look perfect).
  - precision: ETConformance (Munoz-Gama and Carmona 2010) as pm4py computes it: over the prefixes of the
    variants, weighted by cases, the share of activities the model enables after the prefix that the log
    actually does next. The marking after each prefix is read off the variant's own replay rather than
    replaying every prefix again (same result, at the cost of one replay per variant).
- Deviations: an optimal alignment (standard costs) of a variant says which activities the case skipped
  (moves on the model) and which it did where the model does not allow them (moves on the log).

pm4py greets on import; the greeting is kept off our stdout (it carries JSON) and off stderr (--quiet).
"""

from __future__ import annotations

import contextlib
import copy
import html
import io
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableSet, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from auditor.errors import InputError, UsageError
from auditor.ingest import EventLog
from auditor.variants import coded_traces, decode, log_profile, ranking

Trace = tuple[str, ...]
Weighted = Sequence[tuple[Trace, int]]
Progress = Callable[[str], None]


def _quiet_import() -> Any:
    """Imports pm4py without its greeting reaching our stdout or stderr."""
    # pm4py 2.7 prints the greeting once per process when imported from __main__, and remembers having done
    # so in this attribute; older releases printed on every import. Both are covered.
    sys._pm4py_welcome_shown = True  # type: ignore[attr-defined]
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        import pm4py
        from pm4py.util import constants

    # No tqdm bars on stderr and no internal warnings: our own progress and --quiet decide what is printed.
    constants.SHOW_PROGRESS_BAR = False
    constants.SHOW_INTERNAL_WARNINGS = False
    return pm4py


pm4py = _quiet_import()

from pm4py.algo.conformance.alignments.petri_net import algorithm as alignments  # noqa: E402
from pm4py.algo.conformance.tokenreplay.variants import token_replay  # noqa: E402
from pm4py.algo.discovery.heuristics.variants import classic as heuristics  # noqa: E402
from pm4py.algo.discovery.inductive.dtypes.im_ds import IMDataStructureUVCL  # noqa: E402
from pm4py.algo.discovery.inductive.variants.im import IMUVCL  # noqa: E402
from pm4py.algo.discovery.inductive.variants.imf import IMFUVCL  # noqa: E402
from pm4py.objects.conversion.heuristics_net import converter as heuristics_to_net  # noqa: E402
from pm4py.objects.log.obj import Event  # noqa: E402
from pm4py.objects.log.obj import EventLog as Pm4pyLog  # noqa: E402
from pm4py.objects.log.obj import Trace as Pm4pyTrace  # noqa: E402
from pm4py.objects.petri_net.obj import Marking, PetriNet  # noqa: E402
from pm4py.objects.petri_net.utils import petri_utils  # noqa: E402
from pm4py.objects.petri_net.utils.align_utils import (  # noqa: E402
    get_visible_transitions_eventually_enabled_by_marking,
)
from pm4py.objects.process_tree.utils import generic as tree_utils  # noqa: E402
from pm4py.visualization.bpmn import visualizer as bpmn_visualizer  # noqa: E402

ACTIVITY_KEY = "concept:name"
# The default cap: every variant, up to this many. IM itself is fast on thousands of variants; past a
# thousand the rare variants are mostly one-off noise that turns the model into a flower.
DEFAULT_MAX_VARIANTS = 1_000
DEFAULT_EVAL_MAX_VARIANTS = 5_000
MODEL_FORMATS = ("bpmn", "pnml")
PICTURE_FORMATS = ("svg", "png", "pdf", "dot")
FORMATS = (*PICTURE_FORMATS, *MODEL_FORMATS)
DEFAULT_FORMATS = ("svg", "bpmn", "pnml")

FITNESS_METHOD = (
    "token-based replay (pm4py), one replay per variant weighted by its cases: "
    "log fitness = 1/2 (1 - missing/consumed) + 1/2 (1 - remaining/produced) over the token sums of all "
    "evaluated cases, as pm4py computes it on the full log; an event of an activity the model does not "
    "contain counts one missing and one remaining token"
)
PRECISION_METHOD = (
    "ETConformance (Munoz-Gama and Carmona 2010) as pm4py's precision_token_based_replay computes it, "
    "over the prefixes of the evaluated variants weighted by their cases; the marking after each prefix "
    "is read off the variant's token replay"
)
DEVIATION_METHOD = (
    "optimal alignments (pm4py, standard costs) of the deviating variants: a move on the model of a visible "
    "activity = skipped, a move on the log = inserted; counted in cases (a case counts once per activity)"
)


class Miner(StrEnum):
    inductive = "inductive"
    heuristics = "heuristics"


@dataclass(frozen=True)
class DiscoveryOptions:
    """How to discover. `coverage` and `max_variants` choose the miner's input; `eval_max_variants` the
    variants the quality is measured on."""

    miner: Miner = Miner.inductive
    # IMf's noise threshold (0 = the plain inductive miner, whose model allows every variant it is given).
    noise: float = 0.0
    # Heuristics miner thresholds (pm4py's defaults).
    dependency_threshold: float = 0.5
    and_threshold: float = 0.65
    loop_two_threshold: float = 0.5
    coverage: float = 1.0
    max_variants: int = DEFAULT_MAX_VARIANTS
    eval_max_variants: int = DEFAULT_EVAL_MAX_VARIANTS

    def __post_init__(self) -> None:
        if not 0.0 <= self.noise < 1.0:
            raise UsageError(f"--noise must be at least 0 and below 1, got {self.noise}")
        if self.noise and self.miner is not Miner.inductive:
            raise UsageError(
                "--noise applies to the inductive miner; the heuristics miner takes --dependency"
            )
        if not 0.0 < self.coverage <= 1.0:
            raise UsageError(f"--coverage must be above 0 and at most 1, got {self.coverage}")
        if self.max_variants < 1 or self.eval_max_variants < 1:
            raise UsageError("--max-variants must be at least 1")
        if not 0.0 <= self.dependency_threshold <= 1.0:
            raise UsageError(f"--dependency must be between 0 and 1, got {self.dependency_threshold}")

    def parameters(self) -> dict[str, Any]:
        if self.miner is Miner.inductive:
            return {"variant": "IMf" if self.noise else "IM", "noise_threshold": self.noise}
        return {
            "dependency_threshold": self.dependency_threshold,
            "and_threshold": self.and_threshold,
            "loop_two_threshold": self.loop_two_threshold,
        }


@dataclass
class Model:
    """A Petri net with its markings; the process tree too when the inductive miner made it."""

    net: Any
    initial_marking: Any
    final_marking: Any
    tree: Any = None
    origin: str = ""

    @property
    def activities(self) -> list[str]:
        return sorted({t.label for t in self.net.transitions if t.label is not None})

    def duplicate_labels(self) -> list[str]:
        counts = Counter(t.label for t in self.net.transitions if t.label is not None)
        return sorted(label for label, n in counts.items() if n > 1)


class _OrderedSet(MutableSet[Any]):
    """A set that iterates in a fixed order: pm4py numbers places and transitions in the order it meets
    them, and its alignments break ties by those numbers. pm4py's own sets iterate by object address, so
    the same model could give different (equally optimal) deviations from one run to the next."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: dict[Any, None] = dict.fromkeys(items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, value: Any) -> None:
        self._items[value] = None

    def discard(self, value: Any) -> None:
        self._items.pop(value, None)

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in other:
                self._items[item] = None


def _canonical(net: Any) -> Any:
    """The same net (same place and transition objects, so markings stay valid) in a fixed order: places
    by name, transitions by label, then by the names of the places around them."""

    def names(arcs: Iterable[Any], end: str) -> tuple[str, ...]:
        return tuple(sorted(str(getattr(a, end).name) for a in arcs))

    def transition_key(t: Any) -> tuple[Any, ...]:
        return (
            t.label is None,
            t.label or "",
            names(t.in_arcs, "source"),
            names(t.out_arcs, "target"),
            str(t.name),
        )

    places = sorted(net.places, key=lambda p: str(p.name))
    transitions = sorted(net.transitions, key=transition_key)
    order = {p: i for i, p in enumerate(places)} | {t: len(places) + i for i, t in enumerate(transitions)}
    arcs = sorted(net.arcs, key=lambda a: (order[a.source], order[a.target]))
    return PetriNet(
        net.name,
        places=_OrderedSet(places),
        transitions=_OrderedSet(transitions),
        arcs=_OrderedSet(arcs),
        properties=net.properties,
    )


# ====================================================================== discovery


def discover(variants: Weighted, options: DiscoveryOptions) -> Model:
    """The model the chosen miner finds in the variants (activity tuples with their case counts)."""
    if not variants:
        raise InputError("the log has no cases to discover a model from")
    with _pm4py_calls():
        if options.miner is Miner.inductive:
            return _inductive(variants, options)
        return _heuristics(variants, options)


def _inductive(variants: Weighted, options: DiscoveryOptions) -> Model:
    uvcl: Counter[Trace] = Counter()
    for trace, cases in variants:
        uvcl[trace] += cases
    # The same parameters and post-processing as pm4py.discover_process_tree_inductive on a DataFrame; only
    # the step that turns events into this Counter is skipped (the engine has done it).
    params: dict[str, Any] = {
        "noise_threshold": options.noise,
        "multiprocessing": False,
        "disable_fallthroughs": False,
    }
    miner = IMFUVCL(params) if options.noise > 0 else IMUVCL(params)
    tree = miner.apply(IMDataStructureUVCL(uvcl), params)
    tree = tree_utils.fold(tree)
    tree_utils.tree_sort(tree)
    net, im, fm = pm4py.convert_to_petri_net(tree)
    return Model(
        _canonical(net), im, fm, tree=tree, origin="inductive miner" + (" (IMf)" if options.noise else "")
    )


@dataclass
class HeuristicsCounts:
    """What pm4py's heuristics miner reads from a log, computed from weighted variants."""

    activities: Counter[str] = field(default_factory=Counter)
    start: Counter[str] = field(default_factory=Counter)
    end: Counter[str] = field(default_factory=Counter)
    dfg: Counter[tuple[str, str]] = field(default_factory=Counter)
    window_2: Counter[tuple[str, str]] = field(default_factory=Counter)
    triples: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def heuristics_counts(variants: Weighted) -> HeuristicsCounts:
    c = HeuristicsCounts()
    for trace, w in variants:
        if not trace:
            continue
        c.start[trace[0]] += w
        c.end[trace[-1]] += w
        for i, a in enumerate(trace):
            c.activities[a] += w
            if i + 1 < len(trace):
                c.dfg[(a, trace[i + 1])] += w
            if i + 2 < len(trace):
                c.window_2[(a, trace[i + 2])] += w
                c.triples[(a, trace[i + 1], trace[i + 2])] += w
    return c


def _heuristics(variants: Weighted, options: DiscoveryOptions) -> Model:
    c = heuristics_counts(variants)
    params = {
        heuristics.Parameters.DEPENDENCY_THRESH: options.dependency_threshold,
        heuristics.Parameters.AND_MEASURE_THRESH: options.and_threshold,
        heuristics.Parameters.LOOP_LENGTH_TWO_THRESH: options.loop_two_threshold,
    }
    # Most frequent first, as pm4py lists a DataFrame's activities (value counts), ties by name.
    occurrences = dict(sorted(c.activities.items(), key=lambda kv: (-kv[1], kv[0])))
    heu_net = heuristics.apply_heu_dfg(
        dict(c.dfg),
        activities=list(occurrences),
        activities_occurrences=occurrences,
        start_activities=dict(c.start),
        end_activities=dict(c.end),
        dfg_window_2=dict(c.window_2),
        freq_triples=dict(c.triples),
        parameters=params,
    )
    net, im, fm = heuristics_to_net.apply(heu_net, parameters=params)
    return Model(_canonical(net), im, fm, origin="heuristics miner")


# ====================================================================== replay and quality


@dataclass(frozen=True)
class VariantReplay:
    """One variant replayed on the model (token-based)."""

    activities: Trace
    cases: int
    fitness: float  # the trace's token fitness
    fit: bool  # replays with no missing and no remaining token: the case conforms
    fit_so_far: bool  # every step it took was allowed (steps may still be missing at the end)
    missing: int
    consumed: int
    remaining: int
    produced: int
    unknown: tuple[str, ...] = ()  # activities of the variant that the model does not contain


@dataclass(frozen=True)
class Fitness:
    log_fitness: float
    average_trace_fitness: float  # mean of the cases' trace fitness
    fitting_cases: int
    cases: int

    @property
    def fitting_share(self) -> float:
        return self.fitting_cases / self.cases if self.cases else 0.0


def fitness(replays: Sequence[VariantReplay]) -> Fitness:
    """pm4py's log fitness over the cases, from the variants' token counts weighted by their cases."""
    m = sum(r.missing * r.cases for r in replays)
    c = sum(r.consumed * r.cases for r in replays)
    rem = sum(r.remaining * r.cases for r in replays)
    p = sum(r.produced * r.cases for r in replays)
    cases = sum(r.cases for r in replays)
    log_fitness = 0.5 * (1 - m / c) + 0.5 * (1 - rem / p) if c and p else 0.0
    average = sum(r.fitness * r.cases for r in replays) / cases if cases else 0.0
    return Fitness(log_fitness, average, sum(r.cases for r in replays if r.fit), cases)


@dataclass
class _Replayed:
    """Replay results plus what precision needs from them."""

    variants: list[VariantReplay]
    net: Any
    initial_marking: Any
    raw: list[dict[str, Any]]


def _augmented(model: Model, variants: Weighted) -> tuple[Any, Any, Any, dict[str, Any]]:
    """A copy of the net with one isolated transition per activity the model lacks: firing it costs one
    missing token (its input place is never marked) and leaves one remaining token."""
    known = set(model.activities)
    unknown = sorted({a for trace, _ in variants for a in trace} - known)
    if not unknown:
        return model.net, model.initial_marking, model.final_marking, {}
    net, im, fm = copy.deepcopy((model.net, model.initial_marking, model.final_marking))
    added: dict[str, Any] = {}
    for i, activity in enumerate(unknown):
        src, dst = PetriNet.Place(f"auditor_unknown_in_{i}"), PetriNet.Place(f"auditor_unknown_out_{i}")
        t = PetriNet.Transition(f"auditor_unknown_{i}", activity)
        net.places.update((src, dst))
        net.transitions.add(t)
        petri_utils.add_arc_from_to(src, t, net)
        petri_utils.add_arc_from_to(t, dst, net)
        added[activity] = t
    return _canonical(net), im, fm, added


def _event_log(traces: Sequence[Trace]) -> Any:
    return Pm4pyLog([Pm4pyTrace([Event({ACTIVITY_KEY: a}) for a in trace]) for trace in traces])


def replay(model: Model, variants: Weighted) -> list[VariantReplay]:
    """Token-based replay of each variant once (pm4py), with its case count attached."""
    return _replay(model, variants).variants


def _replay(model: Model, variants: Weighted) -> _Replayed:
    net, im, fm, added = _augmented(model, variants)
    params = {
        token_replay.Parameters.ACTIVITY_KEY: ACTIVITY_KEY,
        token_replay.Parameters.CONSIDER_REMAINING_IN_FITNESS: True,
        token_replay.Parameters.CLEANING_TOKEN_FLOOD: False,
        token_replay.Parameters.SHOW_PROGRESS_BAR: False,
        # The traces are distinct already; pm4py's own grouping would key them by joined text.
        token_replay.Parameters.DISABLE_VARIANTS: True,
    }
    with _pm4py_calls():
        raw = token_replay.apply(_event_log([t for t, _ in variants]), net, im, fm, parameters=params)
    out: list[VariantReplay] = []
    for (trace, cases), r in zip(variants, raw, strict=True):
        unknown = tuple(sorted({a for a in trace if a in added}))
        out.append(
            VariantReplay(
                activities=trace,
                cases=cases,
                fitness=float(r["trace_fitness"]),
                fit=bool(r["trace_is_fit"]) and not unknown,
                fit_so_far=_fit_so_far(r["activated_transitions"], im) and not unknown,
                missing=int(r["missing_tokens"]),
                consumed=int(r["consumed_tokens"]),
                remaining=int(r["remaining_tokens"]),
                produced=int(r["produced_tokens"]),
                unknown=unknown,
            )
        )
    return _Replayed(out, net, im, raw)


def _fire(marking: Counter[Any], transition: Any) -> bool:
    """Fires a transition as token replay does (adding the tokens it lacks); False when it lacked any."""
    ok = True
    for arc in transition.in_arcs:
        if marking[arc.source] < arc.weight:
            ok = False
            marking[arc.source] = arc.weight
        marking[arc.source] -= arc.weight
    for arc in transition.out_arcs:
        marking[arc.target] += arc.weight
    return ok


def _fit_so_far(activated: Sequence[Any], initial_marking: Any) -> bool:
    marking: Counter[Any] = Counter(dict(initial_marking))
    return all([_fire(marking, t) for t in activated])


@dataclass(frozen=True)
class Quality:
    fitness: Fitness
    precision: float
    variants: int  # variants evaluated
    cases: int  # cases evaluated


def quality(model: Model, variants: Weighted) -> tuple[Quality, list[VariantReplay]]:
    """Fitness and precision of the model on the variants, each replayed once and weighted by its cases."""
    replayed = _replay(model, variants)
    prec = _precision(replayed, variants)
    fit = fitness(replayed.variants)
    return Quality(fit, prec, len(variants), fit.cases), replayed.variants


def _precision(replayed: _Replayed, variants: Weighted) -> float:
    """pm4py's ETConformance precision (etconformance_token.apply), with prefixes weighted by cases.

    pm4py replays every distinct prefix of the log as a trace of its own; here a prefix's marking is the
    marking of its variant's replay right after the prefix's last event fired (the replay walks the same
    hidden transitions either way). A prefix is kept when its replay needed no missing token so far.
    """
    net, im = replayed.net, replayed.initial_marking
    labels = {t.label for t in net.transitions if t.label is not None}
    cache: dict[frozenset[tuple[Any, int]], frozenset[str]] = {}

    def reachable_labels(marking: Counter[Any]) -> frozenset[str]:
        key = frozenset((p, n) for p, n in marking.items() if n > 0)
        if key not in cache:
            found = get_visible_transitions_eventually_enabled_by_marking(net, Marking(dict(key)))
            cache[key] = frozenset(t.label for t in found)
        return cache[key]

    # Prefixes live in a trie (node = parent node + next activity), so memory grows with the events of the
    # variants, not with the square of their length.
    children: dict[tuple[int, str], int] = {}
    following: list[set[str]] = [set()]
    weight: list[int] = [0]
    state: list[tuple[bool, frozenset[str]] | None] = [None]
    unresolved: list[tuple[int, Trace]] = []
    for (trace, cases), raw in zip(variants, replayed.raw, strict=True):
        states = _prefix_states(trace, raw["activated_transitions"], im, labels, reachable_labels)
        node = 0
        for j in range(len(trace) - 1):
            key = (node, trace[j])
            if key not in children:
                children[key] = len(following)
                following.append(set())
                weight.append(0)
                state.append(None)
            node = children[key]
            following[node].add(trace[j + 1])
            weight[node] += cases
            if state[node] is None:
                if states is not None:
                    state[node] = states[j]
                else:
                    unresolved.append((node, trace[: j + 1]))
    if unresolved:
        for (node, _), resolved in zip(
            unresolved, _replay_prefixes(replayed, [p for _, p in unresolved]), strict=True
        ):
            if state[node] is None:
                state[node] = resolved
    n_cases = sum(w for _, w in variants)
    starts = {trace[0] for trace, _ in variants if trace}
    initial = reachable_labels(Counter(dict(im)))
    sum_at = n_cases * len(initial)
    sum_ee = n_cases * len(initial - starts)
    for node in range(1, len(following)):
        st = state[node]
        if st is None or not st[0]:
            continue
        enabled = st[1]
        sum_at += len(enabled) * weight[node]
        sum_ee += len(enabled - following[node]) * weight[node]
    return 1.0 - sum_ee / sum_at if sum_at else 1.0


def _prefix_states(
    trace: Trace,
    activated: Sequence[Any],
    initial_marking: Any,
    labels: set[str],
    reachable_labels: Callable[[Counter[Any]], frozenset[str]],
) -> list[tuple[bool, frozenset[str]]] | None:
    """Per event of the trace: (no missing token so far, activities the model enables next).

    Events of activities outside the model are skipped by the replay (they keep the previous state). None
    when the replay's visible transitions do not line up with the trace's events (then the prefixes are
    replayed one by one instead)."""
    marking: Counter[Any] = Counter(dict(initial_marking))
    ok = True
    fired: list[tuple[str, bool, frozenset[str]]] = []
    for t in activated:
        ok = _fire(marking, t) and ok
        if t.label is not None:
            fired.append((t.label, ok, reachable_labels(marking)))
    states: list[tuple[bool, frozenset[str]]] = []
    current = (True, reachable_labels(Counter(dict(initial_marking))))
    pos = 0
    for activity in trace:
        if activity in labels:
            if pos >= len(fired) or fired[pos][0] != activity:
                return None
            current = (fired[pos][1], fired[pos][2])
            pos += 1
        states.append(current)
    return states


def _replay_prefixes(replayed: _Replayed, prefixes: list[Trace]) -> list[tuple[bool, frozenset[str]]]:
    """The slow path: pm4py's own prefix replay (as in etconformance_token)."""
    params = {
        token_replay.Parameters.ACTIVITY_KEY: ACTIVITY_KEY,
        token_replay.Parameters.CONSIDER_REMAINING_IN_FITNESS: False,
        token_replay.Parameters.TRY_TO_REACH_FINAL_MARKING_THROUGH_HIDDEN: False,
        token_replay.Parameters.STOP_IMMEDIATELY_UNFIT: True,
        token_replay.Parameters.WALK_THROUGH_HIDDEN_TRANS: True,
        token_replay.Parameters.CLEANING_TOKEN_FLOOD: False,
        token_replay.Parameters.SHOW_PROGRESS_BAR: False,
        token_replay.Parameters.DISABLE_VARIANTS: True,
    }
    # Any final marking will do: the prefix replay never tries to reach it.
    fm = Marking()
    with _pm4py_calls():
        raw = token_replay.apply(
            _event_log(prefixes), replayed.net, replayed.initial_marking, fm, parameters=params
        )
    return [
        (bool(r["trace_is_fit"]), frozenset(t.label for t in r["enabled_transitions_in_marking"] if t.label))
        for r in raw
    ]


# ====================================================================== alignments


@dataclass(frozen=True)
class Deviations:
    """What an optimal alignment of one variant says: activities skipped and inserted (with counts)."""

    skipped: dict[str, int]
    inserted: dict[str, int]
    cost: int


def align(model: Model, trace: Trace, *, seconds: float = 5.0) -> Deviations | None:
    """Optimal alignment of one variant on the model; None when it takes longer than `seconds`."""
    params = {
        alignments.Parameters.ACTIVITY_KEY: ACTIVITY_KEY,
        alignments.Parameters.PARAM_MAX_ALIGN_TIME_TRACE: seconds,
        alignments.Parameters.SHOW_PROGRESS_BAR: False,
        # Only the moves are needed, not the alignment's fitness (which would align the empty trace too).
        alignments.Parameters.ENABLE_BEST_WORST_COST: False,
    }
    with _pm4py_calls():
        # Dijkstra on the model's own numbering of places and transitions: deterministic (the default,
        # A* on a synchronous product, breaks ties differently from one run to the next).
        result = alignments.apply_trace(
            _event_log([trace])[0],
            model.net,
            model.initial_marking,
            model.final_marking,
            parameters=params,
            variant=alignments.Variants.VERSION_DIJKSTRA_LESS_MEMORY,
        )
    if result is None or result.get("alignment") is None:
        return None
    skipped: Counter[str] = Counter()
    inserted: Counter[str] = Counter()
    for log_move, model_move in result["alignment"]:
        if log_move == ">>" and model_move not in (None, ">>"):
            skipped[str(model_move)] += 1
        elif model_move == ">>" and log_move != ">>":
            inserted[str(log_move)] += 1
    return Deviations(dict(skipped), dict(inserted), len(skipped) + len(inserted))


# ====================================================================== reading and writing models


def read_model(path: Path) -> Model:
    """A reference model from BPMN 2.0 XML (`.bpmn`) or PNML (`.pnml`), as a Petri net."""
    kind = path.suffix.lower()
    if kind not in (".bpmn", ".pnml"):
        raise UsageError(
            f"{path}: unknown model type {path.suffix or '(none)'!r}; --model must end in .bpmn or .pnml"
        )
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; --model must be a .bpmn or .pnml file")
    root = _xml_root(path)
    if kind == ".bpmn":
        _refuse_nested_bpmn(path, root)
    try:
        with _pm4py_calls():
            if kind == ".bpmn":
                net, im, fm = pm4py.convert_to_petri_net(pm4py.read_bpmn(str(path)))
            else:
                net, im, fm = pm4py.read_pnml(str(path), auto_guess_final_marking=True)
    except Exception as exc:  # pm4py's readers raise whatever their parser raises
        what = "BPMN 2.0 XML" if kind == ".bpmn" else "PNML"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot read as {what} ({detail})") from exc
    unnamed = _unnamed_pnml_transitions(root) if kind == ".pnml" else set()
    names = _bpmn_task_names(root) if kind == ".bpmn" else {}
    for t in net.transitions:
        # pm4py deletes a name's line breaks ("Resolve\nTicket" became "ResolveTicket"); a modeller wraps a
        # long label for display, so a line break reads as a space.
        if t.name in names and t.label is not None:
            t.label = re.sub(r"\s*[\r\n]+\s*", " ", names[t.name])
        # The log's names are read without outer spaces (ingest trims them); a model's must match them.
        if isinstance(t.label, str):
            t.label = t.label.strip() or None
        # pm4py labels a transition without a name by its id ("t7"), a task no log has: it is silent.
        if t.name in unnamed and t.label == t.name:
            t.label = None
    model = Model(_canonical(net), im, fm, origin=str(path))
    if not model.activities:
        raise InputError(f"{path}: the model has no named activity (task or labelled transition)")
    if not im or not fm:
        raise InputError(f"{path}: the model has no start or no end (initial or final marking)")
    return model


_NESTED_BPMN = ("subProcess", "adHocSubProcess", "transaction", "callActivity")


def _xml_root(path: Path) -> Any | None:
    """The model file's XML root, read with a hardened parser (no entities, no network); None when it is
    no XML, for pm4py's reader to name the error."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except (etree.XMLSyntaxError, OSError):
        return None


def _local(el: Any) -> str:
    """An element's tag without its namespace ("" for comments and the like)."""
    from lxml import etree

    return str(etree.QName(el).localname) if isinstance(el.tag, str) else ""


def _bpmn_task_names(root: Any) -> dict[str, str]:
    """Every BPMN element's name by its id, as the XML holds it (character references decoded)."""
    if root is None:
        return {}
    return {str(el.get("id")): str(el.get("name")) for el in root.iter() if isinstance(el.tag, str)
            and el.get("id") is not None and el.get("name") is not None}


def _unnamed_pnml_transitions(root: Any) -> set[str]:
    """Ids of the PNML transitions that have no name (no `<name><text>` with text): no activity."""
    out: set[str] = set()
    for t in root.iter() if root is not None else ():
        if _local(t) != "transition" or t.get("id") is None:
            continue
        texts = [x.text for n in t if _local(n) == "name" for x in n if _local(x) == "text"]
        if not any(text and text.strip() for text in texts):
            out.add(str(t.get("id")))
    return out


def _refuse_nested_bpmn(path: Path, root: Any) -> None:
    """pm4py's BPMN conversion ignores a subprocess's boundaries: its tasks float free of the flow, and
    replay then calls every case non-conforming without a word. Refused with a one-line error instead."""
    if root is None:
        return  # pm4py's reader gives the error for unreadable XML
    nested = sorted({_local(el) for el in root.iter() if _local(el) in _NESTED_BPMN})
    if nested:
        raise InputError(
            f"{path}: the model has a {', '.join(nested)}; nested BPMN is not supported for replay, so expand it "
            "into the main process (or export the model as PNML)"
        )


def parse_formats(text: str) -> tuple[str, ...]:
    """`svg,bpmn,pnml` -> ("svg", "bpmn", "pnml"); unknown names are an error."""
    items = [s.strip().lower().lstrip(".") for s in text.split(",") if s.strip()]
    if not items:
        raise UsageError(f"--formats is empty; choose from {', '.join(FORMATS)}")
    unknown = [s for s in items if s not in FORMATS]
    if unknown:
        raise UsageError(f"--formats: unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(items))


def to_bpmn(model: Model) -> Any:
    """The model as a pm4py BPMN graph (from the process tree when there is one: fewer gateways)."""
    with _pm4py_calls():
        if model.tree is not None:
            return pm4py.convert_to_bpmn(model.tree)
        return pm4py.convert_to_bpmn(model.net, model.initial_marking, model.final_marking)


def write_model(model: Model, out_dir: Path, formats: Sequence[str], *, title: str = "") -> dict[str, Path]:
    """Writes `model.<format>` for each format into out_dir: BPMN 2.0 XML with diagram layout, PNML, and
    pictures of the BPMN model (svg, png, pdf; dot = the Graphviz source)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    bpmn: Any = None
    for fmt in formats:
        path = out_dir / f"model.{fmt}"
        if fmt == "pnml":
            with _pm4py_calls():
                pm4py.write_pnml(model.net, model.initial_marking, model.final_marking, str(path))
            _canonical_pnml(path)
        elif fmt == "bpmn":
            bpmn = bpmn if bpmn is not None else to_bpmn(model)
            from pm4py.objects.bpmn.layout import layouter

            # pm4py's layouter adds the bpmndi shapes and edges modellers need; it lays the model out with
            # Graphviz, so it sees the names escaped for Graphviz, and the file gets the names as they are.
            with _pm4py_calls(), _graphviz_safe_names(bpmn):
                bpmn = layouter.apply(bpmn)
            with _pm4py_calls():
                pm4py.write_bpmn(bpmn, str(path), auto_layout=False)
            _escape_attribute_breaks(path)
        else:
            bpmn = bpmn if bpmn is not None else to_bpmn(model)
            _write_picture(bpmn, path, fmt, title)
        written[fmt] = path
    return written


def _canonical_pnml(path: Path) -> None:
    """The same model gives the same PNML file on every run, so that a model kept under version control
    changes only when the process does. pm4py names the net after the clock, gives visible transitions
    random uuids and arcs the objects' memory addresses, and writes arcs in a varying order. Transitions
    keep their document order (pm4py sorts them by name) and are numbered `t1`, `t2`, …; arcs are sorted
    by source and target and numbered `a1`, `a2`, …; names, places and markings are untouched."""
    from lxml import etree

    root = _xml_root(path)
    if root is None:  # pragma: no cover - pm4py has just written it
        return
    net = next(el for el in root.iter() if _local(el) == "net")
    net.set("id", "net")
    for el in net:
        if _local(el) == "name":
            for text in el.iter():
                if _local(text) == "text":
                    text.text = "net"
    renamed: dict[str, str] = {}
    for tr in (el for el in root.iter() if _local(el) == "transition"):
        old = tr.get("id", "")
        renamed[old] = new = f"t{len(renamed) + 1}"
        tr.set("id", new)
        for tool in tr.iter():
            if _local(tool) == "toolspecific" and tool.get("localNodeID"):
                tool.set("localNodeID", new)
    arcs = [el for el in root.iter() if _local(el) == "arc"]
    for arc in arcs:
        for end in ("source", "target"):
            arc.set(end, renamed.get(arc.get(end, ""), arc.get(end, "")))
    if arcs:
        page = arcs[0].getparent()
        for arc in arcs:
            page.remove(arc)
        for k, arc in enumerate(sorted(arcs, key=lambda a: (a.get("source", ""), a.get("target", ""))), start=1):
            arc.set("id", f"a{k}")
            page.append(arc)
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)


_ATTRIBUTE = re.compile(r'(=")([^"<]*)(")')


def _escape_attribute_breaks(path: Path) -> None:
    """pm4py writes a task's name with its line breaks and tabs as they are, which an XML reader turns into
    spaces: "Call\tback" came back as "Call back", a task no case does. They are written as character
    references instead, which read back exactly (a line break then reads as a space in `read_model`)."""
    text = path.read_text(encoding="utf-8")

    def escape(m: re.Match[str]) -> str:
        value = m.group(2).replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")
        return m.group(1) + value + m.group(3)

    fixed = _ATTRIBUTE.sub(escape, text)
    if fixed != text:
        path.write_text(fixed, encoding="utf-8")


@contextlib.contextmanager
def _graphviz_safe_names(bpmn: Any) -> Any:
    """pm4py hands task names to Graphviz as they are: a name like "<b>x</b>" is read as an HTML label
    (dot failed, exit 3) and backslash sequences such as "\\N" as Graphviz escapes. Inside this block every
    name is escaped for Graphviz; afterwards the names are as before."""
    import graphviz

    saved = [(node, node.get_name()) for node in bpmn.get_nodes() if node.get_name()]
    for node, name in saved:
        node.set_name(graphviz.escape(name))
    try:
        yield
    finally:
        for node, name in saved:
            node.set_name(name)


def _write_picture(bpmn: Any, path: Path, fmt: str, title: str) -> None:
    params: dict[str, Any] = {"format": "svg" if fmt == "dot" else fmt, "rankdir": "LR"}
    if title:
        # pm4py writes the title into an HTML-like label as it is: a file named "Billing & Payments.csv"
        # made dot fail.
        params.update({"enable_graph_title": True, "graph_title": html.escape(title, quote=True)})
    with _pm4py_calls(), _graphviz_safe_names(bpmn):
        gviz = bpmn_visualizer.apply(bpmn, parameters=params)
    if fmt == "dot":
        path.write_text(gviz.source, encoding="utf-8")
        return
    import graphviz

    try:
        path.write_bytes(gviz.pipe(format=fmt))
    except graphviz.ExecutableNotFound as exc:
        raise UsageError(
            "the graphviz 'dot' program is needed for svg, png and pdf pictures: install graphviz "
            "(e.g. apt-get install graphviz) or choose --formats bpmn,pnml,dot"
        ) from exc


def pm4py_version() -> str:
    try:
        return metadata.version("pm4py")
    except metadata.PackageNotFoundError:  # pragma: no cover - pm4py imported above
        return "unknown"


@contextlib.contextmanager
def _pm4py_calls() -> Any:
    """pm4py prints progress and warnings of its own; neither may reach our stdout."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ====================================================================== the whole job on a log


@dataclass(frozen=True)
class Selection:
    """Which variants a step used, out of the log's."""

    variants: int
    cases: int
    total_variants: int
    total_cases: int

    @property
    def case_share(self) -> float:
        return self.cases / self.total_cases if self.total_cases else 0.0

    @property
    def complete(self) -> bool:
        return self.variants == self.total_variants

    def describe(self) -> str:
        if self.complete:
            return f"all {self.total_variants:,} variants ({self.total_cases:,} cases)"
        return (
            f"the {self.variants:,} most frequent of {self.total_variants:,} variants, covering "
            f"{self.case_share:.1%} of cases ({self.cases:,} of {self.total_cases:,})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "variants": self.variants,
            "cases": self.cases,
            "case_share": round(self.case_share, 6),
            "complete": self.complete,
        }


def select(counts: Weighted, total_cases: int, coverage: float, max_variants: int) -> list[tuple[Trace, int]]:
    """The most frequent variants (counts come most frequent first) until they cover `coverage` of the
    cases, the one that reaches it included, and at most `max_variants`."""
    out: list[tuple[Trace, int]] = []
    covered = 0
    for trace, cases in counts:
        if len(out) >= max_variants or (coverage < 1.0 and covered >= coverage * total_cases):
            break
        out.append((trace, cases))
        covered += cases
    return out


@dataclass(frozen=True)
class OutsideActivity:
    """An activity of the log that the model does not contain (left out with the rare variants)."""

    activity: str
    events: int
    event_share: float


@dataclass
class Discovery:
    """A discovered model, what it was discovered from, and how well it fits the log."""

    log_name: str
    options: DiscoveryOptions
    model: Model
    input: Selection
    evaluated: Selection
    quality: Quality
    outside: list[OutsideActivity]
    seconds: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)

    def rule(self) -> str:
        o = self.options
        until = "" if o.coverage >= 1.0 else f" until {o.coverage:.0%} of cases are covered"
        return f"the most frequent variants{until}, at most {o.max_variants:,}"

    def summary(self) -> list[str]:
        """The lines for stderr."""
        q = self.quality
        lines = [
            f"{self.model.origin} on {self.input.describe()}",
            f"fitness {q.fitness.log_fitness:.3f} (token replay; {q.fitness.fitting_share:.1%} of cases fit "
            f"perfectly) · precision {q.precision:.3f} (ETConformance) · on {self.evaluated.describe()}",
        ]
        if not self.input.complete:
            lines.append(
                f"note: the model was discovered from {self.input.case_share:.1%} of the cases ({self.rule()}); "
                "raise --max-variants or --coverage to include more"
            )
        frequent = [a for a in self.outside if a.event_share >= 0.01]
        if frequent:
            names = ", ".join(f"{a.activity} ({a.event_share:.1%} of events)" for a in frequent[:5])
            lines.append(f"note: activities left out of the model with the rare variants: {names}")
        if self.model.tree is None:
            # pm4py converts a Petri net that has no process tree (the heuristics miner's) to BPMN with its
            # own gateways: replayed, the BPMN can score another fitness than the net measured here.
            lines.append(
                "note: the figures are the Petri net's (model.pnml); model.bpmn is pm4py's conversion of it, which "
                "can replay differently: check a BPMN with `auditor conform --model model.bpmn`"
            )
        if q.fitness.fitting_share == 0.0 and q.precision >= 0.99:
            lines.append(
                "note: no case fits the model, so its precision (measured on the behaviour the log and the model "
                "share) says little"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        from auditor import __version__

        net = self.model.net
        q = self.quality
        return {
            "log": {
                "name": self.log_name,
                "cases": self.input.total_cases,
                "variants": self.input.total_variants,
            },
            "miner": self.options.miner.value,
            "parameters": self.options.parameters(),
            "input": {**self.input.to_json(), "rule": self.rule()},
            "model": {
                "activities": self.model.activities,
                "transitions": len(net.transitions),
                "hidden_transitions": sum(1 for t in net.transitions if t.label is None),
                "places": len(net.places),
                "arcs": len(net.arcs),
            },
            "activities_outside_model": [
                {"activity": a.activity, "events": a.events, "event_share": round(a.event_share, 6)}
                for a in self.outside
            ],
            "quality": {
                "fitness": round(q.fitness.log_fitness, 6),
                "average_trace_fitness": round(q.fitness.average_trace_fitness, 6),
                "fitting_case_share": round(q.fitness.fitting_share, 6),
                "precision": round(q.precision, 6),
                "evaluated_on": {
                    **self.evaluated.to_json(),
                    "rule": f"the most frequent variants, at most {self.options.eval_max_variants:,}",
                },
                "fitness_method": FITNESS_METHOD,
                "precision_method": PRECISION_METHOD,
            },
            "files": {fmt: path.name for fmt, path in self.files.items()},
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "versions": {"auditor": __version__, "pm4py": pm4py_version()},
        }


@dataclass(frozen=True)
class VariantCounts:
    """The most frequent variants with their cases, and the log's totals."""

    counts: list[tuple[Trace, int]]
    total_cases: int
    total_variants: int
    activity_events: dict[str, int]


def variant_counts(log: EventLog, limit: int) -> VariantCounts:
    """The variants with their cases, most frequent first (ties: shorter, then by sequence, as
    auditor.variants orders them), at most `limit`: one scan and sort of the events in the engine."""
    profile = log_profile(log)
    events = profile.activity_events
    traces, names = coded_traces(log, list(events), profile.span)
    grouped = traces.group_by("trace").aggregate(cases=traces.count())
    vt = log.engine.materialize(grouped, "variant_counts")
    totals = vt.aggregate(variants=vt.count(), cases=vt.cases.sum()).execute().iloc[0]
    top = vt.order_by(ranking(vt)).limit(limit).execute()
    log.engine.drop(vt)
    return VariantCounts(
        counts=[(decode(tr, names), int(c)) for tr, c in zip(top["trace"], top["cases"], strict=True)],
        total_cases=int(totals["cases"]),
        total_variants=int(totals["variants"]),
        activity_events=events,
    )


def run(log: EventLog, options: DiscoveryOptions, progress: Progress | None = None) -> Discovery:
    """Variants in the engine, the model from the most frequent of them, its quality on the log."""
    say = progress or (lambda _msg: None)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    say("computing variants")
    vs = variant_counts(log, max(options.max_variants, options.eval_max_variants))
    counts = vs.counts
    seconds["variants"] = time.perf_counter() - start

    chosen = select(counts, vs.total_cases, options.coverage, options.max_variants)
    say(f"discovering from {len(chosen):,} variants")
    start = time.perf_counter()
    model = discover(chosen, options)
    seconds["discovery"] = time.perf_counter() - start

    evaluated = counts[: options.eval_max_variants]
    say(f"measuring fitness and precision on {len(evaluated):,} variants")
    start = time.perf_counter()
    qual, _ = quality(model, evaluated)
    seconds["quality"] = time.perf_counter() - start

    in_model = set(model.activities)
    total_events = sum(vs.activity_events.values())
    outside = sorted(
        (
            OutsideActivity(a, n, n / total_events if total_events else 0.0)
            for a, n in vs.activity_events.items()
            if a not in in_model
        ),
        key=lambda o: (-o.events, o.activity),
    )

    def selection(items: Weighted) -> Selection:
        return Selection(len(items), sum(c for _, c in items), vs.total_variants, vs.total_cases)

    return Discovery(
        log_name=log.name,
        options=options,
        model=model,
        input=selection(chosen),
        evaluated=selection(evaluated),
        quality=qual,
        outside=outside,
        seconds=seconds,
    )


def write(result: Discovery, out_dir: Path, formats: Sequence[str]) -> dict[str, Path]:
    """Writes the model files and `model.json` (the quality and how it was obtained) into out_dir."""
    import json

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a directory; -o names the output directory")
    q = result.quality
    title = (
        f"{result.log_name}: {result.model.origin}, {result.input.describe()}; "
        f"fitness {q.fitness.log_fitness:.3f}, precision {q.precision:.3f}"
    )
    start = time.perf_counter()
    result.files = write_model(result.model, out_dir, formats, title=title)
    result.seconds["writing"] = time.perf_counter() - start
    path = out_dir / "model.json"
    result.files["json"] = path
    path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result.files

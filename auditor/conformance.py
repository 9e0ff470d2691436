"""Conformance of a log against a reference model (BPMN 2.0 XML or PNML).

Business rules:
- The log is replayed once per variant (token-based replay, through auditor.discovery) and each result is
  weighted by the variant's cases, so the cost grows with the number of variants, not of events.
- A case conforms when its variant replays with no missing and no remaining token and uses no activity the
  model lacks: every step was allowed when it happened, and the case reached the model's end.
  `conforms_so_far`: every step it took was allowed; only steps at the end may be missing (a ticket still
  open, or one that stopped early).
- Fitness is pm4py's log fitness over the cases (see auditor.discovery), reported with the share of
  conforming cases.
- Skipped and inserted activities come from optimal alignments of the deviating variants, which say exactly
  what differs (token replay only says where tokens were missing). Alignments cost more than replay, so at
  most `align_max_variants` deviating variants are aligned, most cases first, each within `align_seconds`;
  the report says how many deviating cases that explains. Skipped = the model required the activity there
  and the case did not do it; inserted = the case did it where the model does not allow it (a step out of
  order counts as both). Counted in cases: a case counts once per activity.
- The variants that deviate most are those losing the most fitness: cases x (1 - trace fitness).
- Per case (`case_conformance`, `--cases-out`): case_id, variant_rank (1 = most frequent, as `auditor
  variants` ranks them), fitness, conforms, conforms_so_far.
"""

from __future__ import annotations

import difflib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from auditor import discovery
from auditor.discovery import Fitness, Model, Trace, VariantReplay
from auditor.ingest import EventLog
from auditor.variants import coded_traces, decode, log_profile, ranking

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConformOptions:
    """How much work the deviation analysis may do."""

    align_max_variants: int = 500
    align_seconds: float = 5.0  # per variant
    align_budget_seconds: float = 120.0  # in all: then the remaining deviating variants stay unexplained


@dataclass(frozen=True)
class ActivityDeviation:
    activity: str
    skipped_cases: int
    inserted_cases: int


@dataclass(frozen=True)
class VariantResult:
    """A variant's replay, its rank and, when it deviates and was aligned, what deviates."""

    rank: int
    replay: VariantReplay
    skipped: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    aligned: bool = False

    @property
    def lost(self) -> float:
        """The fitness this variant costs the log, in cases."""
        return self.replay.cases * (1.0 - self.replay.fitness)

    def to_json(self) -> dict[str, Any]:
        r = self.replay
        return {
            "rank": self.rank,
            "cases": r.cases,
            "fitness": round(r.fitness, 6),
            "conforms": r.fit,
            "conforms_so_far": r.fit_so_far,
            "activities": list(r.activities),
            "skipped": self.skipped,
            "inserted": self.inserted,
            "unknown_activities": list(r.unknown),
            "aligned": self.aligned,
        }


@dataclass
class Conformance:
    """The log against the model: fitness, deviations per activity and per variant."""

    log_name: str
    model_name: str  # the file it was read from, or how it was made
    model_activities: list[str]
    duplicate_labels: list[str]
    fitness: Fitness
    variants: list[VariantResult]
    activities: list[ActivityDeviation]
    aligned_variants: int
    aligned_cases: int

    @property
    def cases(self) -> int:
        return self.fitness.cases

    @property
    def deviating(self) -> list[VariantResult]:
        """Deviating variants, the most fitness lost first."""
        out = [v for v in self.variants if not v.replay.fit]
        return sorted(out, key=lambda v: (-v.lost, v.rank))

    @property
    def deviating_cases(self) -> int:
        return sum(v.replay.cases for v in self.variants if not v.replay.fit)

    @property
    def incomplete_cases(self) -> int:
        """Deviating cases whose every step was allowed: they only lack steps at the end (still open, or
        stopped early)."""
        return sum(v.replay.cases for v in self.variants if v.replay.fit_so_far and not v.replay.fit)

    def unknown_activities(self) -> dict[str, int]:
        """Activities of the log that the model does not contain, with the cases doing them."""
        counts: Counter[str] = Counter()
        for v in self.variants:
            for a in v.replay.unknown:
                counts[a] += v.replay.cases
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def absent_tasks(self) -> list[tuple[str, list[str]]]:
        """The model's tasks that no case of the log does, each with the log's activities it may have meant
        (the same name in other letter case, else close spellings): a label that differs from the log's
        name makes every case deviate without naming why."""
        seen = sorted({a for v in self.variants for a in v.replay.activities})
        out = []
        for task in sorted(set(self.model_activities) - set(seen)):
            folded = [a for a in seen if a.casefold() == task.casefold()]
            out.append((task, folded or difflib.get_close_matches(task, seen, n=3, cutoff=0.8)))
        return out

    def summary(self) -> list[str]:
        f = self.fitness
        lines = [
            f"fitness {f.log_fitness:.3f} (token replay) · {f.fitting_cases:,} of {f.cases:,} cases conform "
            f"({f.fitting_share:.1%}) · {len(self.variants):,} variants, {len(self.deviating):,} deviating",
        ]
        if self.incomplete_cases:
            lines.append(
                f"{self.incomplete_cases:,} non-conforming cases only lack steps at the end "
                "(still open or stopped early: conforms_so_far)"
            )
        if self.deviating_cases:
            lines.append(
                f"deviations from alignments of {self.aligned_variants:,} deviating variants "
                f"({self.aligned_cases:,} of {self.deviating_cases:,} deviating cases)"
            )
        absent = self.absent_tasks()
        if absent:
            named = [f"{task!r}" + (f" (the log has {', '.join(repr(m) for m in meant)})" if meant else "")
                     for task, meant in absent[:MAX_ABSENT_SHOWN]]
            more = f" and {len(absent) - MAX_ABSENT_SHOWN:,} more" if len(absent) > MAX_ABSENT_SHOWN else ""
            lines.append(f"note: no case does the model's task{'s' if len(absent) != 1 else ''} "
                         f"{', '.join(named)}{more}")
        if self.duplicate_labels:
            lines.append(
                "note: the model names several tasks alike ("
                + ", ".join(self.duplicate_labels)
                + "); token replay follows one of each"
            )
        return lines

    def to_json(self, top: int = 10) -> dict[str, Any]:
        f = self.fitness
        return {
            "log": {"name": self.log_name, "cases": f.cases, "variants": len(self.variants)},
            "model": {"path": self.model_name, "activities": self.model_activities},
            "fitness": round(f.log_fitness, 6),
            "average_trace_fitness": round(f.average_trace_fitness, 6),
            "conforming_cases": f.fitting_cases,
            "conforming_share": round(f.fitting_share, 6),
            "deviating_cases": self.deviating_cases,
            "conforming_so_far_cases": f.fitting_cases + self.incomplete_cases,
            "deviating_variants": len(self.deviating),
            "activities": [
                {"activity": a.activity, "skipped_cases": a.skipped_cases, "inserted_cases": a.inserted_cases}
                for a in self.activities
            ],
            "unknown_activities": self.unknown_activities(),
            "absent_model_activities": [
                {"activity": task, "close_matches": meant} for task, meant in self.absent_tasks()
            ],
            "variants_deviating_most": [v.to_json() for v in self.deviating[:top]],
            "alignments": {"variants": self.aligned_variants, "cases": self.aligned_cases},
            "method": {"fitness": discovery.FITNESS_METHOD, "deviations": discovery.DEVIATION_METHOD},
        }


MAX_ABSENT_SHOWN = 8  # model tasks no case does, named in the summary (the JSON lists all)

# Per case its variant_rank (an engine table), and the variants as (rank, activities, cases).
RankedCases = tuple[ir.Table, list[tuple[int, Trace, int]]]


def ranked_cases(log: EventLog) -> RankedCases:
    """Per case: `case_id`, `variant_rank` (ranked as auditor.variants orders variants: most cases first,
    then shorter, then by sequence), in the engine; and the variants as (rank, activities, cases)."""
    profile = log_profile(log)
    traces, names = coded_traces(log, list(profile.activity_events), profile.span)
    return rank_traces(log, traces, names)


def rank_traces(log: EventLog, traces: ir.Table, names: Sequence[str]) -> RankedCases:
    """`ranked_cases` from the cases' traces coded as variants.coded_traces codes them (`case_id`, `trace`;
    `names`: the activities by code), for a caller that has computed them already."""
    v = traces.group_by("trace").aggregate(cases=traces.count())
    # Ranked once per variant, then joined back to the cases: ranking every case by its trace would sort
    # all the cases' lists.
    v = log.engine.materialize(
        v.mutate(variant_rank=ibis.row_number().over(order_by=ranking(v)) + 1),
        "variant_ranks",
    )
    df = v.order_by("variant_rank").execute()
    variants = [
        (int(r), decode(t, names), int(c))
        for r, t, c in zip(df["variant_rank"], df["trace"], df["cases"], strict=True)
    ]
    ranked = log.engine.materialize(traces.join(v, "trace").select("case_id", "variant_rank"), "ranked_cases")
    log.engine.drop(v)
    return ranked, variants


def _case_table(log: EventLog, ranked: ir.Table, variants: list[VariantResult]) -> ir.Table:
    results = log.engine.materialize(
        ibis.memtable(
            {
                "variant_rank": [v.rank for v in variants],
                "fitness": [v.replay.fitness for v in variants],
                "conforms": [v.replay.fit for v in variants],
                "conforms_so_far": [v.replay.fit_so_far for v in variants],
            },
            schema={
                "variant_rank": "int64",
                "fitness": "float64",
                "conforms": "boolean",
                "conforms_so_far": "boolean",
            },
        ),
        "conformance",
    )
    cases = ranked.select("case_id", "variant_rank")
    joined = cases.join(results, cases.variant_rank == results.variant_rank)
    return joined.select("case_id", cases.variant_rank, "fitness", "conforms", "conforms_so_far").order_by(
        ["variant_rank", "case_id"]
    )


def _replayed(
    log: EventLog, model: Model, given: RankedCases | None = None
) -> tuple[ir.Table, list[VariantResult]]:
    ranked, variants = given if given is not None else ranked_cases(log)
    replays = discovery.replay(model, [(t, c) for _, t, c in variants])
    return ranked, [VariantResult(rank, r) for (rank, _, _), r in zip(variants, replays, strict=True)]


def load_model(path: Path) -> Model:
    """A reference model from a `.bpmn` or `.pnml` file (one-line errors for anything unreadable)."""
    return discovery.read_model(path)


def _model(model: Model | Path) -> Model:
    return model if isinstance(model, Model) else load_model(model)


def case_conformance(log: EventLog, model_path: Model | Path, ranked: RankedCases | None = None) -> ir.Table:
    """Per case: case_id, variant_rank, fitness, conforms, conforms_so_far (an engine table, one row per
    case). Token replay only: no alignments.

    `ranked`: the cases' variants as `ranked_cases` gives them, when the caller has computed them already
    (grouping the events into traces is the costly part on a large log, so it should happen once)."""
    model = _model(model_path)
    ranked_table, variants = _replayed(log, model, ranked)
    return _case_table(log, ranked_table, variants)


def check(
    log: EventLog,
    model_path: Model | Path,
    options: ConformOptions | None = None,
    progress: Progress | None = None,
) -> tuple[Conformance, ir.Table]:
    """The conformance report and the per-case table."""
    opts = options or ConformOptions()
    say = progress or (lambda _msg: None)
    model = _model(model_path)
    say("replaying the variants")
    ranked, variants = _replayed(log, model)
    say("aligning the deviating variants")
    variants, aligned_variants, aligned_cases = _align(model, variants, opts)
    report = Conformance(
        log_name=log.name,
        model_name=model.origin,
        model_activities=model.activities,
        duplicate_labels=model.duplicate_labels(),
        fitness=discovery.fitness([v.replay for v in variants]),
        variants=variants,
        activities=_activity_deviations(variants),
        aligned_variants=aligned_variants,
        aligned_cases=aligned_cases,
    )
    return report, _case_table(log, ranked, variants)


def _align(
    model: Model, variants: list[VariantResult], options: ConformOptions
) -> tuple[list[VariantResult], int, int]:
    deviating = sorted((v for v in variants if not v.replay.fit), key=lambda v: (-v.replay.cases, v.rank))
    chosen = {v.rank for v in deviating[: options.align_max_variants]}
    out: list[VariantResult] = []
    n_variants = n_cases = 0
    deadline = time.monotonic() + options.align_budget_seconds
    for v in variants:
        left = deadline - time.monotonic()
        if v.rank not in chosen or left <= 0:
            out.append(v)
            continue
        dev = discovery.align(model, v.replay.activities, seconds=min(options.align_seconds, left))
        if dev is None:
            out.append(v)
            continue
        n_variants += 1
        n_cases += v.replay.cases
        out.append(VariantResult(v.rank, v.replay, dev.skipped, dev.inserted, aligned=True))
    return out, n_variants, n_cases


def _activity_deviations(variants: list[VariantResult]) -> list[ActivityDeviation]:
    skipped: Counter[str] = Counter()
    inserted: Counter[str] = Counter()
    for v in variants:
        for a in v.skipped:
            skipped[a] += v.replay.cases
        for a in v.inserted:
            inserted[a] += v.replay.cases
    names = set(skipped) | set(inserted)
    out = [ActivityDeviation(a, skipped[a], inserted[a]) for a in names]
    return sorted(out, key=lambda d: (-(d.skipped_cases + d.inserted_cases), d.activity))

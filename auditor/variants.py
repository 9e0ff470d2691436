"""Variants: the distinct activity sequences of the cases, computed in the engine.

Business rules:
- A case's trace is its activities ordered by timestamp, then source order (`seq`).
- A variant's throughput time is the elapsed time from its cases' first to last event; the median over its
  cases is reported, in hours.
- Coverage: when there are too many variants to hand to a miner, the most frequent ones are kept until they
  cover the requested share of cases; the share actually covered is always reported with the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from auditor.ingest import EventLog


@dataclass(frozen=True)
class Variant:
    activities: tuple[str, ...]
    cases: int
    case_share: float
    median_hours: float


@dataclass(frozen=True)
class VariantSet:
    """Variants, most frequent first (ties: shorter first, then by sequence), with how much they cover."""

    variants: list[Variant]
    total_cases: int
    total_variants: int

    @property
    def covered_cases(self) -> int:
        return sum(v.cases for v in self.variants)

    @property
    def coverage(self) -> float:
        return self.covered_cases / self.total_cases if self.total_cases else 0.0

    def counts(self) -> dict[tuple[str, ...], int]:
        return {v.activities: v.cases for v in self.variants}


def case_traces(table: ir.Table) -> ir.Table:
    """One row per case: `case_id`, `trace` (array of activities), `start`, `end`, `hours`."""
    per_case = table.group_by("case_id").aggregate(
        trace=table.activity.collect(order_by=[table.timestamp, table.seq]),
        start=table.timestamp.min(),
        end=table.timestamp.max(),
    )
    return per_case.mutate(hours=(per_case.end.epoch_seconds() - per_case.start.epoch_seconds()) / 3600.0)


def variant_table(table: ir.Table) -> ir.Table:
    """One row per variant: `trace`, `cases`, `median_hours`, ordered most frequent first."""
    traces = case_traces(table)
    grouped = traces.group_by("trace").aggregate(cases=traces.count(), median_hours=traces.hours.median())
    return grouped.order_by([ibis.desc("cases"), grouped.trace.length(), grouped.trace])


def compute(
    log: EventLog, *, top: int | None = None, min_coverage: float | None = None, max_variants: int | None = None
) -> VariantSet:
    """The variants of the log.

    `top` keeps the N most frequent; `min_coverage` keeps the most frequent until that share of cases is
    covered (capped by `max_variants`). Without either, every variant is returned.
    """
    vt = variant_table(log.table)
    total_cases = int(log.table.case_id.nunique().execute())
    total_variants = int(vt.count().execute())
    limit = top
    if min_coverage is not None:
        ranked = vt.mutate(
            running=vt.cases.sum().over(
                ibis.window(order_by=[ibis.desc(vt.cases), vt.trace.length(), vt.trace], preceding=None, following=0)
            )
        )
        # Keep variants up to and including the one that reaches the requested coverage.
        needed = ranked.filter(ranked.running - ranked.cases < min_coverage * total_cases).count().execute()
        limit = int(needed) if limit is None else min(limit, int(needed))
    if max_variants is not None:
        limit = max_variants if limit is None else min(limit, max_variants)
    df = (vt.limit(limit) if limit is not None else vt).execute()
    out = [
        Variant(
            activities=tuple(str(a) for a in trace),
            cases=int(cases),
            case_share=int(cases) / total_cases if total_cases else 0.0,
            median_hours=float(hours),
        )
        for trace, cases, hours in zip(df["trace"], df["cases"], df["median_hours"], strict=True)
    ]
    return VariantSet(variants=out, total_cases=total_cases, total_variants=total_variants)

"""compliant_failure: the process said fine, the customer said no.

Business rules:
- The model: the reference model given with `--model` (BPMN or PNML), else a model discovered from this log
  with the inductive miner's infrequent variant (noise `NOISE`) from the variants covering `COVERAGE` of the
  cases; the evidence names which. Conformance is token replay per variant, so it scales with variants.
- A case is compliant when it fits the model completely and was resolved (resolution, or closure where the
  log has no resolution activity): by the process metrics it is a success.
- A compliant case failed the customer when at least one of these holds:
  - `reopened`: a reopen activity;
  - `chased`: at least `chasing_contacts` customer contacts before the first resolution;
  - `survey_before_resolution`: a survey sent before the first resolution;
  - `far_longer`: far longer than comparable cases. A case's time from its first event to its first
    resolution is divided by the median of the compliant cases of its own variant (comparable: the same
    path through the process); the case is far longer when that ratio lies above Tukey's far-out fence
    (Q3 + 3 x IQR) of the ratios of all compliant cases. Pooling the ratios gives the fence hundreds of
    cases even when each variant has few; variants with fewer than `MIN_VARIANT_CASES` compliant cases have
    no reliable median and are not judged.
- Without `--model`, a log of fewer than `MIN_DISCOVERY_CASES` cases is not judged (a note says so): a model
  discovered from a handful of cases is those cases, so each of them would "follow the process".
- One finding; evidence: the model, how many cases are compliant, cases per reason, and for the far-longer
  cases their median hours to resolution beside their variants' median.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from auditor.audit import AuditContext
from auditor.discovery import Trace
from auditor.engine import Engine
from auditor.findings import Finding

NOISE = 0.2
COVERAGE = 0.8
MIN_VARIANT_CASES = 20
MIN_DISCOVERY_CASES = 20
FENCE = 3.0


def _model(ctx: AuditContext, variants: list[tuple[int, Trace, int]], total_cases: int) -> tuple[Any, str]:
    """The model and how it was made. A discovered model is discovery.run's (the same variants chosen the
    same way), built from the variants already counted here instead of grouping the events again; its
    quality on the log, which run also measures, is not needed here."""
    from auditor import conformance, discovery

    path = ctx.options.model
    if path is not None:
        return conformance.load_model(path), f"reference model {path.name}"
    options = discovery.DiscoveryOptions(noise=NOISE, coverage=COVERAGE)
    counts = [(trace, cases) for _, trace, cases in variants]
    chosen = discovery.select(counts, total_cases, options.coverage, options.max_variants)
    model = discovery.discover(chosen, options)
    share = discovery.Selection(len(chosen), sum(c for _, c in chosen), len(variants), total_cases).case_share
    return model, (
        f"model discovered from this log (inductive miner, noise {NOISE:g}, variants covering "
        f"{share:.0%} of the cases)"
    )


def detect(ctx: AuditContext) -> list[Finding]:
    from auditor import conformance
    from auditor.variants import activity_codes

    if not ctx.roles.resolution_or_closure:
        ctx.notes.append("compliant failures: the log has no resolution or closure activity; not judged")
        return []
    if ctx.options.model is None and ctx.total_cases < MIN_DISCOVERY_CASES:
        # A model discovered from a handful of cases is those cases: every one of them "follows the process".
        ctx.notes.append(
            f"compliant failures: {ctx.total_cases:,} case{'s are' if ctx.total_cases != 1 else ' is'} too few "
            f"to discover a reference model from (at least {MIN_DISCOVERY_CASES}); not judged. Give one with --model"
        )
        return []
    engine = ctx.log.engine
    e = ctx.events
    c = ctx.cases
    threshold = max(1, int(ctx.thresholds.chasing_contacts))
    # Activities as integer codes, as variants.coded_traces codes them: lists of small integers group
    # several times faster than lists of names and sort as the names would.
    activities = e.select("activity").distinct().execute()["activity"]
    codes, names = activity_codes(engine, (str(a) for a in activities))
    fr = c.select(fr_case=c.case_id, fr=c.first_resolution, start=c.start)
    ev = e.join(fr, e.case_id == fr.fr_case).join(codes, "activity")
    before = ev.fr.isnull() | (ev.timestamp < ev.fr)
    # One pass over the events gives each case both its trace (its variant) and the customer signals. `pos`
    # orders a case's events by (timestamp, seq) already, as one integer.
    per_case = engine.materialize(
        ev.group_by("case_id").aggregate(
            trace=ev.code.collect(order_by=ev.pos),
            reopened=ev.r_reopen.any(),
            contacts=(ev.r_customer_contact & before).cast("int64").sum(),
            early_survey=(ev.r_survey & before).any(),
            fr=ev.fr.max(),
            start=ev.start.max(),
        ),
        "compliant_per_case",
    )
    ranked, variants = conformance.rank_traces(ctx.log, per_case.select("case_id", "trace"), names)
    model, source = _model(ctx, variants, sum(n for _, _, n in variants))
    conf = conformance.case_conformance(ctx.log, model, ranked=(ranked, variants))
    per = per_case.drop("trace").join(conf.select("case_id", "variant_rank", "conforms"), "case_id")
    per = per.filter(per.conforms & per.fr.notnull())
    # Materialised: the medians below and the join back to them both read these cases.
    compliant = engine.materialize(
        per.mutate(hours=(Engine.epoch_seconds(per.fr) - Engine.epoch_seconds(per.start)) / 3600.0), "compliant_cases"
    )
    for table in (codes, per_case, ranked):
        engine.drop(table)
    medians = compliant.group_by("variant_rank").aggregate(n=compliant.count(), med=compliant.hours.median())
    j = compliant.left_join(medians, compliant.variant_rank == medians.variant_rank)
    j = j.mutate(ratio=ibis.ifelse((j.n >= MIN_VARIANT_CASES) & (j.med > 0), j.hours / j.med, ibis.null("float64")))
    j = scored = engine.materialize(j.drop("variant_rank_right"), "compliant")
    # j has one row per compliant case, with its variant's compliant count: the counts come with the fence.
    q = j.aggregate(
        q1=j.ratio.quantile(0.25),
        q3=j.ratio.quantile(0.75),
        n_compliant=j.count(),
        judged=j.variant_rank.nunique(where=j.n >= MIN_VARIANT_CASES),
    ).execute().iloc[0]
    fence = None if pd.isna(q["q1"]) else float(q["q3"]) + FENCE * (float(q["q3"]) - float(q["q1"]))
    j = j.mutate(
        far_longer=(j.ratio > (fence if fence is not None else float("inf"))).fill_null(False),
        chased=j.contacts >= threshold,
    )
    flagged = engine.materialize(
        j.filter(j.reopened | j.chased | j.early_survey | j.far_longer).select(
            "case_id", "reopened", "chased", "early_survey", "far_longer", "hours", "med"
        ),
        "compliant_failures",
    )
    engine.drop(compliant)
    n_compliant = int(q["n_compliant"])
    judged = int(q["judged"])
    case_ids = ctx.ids(flagged)
    if not case_ids:
        for table in (scored, flagged):
            engine.drop(table)
        return []
    f = flagged
    head = f.aggregate(
        reopened=f.reopened.cast("int64").sum(),
        chased=f.chased.cast("int64").sum(),
        early_survey=f.early_survey.cast("int64").sum(),
        far_longer=f.far_longer.cast("int64").sum(),
        long_hours=f.hours.median(where=f.far_longer),
        long_variant_hours=f.med.median(where=f.far_longer),
    ).execute().iloc[0]
    for table in (scored, flagged):
        engine.drop(table)
    evidence: dict[str, Any] = {
        "model": source,
        "conformance": "token replay per variant; compliant = fits completely and resolved",
        "compliant_cases": n_compliant,
        "reasons": {
            "reopened": int(head["reopened"]),
            "chased": int(head["chased"]),
            "survey_before_resolution": int(head["early_survey"]),
            "far_longer": int(head["far_longer"]),
        },
        "far_longer": {
            "rule": (
                f"hours to resolution / median of the compliant cases of the same variant, above Q3 + {FENCE:g} x "
                "IQR of that ratio over all compliant cases"
            ),
            "fence_ratio": None if fence is None else round(fence, 3),
            "variants_judged": judged,
            "median_hours_to_resolution": _num(head["long_hours"]),
            "their_variants_median_hours": _num(head["long_variant_hours"]),
        },
        "waste": "defects",
    }
    cost = ctx.cost_of(case_ids)
    n = len(case_ids)
    return [
        ctx.finding(
            kind="compliant_failure",
            title=f"{n:,} cases followed the process and were resolved, yet failed the customer",
            activities=sorted(ctx.roles.resolution_or_closure),
            case_ids=case_ids,
            evidence=evidence,
            cost=cost,
        )
    ]


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else round(out, 2)


"""stalled_case: open cases nobody has touched for a long time at the end of the log.

Business rules (contract):
- A case is stalled when it has no closure activity and its last event is at least `stalled_days` (rule pack
  `[thresholds]`, default 14) older than the latest timestamp of the whole log. Exactly `stalled_days` idle
  counts. Open cases with a recent last event are open, not stalled.
- Closure is the `closure` role (rule pack, else inferred from the names). A resolved case that was never
  closed is stalled too (the evidence counts them apart). When the log has no closure activity at all, no
  case can be told open from finished and nothing is reported.
- One finding for all stalled cases; `activities` = the last activities of the stalled cases.

Cost: the hours each stalled case that was never resolved has sat idle at the end of the log (median per case,
sum in total; when a few events lie far after the rest of the log, a mistyped year, to the end of the rest), also in business hours with working hours given (the idle time inside them). A case resolved
but never closed waits for bookkeeping, not the customer: it is not counted, and the title says how many.

Evidence: the threshold; days idle at the end of the log (median, max); where they stall (the last activity,
cases per activity); who holds them, where the log has resources and teams (the last human account and its
team: system and customer accounts do not own the work; the ten that hold most); how many stalled cases
were resolved but never closed; how many open cases the log has in all; `edges`: the last step into the
last activity (the last two activities of the case, the three most frequent: "last activity → nowhere" is
not an edge); `waste` (Lean TIMWOODS): `inventory`, work in progress that sits.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from auditor.audit import AuditContext
from auditor.businesstime import business_hours_between
from auditor.engine import Engine
from auditor.findings import Cost, Finding

MAX_EDGES = 3
MAX_HOLDERS = 10


def detect(ctx: AuditContext) -> list[Finding]:
    if not ctx.roles.of("closure") or ctx.end is None:
        return []
    days = float(ctx.thresholds.stalled_days)
    e = ctx.events
    human = e.resource.notnull() & ~e.is_system & ~e.is_customer
    per_case = e.group_by("case_id").aggregate(
        last_ts=e.timestamp.max(),
        last_act=e.activity.argmax(e.pos),
        prev_act=e.prev_activity.argmax(e.pos),
        closed=e.r_closure.any(),
        resolved=e.r_resolution.any(),
        holder=e.resource.argmax(e.pos, where=human),
        holder_team=e.team.argmax(e.pos, where=human),
    )
    log_end = e.timestamp.max().as_scalar()
    idle = (Engine.epoch_seconds(log_end) - Engine.epoch_seconds(per_case.last_ts)) / 86400.0
    # A few events far after the rest (a mistyped year) set the log's end: the contract's case set is kept,
    # but the time a case has sat idle, and so its cost, is measured to the end of the rest of the log.
    cost_end = ibis.literal(ctx.rest_end, "timestamp('UTC')") if ctx.rest_end is not None else log_end
    idle_cost = ibis.greatest(Engine.epoch_seconds(cost_end) - Engine.epoch_seconds(per_case.last_ts), 0) / 86400.0
    open_cases = per_case.filter(~per_case.closed).mutate(idle_days=idle, cost_days=idle_cost)
    wh = ctx.options.working_hours
    if wh is not None:
        until = ibis.greatest(cost_end, open_cases.last_ts)
        open_cases = open_cases.mutate(idle_business_hours=business_hours_between(open_cases.last_ts, until, wh))
    engine = ctx.log.engine
    opened = engine.materialize(open_cases, "open_cases")
    try:
        stalled = opened.filter(opened.idle_days >= days)
        case_ids = ctx.ids(stalled)
        if not case_ids:
            return []
        n_open = int(opened.count().execute())
        evidence = _evidence(stalled, days, n_open)
        activities = sorted(evidence["last_activity"])
        # The customer waits through the idle time of a case never resolved; one resolved but never closed
        # waits for bookkeeping (BPIC 2014: 754 such cases, 1.76 M hours, were the top finding).
        waiting = ~stalled.resolved
        sums = {
            "median": stalled.cost_days.median(where=waiting),
            "total": stalled.cost_days.sum(where=waiting),
            "at_rest": stalled.count(where=stalled.cost_days >= days),
        }
        if wh is not None:
            sums |= {
                "b_median": stalled.idle_business_hours.median(where=waiting),
                "b_total": stalled.idle_business_hours.sum(where=waiting),
            }
        idle = stalled.aggregate(**sums).execute().iloc[0].fillna(0.0)
    finally:
        engine.drop(opened)
    # A stalled case's cost is not in its first-to-last span (nothing happens any more): it is the time it has
    # sat idle, which the customer is still waiting through, unless the case was resolved.
    resolved = int(evidence["resolved_not_closed"])
    method = "hours each stalled case never resolved has been idle at the end of the log (median per case, sum in total)"
    far = ""
    if ctx.rest_end is not None:
        at_rest = int(idle["at_rest"])
        evidence["rest_of_log_ends"] = ctx.rest_end.strftime("%Y-%m-%dT%H:%M:%SZ")
        evidence["stalled_at_rest_end"] = at_rest
        method += f", measured to {ctx.rest_end:%Y-%m-%d}, where the rest of the log ends (events far after it: see notes)"
        far = (f"; the log's end is a date far after the rest (see notes): {at_rest:,} of them are idle "
               f"{days:g}+ days at the rest's end, {ctx.rest_end:%Y-%m-%d}")
    if resolved:
        method += f"; the {resolved:,} resolved but never closed are not counted: the customer is not waiting"
    cost = Cost(
        hours_per_case=float(idle["median"]) * 24.0,
        hours_total=float(idle["total"]) * 24.0,
        method=method,
        business_hours_per_case=float(idle["b_median"]) if wh is not None else None,
        business_hours_total=float(idle["b_total"]) if wh is not None else None,
        compared_cases=0,
    )
    n = len(case_ids)
    return [
        ctx.finding(
            kind="stalled_case",
            title=f"{n:,} open case{'s' if n != 1 else ''} idle for {days:g}+ days at the end of the log"
            + (f" ({resolved:,} resolved but never closed)" if resolved else "") + far,
            activities=activities,
            case_ids=case_ids,
            evidence=evidence,
            cost=cost,
        )
    ]


def _evidence(stalled: ir.Table, days: float, n_open: int) -> dict[str, Any]:
    s = stalled
    row = (
        s.aggregate(
            median=s.idle_days.quantile(0.5),
            max=s.idle_days.max(),
            resolved=s.resolved.cast("int64").sum(),
        )
        .execute()
        .iloc[0]
    )
    last = _counts(s, "last_act")
    with_prev = s.filter(s.prev_act.notnull())
    edges = (
        with_prev.group_by(["prev_act", "last_act"])
        .aggregate(cases=with_prev.count())
        .order_by([ibis.desc("cases"), "prev_act", "last_act"])
        .limit(MAX_EDGES)
        .execute()
    )
    evidence: dict[str, Any] = {
        "stalled_days": days,
        "days_idle": {"median": round(float(row["median"]), 2), "max": round(float(row["max"]), 2)},
        "last_activity": last,
        "resolved_not_closed": int(row["resolved"] or 0),
        "open_cases": n_open,
    }
    holders = _counts(s.filter(s.holder.notnull()), "holder", MAX_HOLDERS)
    if holders:
        evidence["held_by_resource"] = holders
    teams = _counts(s.filter(s.holder_team.notnull()), "holder_team", MAX_HOLDERS)
    if teams:
        evidence["held_by_team"] = teams
    evidence["edges"] = [
        {"source": str(r.prev_act), "target": str(r.last_act), "cases": int(r.cases)}
        for r in edges.itertuples(index=False)
    ]
    evidence["waste"] = "inventory"
    return evidence


def _counts(table: ir.Table, column: str, limit: int | None = None) -> dict[str, int]:
    """Cases per value of `column`, most first (ties by name)."""
    q = table.group_by(column).aggregate(cases=table.count()).order_by([ibis.desc("cases"), column])
    if limit is not None:
        q = q.limit(limit)
    df = q.execute()
    return {str(k): int(v) for k, v in zip(df[column], df["cases"], strict=True)}

"""order_violation: a step happens before the step that must come first.

Business rules (contract):
- The rules are the rule pack's `[[order]]` rules plus two defaults when the roles are known (a survey is
  sent only after the resolution; a case is closed only after an agent responded): `ctx.roles.order`.
- For a rule (`before` A, `after` B; each a set of activities), a case violates it when some event of B
  comes while no event of A has yet occurred in the case. "Before" is the case's order: timestamp, then
  source order, so two events with the same timestamp keep the order of the log (the contract's case set).
  Where that order rests on the rows' order alone (every violating B of the case carries the same
  timestamp as the case's first A; an export sorted by name puts a survey above a resolution of the same
  second), the case is counted in `same_timestamp_cases` and the title says how many such cases there are:
  a review can set them apart. An event that is both an A and a B never violates the rule by itself.
- One finding per rule that at least one case violates; `activities` = [A…, B…]; its cases are exactly the
  violating cases.

Evidence:
- `rule`: before, after and origin (`rule pack`, or which default).
- How early, per case, from its first violating B: `hours_early` (median, p90, cases) up to the first A that
  came after it; `before_never_happened`: cases in which A never happened at all.
- `violations`: the violating B events (a case may send several); `done_by`: who did the first violating
  B (`system`, `customer`, `person`; `unknown` without a resource); `reached_customer`: whether B is a
  survey or an agent response, i.e. something sent to the customer.
- `edges`: the hand-over into the first violating B (previous activity → B), the three most frequent.
- `waste` (Lean TIMWOODS): `overproduction` when everything in B reaches the customer (a survey or a
  notice sent before there is anything to ask or tell: output made before it is due), else `defects`
  (the process ran in the wrong order, e.g. a case closed before anyone answered).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from auditor.audit import AuditContext
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.rules import OrderRule

MAX_EDGES = 3


def detect(ctx: AuditContext) -> list[Finding]:
    findings = []
    for rule in ctx.roles.order:
        finding = _check(ctx, rule)
        if finding is not None:
            findings.append(finding)
    return findings


def _check(ctx: AuditContext, rule: OrderRule) -> Finding | None:
    e = ctx.events
    is_a = e.activity.isin(list(rule.before))
    case = ibis.window(group_by="case_id")
    marked = e.mutate(
        first_a=ibis.ifelse(is_a, e.pos, ibis.null("int64")).min().over(case),
        a_ts=ibis.ifelse(is_a, e.timestamp, ibis.null(e.timestamp.type())).min().over(case),
    )
    # B while A has not yet occurred: A never occurs in the case, or only after this event. At the same
    # timestamp as the first A, only the export's row order says which came first.
    bad = marked.filter(
        marked.activity.isin(list(rule.after)) & (marked.first_a.isnull() | (marked.pos < marked.first_a))
    )
    bad = bad.mutate(tied=bad.first_a.notnull() & (bad.timestamp == bad.a_ts))
    per_case = _per_case(ctx, bad)
    try:
        stats = _stats(per_case)
        if stats["cases"] == 0:
            return None
        tied = int(per_case.filter(per_case.untied == 0).count().execute())
        case_ids = ctx.ids(per_case)
        edges = _edges(per_case)
    finally:
        ctx.log.engine.drop(per_case)
    customer_facing = set(ctx.roles.of("survey")) | set(ctx.roles.of("agent_response"))
    reached = all(a in customer_facing for a in rule.after)
    evidence: dict[str, Any] = {
        "rule": {"before": list(rule.before), "after": list(rule.after), "origin": rule.origin},
        "violations": stats["violations"],
        "hours_early": {"median": stats["median"], "p90": stats["p90"], "cases": stats["later"]},
        "before_never_happened": stats["never"],
        "same_timestamp_cases": tied,
        "done_by": {k: stats[k] for k in ("system", "customer", "person", "unknown")},
        "reached_customer": reached,
        "edges": edges,
        "waste": "overproduction" if reached else "defects",
    }
    a, b = " / ".join(rule.before), " / ".join(rule.after)
    n = len(case_ids)
    same = f" ({'all' if tied == n else f'{tied:,} of them'} only by the export's row order: same timestamp)" if tied else ""
    never = stats["never"] or 0
    # "B happens before A" read as A coming late; when A never came, the title says so.
    if never == n:
        title = f"{b} happens without any {a} in {n:,} case{'s' if n != 1 else ''}{same}"
    else:
        absent = f" ({never:,} of them without any {a})" if never else ""
        title = f"{b} happens before {a} in {n:,} case{'s' if n != 1 else ''}{absent}{same}"
    return ctx.finding(
        kind="order_violation",
        title=title,
        activities=[*rule.before, *rule.after],
        case_ids=case_ids,
        evidence=evidence,
    )


def _per_case(ctx: AuditContext, bad: ir.Table) -> ir.Table:
    """One row per violating case: its first violating B (what, who, the edge into it), how early it was;
    `untied`: its violating Bs with a timestamp earlier than the first A (0: the row order alone decides)."""
    per_case = bad.group_by("case_id").aggregate(
        violations=bad.count(),
        untied=bad.count(where=~bad.tied),
        b_act=bad.activity.argmin(bad.pos),
        b_prev=bad.prev_activity.argmin(bad.pos),
        b_system=bad.is_system.argmin(bad.pos),
        b_customer=bad.is_customer.argmin(bad.pos),
        b_known=bad.resource.notnull().argmin(bad.pos),
        b_ts=bad.timestamp.min(),
        a_ts=bad.a_ts.min(),
    )
    hours = (Engine.epoch_seconds(per_case.a_ts) - Engine.epoch_seconds(per_case.b_ts)) / 3600.0
    return ctx.log.engine.materialize(per_case.mutate(hours=hours), "order_violation")


def _stats(per_case: ir.Table) -> dict[str, Any]:
    p = per_case
    system = p.b_system.fill_null(False)
    customer = p.b_customer.fill_null(False) & ~system
    known = p.b_known.fill_null(False)
    row = (
        p.aggregate(
            cases=p.count(),
            violations=p.violations.sum(),
            later=p.hours.count(),
            never=p.hours.isnull().cast("int64").sum(),
            median=p.hours.quantile(0.5),
            p90=p.hours.quantile(0.9),
            system=system.cast("int64").sum(),
            customer=customer.cast("int64").sum(),
            unknown=(~known).cast("int64").sum(),
        )
        .execute()
        .iloc[0]
    )
    cases = int(row["cases"])
    out: dict[str, Any] = {
        "cases": cases,
        "violations": _int(row["violations"]),
        "later": _int(row["later"]),
        "never": _int(row["never"]),
        "median": _hours(row["median"]),
        "p90": _hours(row["p90"]),
        "system": _int(row["system"]),
        "customer": _int(row["customer"]),
        "unknown": _int(row["unknown"]),
    }
    out["person"] = cases - out["system"] - out["customer"] - out["unknown"]
    return out


def _edges(per_case: ir.Table) -> list[dict[str, Any]]:
    """The most frequent hand-overs into the first violating B: the path the map draws red."""
    p = per_case.filter(per_case.b_prev.notnull())
    rows = (
        p.group_by(["b_prev", "b_act"])
        .aggregate(cases=p.count())
        .order_by([ibis.desc("cases"), "b_prev", "b_act"])
        .limit(MAX_EDGES)
        .execute()
    )
    return [
        {"source": str(r.b_prev), "target": str(r.b_act), "cases": int(r.cases)}
        for r in rows.itertuples(index=False)
    ]


def _int(value: Any) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0
    return 0 if f != f else int(f)


def _hours(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f else round(f, 2)

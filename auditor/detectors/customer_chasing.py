"""customer_chasing: customers contacting again and again before their issue is resolved.

Business rules (contract):
- A case is chased when it has at least `chasing_contacts` (rule pack `[thresholds]`, default 2) customer
  contacts before its first resolution, or in the whole case when it never resolved. A threshold below 1
  counts as 1: a case without any contact is never chasing.
- A customer contact is an event of the `customer_contact` role (rule pack, else inferred: contacts the
  customer starts, unprompted), whoever recorded it. Other events of customer accounts do not count: the
  customer's answer to an agent's question (`Customer Reply` to `Request Info`), the opening of the case, a
  reopen: they are prompted or belong to other findings, and only unprompted contacts are chasing.
- "Before" is the case's order (timestamp, then source order). The first resolution is the first event of
  the `resolution` role; when the log has no resolution activity, closure stands in for it (as everywhere in
  the audit). A case closed without a resolution, in a log that has one, counts as never resolved.
- One finding for all chased cases; `activities` = the contact activities counted in them.

Evidence: the threshold; contacts per case before resolution (median, max, and how many cases had each
count); hours from the first contact to the resolution (median, p90, over the cases that resolved); how
many chased cases resolved, how many never did, and of those how many were closed without a resolution;
`edges`: the steps the contacts follow (previous activity → contact, the three most frequent by cases:
where customers start chasing); `waste` (Lean TIMWOODS): `waiting`, the customer waits and asks again.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from auditor.audit import AuditContext
from auditor.engine import Engine
from auditor.findings import Finding

MAX_EDGES = 3


def detect(ctx: AuditContext) -> list[Finding]:
    roles = ctx.roles
    if not roles.of("customer_contact"):
        return []
    threshold = max(1, int(ctx.thresholds.chasing_contacts))
    e = ctx.events
    resolution = e.r_resolution if roles.of("resolution") else e.r_closure
    case = ibis.window(group_by="case_id")
    marked = e.mutate(
        res_pos=ibis.ifelse(resolution, e.pos, ibis.null("int64")).min().over(case),
        res_ts=ibis.ifelse(resolution, e.timestamp, ibis.null(e.timestamp.type())).min().over(case),
        closed=e.r_closure.any().over(case),
    )
    contacts = marked.filter(
        marked.r_customer_contact & (marked.res_pos.isnull() | (marked.pos < marked.res_pos))
    )
    per_case = contacts.group_by("case_id").aggregate(
        contacts=contacts.count(),
        first_contact=contacts.timestamp.min(),
        res_ts=contacts.res_ts.min(),
        closed=contacts.closed.max(),
    )
    engine = ctx.log.engine
    chased = engine.materialize(per_case.filter(per_case.contacts >= threshold), "chased")
    try:
        case_ids = ctx.ids(chased)
        if not case_ids:
            return []
        hits = contacts.semi_join(chased, contacts.case_id == chased.case_id)
        activities = sorted(str(a) for a in hits.select("activity").distinct().execute()["activity"])
        evidence = _evidence(chased, hits, threshold)
    finally:
        engine.drop(chased)
    n = len(case_ids)
    return [
        ctx.finding(
            kind="customer_chasing",
            title=f"Customers chase {n:,} case{'s' if n != 1 else ''}: {threshold}+ contacts before resolving",
            activities=activities,
            case_ids=case_ids,
            evidence=evidence,
        )
    ]


def _evidence(chased: ir.Table, hits: ir.Table, threshold: int) -> dict[str, Any]:
    c = chased
    hours = (Engine.epoch_seconds(c.res_ts) - Engine.epoch_seconds(c.first_contact)) / 3600.0
    row = (
        c.aggregate(
            cases=c.count(),
            median=c.contacts.quantile(0.5),
            max=c.contacts.max(),
            resolved=c.res_ts.notnull().cast("int64").sum(),
            closed_unresolved=(c.res_ts.isnull() & c.closed).cast("int64").sum(),
            h_median=hours.quantile(0.5),
            h_p90=hours.quantile(0.9),
        )
        .execute()
        .iloc[0]
    )
    dist = c.group_by("contacts").aggregate(cases=c.count()).order_by("contacts").execute()
    edge_src = hits.filter(hits.prev_activity.notnull())
    edges = (
        edge_src.group_by(["prev_activity", "activity"])
        .aggregate(cases=edge_src.case_id.nunique())
        .order_by([ibis.desc("cases"), "prev_activity", "activity"])
        .limit(MAX_EDGES)
        .execute()
    )
    cases, resolved = int(row["cases"]), int(row["resolved"])
    return {
        "threshold": threshold,
        "contacts_per_case": {
            "median": float(row["median"]),
            "max": int(row["max"]),
            "cases_by_contacts": {
                str(int(k)): int(v) for k, v in zip(dist["contacts"], dist["cases"], strict=True)
            },
        },
        "hours_first_contact_to_resolution": {
            "median": _num(row["h_median"]),
            "p90": _num(row["h_p90"]),
            "cases": resolved,
        },
        "resolved": resolved,
        "never_resolved": cases - resolved,
        "closed_without_resolution": int(row["closed_unresolved"] or 0),
        "edges": [
            {"source": str(r.prev_activity), "target": str(r.activity), "cases": int(r.cases)}
            for r in edges.itertuples(index=False)
        ],
        "waste": "waiting",
    }


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f else round(f, 2)

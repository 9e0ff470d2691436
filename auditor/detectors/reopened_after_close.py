"""reopened_after_close: the case was closed, but the customer's issue was not over.

Business rules (contract, and the decisions that make it exact):
- A case is affected when, after its first closure (the first event, in timestamp then source order, of a
  closure activity), one of these occurs:
  - `reopen`: a reopen activity, whoever does it. A reopen activity is the CRM's own record that the case
    had been declared done, so it also counts after the first resolution when no closure came before it
    (BPIC 2014 closes incidents automatically at the very end; its reopens follow `resolved`);
  - `customer_contact`: a customer-contact activity, or any event by a customer account;
  - `further_work`: an event by an account that is neither a system nor a customer account (events
    without a resource count: they are not by a system account) and that is not itself a closure, more
    than `SAME_SAVE` seconds after the closure. Work recorded with the closure is part of the closing save
    (a field filled in on closing: BPIC 2014's `Caused By CI`, at the closure's instant or a second after
    it, made 13,000 cases "come back 0.0 h after closure"), not work after it.
  Reopens and customer contacts at the closure's own timestamp but later in source order are after it.
  Survey steps (the survey role: sent, or answered by the customer) are part of closing a case and are no
  sign that it was not over, so they count only when they are also a reopen or a customer-contact activity.
- One finding for the kind; its cases are exactly the affected cases. The first such event after the
  closure is the "return": its activities are the finding's `activities` (most frequent first), and the
  map draws closure activity → return activity in red (`evidence.edges`, at most `MAX_EDGES`; drawn even
  when other events, e.g. a survey timer, lie between).
- Evidence: hours from the first closure to the return (median, p90); what closed the case (`closed_by`:
  `agent`, `system` (an auto-close timer or other system account), `customer`, `unknown` without a
  resource); what reopened it (`reopened_by`: `customer` for a customer account or a customer-contact
  activity, `organisation` for an agent or system account, `unknown` otherwise); cases per mechanism (a
  case may show several) and per mechanism of the return (these add up to the cases); `returned_after`:
  cases whose return followed a closure, and those whose reopen followed a resolution with no closure
  before it (the title names which).
- Waste (Lean TIMWOODS): defects. Cost: the audit's cost of the affected cases.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from auditor.audit import AuditContext
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.roles import SAME_SAVE

MECHANISMS = ("reopen", "customer_contact", "further_work")
CLOSERS = ("agent", "system", "customer", "unknown")
REOPENERS = ("customer", "organisation", "unknown")
MAX_EDGES = 3


def affected(ctx: AuditContext) -> ir.Table:
    """Every event after its case's first closure that shows the case was not over, with its mechanism."""
    e = ctx.events
    whole = ibis.window(group_by="case_id")
    m = e.mutate(
        fc=e.pos.min(where=e.r_closure).over(whole),
        fc_ts=e.timestamp.min(where=e.r_closure).over(whole),
        fd=e.pos.min(where=e.r_closure | e.r_resolution).over(whole),
    )
    a = m.filter(m.fd.notnull() & (m.pos > m.fd))
    after_closure = a.fc.notnull() & (a.pos > a.fc)
    by_customer = a.is_customer
    later = Engine.epoch_seconds(a.timestamp) - Engine.epoch_seconds(a.fc_ts) > SAME_SAVE
    work = ~a.is_system & ~a.is_customer & ~a.r_closure & later
    # A reopen activity is the CRM's own record that the case had been declared done, so it counts after the
    # first resolution too; contacts and further work count only after the first closure.
    hit = a.filter(
        a.r_reopen | (after_closure & (a.r_customer_contact | (~a.r_survey & (by_customer | work))))
    )
    return hit.mutate(
        mechanism=ibis.cases(
            (hit.r_reopen, "reopen"),
            (hit.r_customer_contact | hit.is_customer, "customer_contact"),
            else_="further_work",
        )
    )


def detect(ctx: AuditContext) -> list[Finding]:
    e = ctx.events
    hit = affected(ctx)
    w = ibis.window(group_by="case_id", order_by="pos")
    first = hit.filter(ibis.row_number().over(w) == 0)
    first = first.select(
        "case_id",
        r_act=first.activity,
        r_ts=first.timestamp,
        r_mech=first.mechanism,
        reopened_by=ibis.cases(
            (first.is_customer | first.r_customer_contact, "customer"),
            (first.resource.notnull(), "organisation"),
            else_="unknown",
        ),
    )
    flags = hit.group_by("case_id").aggregate(
        **{f"m_{m}": (hit.mechanism == m).any() for m in MECHANISMS},
    )
    # The event that declared the case done before its return: its first closure, or, for a reopen that
    # came before any closure, its first resolution.
    c = e.filter(e.r_closure | e.r_resolution)
    returns = first.select(f_case=first.case_id, f_pos_ts=first.r_ts)
    c = c.join(returns, c.case_id == returns.f_case)
    c = c.filter(c.timestamp <= c.f_pos_ts)
    rank = ibis.row_number().over(ibis.window(group_by="case_id", order_by=[ibis.desc(c.r_closure), c.pos]))
    closure = c.filter(rank == 0)
    closure = closure.select(
        c_case=closure.case_id,
        c_act=closure.activity,
        c_ts=closure.timestamp,
        c_closed=closure.r_closure,
        closed_by=ibis.cases(
            (closure.is_system, "system"),
            (closure.is_customer, "customer"),
            (closure.resource.notnull(), "agent"),
            else_="unknown",
        ),
    )
    per = first.join(flags, "case_id").join(closure, first.case_id == closure.c_case)
    per = per.mutate(hours=(Engine.epoch_seconds(per.r_ts) - Engine.epoch_seconds(per.c_ts)) / 3600.0)
    per = ctx.log.engine.materialize(per.drop("c_case"), "reopened")

    head: dict[str, Any] = {
        "n": per.count(),
        "median": per.hours.median(),
        "p90": per.hours.quantile(0.9),
    }
    head |= {f"any_{m}": per[f"m_{m}"].cast("int64").sum() for m in MECHANISMS}
    head |= {f"first_{m}": (per.r_mech == m).cast("int64").sum() for m in MECHANISMS}
    head |= {f"closed_{k}": (per.closed_by == k).cast("int64").sum() for k in CLOSERS}
    head |= {f"reopened_{k}": (per.reopened_by == k).cast("int64").sum() for k in REOPENERS}
    head["after_resolution"] = (~per.c_closed).cast("int64").sum()
    row = per.aggregate(**head).execute().iloc[0]
    n = int(row["n"])
    if n == 0:
        return []
    case_ids = ctx.ids(per)
    acts = per.group_by("r_act").aggregate(k=per.count()).order_by([ibis.desc("k"), "r_act"]).execute()
    edges = (
        per.group_by(["c_act", "r_act"])
        .aggregate(cases=per.count())
        .order_by([ibis.desc("cases"), "c_act", "r_act"])
        .limit(MAX_EDGES)
        .execute()
    )
    closed_by = {k: int(row[f"closed_{k}"]) for k in CLOSERS}
    reopened_by = {k: int(row[f"reopened_{k}"]) for k in REOPENERS}
    evidence: dict[str, Any] = {
        "hours_to_return": {"median": float(row["median"]), "p90": float(row["p90"])},
        "closed_by": closed_by,
        "reopened_by": reopened_by,
        "mechanisms": {m: int(row[f"any_{m}"]) for m in MECHANISMS},
        "first_mechanism": {m: int(row[f"first_{m}"]) for m in MECHANISMS},
        "returned_after": {"closure": n - int(row["after_resolution"]), "resolution": int(row["after_resolution"])},
        "edges": [
            {"source": str(x.c_act), "target": str(x.r_act), "cases": int(x.cases)}
            for x in edges.itertuples(index=False)
        ],
        "waste": "defects",
    }
    by_customer = reopened_by["customer"]
    who = f", {by_customer:,} reopened by the customer" if by_customer else ""
    # A reopen before any closure follows a resolution: the title names what the cases came back after.
    after = {0: "closure", n: "resolution"}.get(int(row["after_resolution"]), "resolution or closure")
    return [
        ctx.finding(
            kind="reopened_after_close",
            title=f"{n:,} {'case comes' if n == 1 else 'cases come'} back after {after} "
            f"(median {float(row['median']):.1f} h later{who})",
            activities=[str(a) for a in acts["r_act"]],
            case_ids=case_ids,
            evidence=evidence,
        )
    ]

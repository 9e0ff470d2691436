"""rework_loop: work done again within a case.

Business rules (contract, and the established rework taxonomy):
- One finding per activity that occurs more than once in some case; its cases are exactly those cases.
  A customer's repeated contacts are not the organisation's work done again: they are chasing
  (`customer_chasing`), and activities in the customer-contact role are not judged here.
- Evidence separates a self-loop (the activity immediately repeated) from a repetition (repeated after other
  steps), and a repeat (the same resource does it again) from a redo (another resource does it again),
  counting the extra occurrences of each kind.
- Repeated multi-step loops (A → B → A …) are reported as findings of their own, with the loop's activities
  in order, when at least `MIN_LOOP_CASES` cases go round them. A loop is the same whichever of its steps it
  is seen from (A → B → A and B → A → B are one loop).
- A resolution activity done again (the closure, when the log has no resolution) says so in its title and
  in `evidence.resolved_again`: the first resolution did not hold. In a status log (Solved -> Open ->
  Solved) no activity is named as a reopen, and this is where the reopen shows.
- The map draws the edge that goes back into the repeated activity, with its case count (`evidence.edges`).
- When the log has a sub-status column (lifecycle:transition, sub_status, …), evidence counts the repeats
  whose sub-status differs from the activity's previous occurrence (`sub_status_changes`), and a note names
  the activities where most repeats do: a status moving within one step (Accepted: In Progress -> Wait)
  may be bookkeeping rather than work done again.
"""

from __future__ import annotations

import itertools
from typing import Any

import ibis
import ibis.expr.types as ir

from auditor.audit import AuditContext
from auditor.findings import Finding
from auditor.parking import SUB_STATUS_COLUMNS

MIN_LOOP_CASES = 5
MAX_LOOP_STEPS = 5  # a "loop" longer than this is a restart, not a tight rework cycle


def detect(ctx: AuditContext) -> list[Finding]:
    e = ctx.events
    engine = ctx.log.engine
    # Only (case, activity) pairs that occur more than once can repeat: a hash aggregate finds them, so the
    # window below sorts only their events (a tenth or so of a log), not all of them. `pos` already orders
    # a case by timestamp then source order.
    own = e.filter(~e.r_customer_contact)
    pairs = own.group_by(["case_id", "activity"]).aggregate(n=own.count())
    pairs = pairs.filter(pairs.n > 1).select("case_id", "activity")
    sub = next((c for c in e.columns if c.lower() in SUB_STATUS_COLUMNS), None)
    twice = e.select("case_id", "activity", "pos", "resource", "prev_activity", *([sub] if sub else [])).semi_join(
        pairs, ["case_id", "activity"]
    )
    w = ibis.window(group_by=["case_id", "activity"], order_by="pos")
    lags: dict[str, Any] = {"prev_pos": twice.pos.lag().over(w), "prev_same_resource": twice.resource.lag().over(w)}
    if sub:
        lags["sub_changed"] = (twice[sub] != twice[sub].lag().over(w)).fill_null(False)
    occ = twice.mutate(**lags)
    repeats = engine.materialize(occ.filter(occ.prev_pos.notnull()), "repeats")
    try:
        return _findings(ctx, repeats)
    finally:
        engine.drop(repeats)


def _findings(ctx: AuditContext, repeats: ir.Table) -> list[Finding]:
    """The findings from `repeats`: every occurrence of an activity after its first in a case."""
    r = repeats
    per_act = (
        r.group_by("activity")
        .aggregate(
            extra=r.count(),
            cases=r.case_id.nunique(),
            self_loop=(r.prev_pos == r.pos - 1).cast("int64").sum(),
            repeat_same=(r.resource == r.prev_same_resource).fill_null(False).cast("int64").sum(),
            redo_other=(
                r.resource.notnull() & r.prev_same_resource.notnull() & (r.resource != r.prev_same_resource)
            ).cast("int64").sum(),
            **({"sub_changed": r.sub_changed.cast("int64").sum()} if "sub_changed" in r.columns else {}),
        )
        .order_by([ibis.desc("cases"), "activity"])
        .execute()
    )
    if per_act.empty:
        return []
    back_edges = (
        r.filter(r.prev_activity.notnull())
        .group_by(["activity", "prev_activity"])
        .aggregate(cases=r.case_id.nunique())
        .execute()
    )
    ids = ctx.ids_by_activity(r, [str(a) for a in per_act["activity"]])
    findings: list[Finding] = []
    for row in per_act.itertuples(index=False):
        act = str(row.activity)
        case_ids = ids[act]
        extra = int(row.extra)
        self_loop = int(row.self_loop)
        edges = [
            {"source": str(b.prev_activity), "target": act, "cases": int(b.cases)}
            for b in back_edges[back_edges["activity"] == act].sort_values(["cases", "prev_activity"], ascending=[False, True]).head(3).itertuples(index=False)
        ]
        evidence: dict[str, Any] = {
            "extra_occurrences": extra,
            "self_loop": self_loop,
            "repetition": extra - self_loop,
            "repeat_same_resource": int(row.repeat_same),
            "redo_other_resource": int(row.redo_other),
            "edges": edges,
            "waste": "defects",
        }
        if "sub_changed" in per_act.columns:
            changed = int(row.sub_changed)
            evidence["sub_status_changes"] = changed
            if changed * 2 > extra:
                ctx.notes.append(
                    f"{act}: {changed:,} of its {extra:,} repeats change the sub-status: a status moving within one "
                    "step may be bookkeeping rather than work done again (an export whose activity names "
                    "include the sub-status tells them apart)"
                )
        title = f"{act} is done again in {len(case_ids):,} cases ({extra:,} extra times)"
        # A resolution done twice is a resolution that did not hold: in a status log (Solved -> Open -> Solved)
        # no activity is named "reopen", and this is where the reopen shows.
        if act in ctx.roles.of("resolution") or (act in ctx.roles.of("closure") and not ctx.roles.of("resolution")):
            evidence["resolved_again"] = True
            title = (f"{act} is done again in {len(case_ids):,} cases: the first resolution did not hold "
                     f"({extra:,} extra times)")
        findings.append(
            ctx.finding(
                kind="rework_loop",
                title=title,
                activities=[act],
                case_ids=case_ids,
                evidence=evidence,
            )
        )
    findings.extend(_loops(ctx, r))
    return findings


def _loops(ctx: AuditContext, repeats: ir.Table) -> list[Finding]:
    """Multi-step loops: for every repeated occurrence, the steps since the previous occurrence. Cycles are
    named and counted in the engine; only the loops that qualify come back to Python."""
    e = ctx.events
    gap = repeats.pos - repeats.prev_pos
    rep = repeats.filter((gap > 1) & (gap <= MAX_LOOP_STEPS))
    rep = rep.select(case_id=rep.case_id, anchor=rep.activity, lo=rep.prev_pos, hi=rep.pos)
    body = e.select(b_case=e.case_id, b_pos=e.pos, b_act=e.activity)
    joined = rep.join(body, [rep.case_id == body.b_case, body.b_pos > rep.lo, body.b_pos < rep.hi])
    loops = joined.group_by(["case_id", "anchor", "lo", "hi"]).aggregate(
        steps=joined.b_act.collect(order_by=joined.b_pos)
    )
    simple = loops.filter(~loops.steps.contains(loops.anchor))  # else not a simple cycle
    cyc = simple.select("case_id", "lo", cycle=ibis.array([simple.anchor]).concat(simple.steps))
    # One name per cycle whichever step it is seen from: the rotation that sorts first.
    rotations = ibis.range(0, cyc.cycle.length()).map(lambda i: cyc.cycle[i:].concat(cyc.cycle[:i]))
    cyc = cyc.mutate(key=rotations.mins())
    # Per case and cycle, the rotation in which the case first entered it (smallest `lo`); the loop is
    # named from the entry most cases share (ties: the rotation that sorts first), so it reads in the order
    # the work happened.
    entry = ctx.log.engine.materialize(
        cyc.group_by(["key", "case_id"]).aggregate(rotation=cyc.cycle.argmin(cyc.lo)), "loop_entries"
    )
    try:
        sizes = entry.group_by("key").aggregate(cases=entry.count())
        sizes = sizes.filter(sizes.cases >= MIN_LOOP_CASES)
        members = entry.semi_join(sizes, "key")
        votes = members.group_by(["key", "rotation"]).aggregate(v=members.count())
        best = ibis.row_number().over(group_by="key", order_by=[ibis.desc(votes.v), votes.rotation])
        named = votes.mutate(r=best).filter(lambda t: t.r == 0).join(sizes, "key")
        rows = named.select("key", "rotation", "cases").execute()
        if rows.empty:
            return []
        chosen = sorted(
            ((tuple(str(a) for a in k), tuple(str(a) for a in r), int(n)) for k, r, n in
             zip(rows["key"], rows["rotation"], rows["cases"], strict=True)),
            key=lambda kr: (-kr[2], kr[0]),
        )
        sep = "\x1f"
        ids = ctx.ids_by_activity(
            members.select(activity=members.key.join(sep), case_id=members.case_id), [sep.join(k) for k, _, _ in chosen]
        )
    finally:
        ctx.log.engine.drop(entry)
    findings = []
    for key, cycle, _ in chosen:
        case_ids = ids[sep.join(key)]
        path = [*cycle, cycle[0]]
        edges = [{"source": a, "target": b, "cases": len(case_ids)} for a, b in itertools.pairwise(path)]
        findings.append(
            ctx.finding(
                kind="rework_loop",
                title=f"Loop {' → '.join(path)} in {len(case_ids):,} cases",
                activities=list(cycle),
                case_ids=case_ids,
                evidence={"loop": path, "steps": len(cycle), "edges": edges, "waste": "defects"},
            )
        )
    return findings

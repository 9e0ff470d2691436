"""long_wait: where cases sit waiting, and parking states that pause the SLA clock without the customer.

Business rules.

What a wait is:
- Waits are measured between a case's consecutive *steps*, ordered by timestamp then source order. A step is
  any event that is not by a system account, plus events of any account that resolve, close or reopen the
  case or are customer contacts. Other system events (auto-assign bots, survey timers, sync jobs) are
  transparent: a timer firing is not something a case waits for, and the time before it belongs to the
  wait for the next person (agent or customer) to act.
- Only waits while the case is open count: after a resolution or closure, and until a reopen, the customer
  is no longer waiting (survey and auto-close timers, time before a reopen).
- A parking state (see auditor/parking.py: pending, wait-user, awaiting customer/vendor, on hold, …) is
  measured as a *spell*: from the step that sets it to the first later step that is not that state. Setting
  the same state again while it holds (a re-set) continues the spell. A spell still running at the end of
  the log has no duration and is left to `stalled_case`. Spells count when the case is open when they start.
- The log's typical wait is the median of all open waits (parking ones included). A wait is *long* when it
  is at least `threshold = max(long_wait_factor × typical wait, long_wait_min_hours)` ([thresholds] of the
  rule pack; defaults 3 × and 24 h). When the timestamps carry no time of day, the threshold is at least
  `WHOLE_DAYS_LIMIT` (two days), and a note says so: a step dated the next day may have come minutes later.

Findings (kind `long_wait`, `evidence.waste` = "waiting"):
- `mechanism: "edge_wait"`: one per edge (step A → step B, A not a parking state) whose median wait is at
  least the threshold, seen in at least `MIN_CASES` cases and `MIN_WAITS` waits (fewer are noted, not
  judged). Affected cases: those where a wait on that edge is itself long (at least the threshold).
- `mechanism: "parking"`: one per parking state whose median spell is at least the threshold, in at least
  `MIN_CASES` cases (a state named as parking says something on few spells; any pair of steps does not).
  Affected cases: those with a spell in that state at least as long as the threshold.
- Evidence: median and p90 hours of the wait (over every occurrence, affected or not), its share of the
  affected cases' total lead time (their hours in that wait over their hours from first to last event), the
  threshold and how it was made, business-hour medians when working hours are given, and the edges for the
  map (`source`, `target`, `cases`, `median_hours`): the edge itself, or for a parking state its ways out
  (a re-set as a self-loop) with the median hours of the spells that take them.

SLA-pause abuse (kind `long_wait`, `mechanism: "parking_abuse"`):
- Customer answers are *visible* in a log when at least one spell in a state that awaits the customer ends
  with a customer-side event (an event by a customer account, or a customer contact). Only then can the
  absence of one mean something; otherwise a note says so and only re-sets are judged.
- `unanswered` (answers visible): a spell in a state that awaits the customer ends without any
  customer-side event, and a person ended it, not a timer (an auto-close after a silent customer is the
  normal end of a parking).
- `re_set`: the parking state is set again while it holds, with no step in between: the pause is renewed
  while nobody answered anything. Judged in every log and for every parking state.
- `re_entered` (answers visible, states that await the customer): the same state is set again after other
  steps, with no customer-side event since it was last set. Not judged for third-party or unspecified
  waits, whose answers a log does not show as customer events.
- One finding per parking state with any of these signals; its cases are the cases with any of them, and
  the evidence counts the cases per signal.
- `owner_outlier`: per owner (the resource who set the parking; the team when the log has no resources),
  the share of parked time = hours of the spells they set / hours (first to last event) of the cases they
  worked on. Owners who set parking in at least `MIN_CASES` cases are scored against each other (at least
  `MIN_PEERS` of them) with the robust z-score of Iglewicz and Hoaglin: 0.6745 × (share − median) / MAD;
  when the MAD is 0, (share − median) / (1.253314 × mean absolute deviation). An owner with z ≥ `OUTLIER_Z`
  (3.5) gets a finding of their own (cases: those in which they set parking). Every abuse finding lists its
  owners with most cases (at most `TOP_OWNERS`) with their share and score.
- Customer-perceived time against SLA-clock time, per affected case (medians and totals): `customer_hours`
  is the elapsed time from the first event to the first resolution (to the last event when never
  resolved); `sla_clock_hours` is that minus the parked time in it (every parking state, ended spells);
  the gap is what the customer lives and the dashboard hides. Parking findings carry the same block.
- Cost via the audit's common method (`ctx.cost_of`), severity via `ctx.severity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from auditor import parking
from auditor.audit import AuditContext, id_table
from auditor.businesstime import business_hours_between
from auditor.engine import Engine
from auditor.findings import Finding

MIN_CASES = 5  # an edge, a state or an owner needs this many cases to mean something
MIN_WAITS = 20  # and an edge this many waits: a p90 of five values is the largest but one
MIN_PEERS = 5  # owners scored against each other: fewer than this and no score is given
OUTLIER_Z = 3.5  # Iglewicz & Hoaglin: a modified z-score of 3.5 or more is an outlier
MAD_SCALE = 0.6745
MEAN_AD_SCALE = 1.253314
TOP_EDGES = 3
WHOLE_DAYS_LIMIT = 48.0  # hours: the least long wait when timestamps are dates without a time of day
TOP_OWNERS = 10  # the owners with most affected cases, in the evidence


def detect(ctx: AuditContext) -> list[Finding]:
    rec = parking.recognise(ctx.events)
    engine = ctx.log.engine
    steps = _steps(ctx)
    waits = _waits(ctx, rec, steps)
    made = [waits]
    try:
        typical = waits.wait_h.median().execute()
        if typical is None or pd.isna(typical):
            return []
        factor = float(ctx.thresholds.long_wait_factor)
        floor = float(ctx.thresholds.long_wait_min_hours)
        limit = max(factor * float(typical), floor)
        rule: dict[str, Any] = {
            "threshold_hours": limit,
            "log_median_wait_hours": float(typical),
            "long_wait_factor": factor,
            "long_wait_min_hours": floor,
        }
        if ctx.whole_days and limit < WHOLE_DAYS_LIMIT:
            # Dates without a time of day make a wait of "one day" anything from a minute to two days: the
            # next day's step is not a long wait.
            limit = rule["threshold_hours"] = WHOLE_DAYS_LIMIT
            rule["whole_days"] = True
            ctx.notes.append(
                "long waits: the timestamps carry no time of day, so a wait counts as long from "
                f"{WHOLE_DAYS_LIMIT / 24:g} days (a step on the next day may have come minutes later)"
            )
        findings = _edge_waits(ctx, waits, limit, rule)
        if rec.states:
            marks = _parked_steps(ctx, rec, steps)
            made.append(marks)
            spells = _spells(ctx, marks, _has_values(steps, "resource"))
            made.append(spells)
            times = _case_times(ctx, spells)
            made.append(times)
            findings += _parking_waits(ctx, spells, times, limit, rule, rec)
            findings += _abuse(ctx, steps, marks, spells, times, rec)
        return findings
    finally:
        for table in made:
            engine.drop(table)


# ------------------------------------------------------------------------------------------ engine tables


def _steps(ctx: AuditContext) -> ir.Table:
    """The events that are steps (an expression over the events, in their order `pos`)."""
    e = ctx.events
    return e.filter(~e.is_system | e.r_resolution | e.r_closure | e.r_reopen | e.r_customer_contact)


def _waits(ctx: AuditContext, rec: parking.Recognised, s: ir.Table) -> ir.Table:
    """The waits that count: from each step to the next one of its case, while the case is open at the first.

    One window pass over the steps: every window shares the partition (case) and the order (`pos`, the
    events' order by timestamp then source order)."""
    closing = s.r_resolution | s.r_closure
    w = ibis.window(group_by="case_id", order_by="pos")
    before = ibis.window(group_by="case_id", order_by="pos", rows=(None, -1))
    park = rec.label(s)
    p_ts = s.timestamp.lag().over(w)
    x = s.select(
        "case_id",
        "activity",
        "timestamp",
        p_act=s.activity.lag().over(w),
        p_ts=p_ts,
        # Without parking states the label is a NULL constant, and so is the previous step's.
        p_park=park.lag().over(w) if rec.states else park,
        counted=p_ts.notnull() & _open(s, closing, before),
    )
    x = x.filter(x.counted)
    x = x.mutate(wait_h=(Engine.epoch_seconds(x.timestamp) - Engine.epoch_seconds(x.p_ts)) / 3600.0)
    wh = ctx.options.working_hours
    if wh is not None:
        x = x.mutate(wait_bh=business_hours_between(x.p_ts, x.timestamp, wh))
    return ctx.log.engine.materialize(x.drop("timestamp", "p_ts", "counted"), "long_wait_waits")


def _open(s: ir.Table, closing: ir.BooleanValue, frame: Any) -> ir.BooleanValue:
    """Whether the case is open at the end of `frame`: closings and reopens are always steps, so the steps
    alone say it. Open unless the latest closing or reopen so far is a closing (a step that both closes and
    reopens leaves it open); packed with its kind in the lowest bit, the latest is the largest."""
    mark = ibis.cases((s.r_reopen, s.pos * 2 + 1), (closing, s.pos * 2), else_=ibis.null().cast("int64"))
    return (mark.max().over(frame) % 2 == 1).fill_null(True)


def _parked_steps(ctx: AuditContext, rec: parking.Recognised, steps: ir.Table) -> ir.Table:
    """The steps in or just after a parking state, numbered by spell (`k_start`, `k_leave`), with re-entries.

    Only cases that enter a parking state are windowed; spells start and end only on these rows, so counting
    them here gives the same numbers as over every step of the case."""
    e = ctx.events
    parked = e.filter(rec.label(e).notnull()).select(p_case=e.case_id).distinct()
    s = steps.semi_join(parked, steps.case_id == parked.p_case)
    closing = s.r_resolution | s.r_closure
    w = ibis.window(group_by="case_id", order_by="pos")
    cum = ibis.cumulative_window(group_by="case_id", order_by="pos")
    park = rec.label(s)
    cust = s.is_customer | s.r_customer_contact
    s = s.select(
        "case_id",
        "activity",
        "timestamp",
        "pos",
        "resource",
        "team",
        "is_system",
        park=park,
        party=rec.party(s),
        cust=cust,
        open=_open(s, closing, cum),
        p_park=park.lag().over(w),
        cust_cum=cust.cast("int64").sum().over(cum),
    )
    s = s.filter(s.park.notnull() | s.p_park.notnull())
    s = s.mutate(
        start=s.park.notnull() & (s.p_park.isnull() | (s.p_park != s.park)).fill_null(True),
        leave=s.p_park.notnull() & (s.park.isnull() | (s.park != s.p_park)).fill_null(True),
    )
    s = s.mutate(k_start=s.start.cast("int64").sum().over(cum), k_leave=s.leave.cast("int64").sum().over(cum))
    # Re-entry: the same state set again with no customer-side event since it was last set.
    wp = ibis.window(group_by=["case_id", "park"], order_by="pos")
    s = s.mutate(prev_entry_cust=ibis.cases((s.park.notnull(), s.cust_cum.lag().over(wp)), else_=ibis.null()))
    s = s.mutate(
        reentry=(
            s.park.notnull() & s.prev_entry_cust.notnull() & (s.prev_entry_cust == s.cust_cum)
        ).fill_null(False)
    )
    return ctx.log.engine.materialize(s, "long_wait_parked")


def _spells(ctx: AuditContext, s: ir.Table, by_resource: bool) -> ir.Table:
    """One row per parking spell that starts while its case is open: owner, start, end, how it ended."""
    owner_col = "resource" if by_resource else "team"
    starts = s.filter(s.start & s.open).select(
        case_id=s.case_id,
        k=s.k_start,
        state=s.park,
        party=s.party,
        state_act=s.activity,
        owner=s[owner_col],
        t0=s.timestamp,
    )
    leaves = s.filter(s.leave).select(
        l_case=s.case_id,
        l_k=s.k_leave,
        t1=s.timestamp,
        end_act=s.activity,
        end_cust=s.cust,
        end_system=s.is_system,
    )
    inside = s.filter(s.park.notnull())
    entries = inside.group_by(e_case=inside.case_id, e_k=inside.k_start).aggregate(
        entries=inside.count(), reentries=(inside.reentry & ~inside.start).cast("int64").sum()
    )
    j = starts.left_join(leaves, [starts.case_id == leaves.l_case, starts.k == leaves.l_k])
    j = j.left_join(entries, [j.case_id == entries.e_case, j.k == entries.e_k])
    spells = j.select(
        "case_id", "k", "state", "party", "state_act", "owner", "t0", "t1", "end_act", "end_cust", "end_system",
        "entries", "reentries",
        hours=(Engine.epoch_seconds(j.t1) - Engine.epoch_seconds(j.t0)) / 3600.0,
    )  # fmt: skip
    wh = ctx.options.working_hours
    if wh is not None:
        spells = spells.mutate(bhours=business_hours_between(spells.t0, spells.t1, wh))
    return ctx.log.engine.materialize(spells, "long_wait_spells")


def _case_times(ctx: AuditContext, spells: ir.Table) -> ir.Table:
    """Per case: customer-perceived hours (to the first resolution), parked hours in them, SLA-clock hours."""
    c = ctx.cases
    cut = c.first_resolution.fill_null(c.end)
    base = c.select(
        "case_id", "hours", cut=cut, customer_h=(Engine.epoch_seconds(cut) - Engine.epoch_seconds(c.start)) / 3600.0
    )
    ended = spells.filter(spells.t1.notnull())
    cuts = base.select(b_case=base.case_id, b_cut=base.cut)
    j = ended.join(cuts, ended.case_id == cuts.b_case)
    j = j.filter(j.t1 <= j.b_cut)
    parked = j.group_by(p_case=j.case_id).aggregate(parked_h=j.hours.sum())
    t = base.left_join(parked, base.case_id == parked.p_case)
    t = t.select("case_id", "hours", "customer_h", parked_h=t.parked_h.fill_null(0.0))
    t = t.mutate(sla_h=t.customer_h - t.parked_h)
    return ctx.log.engine.materialize(t, "long_wait_case_times")


# ------------------------------------------------------------------------------------------ the findings


def _edge_waits(ctx: AuditContext, waits: ir.Table, limit: float, rule: dict[str, Any]) -> list[Finding]:
    w = waits.filter(waits.p_park.isnull())

    def describe(key: tuple[str, ...], median: float, ids: list[str]) -> _Described:
        a, b = key
        edges = [{"source": a, "target": b, "cases": len(ids), "median_hours": median}]
        return _Described(f"Cases wait {_dur(median)} (median) from {a} to {b}", [a, b], {}, {"edges": edges})

    return _long_findings(
        ctx, w, ["p_act", "activity"], "wait_h", "wait_bh", limit, rule, ("waits", "cases_with_edge"),
        "edge_wait", describe,
    )  # fmt: skip


def _parking_waits(
    ctx: AuditContext,
    spells: ir.Table,
    times: ir.Table,
    limit: float,
    rule: dict[str, Any],
    rec: parking.Recognised,
) -> list[Finding]:
    sp = spells.filter(spells.t1.notnull())
    by_label = {s.label: s for s in rec.states}
    exits: dict[str, list[dict[str, Any]]] | None = None

    def describe(key: tuple[str, ...], median: float, ids: list[str]) -> _Described:
        nonlocal exits
        if exits is None:
            exits = _exits(sp.filter(sp.hours >= limit))
        (label,) = key
        state = by_label[label]
        return _Described(
            f"Cases sit parked in {label} for {_dur(median)} (median)",
            rec.activities(label),
            {"state": label, "awaits": state.party, "recognised_by": state.reason},
            {**_customer_vs_sla(times, ids), "edges": exits.get(label, [])},
        )

    return _long_findings(
        ctx,
        sp,
        ["state"],
        "hours",
        "bhours",
        limit,
        rule,
        ("spells", "cases_with_state"),
        "parking",
        describe,
    )


@dataclass(frozen=True)
class _Described:
    """What a long-wait finding says beyond the shared figures: title, activities, evidence around them."""

    title: str
    activities: list[str]
    head: dict[str, Any]  # evidence before the wait figures
    tail: dict[str, Any]  # evidence after the threshold rule


def _long_findings(
    ctx: AuditContext,
    t: ir.Table,
    keys: list[str],
    hours: str,
    bhours: str,
    limit: float,
    rule: dict[str, Any],
    names: tuple[str, str],
    mechanism: str,
    describe: Callable[[tuple[str, ...], float, list[str]], _Described],
) -> list[Finding]:
    """One finding per group of waits (`keys`) whose median is long, in at least MIN_CASES cases; its cases
    are those with a long wait in it. `names`: the evidence keys for the number of waits and of cases."""
    cols: dict[str, Any] = {
        "n": t.count(),
        "cases": t.case_id.nunique(),
        "median": t[hours].median(),
        "p90": t[hours].quantile(0.9),
    }
    if bhours in t.columns:
        cols["bmedian"] = t[bhours].median()
    stats = t.group_by(keys).aggregate(**cols)
    stats = stats.filter((stats.cases >= MIN_CASES) & (stats.median >= limit)).execute()
    # An edge is any pair of steps, rare ones included; a parking state is named as one, so its few spells
    # still say something.
    few = stats[stats["n"] < MIN_WAITS] if mechanism == "edge_wait" else stats.iloc[:0]
    if not few.empty:
        ctx.notes.append(
            f"long waits: {len(few)} edge{'s' if len(few) > 1 else ''} with a long median wait on fewer than "
            f"{MIN_WAITS} waits {'were' if len(few) > 1 else 'was'} not judged (too little data for a median "
            "and a p90): " + ", ".join(" → ".join(str(getattr(r, k)) for k in keys) for r in few.itertuples(index=False))
        )
        stats = stats[stats["n"] >= MIN_WAITS]
    if stats.empty:
        return []
    # Only the groups found long, before the per-case sums: most waits are on other edges.
    chosen = ibis.memtable(stats[keys].astype(str), schema=dict.fromkeys(keys, "string"))
    mine = t.join(chosen, keys)
    hit = mine.group_by([*keys, "case_id"]).aggregate(h=mine[hours].sum(), longest=mine[hours].max())
    hit = hit.filter(hit.longest >= limit)
    leads = ctx.cases.select(l_case="case_id", lead="hours")
    lead = hit.join(leads, hit.case_id == leads.l_case)
    affected = lead.select(*keys, "case_id", "h", "lead").execute()
    findings = []
    order = stats.sort_values(["median", *keys], ascending=[False] + [True] * len(keys))
    for row in order.itertuples(index=False):
        key = tuple(str(getattr(row, k)) for k in keys)
        mask = pd.Series(True, index=affected.index)
        for k, v in zip(keys, key, strict=True):
            mask &= affected[k] == v
        mine = affected[mask]
        ids = sorted(str(c) for c in mine["case_id"])
        if not ids:
            continue
        median = float(row.median)
        said = describe(key, median, ids)
        evidence: dict[str, Any] = {
            "mechanism": mechanism,
            **said.head,
            "median_hours": median,
            "p90_hours": float(row.p90),
            names[0]: int(row.n),
            names[1]: int(row.cases),
            "share_of_lead_time": _share(mine["h"].sum(), mine["lead"].sum()),
            **rule,
            **said.tail,
            "waste": "waiting",
        }
        if "bmedian" in stats.columns:
            evidence["median_business_hours"] = _num(row.bmedian)
        findings.append(
            ctx.finding(
                kind="long_wait",
                title=said.title,
                activities=said.activities,
                case_ids=ids,
                evidence=evidence,
            )
        )
    return findings


def _abuse(
    ctx: AuditContext,
    steps: ir.Table,
    marks: ir.Table,
    spells: ir.Table,
    times: ir.Table,
    rec: parking.Recognised,
) -> list[Finding]:
    ended = spells.filter(spells.t1.notnull())
    cust_logged = bool((steps.is_customer | steps.r_customer_contact).any().execute())
    answered = ended.filter((ended.party == "customer") & ended.end_cust).count().execute()
    visible = int(answered) > 0
    if any(s.party == "customer" for s in rec.states) and not visible:
        ctx.notes.append(
            "long_wait: no customer-side event ever ends a parking that awaits the customer in this log, so "
            "parkings that end or start again without the customer cannot be judged; only re-sets are"
        )
    unanswered = (
        ended.filter((ended.party == "customer") & ~ended.end_cust & ~ended.end_system.fill_null(False))
        if visible
        else ended.filter(ibis.literal(False))
    )
    un = unanswered.select("state", "case_id", kind=ibis.literal("unanswered"))
    re_ = spells.filter(spells.reentries > 0).select("state", "case_id", kind=ibis.literal("re_set"))
    # a new spell after other steps, with no customer-side event since the state was last set
    again = marks.filter(
        marks.reentry & marks.start & marks.open & (marks.party == "customer") & ibis.literal(visible)
    ).select(state=marks.park, case_id=marks.case_id, kind=ibis.literal("re_entered"))
    signals = ctx.log.engine.materialize(un.union(re_).union(again), "long_wait_abuse")
    try:
        per = signals.group_by(["state", "kind"]).aggregate(cases=signals.case_id.nunique()).execute()
        ids_df = signals.select("state", "case_id").distinct().execute()
        flagged = signals.select(s_state="state", s_case="case_id").distinct()
        exits = _exits(ended.join(flagged, [ended.state == flagged.s_state, ended.case_id == flagged.s_case]))
    finally:
        ctx.log.engine.drop(signals)
    scores = _owner_scores(ctx, spells)
    owners_of = ended.select("state", "case_id", "owner").distinct().execute()
    by_label = {s.label: s for s in rec.states}
    findings: list[Finding] = []
    for label in sorted(ids_df["state"].astype(str).unique()):
        state = by_label[label]
        ids = sorted(str(c) for c in ids_df.loc[ids_df["state"] == label, "case_id"])
        counts = {
            str(k): int(n)
            for k, n in zip(
                per.loc[per["state"] == label, "kind"], per.loc[per["state"] == label, "cases"], strict=True
            )
        }
        mine = owners_of[(owners_of["state"] == label) & owners_of["case_id"].astype(str).isin(ids)]
        owner_cases = mine.groupby("owner")["case_id"].nunique().sort_values(ascending=False, kind="stable")
        owners = [_owner_row(str(o), int(n), scores) for o, n in owner_cases.head(TOP_OWNERS).items()]
        evidence: dict[str, Any] = {
            "mechanism": "parking_abuse",
            "state": label,
            "awaits": state.party,
            "signals": {
                "unanswered_cases": counts.get("unanswered", 0),
                "re_set_while_parked_cases": counts.get("re_set", 0),
                "re_entered_after_other_steps_cases": counts.get("re_entered", 0),
            },
            "customer_answers_visible": visible,
            "customer_events_logged": cust_logged,
            **_customer_vs_sla(times, ids),
            "owners": owners,
            "owners_total": len(owner_cases),
            "outlier_score": _score_method(scores),
            "edges": exits.get(label, []),
            "waste": "waiting",
        }
        findings.append(
            ctx.finding(
                kind="long_wait",
                title=(
                    f"{label} pauses the SLA clock without the customer in {len(ids):,} cases"
                    if visible
                    # The log shows the state, not an SLA clock: the title says what it shows and what
                    # it means where the clock pauses in that state.
                    else f"{label} is set again while it holds in {len(ids):,} cases: a pause renewed, where "
                    "the SLA clock stops in it"
                ),
                activities=rec.activities(label),
                case_ids=ids,
                evidence=evidence,
            )
        )
    findings += _owner_outliers(ctx, spells, times, scores)
    return findings


def _owner_scores(ctx: AuditContext, spells: ir.Table) -> pd.DataFrame:
    """Per owner who set parking in at least MIN_CASES cases: parked share of their cases' hours, robust z."""
    e = ctx.events
    col = "resource" if _has_values(e, "resource") else "team"
    human = e.filter(~e.is_system & ~e.is_customer & e[col].notnull())
    worked = human.select(owner=human[col], case_id=human.case_id).distinct()
    hours = ctx.cases.select(c_case="case_id", hours="hours")
    worked = worked.join(hours, worked.case_id == hours.c_case)
    den = worked.group_by("owner").aggregate(case_hours=worked.hours.sum())
    ended = spells.filter(spells.t1.notnull() & spells.owner.notnull())
    num = ended.group_by(n_owner=ended.owner).aggregate(
        parked=ended.hours.sum(), parked_cases=ended.case_id.nunique()
    )
    j = num.join(den, num.n_owner == den.owner)
    j = j.filter(j.parked_cases >= MIN_CASES)
    df = j.select("owner", "parked", "parked_cases", "case_hours").execute()
    df["share"] = (df["parked"] / df["case_hours"].where(df["case_hours"] > 0)).fillna(0.0)
    df["z"] = robust_z(df["share"]) if len(df) >= MIN_PEERS else float("nan")
    return df.sort_values(["z", "owner"], ascending=[False, True]).reset_index(drop=True)


def robust_z(x: pd.Series) -> pd.Series:
    """Iglewicz-Hoaglin modified z-score; the mean absolute deviation stands in when the MAD is 0."""
    med = float(x.median())
    dev = (x - med).abs()
    mad = float(dev.median())
    if mad > 0:
        return MAD_SCALE * (x - med) / mad
    mean_ad = float(dev.mean())
    if mean_ad > 0:
        return (x - med) / (MEAN_AD_SCALE * mean_ad)
    return x * 0.0


def _owner_outliers(
    ctx: AuditContext, spells: ir.Table, times: ir.Table, scores: pd.DataFrame
) -> list[Finding]:
    flagged = scores[scores["z"] >= OUTLIER_Z]
    if flagged.empty:
        return []
    ended = spells.filter(spells.t1.notnull() & spells.owner.notnull())
    mine = ended.select("owner", "case_id", "state", "state_act").distinct().execute()
    findings = []
    for row in flagged.itertuples(index=False):
        owner = str(row.owner)
        rows = mine[mine["owner"].astype(str) == owner]
        ids = sorted(str(c) for c in rows["case_id"].unique())
        acts = sorted(str(a) for a in rows["state_act"].unique())
        evidence: dict[str, Any] = {
            "mechanism": "parking_abuse",
            "signal": "owner_outlier",
            "owner": owner,
            "states": sorted(str(s) for s in rows["state"].unique()),
            **_owner_row(owner, len(ids), scores),
            "outlier_score": _score_method(scores),
            **_customer_vs_sla(times, ids),
            "waste": "waiting",
        }
        findings.append(
            ctx.finding(
                kind="long_wait",
                title=f"{owner} keeps cases parked far longer than peers ({float(row.share):.1%} of their cases' time)",
                activities=acts,
                case_ids=ids,
                evidence=evidence,
            )
        )
    return findings


# ------------------------------------------------------------------------------------------ helpers


def _exits(spells: ir.Table) -> dict[str, list[dict[str, Any]]]:
    """Per state, the paths out of it that the spells take (re-sets as a self-loop), for the map."""
    loops = spells.filter(spells.reentries > 0).select(
        state="state", source="state_act", target="state_act", case_id="case_id", hours="hours"
    )
    outs = spells.filter(spells.end_act.notnull()).select(
        state="state", source="state_act", target="end_act", case_id="case_id", hours="hours"
    )
    u = loops.union(outs)
    df = (
        u.group_by(["state", "source", "target"])
        .aggregate(cases=u.case_id.nunique(), median_hours=u.hours.median())
        .execute()
        .sort_values(["state", "cases", "target"], ascending=[True, False, True])
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in df.itertuples(index=False):
        edges = out.setdefault(str(row.state), [])
        if len(edges) < TOP_EDGES:
            edges.append(
                {
                    "source": str(row.source),
                    "target": str(row.target),
                    "cases": int(row.cases),
                    "median_hours": float(row.median_hours),
                }
            )
    return out


def _customer_vs_sla(times: ir.Table, ids: list[str]) -> dict[str, Any]:
    chosen = id_table(m_case=ids)
    t = times.join(chosen, times.case_id == chosen.m_case)
    r = (
        t.aggregate(
            customer_median=t.customer_h.median(),
            customer_total=t.customer_h.sum(),
            sla_median=t.sla_h.median(),
            sla_total=t.sla_h.sum(),
            parked_median=t.parked_h.median(),
            parked_total=t.parked_h.sum(),
        )
        .execute()
        .iloc[0]
    )
    return {
        "customer_hours": {"median": _num(r["customer_median"]), "total": _num(r["customer_total"])},
        "sla_clock_hours": {"median": _num(r["sla_median"]), "total": _num(r["sla_total"])},
        "parked_hours": {"median": _num(r["parked_median"]), "total": _num(r["parked_total"])},
        "hidden_share": _share(r["parked_total"], r["customer_total"]),
    }


def _owner_row(owner: str, cases: int, scores: pd.DataFrame) -> dict[str, Any]:
    row: dict[str, Any] = {"owner": owner, "cases": cases}
    hit = scores[scores["owner"].astype(str) == owner]
    if not hit.empty:
        r = hit.iloc[0]
        row.update(parked_share=float(r["share"]), parked_hours=float(r["parked"]), robust_z=_num(r["z"]))
    return row


def _score_method(scores: pd.DataFrame) -> dict[str, Any]:
    return {
        "method": "robust z (0.6745 × (share − median) / MAD) of parked hours over the hours of the owner's cases",
        "flag_at": OUTLIER_Z,
        "peers": len(scores),
        "peer_median_share": _num(scores["share"].median()) if len(scores) else None,
        "min_cases": MIN_CASES,
        "min_peers": MIN_PEERS,
    }


def _has_values(t: ir.Table, col: str) -> bool:
    return bool(t[col].notnull().any().execute())


def _share(part: Any, whole: Any) -> float | None:
    p, w = _num(part), _num(whole)
    return None if p is None or not w else p / w


def _num(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _dur(hours: float) -> str:
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"

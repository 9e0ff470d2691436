"""legacy_step: work that still happens although what it served is gone, or that changes nothing.

Business rules (one finding per activity; `evidence.mechanism` says which):
- `declared`: named in the rule pack's `[tools] legacy`; reported with its volume and cost.
- `orphaned`: a consumer vanished while the step goes on. A consumer is an activity, or a system account (an
  integration: a person who leaves is staff turnover, not a vanished consumer), whose last event lies at
  least `max(14 days, 10% of the log's span)` before the log ends. Resolution, agent-response and closure
  steps serve the customer and are never orphaned. A step is orphaned by it
  when, while the consumer was alive, at least `MIN_CONSUMED` of the step's occurrences were followed by it
  within the next `CONSUMER_STEPS` events of the case (a consumer far downstream consumes the step that
  feeds it there, not everything that happened earlier; nor a step that reaches it only through a nearer
  step feeding far more of the consumer's occurrences: `_upstream`), and after the consumer's end the step still occurs
  `MIN_AFTER` times or more. The cut-over is the change point of the series "this occurrence is eventually followed by the
  consumer" over time (the split that maximises the Bernoulli likelihood ratio), confirmed by Fisher's exact
  test before vs after. Affected cases: those with the step after the cut-over.
- `vestigial`: a human step in between 10% and 90% of the comparable cases with no measurable effect on the
  outcome: resolved, reopened, chased, and throughput net of the step's own wait. "No effect" is shown by
  equivalence, not assumed from a non-significant test: for each binary outcome the confidence interval
  of the risk difference lies within ±`MARGIN_RISK`, and for throughput the interval of the probability of
  superiority lies within 0.5 ± `MARGIN_PS`; the intervals are Bonferroni-corrected for the number of
  activities tested. Confounding guard: cases are compared within the strata of the case attribute that
  best explains the step's presence, using only strata where both groups have cases; a step that follows
  the case type (present in one type, absent in another) is not judged. The step must add time: its own
  wait (from the previous event) has a median of at least `MIN_OWN_WAIT_MIN` minutes. A step that is the
  last event of its case in at least `MAX_TERMINAL` of its occurrences is how cases end (a closure the
  roles missed), not judged; nor is any step when the log names no resolution, closure, reopen or customer
  contact: with no outcome to compare but time, "no effect" would be empty. Both are noted. Fisher's and
  Mann-Whitney's p-values (Benjamini-Hochberg adjusted) are reported too. Above `MAX_SAMPLE` cases per
  group, the throughput comparison (probability of superiority, Mann-Whitney and the medians it reports) uses
  the `MAX_SAMPLE` cases with the smallest hash of their id, so the same log always gives the same numbers.
- Too little data is said, not flagged: fewer than `MIN_GROUP` cases on either side.
- As context (not findings), activities that stopped altogether or appeared during the log are listed in
  `ctx.process_changes` with their dates. An activity (or a consumer) has stopped or appeared only when its
  absence is also at least `SILENT_INTERVALS` times its own mean interval between events: a rare step is
  absent for weeks by chance.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from auditor.audit import AuditContext
from auditor.engine import Engine
from auditor.findings import Finding

MIN_EVENTS = 20
MIN_CONSUMED = 0.5
CONSUMER_STEPS = 3
MIN_AFTER = 20
MIN_GROUP = 30
MARGIN_RISK = 0.05
MARGIN_PS = 0.06
MIN_OWN_WAIT_MIN = 1.0
SILENT_INTERVALS = 7  # absent this many of its mean intervals: a steady step would have occurred (p > 0.999)
UPSTREAM_SHARE = 0.9  # a step reaches the consumer through a nearer step this often: it is upstream of it
UPSTREAM_COVER = 1.5  # ... when the nearer step feeds this many times as many of the consumer's occurrences
MAX_TERMINAL = 0.8  # a step that is the case's last event this often is how cases end, not a step in between
ALPHA = 0.05
MAX_SAMPLE = 50_000  # cases per group fed to the rank test; a deterministic hash sample above that


def detect(ctx: AuditContext) -> list[Finding]:
    if ctx.start is None or ctx.end is None:
        return []
    span = ctx.end - ctx.start
    gap = max(timedelta(days=14), span / 10)
    findings: list[Finding] = []
    findings += _declared(ctx)
    declared = {f.activities[0] for f in findings}
    orphaned = _orphaned(ctx, gap, exclude=declared)
    findings += orphaned
    taken = declared | {f.activities[0] for f in orphaned}
    findings += _vestigial(ctx, exclude=taken)
    _process_changes(ctx, gap)
    return findings


# ---------------------------------------------------------------------------- declared


def _declared(ctx: AuditContext) -> list[Finding]:
    out = []
    e = ctx.events
    for act in ctx.options.rules.legacy:
        case_ids = ctx.ids(e.filter(e.activity == act))
        if not case_ids:
            continue
        n = int(e.filter(e.activity == act).count().execute())
        out.append(
            ctx.finding(
                kind="legacy_step",
                title=f"{act} is a known legacy step, still done {n:,} times",
                activities=[act],
                case_ids=case_ids,
                customer_facing=False,
                evidence={"mechanism": "declared", "events": n, "source": "rule pack [tools] legacy",
                          "waste": "over-processing"},
            )
        )
    return out


# ---------------------------------------------------------------------------- orphaned


def _vanished(ctx: AuditContext, gap: timedelta) -> list[tuple[str, str, Any, Any]]:
    """Consumers that stopped: (kind 'activity'|'resource', name, first seen, last seen)."""
    assert ctx.end is not None
    e = ctx.events
    limit = ctx.end - gap
    out: list[tuple[str, str, Any, Any]] = []
    for kind in ("activity", "resource"):
        f = e.filter(e[kind].notnull())
        if kind == "resource":
            # An account that consumes a step is an integration or a system; a person who leaves is staff
            # turnover, not a vanished consumer.
            f = f.filter(f.is_system)
        life = f.group_by(name=f[kind]).aggregate(n=f.count(), first=f.timestamp.min(), last=f.timestamp.max()).execute()
        gone = life[(life["n"] >= MIN_EVENTS) & (life["last"] <= pd.Timestamp(limit))]
        out += [(kind, str(r.name), r.first, r.last) for r in gone.itertuples(index=False)
                if _beyond_chance(r.first, r.last, int(r.n), pd.Timestamp(ctx.end) - r.last)]
    return out


def _beyond_chance(first: Any, last: Any, n: int, absent: Any) -> bool:
    """Whether an activity's absence is more than its own rhythm: a rare step (20 events in two months) is
    absent for two weeks by chance. Absent for `SILENT_INTERVALS` times its mean interval between events
    while it was active, a steady step would have occurred with probability above 99.9% (Poisson)."""
    if n < 2:
        return False
    interval = (pd.Timestamp(last) - pd.Timestamp(first)) / (n - 1)
    return bool(pd.Timedelta(absent) >= SILENT_INTERVALS * interval)


def _orphaned(ctx: AuditContext, gap: timedelta, exclude: set[str]) -> list[Finding]:
    e = ctx.events
    # Resolving, answering or closing a case serves the customer, whatever consumed it once.
    protected = {a for role in ("resolution", "agent_response", "closure") for a in ctx.roles.of(role)}
    by_step: dict[str, dict[str, Any]] = {}
    for kind, name, first, last in _vanished(ctx, gap):
        col = e.activity if kind == "activity" else e.resource
        consumer = e.filter(col == name)
        s = e.filter((e.timestamp >= first) & (e.activity != name) if kind == "activity" else (e.timestamp >= first))
        # Consumed: the consumer comes within the next CONSUMER_STEPS events of the case. A consumer far
        # downstream consumes whatever step feeds it there, not every step that happened earlier. Read from
        # the consumer's side: the positions it consumes, so that the step joins them on equality.
        fed_k = ibis.union(
            *(consumer.select(h_case=consumer.case_id, h_pos=consumer.pos - k, c_pos=consumer.pos, k=ibis.literal(k))
              for k in range(1, CONSUMER_STEPS + 1))
        )
        fed = fed_k.select("h_case", "h_pos").distinct()
        j = s.left_join(fed, [s.case_id == fed.h_case, s.pos == fed.h_pos])
        j = j.select("activity", "timestamp", "seq", "case_id", y=j.h_pos.notnull(), after=j.timestamp > last)
        summary = (
            j.group_by("activity")
            .aggregate(
                n_before=(~j.after).cast("int64").sum(),
                y_before=(j.y & ~j.after).cast("int64").sum(),
                n_after=j.after.cast("int64").sum(),
                y_after=(j.y & j.after).cast("int64").sum(),
            )
            .execute()
        )
        summary = summary[
            (summary["n_before"] >= MIN_EVENTS)
            & (summary["y_before"] >= MIN_CONSUMED * summary["n_before"])
            & (summary["n_after"] >= MIN_AFTER)
        ]
        acts = [str(a) for a in summary["activity"]]
        acts = [a for a in acts if a not in exclude and a != name and a not in protected]
        if len(acts) > 1:
            upstream = _upstream(e, fed_k, acts)
            acts = [a for a in acts if a not in upstream]
        if not acts:
            continue
        # Every step's series at once, each in time order.
        all_series = (
            j.filter(j.activity.isin(acts))
            .select("activity", "timestamp", "seq", "case_id", "y")
            .order_by(["activity", "timestamp", "seq"])
            .execute()
        )
        for act in acts:
            series = all_series[all_series["activity"] == act].reset_index(drop=True)
            cut = _change_point(series["y"].to_numpy(dtype=float))
            if cut is None:
                continue
            before, after = series.iloc[:cut], series.iloc[cut:]
            table = [[int(before["y"].sum()), len(before) - int(before["y"].sum())],
                     [int(after["y"].sum()), len(after) - int(after["y"].sum())]]
            p_value = float(stats.fisher_exact(table, alternative="greater").pvalue)
            rate_before = table[0][0] / max(len(before), 1)
            rate_after = table[1][0] / max(len(after), 1)
            if p_value >= ALPHA or rate_after > 0.05 or len(after) < MIN_AFTER:
                continue
            info = by_step.setdefault(act, {"consumers": [], "best": None})
            info["consumers"].append({kind: name, "first_seen": first, "last_seen": last})
            candidate = {
                "cutover": series["timestamp"].iloc[cut],
                # The change happened between the last consumed occurrence and the first unconsumed one.
                "cutover_between": [
                    pd.Timestamp(series["timestamp"].iloc[cut - 1]).to_pydatetime(),
                    pd.Timestamp(series["timestamp"].iloc[cut]).to_pydatetime(),
                ],
                "before": {"events": len(before), "followed_by_consumer": table[0][0], "rate": round(rate_before, 4)},
                "after": {"events": len(after), "followed_by_consumer": table[1][0], "rate": round(rate_after, 4)},
                "test": {"name": "Fisher's exact test (one-sided), followed-by-consumer before vs after the cut-over",
                         "p_value": p_value},
                "after_cases": after["case_id"],  # made into the finding's cases only for the best
            }
            if info["best"] is None or p_value < info["best"]["test"]["p_value"]:
                info["best"] = candidate
    findings = []
    for act, info in sorted(by_step.items()):
        best = info["best"]
        case_ids = sorted(str(c) for c in best.pop("after_cases").unique())
        names = [c.get("activity") or c.get("resource") for c in info["consumers"]]
        cut = pd.Timestamp(best["cutover"]).to_pydatetime()
        findings.append(
            ctx.finding(
                kind="legacy_step",
                title=(
                    f"{act} goes on after its consumer {' / '.join(names)} stopped "
                    f"({best['after']['events']:,} times since {cut:%Y-%m-%d})"
                ),
                activities=[act],
                case_ids=case_ids,
                customer_facing=False,
                evidence={
                    "mechanism": "orphaned",
                    "consumers": info["consumers"],
                    "cutover": cut,
                    **{k: v for k, v in best.items() if k != "cutover"},
                    "waste": "over-processing",
                },
            )
        )
    return findings


def _upstream(e: ir.Table, fed_k: ir.Table, acts: list[str]) -> set[str]:
    """The candidate steps that reach the consumer only through another candidate nearer to it: a step X is
    upstream of Y when Y lies between X and the consumer in at least `UPSTREAM_SHARE` of X's consumed
    occurrences and Y feeds at least `UPSTREAM_COVER` times as many of the consumer's occurrences. ("Update
    Knowledge Base" in half the cases, just before "Export to Siebel", which "Siebel Import" follows: the
    import consumes the export, not the knowledge-base update.) Steps that feed the consumer equally (a chain
    with no branch) are all kept: the log cannot tell which one the consumer needed."""
    ev = e.select(f_case=e.case_id, f_pos=e.pos, act=e.activity)
    f = fed_k.join(ev, [fed_k.h_case == ev.f_case, fed_k.h_pos == ev.f_pos])
    f = f.filter(f.act.isin(acts)).select("h_case", "c_pos", "k", "act")
    occ = f.group_by(["h_case", "c_pos", "act"]).aggregate(k=f.k.min())
    cover = occ.group_by("act").aggregate(n=occ.count()).execute()
    o2 = occ.rename(h2="h_case", c2="c_pos", act2="act", k2="k")
    pairs = occ.join(o2, [occ.h_case == o2.h2, occ.c_pos == o2.c2, o2.k2 < occ.k, o2.act2 != occ.act])
    between = pairs.group_by(["act", "act2"]).aggregate(n=pairs.count()).execute()
    n_of = {str(a): int(n) for a, n in zip(cover["act"], cover["n"], strict=True)}
    out = set()
    for x, y, n in zip(between["act"], between["act2"], between["n"], strict=True):
        nx, ny = n_of.get(str(x), 0), n_of.get(str(y), 0)
        if nx and int(n) >= UPSTREAM_SHARE * nx and ny >= UPSTREAM_COVER * nx:
            out.add(str(x))
    return out


def _change_point(y: np.ndarray) -> int | None:
    """Index of the first element after the single change point of a 0/1 series (Bernoulli likelihood
    ratio, both sides at least `MIN_AFTER` long); None when no split improves the fit."""
    n = len(y)
    if n < 2 * MIN_AFTER:
        return None
    c = np.cumsum(y)
    k = np.arange(1, n)
    ones_l, ones_r = c[:-1], c[-1] - c[:-1]
    ll = _bern_ll(ones_l, k) + _bern_ll(ones_r, n - k)
    valid = (k >= MIN_AFTER) & (n - k >= MIN_AFTER)
    if not valid.any():
        return None
    ll = np.where(valid, ll, -np.inf)
    best = int(np.argmax(ll))
    if ll[best] <= _bern_ll(np.array([c[-1]]), np.array([n]))[0] + 1e-9:
        return None
    return best + 1


def _bern_ll(ones: np.ndarray, size: np.ndarray) -> np.ndarray:
    p = np.clip(ones / size, 1e-12, 1 - 1e-12)
    return ones * np.log(p) + (size - ones) * np.log(1 - p)


# ---------------------------------------------------------------------------- vestigial


def _case_outcomes(ctx: AuditContext) -> ir.Table:
    """Per case: resolved, reopened, chased (the contract's contacts before the first resolution), hours."""
    threshold = ctx.thresholds.chasing_contacts
    c = ctx.cases.select("case_id", "hours", "first_resolution")
    fr = c.select(fr_case=c.case_id, fr=c.first_resolution)
    # Only reopens and customer contacts count; every other event can be left out before the join.
    e = ctx.events.filter(ctx.events.r_reopen | ctx.events.r_customer_contact)
    e = e.join(fr, e.case_id == fr.fr_case)
    before = e.r_customer_contact & (e.fr.isnull() | (e.timestamp < e.fr))
    per = e.group_by(p_case=e.case_id).aggregate(reopened=e.r_reopen.any(), contacts=before.cast("int64").sum())
    j = c.left_join(per, c.case_id == per.p_case)
    contacts = j.contacts.fill_null(0)
    return j.select(
        "case_id",
        "hours",
        "first_resolution",
        resolved=j.first_resolution.notnull(),
        reopened=j.reopened.fill_null(False),
        contacts=contacts,
        chased=contacts >= threshold,
    )


def _strata_attributes(ctx: AuditContext) -> tuple[list[str], ir.Table | None]:
    """Case-level categorical attributes (constant within a case, 2 to 20 values) and a materialised table
    of each case's value of them (`a_case` and one column per attribute; the caller drops it)."""
    t = ctx.log.table
    base = {"case_id", "activity", "timestamp", "resource", "team", "seq"}
    candidates = [c for c in t.columns if c not in base and t[c].type().is_string()]
    if not candidates:
        return [], None
    # The distinct values of each column, in the engine's order (21 say "more than 20").
    values: dict[str, list[Any]] = {}
    for c in candidates:
        distinct = t.select(v=t[c]).distinct()
        found = list(distinct.filter(distinct.v.notnull()).order_by("v").limit(21).execute()["v"])
        if 2 <= len(found) <= 20:
            values[c] = found
    few = list(values)
    if not few:
        return [], None
    # Each value as its rank: a case has at most one value when its smallest rank is its largest (or it has
    # none), and its largest rank is its largest value. Integers are much cheaper to aggregate per case than
    # text.
    rank = {
        c: ibis.cases(*((t[c] == v, i) for i, v in enumerate(vs)), else_=ibis.null().cast("int64"))
        for c, vs in values.items()
    }
    per_case = t.group_by(a_case=t.case_id).aggregate(
        **{f"lo{i}": rank[c].min() for i, c in enumerate(few)}, **{f"hi{i}": rank[c].max() for i, c in enumerate(few)}
    )
    per_case = ctx.log.engine.materialize(per_case, "case_attrs")
    constant = per_case.aggregate(
        **{
            f"constant{i}": ((per_case[f"lo{i}"] == per_case[f"hi{i}"]) | per_case[f"lo{i}"].isnull())
            .cast("float64")
            .mean()
            for i in range(len(few))
        }
    ).execute().iloc[0]
    attrs = [c for i, c in enumerate(few) if float(constant[f"constant{i}"]) >= 0.99]
    if not attrs:
        ctx.log.engine.drop(per_case)
        return [], None
    # The case's value is its largest (constant in all but at most 1% of the cases).
    value_of = {
        c: ibis.cases(
            *((per_case[f"hi{few.index(c)}"] == i, ibis.literal(v)) for i, v in enumerate(values[c])),
            else_=ibis.null().cast("string"),
        )
        for c in attrs
    }
    table = ctx.log.engine.materialize(per_case.select("a_case", **value_of), "case_attrs")
    ctx.log.engine.drop(per_case)
    return attrs, table


def _vestigial(ctx: AuditContext, exclude: set[str]) -> list[Finding]:
    e = ctx.events
    protected = set(exclude)
    for role in ("resolution", "closure", "reopen", "customer_contact", "agent_response", "survey"):
        protected |= set(ctx.roles.of(role))
    # Cheap filters first: counting the distinct cases of an activity and its median wait need all its
    # events, so only the activities still in question get them.
    human = (
        e.group_by("activity")
        .aggregate(human=(~e.is_system & ~e.is_customer & e.resource.notnull()).cast("float64").mean())
        .execute()
    )
    human = human[(human["human"] >= 0.8) & ~human["activity"].isin(sorted(protected))]
    if human.empty:
        return []
    f = e.filter(e.activity.isin([str(a) for a in human["activity"]]))
    per_case = f.filter(f.case_id.notnull()).select("activity", "case_id").distinct()
    cases = per_case.group_by("activity").aggregate(cases=per_case.count())
    waits = f.group_by(w_act=f.activity).aggregate(
        own_wait=((Engine.epoch_seconds(f.timestamp) - Engine.epoch_seconds(f.prev_ts)) / 60.0).median(),
        last=f.next_activity.isnull().cast("float64").mean(),
    )
    per_act = cases.join(waits, cases.activity == waits.w_act).execute().set_index("activity")
    total = ctx.total_cases
    keep = per_act[
        (per_act["cases"] >= 0.10 * total)
        & (per_act["cases"] <= 0.90 * total)
        & (per_act["own_wait"] >= MIN_OWN_WAIT_MIN)
    ]
    ending = keep[keep["last"] >= MAX_TERMINAL]
    for act, row in ending.sort_index().iterrows():
        ctx.notes.append(
            f"{act}: ends {row['last']:.0%} of the cases it occurs in, as a closure does; not judged as vestigial "
            "(name it in the rule pack's [roles] closure if it closes cases)"
        )
    cand = human[human["activity"].isin(set(keep.index) - set(ending.index))]
    if cand.empty:
        return []
    if not any(ctx.roles.of(r) for r in ("resolution", "closure", "reopen", "customer_contact")):
        ctx.notes.append(
            "vestigial steps: not judged: the log names no resolution, closure, reopen or customer contact, so "
            "no outcome but time can be compared and 'no effect' would be empty (name them in a rule pack's "
            "[roles])"
        )
        return []
    engine = ctx.log.engine
    attrs, case_attrs = _strata_attributes(ctx)
    outcomes = _case_outcomes(ctx)
    if case_attrs is not None:
        outcomes = outcomes.left_join(case_attrs, outcomes.case_id == case_attrs.a_case).drop("a_case")
    outcomes = engine.materialize(outcomes, "outcomes")
    if case_attrs is not None:
        engine.drop(case_attrs)
    acts = sorted(str(a) for a in cand["activity"])  # a stable order: the notes come out as judged
    f = e.filter(e.activity.isin(acts))
    # The step's own wait per case, for every activity judged, in one pass over the events.
    own = engine.materialize(
        f.group_by(o_act=f.activity, o_case=f.case_id).aggregate(
            own=((Engine.epoch_seconds(f.timestamp) - Engine.epoch_seconds(f.prev_ts)) / 3600.0).sum()
        ),
        "legacy_own",
    )
    try:
        return _vestigial_findings(ctx, acts, outcomes, own, attrs)
    finally:
        engine.drop(own)
        engine.drop(outcomes)


def _vestigial_findings(
    ctx: AuditContext, acts: list[str], outcomes: ir.Table, own: ir.Table, attrs: list[str]
) -> list[Finding]:
    m = len(acts)
    level = 1 - 2 * ALPHA / m  # two one-sided tests, Bonferroni over the activities tested
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    results = []
    for act in acts:
        res = _judge(ctx, act, outcomes, own, attrs, z)
        if res is not None:
            results.append(res)
    if not results:
        return []
    pvals = [p for r in results for p in r["raw_p"]]
    adjusted = stats.false_discovery_control(pvals, method="bh") if pvals else []
    findings = []
    i = 0
    for r in results:
        k = len(r["raw_p"])
        adj = [float(x) for x in adjusted[i : i + k]]
        i += k
        for test, p in zip(r["tests"], adj, strict=True):
            test["p_value_bh"] = round(p, 6)
        if not r["equivalent"]:
            if all(p >= ALPHA for p in r["raw_p"]):
                ctx.notes.append(
                    f"{r['activity']}: no significant effect on the outcomes, but too few cases to show there is none "
                    f"({r['compared']['with']} with, {r['compared']['without']} without); not flagged as vestigial"
                )
            continue
        act = r["activity"]
        case_ids = r["case_ids"]
        findings.append(
            ctx.finding(
                kind="legacy_step",
                title=f"{act} changes no outcome in {len(case_ids):,} cases, yet takes {r['own_wait_min']:.0f} min each",
                activities=[act],
                case_ids=case_ids,
                customer_facing=False,
                evidence={
                    "mechanism": "vestigial",
                    "own_wait_minutes_median": round(r["own_wait_min"], 2),
                    "compared": r["compared"],
                    "strata": r["strata"],
                    "tests": r["tests"],
                    "equivalence": {
                        "risk_margin": MARGIN_RISK,
                        "probability_of_superiority_margin": MARGIN_PS,
                        "confidence": round(level, 5),
                        "correction": f"Bonferroni over {m} activities tested",
                    },
                    "waste": "over-processing",
                },
            )
        )
    return findings


def _judge(
    ctx: AuditContext, act: str, outcomes: ir.Table, own: ir.Table, attrs: list[str], z: float
) -> dict[str, Any] | None:
    """Counts, strata and medians are computed in the engine; only the rank test's sample is fetched."""
    has = own.filter(own.o_act == act)
    o = outcomes.left_join(has, outcomes.case_id == has.o_case)
    o = o.select(*outcomes.columns, with_step=o.own.notnull(), own=o.own.fill_null(0.0))
    # Every figure below reads this one table.
    table = ctx.log.engine.materialize(o, "legacy_judged")
    try:
        return _judge_table(ctx, act, table, attrs, z)
    finally:
        ctx.log.engine.drop(table)


def _judge_table(ctx: AuditContext, act: str, o: ir.Table, attrs: list[str], z: float) -> dict[str, Any] | None:
    stratum_col = None
    strata: list[Any] = []
    if attrs:
        per_value = [
            o.group_by(value=o[a]).aggregate(
                attr=ibis.literal(a),
                n=o.count(),
                k=o.with_step.cast("float64").mean(),
                with_n=o.with_step.cast("int64").sum(),
            )
            for a in attrs
        ]
        prevalence = ibis.union(*per_value).execute()
        best, best_v = None, 0.0
        for a in attrs:
            prev = prevalence[prevalence["attr"] == a]
            prev = prev[prev["n"] >= MIN_GROUP]
            spread = float(prev["k"].max() - prev["k"].min()) if len(prev) > 1 else 0.0
            if spread > best_v:
                best, best_v = a, spread
        if best is not None and best_v >= 0.5:
            stratum_col = best
            values = prevalence[(prevalence["attr"] == best) & prevalence["value"].notnull()]
            share = values["with_n"] / values["n"]
            strata = list(values.loc[(share > 0.05) & (share < 0.95), "value"])
            if not strata:
                ctx.notes.append(
                    f"{act}: present in some case types and absent in others ({stratum_col}); not judged for vestigial"
                )
                return None
            o = o.filter(o[stratum_col].isin(strata))
    groups = (
        o.group_by("with_step")
        .aggregate(
            n=o.count(),
            **{outcome: o[outcome].cast("int64").sum() for outcome in ("resolved", "reopened", "chased")},
        )
        .execute()
        .set_index("with_step")
    )
    n1 = int(groups.loc[True, "n"]) if True in groups.index else 0
    n0 = int(groups.loc[False, "n"]) if False in groups.index else 0
    if n1 < MIN_GROUP or n0 < MIN_GROUP:
        ctx.notes.append(f"{act}: fewer than {MIN_GROUP} comparable cases with or without it; not judged for vestigial")
        return None
    w, wo = o.filter(o.with_step), o.filter(~o.with_step)
    tests: list[dict[str, Any]] = []
    raw_p: list[float] = []
    equivalent = True
    for outcome in ("resolved", "reopened", "chased"):
        a1 = int(groups.loc[True, outcome])
        a0 = int(groups.loc[False, outcome])
        diff, lo, hi = _risk_difference(a1, n1, a0, n0, z)
        p = float(stats.fisher_exact([[a1, n1 - a1], [a0, n0 - a0]]).pvalue)
        raw_p.append(p)
        tests.append({"outcome": outcome, "test": "Fisher's exact", "with": round(a1 / n1, 4), "without": round(a0 / n0, 4),
                      "risk_difference": round(diff, 4), "ci": [round(lo, 4), round(hi, 4)], "p_value": round(p, 6)})
        equivalent &= lo >= -MARGIN_RISK and hi <= MARGIN_RISK
    net_w = _sample(w.select("case_id", v=w.hours - w.own), n1)
    net_wo = _sample(wo.select("case_id", v=wo.hours), n0)
    mw = stats.mannwhitneyu(net_w, net_wo, alternative="two-sided")
    s1, s0 = len(net_w), len(net_wo)
    ps = float(mw.statistic) / (s1 * s0)
    se = math.sqrt(s1 * s0 * (s1 + s0 + 1) / 12.0) / (s1 * s0)
    raw_p.append(float(mw.pvalue))
    tests.append({"outcome": "throughput hours net of the step's own wait", "test": "Mann-Whitney U",
                  "median_with": round(float(np.median(net_w)), 3), "median_without": round(float(np.median(net_wo)), 3),
                  "probability_of_superiority": round(ps, 4), "ci": [round(ps - z * se, 4), round(ps + z * se, 4)],
                  "p_value": round(float(mw.pvalue), 6)})
    equivalent &= ps - z * se >= 0.5 - MARGIN_PS and ps + z * se <= 0.5 + MARGIN_PS
    return {
        "activity": act,
        "equivalent": equivalent,
        "tests": tests,
        "raw_p": raw_p,
        "compared": {"with": n1, "without": n0},
        "strata": {"attribute": stratum_col, "values": sorted(str(v) for v in strata)} if stratum_col else None,
        "own_wait_min": _median(w.select(v=w.own), n1) * 60.0,
        "case_ids": ctx.ids(w) if equivalent else [],
    }


def _risk_difference(a1: int, n1: int, a0: int, n0: int, z: float) -> tuple[float, float, float]:
    """Risk difference with a Wald interval (Agresti-Caffo adjusted: one success and one failure added)."""
    p1, p0 = (a1 + 1) / (n1 + 2), (a0 + 1) / (n0 + 2)
    diff = a1 / n1 - a0 / n0
    se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p0 * (1 - p0) / (n0 + 2))
    centre = p1 - p0
    return diff, centre - z * se, centre + z * se


def _sample(values: ir.Table, n: int) -> np.ndarray:
    """Column `v` of a group of `n` cases; above MAX_SAMPLE cases, those with the smallest hash of their id
    (a sample that does not depend on the order the engine returns rows in)."""
    if n > MAX_SAMPLE:
        values = values.order_by([values.case_id.hash(), values.case_id]).limit(MAX_SAMPLE)
    return values.select("v").execute()["v"].to_numpy(dtype=float)


def _median(values: ir.Table, n: int) -> float:
    """The median of column `v` of `n` rows, fetching only the middle one or two (as numpy takes it)."""
    middle = values.order_by("v").limit(2 - n % 2, offset=(n - 1) // 2).execute()["v"].to_numpy(dtype=float)
    return float(np.median(middle))


# ---------------------------------------------------------------------------- context


def _process_changes(ctx: AuditContext, gap: timedelta) -> None:
    assert ctx.start is not None and ctx.end is not None
    e = ctx.events
    life = e.group_by("activity").aggregate(n=e.count(), first=e.timestamp.min(), last=e.timestamp.max()).execute()
    life = life[life["n"] >= MIN_EVENTS]
    changes = []
    for r in life.itertuples(index=False):
        if r.last <= pd.Timestamp(ctx.end - gap) and _beyond_chance(r.first, r.last, int(r.n), pd.Timestamp(ctx.end) - r.last):
            changes.append({"activity": str(r.activity), "change": "discontinued", "date": pd.Timestamp(r.last).to_pydatetime(), "events": int(r.n)})
        if r.first >= pd.Timestamp(ctx.start + gap) and _beyond_chance(r.first, r.last, int(r.n), r.first - pd.Timestamp(ctx.start)):
            changes.append({"activity": str(r.activity), "change": "introduced", "date": pd.Timestamp(r.first).to_pydatetime(), "events": int(r.n)})
    ctx.process_changes.extend(sorted(changes, key=lambda c: (c["date"], c["activity"])))

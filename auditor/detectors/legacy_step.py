"""legacy_step: work that still happens although what it served is gone, or that changes nothing.

Business rules (one finding per activity; `evidence.mechanism` says which):
- `declared`: named in the rule pack's `[tools] legacy`; reported with its volume and cost.
- `orphaned`: a consumer vanished while the step goes on. A consumer is an activity, or a system account (an
  integration: a person who leaves is staff turnover, not a vanished consumer), whose last event lies at
  least `max(14 days, 10% of the log's span)` before the log ends. Resolution, agent-response and closure
  steps serve the customer and are never orphaned. A step is orphaned by it
  when, while the consumer was alive, at least `MIN_CONSUMED` of the step's occurrences were followed by it
  within the next `CONSUMER_STEPS` events of the case (a consumer far downstream consumes the step that
  feeds it there, not everything that happened earlier), and after the consumer's end the step still occurs
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
  wait (from the previous event) has a median of at least `MIN_OWN_WAIT_MIN` minutes. Fisher's and
  Mann-Whitney's p-values (Benjamini-Hochberg adjusted) are reported too.
- Too little data is said, not flagged: fewer than `MIN_GROUP` cases on either side.
- As context (not findings), activities that stopped altogether or appeared during the log are listed in
  `ctx.process_changes` with their dates.
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
from auditor.findings import Finding

MIN_EVENTS = 20
MIN_CONSUMED = 0.5
CONSUMER_STEPS = 3
MIN_AFTER = 20
MIN_GROUP = 30
MARGIN_RISK = 0.05
MARGIN_PS = 0.06
MIN_OWN_WAIT_MIN = 1.0
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
        out += [(kind, str(r.name), r.first, r.last) for r in gone.itertuples(index=False)]
    return out


def _orphaned(ctx: AuditContext, gap: timedelta, exclude: set[str]) -> list[Finding]:
    e = ctx.events
    # Resolving, answering or closing a case serves the customer, whatever consumed it once.
    protected = {a for role in ("resolution", "agent_response", "closure") for a in ctx.roles.of(role)}
    by_step: dict[str, dict[str, Any]] = {}
    for kind, name, first, last in _vanished(ctx, gap):
        col = e.activity if kind == "activity" else e.resource
        consumer = e.filter(col == name).select(c_case=e.case_id, c_pos=e.pos)
        s = e.filter((e.timestamp >= first) & (e.activity != name) if kind == "activity" else (e.timestamp >= first))
        # Consumed: the consumer comes within the next CONSUMER_STEPS events of the case. A consumer far
        # downstream consumes whatever step feeds it there, not every step that happened earlier.
        hit = s.semi_join(
            consumer, [s.case_id == consumer.c_case, consumer.c_pos > s.pos, consumer.c_pos <= s.pos + CONSUMER_STEPS]
        ).select(h_case="case_id", h_pos="pos", y=ibis.literal(True))
        j = s.left_join(hit, [s.case_id == hit.h_case, s.pos == hit.h_pos])
        j = j.select(*s.columns, y=j.y.fill_null(False), after=j.timestamp > last)
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
        for row in summary.itertuples(index=False):
            act = str(row.activity)
            if act in exclude or act == name or act in protected:
                continue
            series = j.filter(j.activity == act).select("timestamp", "seq", "case_id", "y").order_by(["timestamp", "seq"]).execute()
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
                "case_ids": sorted({str(c) for c in after["case_id"]}),
            }
            if info["best"] is None or p_value < info["best"]["test"]["p_value"]:
                info["best"] = candidate
    findings = []
    for act, info in sorted(by_step.items()):
        best = info["best"]
        case_ids = best.pop("case_ids")
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
    e = ctx.events.join(fr, ctx.events.case_id == fr.fr_case)
    before = e.r_customer_contact & (e.fr.isnull() | (e.timestamp < e.fr))
    per = e.group_by("case_id").aggregate(
        resolved=e.fr.notnull().any(),
        reopened=e.r_reopen.any(),
        contacts=before.cast("int64").sum(),
    )
    joined = per.join(c, "case_id")
    return joined.mutate(chased=joined.contacts >= threshold)


def _strata_attribute(ctx: AuditContext) -> list[str]:
    """Case-level categorical attributes (constant within a case, 2 to 20 values)."""
    t = ctx.log.table
    base = {"case_id", "activity", "timestamp", "resource", "team", "seq"}
    candidates = [c for c in t.columns if c not in base and t[c].type().is_string()]
    if not candidates:
        return []
    per_case = t.group_by("case_id").aggregate(**{c: t[c].nunique() for c in candidates})
    constant = per_case.aggregate(**{c: (per_case[c] <= 1).cast("float64").mean() for c in candidates}).execute().iloc[0]
    levels = t.aggregate(**{c: t[c].nunique() for c in candidates}).execute().iloc[0]
    return [c for c in candidates if float(constant[c]) >= 0.99 and 2 <= int(levels[c]) <= 20]


def _vestigial(ctx: AuditContext, exclude: set[str]) -> list[Finding]:
    e = ctx.events
    protected = set(exclude)
    for role in ("resolution", "closure", "reopen", "customer_contact", "agent_response", "survey"):
        protected |= set(ctx.roles.of(role))
    per_act = (
        e.group_by("activity")
        .aggregate(
            cases=e.case_id.nunique(),
            human=(~e.is_system & ~e.is_customer & e.resource.notnull()).cast("float64").mean(),
            own_wait=((e.timestamp.epoch_seconds() - e.prev_ts.epoch_seconds()) / 60.0).median(),
        )
        .execute()
    )
    total = ctx.total_cases
    cand = per_act[
        (per_act["cases"] >= 0.10 * total)
        & (per_act["cases"] <= 0.90 * total)
        & (per_act["human"] >= 0.8)
        & (per_act["own_wait"] >= MIN_OWN_WAIT_MIN)
        & ~per_act["activity"].isin(sorted(protected))
    ]
    if cand.empty:
        return []
    outcomes = ctx.log.engine.materialize(_case_outcomes(ctx), "outcomes")
    attrs = _strata_attribute(ctx)
    case_attrs = None
    if attrs:
        t = ctx.log.table
        case_attrs = t.group_by("case_id").aggregate(**{a: t[a].max() for a in attrs})
    m = len(cand)
    level = 1 - 2 * ALPHA / m  # two one-sided tests, Bonferroni over the activities tested
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    results = []
    for act in cand["activity"]:
        res = _judge(ctx, str(act), outcomes, case_attrs, attrs, z)
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
    ctx: AuditContext, act: str, outcomes: ir.Table, case_attrs: ir.Table | None, attrs: list[str], z: float
) -> dict[str, Any] | None:
    e = ctx.events
    has = e.filter(e.activity == act).group_by("case_id").aggregate(
        own=((e.timestamp.epoch_seconds() - e.prev_ts.epoch_seconds()) / 3600.0).sum()
    )
    has = has.select(h_case=has.case_id, own=has.own)
    o = outcomes.left_join(has, outcomes.case_id == has.h_case)
    o = o.select(*outcomes.columns, with_step=o.own.notnull(), own=o.own.fill_null(0.0))
    stratum_col = None
    if case_attrs is not None:
        ca = case_attrs.rename(a_case="case_id")
        o2 = o.left_join(ca, o.case_id == ca.a_case).drop("a_case")
        best, best_v = None, 0.0
        for a in attrs:
            prev = o2.group_by(a).aggregate(n=o2.count(), k=o2.with_step.cast("float64").mean()).execute()
            prev = prev[prev["n"] >= MIN_GROUP]
            spread = float(prev["k"].max() - prev["k"].min()) if len(prev) > 1 else 0.0
            if spread > best_v:
                best, best_v = a, spread
        if best is not None and best_v >= 0.5:
            stratum_col = best
            o = o2
    cols = ["case_id", "with_step", "own", "hours", "resolved", "reopened", "chased"]
    if stratum_col:
        cols.append(stratum_col)
    df = o.select(*cols).execute()
    if stratum_col:
        share = df.groupby(stratum_col)["with_step"].mean()
        usable = share[(share > 0.05) & (share < 0.95)].index
        if len(usable) == 0:
            ctx.notes.append(f"{act}: present in some case types and absent in others ({stratum_col}); not judged for vestigial")
            return None
        df = df[df[stratum_col].isin(usable)]
    w, wo = df[df["with_step"]], df[~df["with_step"]]
    if len(w) < MIN_GROUP or len(wo) < MIN_GROUP:
        ctx.notes.append(f"{act}: fewer than {MIN_GROUP} comparable cases with or without it; not judged for vestigial")
        return None
    tests: list[dict[str, Any]] = []
    raw_p: list[float] = []
    equivalent = True
    for outcome in ("resolved", "reopened", "chased"):
        a1, n1 = int(w[outcome].sum()), len(w)
        a0, n0 = int(wo[outcome].sum()), len(wo)
        diff, lo, hi = _risk_difference(a1, n1, a0, n0, z)
        p = float(stats.fisher_exact([[a1, n1 - a1], [a0, n0 - a0]]).pvalue)
        raw_p.append(p)
        tests.append({"outcome": outcome, "test": "Fisher's exact", "with": round(a1 / n1, 4), "without": round(a0 / n0, 4),
                      "risk_difference": round(diff, 4), "ci": [round(lo, 4), round(hi, 4)], "p_value": round(p, 6)})
        equivalent &= lo >= -MARGIN_RISK and hi <= MARGIN_RISK
    net_w = _sample(w["hours"] - w["own"])
    net_wo = _sample(wo["hours"])
    mw = stats.mannwhitneyu(net_w, net_wo, alternative="two-sided")
    n1, n0 = len(net_w), len(net_wo)
    ps = float(mw.statistic) / (n1 * n0)
    se = math.sqrt(n1 * n0 * (n1 + n0 + 1) / 12.0) / (n1 * n0)
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
        "compared": {"with": len(w), "without": len(wo)},
        "strata": {"attribute": stratum_col, "values": sorted(str(v) for v in df[stratum_col].unique())} if stratum_col else None,
        "own_wait_min": float(w["own"].median()) * 60.0,
        "case_ids": sorted(str(c) for c in w["case_id"]),
    }


def _risk_difference(a1: int, n1: int, a0: int, n0: int, z: float) -> tuple[float, float, float]:
    """Risk difference with a Wald interval (Agresti-Caffo adjusted: one success and one failure added)."""
    p1, p0 = (a1 + 1) / (n1 + 2), (a0 + 1) / (n0 + 2)
    diff = a1 / n1 - a0 / n0
    se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p0 * (1 - p0) / (n0 + 2))
    centre = p1 - p0
    return diff, centre - z * se, centre + z * se


def _sample(values: pd.Series) -> np.ndarray:
    arr = values.to_numpy(dtype=float)
    if len(arr) <= MAX_SAMPLE:
        return arr
    return np.random.default_rng(0).choice(arr, MAX_SAMPLE, replace=False)


# ---------------------------------------------------------------------------- context


def _process_changes(ctx: AuditContext, gap: timedelta) -> None:
    assert ctx.start is not None and ctx.end is not None
    e = ctx.events
    life = e.group_by("activity").aggregate(n=e.count(), first=e.timestamp.min(), last=e.timestamp.max()).execute()
    life = life[life["n"] >= MIN_EVENTS]
    changes = []
    for r in life.itertuples(index=False):
        if r.last <= pd.Timestamp(ctx.end - gap):
            changes.append({"activity": str(r.activity), "change": "discontinued", "date": pd.Timestamp(r.last).to_pydatetime(), "events": int(r.n)})
        if r.first >= pd.Timestamp(ctx.start + gap):
            changes.append({"activity": str(r.activity), "change": "introduced", "date": pd.Timestamp(r.first).to_pydatetime(), "events": int(r.n)})
    ctx.process_changes.extend(sorted(changes, key=lambda c: (c["date"], c["activity"])))

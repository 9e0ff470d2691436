"""tool_driven_step: steps the tool performs or forces, found from behaviour, never from a name alone.

Business rules (one finding per activity; `evidence.mechanism` says which rule fired, the others that also
hold are listed in `evidence.also`):
- `timer`: the step follows a trigger activity after an almost constant delay. For every event of the step,
  the most recent occurrence of each activity among the `LOOKBACK` events before it is a candidate trigger;
  a trigger qualifies when it precedes at least `MIN_SHARE` of the step's events and the delay's spread
  (p90 - p10) is at most `MAX_SPREAD` of its median, with a median of at least `MIN_TIMER` (shorter is
  chaining, not a timer). Real timers often have several settings (15 days for one service level, 30 for
  another), so a second signature also qualifies: at least `MIN_MODE_SHARE` of the step's events come at
  one and the same delay (within `MODE_BUCKET` seconds either side, or the timestamps' resolution if
  coarser) of at least `MIN_TIMER`, which people do not do to the minute; a delay under `MODE_RESOLUTION`
  times the timestamps' resolution is not judged (a date-only log puts every delay on whole days).
  Evidence: trigger, median and modal delay, spread, shares, which signature. The finding's cases are
  those in which the step followed its trigger at the timer's delay (the median to within `MAX_SPREAD` of
  it, or the mode to within its bucket and the next), not every case of the step. A timer wins over
  `system_account`, being the more specific mechanism. A step that customer accounts do in at least
  `MAX_SHARE_CUSTOMER` of its events is never a timer: customers do not run on the tool's clock.
- `system_account`: at least `MIN_SHARE_SYSTEM` of the step's events are by system accounts (rule pack, else
  inferred: see roles.py).
- `chained_bookkeeping`: the step directly follows one specific activity, by the same human resource, within
  `MAX_CHAIN` seconds, in at least `MIN_SHARE_CHAIN` of its events: a status change or mandatory field the
  tool demands after a human step. Evidence: partner step, median delay, share (both ways).
  Value-adding roles (resolution, agent response) are never flagged by this rule, and it is not judged when
  the timestamps carry no time of day (a note says so).
- Steps with fewer than `MIN_EVENTS` events are not judged: too little data, and the notes say so.
- Evidence also says what the step adds downstream (median hours until the case's next event) and whether
  it reaches the customer (a survey, an agent response, a notification by name).
"""

from __future__ import annotations

import re
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from auditor.audit import AuditContext
from auditor.engine import Engine
from auditor.findings import Finding

LOOKBACK = 4  # candidate triggers: the activities among the 4 events before the step
MIN_EVENTS = 20
MIN_SHARE = 0.5
MAX_SPREAD = 0.02
MIN_TIMER = 300.0  # seconds
MIN_MODE_SHARE = 0.25
MODE_BUCKET = 60  # seconds: delays within a minute of each other are the same setting
MODE_RESOLUTION = 100
MIN_SHARE_SYSTEM = 0.8
MAX_SHARE_CUSTOMER = 0.5
MAX_CHAIN = 60.0  # seconds
MIN_SHARE_CHAIN = 0.9
_NOTIFY = re.compile(r"\b(notif\w*|e-?mail\w*|sms|message\w*|survey\w*|letter|alert\w*)\b", re.IGNORECASE)


def detect(ctx: AuditContext) -> list[Finding]:
    e = ctx.events
    ts = e.timestamp
    us = Engine.epoch_us(ts)
    # One scan for the per-step figures, the event counts the rules divide by, and the timestamps'
    # resolution (summed over the steps below). Ordered so the findings come in a stable order.
    acts = (
        e.group_by("activity")
        .aggregate(
            n=e.count(),
            system=e.is_system.cast("float64").mean(),
            customer=e.is_customer.cast("float64").mean(),
            downstream=((Engine.epoch_seconds(e.next_ts) - Engine.epoch_seconds(ts)) / 3600.0).median(),
            # Off the whole minute, hour, day (UTC): integer arithmetic, where reading a field off an
            # instant converts its time zone per value.
            res_s=(us % 60_000_000 != 0).cast("int64").sum(),
            res_m=(us % 3_600_000_000 != 0).cast("int64").sum(),
            res_h=(us % 86_400_000_000 != 0).cast("int64").sum(),
        )
        .order_by("activity")
        .execute()
    )
    judged = acts[acts["n"] >= MIN_EVENTS]
    skipped = len(acts) - len(judged)
    if skipped:
        ctx.notes.append(
            f"tool-driven steps: {skipped} activit{'y has' if skipped == 1 else 'ies have'} fewer than "
            f"{MIN_EVENTS} events and {'was' if skipped == 1 else 'were'} not judged (too little data)"
        )
    timers, fired = _timers(ctx, acts, list(judged["activity"]))
    chains = _chains(ctx, acts, list(judged["activity"])) if not ctx.whole_days else {}
    if ctx.whole_days and len(judged):
        ctx.notes.append(
            "chained bookkeeping is not judged: the timestamps carry no time of day, so a step 'within seconds' "
            "of another cannot be told from one hours later on the same day"
        )
    protected = set(ctx.roles.of("resolution")) | set(ctx.roles.of("agent_response"))
    found: list[tuple[Any, dict[str, dict[str, Any]]]] = []
    for row in judged.itertuples(index=False):
        act = str(row.activity)
        mechanisms: dict[str, dict[str, Any]] = {}
        # A customer is no timer: a step mostly done by customer accounts at a fixed delay is a pattern of
        # the data (a generated or copied log), not a setting of the tool.
        if act in timers and float(row.customer) < MAX_SHARE_CUSTOMER:
            mechanisms["timer"] = timers[act]
        if float(row.system) >= MIN_SHARE_SYSTEM:
            mechanisms["system_account"] = {"system_share": round(float(row.system), 4)}
        if act in chains and act not in protected:
            mechanisms["chained_bookkeeping"] = chains[act]
        if mechanisms:
            found.append((row, mechanisms))
    flagged = [str(row.activity) for row, _ in found]
    accounts = _accounts(ctx, [a for (_, m), a in zip(found, flagged, strict=True) if "system_account" in m])
    ids = ctx.ids_by_activity(e.filter(e.activity.isin(flagged)), flagged) if flagged else {}
    findings = []
    for (row, mechanisms), act in zip(found, flagged, strict=True):
        if "system_account" in mechanisms:
            mechanisms["system_account"]["accounts"] = accounts.get(act, [])
        mechanism = next(m for m in ("timer", "system_account", "chained_bookkeeping") if m in mechanisms)
        # A timer's cases are those where it fired at its delay: "Closed fires exactly 15 days after
        # Resolve in 28% of its events" is not about the 72% closed at other times.
        case_ids = fired[act] if mechanism == "timer" else ids[act]
        reaches = act in ctx.roles.of("survey") or act in ctx.roles.of("agent_response") or bool(_NOTIFY.search(act))
        evidence: dict[str, Any] = {
            "mechanism": mechanism,
            **mechanisms[mechanism],
            "also": sorted(m for m in mechanisms if m != mechanism),
            "events": int(row.n),
            "downstream_wait_hours_median": None if pd.isna(row.downstream) else round(float(row.downstream), 3),
            "reaches_customer": reaches,
            "waste": "over-processing",
        }
        if "trigger" in evidence:
            evidence["edges"] = [{"source": evidence["trigger"], "target": act, "cases": len(case_ids)}]
        elif "partner" in evidence:
            evidence["edges"] = [{"source": evidence["partner"], "target": act, "cases": len(case_ids)}]
        findings.append(
            ctx.finding(
                kind="tool_driven_step",
                title=_title(act, mechanism, evidence),
                activities=[act],
                case_ids=case_ids,
                customer_facing=reaches,
                evidence=evidence,
            )
        )
    return findings


def _title(act: str, mechanism: str, ev: dict[str, Any]) -> str:
    if mechanism == "timer":
        if ev.get("timer_signature") == "constant delay":
            return f"{act} fires {_duration(ev['delay_hours_median'])} after {ev['trigger']}: a timer, not a decision"
        return (
            f"{act} fires exactly {_duration(ev['delay_hours_mode'])} after {ev['trigger']} in "
            f"{ev['share_at_mode']:.0%} of its events: a timer, not a decision"
        )
    if mechanism == "system_account":
        return f"{act} is done by system accounts ({ev['system_share']:.0%} of its events)"
    return f"{act} is bookkeeping chained to {ev['partner']} (same person, within seconds)"


def _duration(hours: float) -> str:
    if hours >= 24 and abs(hours / 24 - round(hours / 24)) < 0.05:
        days = round(hours / 24)
        return f"{days:g} day" if days == 1 else f"{days:g} days"
    if hours >= 1:
        return f"{hours:.3g} h"
    return f"{hours * 60:.3g} min"


def _accounts(ctx: AuditContext, activities: list[str]) -> dict[str, list[str]]:
    """Per step, its five busiest system accounts (busiest first, then by name)."""
    if not activities:
        return {}
    e = ctx.events
    sel = e.filter(e.activity.isin(activities) & e.is_system)
    per = sel.group_by(["activity", "resource"]).aggregate(n=sel.count())
    per = per.mutate(r=ibis.row_number().over(group_by="activity", order_by=[ibis.desc(per.n), per.resource]))
    top = per.filter(per.r < 5).order_by(["activity", "r"]).execute()
    out: dict[str, list[str]] = {}
    for act, resources in top.groupby("activity", sort=False)["resource"]:
        out[str(act)] = [str(r) for r in resources]
    return out


def _resolution_seconds(acts: pd.DataFrame) -> int:
    """The finest unit the log's timestamps use: 1 (seconds or finer), 60, 3600 or 86400 (dates only)."""
    if int(acts["res_s"].sum()):
        return 1
    if int(acts["res_m"].sum()):
        return 60
    return 3600 if int(acts["res_h"].sum()) else 86400


def _timers(
    ctx: AuditContext, acts: pd.DataFrame, activities: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per step, the trigger that fires it by a timer, if one qualifies (see the module's rules), and the
    cases in which it fired at that delay (as `AuditContext.ids` gives them)."""
    if not activities:
        return {}, {}
    e = ctx.events
    engine = ctx.log.engine
    # Activities as small integer codes and times as epoch seconds: the window below then moves numbers,
    # not strings, and each event's epoch is computed once instead of once per lag.
    names = sorted(str(a) for a in acts["activity"])
    code_type = "int16" if len(names) < 2**15 else "int32"
    codes = ibis.memtable(
        {"activity": names, "code": list(range(len(names)))}, schema={"activity": "string", "code": code_type}
    )
    x = e.select("case_id", "pos", "activity", sec=Engine.epoch_seconds(e.timestamp))
    x = x.left_join(codes, x.activity == codes.activity).select("case_id", "pos", "code", "sec")
    # The LOOKBACK events before each event, by window lags (no self-join; `pos` orders a case by timestamp
    # then source order). A lag is a candidate trigger when it is the most recent occurrence of its
    # activity, i.e. no nearer lag has the same activity; the others are blanked.
    w = ibis.window(group_by="case_id", order_by="pos")
    lags = {f"a{k}": x.code.lag(k).over(w) for k in range(1, LOOKBACK + 1)}
    lags |= {f"s{k}": x.sec.lag(k).over(w) for k in range(1, LOOKBACK + 1)}
    lagged = x.mutate(**lags)
    code_of = {a: i for i, a in enumerate(names)}
    lagged = lagged.filter(lagged.code.isin([code_of[a] for a in activities]))
    cols: dict[str, Any] = {"case_id": lagged.case_id, "b": lagged.code}
    for k in range(1, LOOKBACK + 1):
        a_k = lagged[f"a{k}"]
        newest = a_k.notnull() & (a_k != lagged.code)
        for j in range(1, k):
            newest = newest & (a_k != lagged[f"a{j}"]).fill_null(True)
        cols[f"a{k}"] = ibis.ifelse(newest, a_k, ibis.null(code_type))
        cols[f"d{k}"] = lagged.sec - lagged[f"s{k}"]
    # Materialised once, narrow (codes and delays, one row per step event), because four queries read it.
    lag_table = engine.materialize(lagged.select(**cols), "timer_lags")
    try:
        found, targets = _timer_stats(lag_table, acts, names, _resolution_seconds(acts))
        return found, _fired(ctx, lag_table, targets, names)
    finally:
        engine.drop(lag_table)


def _fired(ctx: AuditContext, t: ir.Table, targets: dict[str, tuple[int, int, float, float]], names: list[str]) -> dict[str, Any]:
    """Per timer step, the cases in which one of its events followed its trigger at the timer's delay
    (within the tolerance `_timer_stats` gives)."""
    if not targets:
        return {}
    parts = []
    for b, a, delay, tol in targets.values():
        for k in range(1, LOOKBACK + 1):
            hit = t.filter((t.b == b) & (t[f"a{k}"] == a) & ((t[f"d{k}"] - delay).abs() <= tol))
            parts.append(hit.select("case_id", activity=ibis.literal(names[b])))
    u = parts[0]
    for part in parts[1:]:
        u = u.union(part, distinct=False)
    return ctx.ids_by_activity(u, list(targets))


def _timer_stats(
    t: ir.Table, acts: pd.DataFrame, names: list[str], resolution: int
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[int, int, float, float]]]:
    """The timer rules over the lag table: one row per (step event, candidate trigger) with its delay.
    Also, per timer step: its code, its trigger's, and the delay and tolerance (seconds) of an event that
    the timer fired: the median within `MAX_SPREAD` of it for a constant delay, the mode within its
    bucket and the next for a mass at one delay."""
    parts = [
        t.filter(t[f"a{k}"].notnull()).select(b=t.b, a=t[f"a{k}"], delay=t[f"d{k}"]) for k in range(1, LOOKBACK + 1)
    ]
    d = parts[0]
    for part in parts[1:]:
        d = d.union(part, distinct=False)
    n_b = acts.set_index("activity")["n"]
    counts = d.group_by(["b", "a"]).aggregate(n=d.count()).execute()
    counts["n_b"] = [int(n_b[names[b]]) for b in counts["b"]]
    # A trigger qualifies only with a share of at least MIN_SHARE (constant delay) or a mode share of at
    # least MIN_MODE_SHARE (a mode never holds more events than its pair): the delay statistics, the
    # costly part, are computed for those pairs only.
    can = counts[counts["n"] / counts["n_b"] >= min(MIN_SHARE, MIN_MODE_SHARE)]
    if can.empty:
        return {}, {}
    code_type = str(t.b.type())
    pairs = ibis.memtable(can[["b", "a"]], schema={"b": code_type, "a": code_type})
    d = d.semi_join(pairs, ["b", "a"])
    # One sketch per pair answers all three quantiles (three separate calls would build three alike).
    stats = d.group_by(["b", "a"]).aggregate(n=d.count(), p=d.delay.approx_quantile([0.1, 0.5, 0.9]))
    stats = stats.select("b", "a", "n", p10=stats.p[0], p50=stats.p[1], p90=stats.p[2]).execute()
    bucket = max(MODE_BUCKET, resolution)
    modes = _modes(d, bucket)
    stats = stats.merge(modes, on=["b", "a"], how="left")
    stats["b_act"] = [names[b] for b in stats["b"]]
    stats["a_act"] = [names[a] for a in stats["a"]]
    stats["n_b"] = [int(n_b[b]) for b in stats["b_act"]]
    stats["share"] = stats["n"] / stats["n_b"]
    stats["spread"] = (stats["p90"] - stats["p10"]) / stats["p50"].where(stats["p50"] > 0)
    stats["mode_share"] = stats["mode_n"].fillna(0) / stats["n_b"]
    constant = (stats["share"] >= MIN_SHARE) & (stats["p50"] >= MIN_TIMER) & (stats["spread"] <= MAX_SPREAD)
    massed = (stats["mode_share"] >= MIN_MODE_SHARE) & (stats["mode_delay"] >= MIN_TIMER) & stats["mode_ok"].fillna(False)
    ok = stats[constant | massed].copy()
    ok["rank"] = (~(constant[ok.index])).astype(int)  # a constant delay first, then the largest mass
    out: dict[str, dict[str, Any]] = {}
    targets: dict[str, tuple[int, int, float, float]] = {}
    for act, group in ok.groupby("b_act"):
        best = group.sort_values(["rank", "mode_share", "a_act"], ascending=[True, False, True]).iloc[0]
        if int(best["rank"]) == 0:
            delay = float(best["p50"])
            targets[str(act)] = (int(best["b"]), int(best["a"]), delay, max(float(bucket), MAX_SPREAD * delay))
        else:
            targets[str(act)] = (int(best["b"]), int(best["a"]), float(best["mode_delay"]), 1.5 * bucket)
        out[str(act)] = {
            "trigger": str(best["a_act"]),
            "delay_hours_median": round(float(best["p50"]) / 3600.0, 4),
            "delay_spread": round(float(best["spread"]), 5),
            "delay_p10_p90_hours": [round(float(best["p10"]) / 3600.0, 4), round(float(best["p90"]) / 3600.0, 4)],
            "share_after_trigger": round(float(best["share"]), 4),
            "delay_hours_mode": round(float(best["mode_delay"]) / 3600.0, 4),
            "share_at_mode": round(float(best["mode_share"]), 4),
            "timer_signature": "constant delay" if int(best["rank"]) == 0 else "a mass of events at one exact delay",
        }
    return out, targets


def _modes(d: Any, bucket: int) -> Any:
    """Per (step, trigger), the delay most events share, to within one bucket either side, and how many.

    `mode_ok` is false when the log's timestamps are too coarse to tell that delay from a natural one (a
    date-only log puts every delay on whole days)."""
    x = d.mutate(bucket=(d.delay / bucket).round().cast("int64"))
    counts = x.group_by(["b", "a", "bucket"]).aggregate(k=x.count())
    w = ibis.window(group_by=["b", "a"], order_by="bucket")
    near = counts.mutate(
        prev_b=counts.bucket.lag().over(w), prev_k=counts.k.lag().over(w),
        next_b=counts.bucket.lead().over(w), next_k=counts.k.lead().over(w),
    )
    mass = near.k + ibis.ifelse(near.prev_b == near.bucket - 1, near.prev_k, 0).fill_null(0) + ibis.ifelse(
        near.next_b == near.bucket + 1, near.next_k, 0
    ).fill_null(0)
    near = near.mutate(mass=mass)
    top = near.mutate(r=ibis.row_number().over(ibis.window(group_by=["b", "a"], order_by=[ibis.desc(near.mass), near.bucket])))
    top = top.filter(top.r == 0).execute()
    top["mode_delay"] = top["bucket"] * bucket
    # The delay must be at least MODE_RESOLUTION times the timestamps' resolution to be told apart.
    top["mode_ok"] = top["mode_delay"] >= MODE_RESOLUTION * bucket
    return top[["b", "a", "mass", "mode_delay", "mode_ok"]].rename(columns={"mass": "mode_n"})


def _chains(ctx: AuditContext, acts: pd.DataFrame, activities: list[str]) -> dict[str, dict[str, Any]]:
    """Per step, the one activity it follows by the same human within seconds, if nearly always."""
    if not activities:
        return {}
    e = ctx.events
    s = e.filter(e.activity.isin(activities))
    # A filter drops NULL (no previous event) as false; filling it in first would hide the conditions
    # from DuckDB's scan.
    c = s.filter(
        s.prev_resource == s.resource,
        ~s.is_system,
        ~s.is_customer,
        (Engine.epoch_seconds(s.timestamp) - Engine.epoch_seconds(s.prev_ts)) <= MAX_CHAIN,
    )
    per_pair = c.group_by(["activity", "prev_activity"]).aggregate(
        k=c.count(), delay=(Engine.epoch_seconds(c.timestamp) - Engine.epoch_seconds(c.prev_ts)).median()
    ).execute()
    # Both the step's and the partner's event counts are in `acts` already.
    totals = acts[["activity", "n"]]
    partners = totals.rename(columns={"activity": "partner", "n": "n_partner"})
    joined = per_pair.merge(totals, on="activity").merge(partners, left_on="prev_activity", right_on="partner")
    joined["share"] = joined["k"] / joined["n"]
    ok = joined[joined["share"] >= MIN_SHARE_CHAIN]
    out: dict[str, dict[str, Any]] = {}
    for row in ok.sort_values(["activity", "share"], ascending=[True, False]).drop_duplicates("activity").itertuples():
        out[str(row.activity)] = {
            "partner": str(row.prev_activity),
            "delay_seconds_median": round(float(row.delay), 2),
            "share_of_step_after_partner": round(float(row.share), 4),
            "share_of_partner_followed": round(float(row.k) / float(row.n_partner), 4),
        }
    return out

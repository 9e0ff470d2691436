"""Value classification and Lean figures, per log and per team.

Business rules:
- Each activity is value-adding (VA), business-value-adding (BVA) or non-value-adding (NVA). The rule pack's
  `[value]` tables win; otherwise tool-driven and legacy steps (from the findings) are NVA, resolution and
  agent-response steps are VA, everything else BVA. Every class carries its source.
- Touch time is estimated, since events are instants: an event's touch time is the time since the case's
  previous event when both were done by the same human resource, capped at `TOUCH_CAP_MINUTES` (a person
  working continuously); every other gap is waiting. The report states this estimate.
- Process cycle efficiency = touch time of VA events / lead time (first to last event), over all cases.
- First-pass yield = resolved cases with no rework, no reopen and no ping-pong / resolved cases.
- Rework rate = cases with a repeated activity / all cases.
- Tool-driven share = events of tool-driven steps / all events; a timer's events count only in the cases where it
  fired (the same activity done by hand elsewhere is a person's work).
- Per team, the same figures over the events the team performed (lead time is not per team: waiting is
  attributed to the team that performed the event the case waited for).
- Without any resource in the log (or in a team's events), touch time cannot be estimated: touch and
  waiting hours and process cycle efficiency are null, not zero, and the audit's notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from auditor.audit import AuditContext, id_table, set_table
from auditor.engine import Engine
from auditor.findings import Finding

TOUCH_CAP_MINUTES = 60.0
TOUCH_METHOD = (
    "touch time of an event = time since the case's previous event when the same person did both, capped at "
    f"{TOUCH_CAP_MINUTES:.0f} minutes; every other gap is waiting"
)


@dataclass(frozen=True)
class ValueClass:
    activity: str
    value: str  # VA, BVA, NVA
    source: str


@dataclass
class LeanFigures:
    values: list[ValueClass]
    log: dict[str, Any]
    teams: list[dict[str, Any]] = field(default_factory=list)
    method: str = TOUCH_METHOD

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "values": [{"activity": v.activity, "value": v.value, "source": v.source} for v in self.values],
            "log": self.log,
            "teams": self.teams,
        }


def classify(ctx: AuditContext, findings: list[Finding]) -> list[ValueClass]:
    acts = sorted(str(a) for a in ctx.events.select("activity").distinct().execute()["activity"])
    pack = ctx.options.rules.value
    flagged = {f.activities[0]: f.kind for f in findings if f.kind in ("tool_driven_step", "legacy_step")}
    va = set(ctx.roles.of("resolution")) | set(ctx.roles.of("agent_response"))
    out = []
    for a in acts:
        if a in pack:
            out.append(ValueClass(a, pack[a], "rule pack [value]"))
        elif a in flagged:
            out.append(ValueClass(a, "NVA", f"{flagged[a].replace('_', ' ')} finding"))
        elif a in va:
            out.append(ValueClass(a, "VA", "resolution or agent response"))
        else:
            out.append(ValueClass(a, "BVA", "default: needed by the business, not by the customer"))
    return out


def _cases_of(findings: list[Finding], kinds: tuple[str, ...]) -> list[str]:
    return list({c for f in findings if f.kind in kinds for c in f.case_ids})


def compute(ctx: AuditContext, findings: list[Finding]) -> LeanFigures:
    values = classify(ctx, findings)
    va = [v.activity for v in values if v.value == "VA"]
    # A timer's events count as the tool's only in the cases where it fired; elsewhere (a Close done by hand
    # where the auto-close did not fire) the same activity is a person's work.
    timers = [f for f in findings if f.kind == "tool_driven_step" and f.evidence.get("mechanism") == "timer"]
    tool = [f.activities[0] for f in findings if f.kind == "tool_driven_step" and f not in timers]
    e = ctx.events
    gap = (Engine.epoch_seconds(e.timestamp) - Engine.epoch_seconds(e.prev_ts)) / 3600.0
    same_person = (e.prev_resource == e.resource) & ~e.is_system & ~e.is_customer
    touch = ibis.ifelse(same_person.fill_null(False), ibis.least(gap, TOUCH_CAP_MINUTES / 60.0), 0.0).fill_null(0.0)
    t = e.mutate(
        touch=touch,
        wait=(gap - touch).fill_null(0.0),
        is_va=e.activity.isin(va or ["\x00"]),
        is_tool=e.activity.isin(tool or ["\x00"]),
    )
    imperfect = _cases_of(findings, ("rework_loop", "reopened_after_close", "ping_pong"))
    rework = _cases_of(findings, ("rework_loop",))
    # One scan: per team (events without a team form their own group), and the log's figures are the sums
    # of the groups, since every figure but the case count adds up.
    team = t.team if "team" in t.columns else ibis.null("string")
    g = t.mutate(team=team)
    rows = (
        g.group_by("team")
        .aggregate(
            events=g.count(),
            cases=g.case_id.nunique(),
            touch_hours=g.touch.sum(),
            va_touch_hours=(g.touch * g.is_va.cast("float64")).sum(),
            waiting_hours=g.wait.sum(),
            tool_events=g.is_tool.cast("int64").sum(),
            with_resource=g.resource.count(),
        )
        .order_by("team")
        .execute()
    )
    if timers:
        rows = _add_fired(ctx, timers, rows)
    log_fig = _figures(ctx, rows, imperfect, rework)
    teams = []
    for r in rows.itertuples(index=False):
        if r.team is None or pd.isna(r.team):
            continue
        total = float(r.touch_hours) + float(r.waiting_hours)
        measured = int(r.with_resource) > 0
        teams.append(
            {
                "team": str(r.team),
                "events": int(r.events),
                "cases": int(r.cases),
                "touch_hours": round(float(r.touch_hours), 2) if measured else None,
                "waiting_hours": round(float(r.waiting_hours), 2) if measured else None,
                "process_cycle_efficiency": round(float(r.va_touch_hours) / total, 4) if total and measured else None,
                "tool_driven_share": round(int(r.tool_events) / int(r.events), 4) if int(r.events) else None,
            }
        )
    return LeanFigures(values=values, log=log_fig, teams=teams)


def _add_fired(ctx: AuditContext, timers: list[Finding], rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with each team's events of the timers in the cases where they fired added to its tool events
    (a join over the timers' events only, not the whole log)."""
    fired = set_table({i: f.case_ids for i, f in enumerate(timers)})
    pairs = fired.join(id_table(fid=list(range(len(timers))), timer=[f.activities[0] for f in timers]), "fid")
    e = ctx.events
    te = e.filter(e.activity.isin([f.activities[0] for f in timers]))
    te = te.semi_join(pairs, [te.case_id == pairs.case_id, te.activity == pairs.timer])
    per = te.group_by("team").aggregate(fired=te.count()).execute()
    key = {(None if v is None or pd.isna(v) else str(v)): int(n) for v, n in zip(per["team"], per["fired"], strict=True)}
    rows = rows.copy()
    rows["tool_events"] = [
        int(n) + key.get(None if v is None or pd.isna(v) else str(v), 0)
        for v, n in zip(rows["team"], rows["tool_events"], strict=True)
    ]
    return rows


def _figures(ctx: AuditContext, groups: pd.DataFrame, imperfect: list[str], rework: list[str]) -> dict[str, Any]:
    agg = {
        "events": int(groups["events"].sum()),
        "touch": float(groups["touch_hours"].sum()),
        "va_touch": float(groups["va_touch_hours"].sum()),
        "wait": float(groups["waiting_hours"].sum()),
        "tool": int(groups["tool_events"].sum()),
    }
    c = ctx.cases
    lead = float(c.hours.sum().execute() or 0.0)
    resolved = c.filter(c.first_resolution.notnull())
    n_resolved = int(resolved.count().execute())
    bad = id_table(case_id=imperfect or ["\x00"])
    first_pass = int(resolved.anti_join(bad, "case_id").count().execute()) if n_resolved else 0
    events = int(agg["events"])
    # Touch time is estimated from who did consecutive events: without any resource it cannot be, and
    # every gap would read as waiting, so these figures are not given (the audit's notes say why).
    measured = int(groups["with_resource"].sum()) > 0
    return {
        "lead_time_hours": round(lead, 2),
        "touch_hours": round(float(agg["touch"]), 2) if measured else None,
        "waiting_hours": round(float(agg["wait"]), 2) if measured else None,
        "process_cycle_efficiency": round(float(agg["va_touch"]) / lead, 5) if lead and measured else None,
        "first_pass_yield": round(first_pass / n_resolved, 4) if n_resolved else None,
        "resolved_cases": n_resolved,
        "rework_rate": round(len(rework) / ctx.total_cases, 4) if ctx.total_cases else None,
        "tool_driven_share": round(int(agg["tool"]) / events, 4) if events else None,
    }

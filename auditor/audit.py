"""`auditor audit`: every detector over one log, findings ranked by what they cost.

Business rules:
- Detectors see the same context: the events ordered per case by timestamp then source order, with their
  neighbours, roles and account kinds, and one row per case (start, end, first resolution, first closure).
  Everything is computed in the engine once, before any detector runs.
- Cost of a finding: the median elapsed hours (first to last event) of the affected cases minus the median of
  the other cases of the log, never below zero, times the number of affected cases. With working hours the
  same is given in business hours. The method travels with the number.
- Findings are ranked by total cost, then by the number of cases.
- Stuck path of a finding about customers getting stuck: the edges (previous activity → activity) on which
  its cases spend the most extra time: per edge, mean hours per affected case minus the mean per other case,
  times the affected cases; the top three, in `evidence.stuck_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from auditor.businesstime import WorkingHours, business_hours_between
from auditor.findings import Cost, Finding, log_header, rank, severity_for
from auditor.ingest import EventLog
from auditor.roles import Roles, infer
from auditor.rules import ROLE_NAMES, RulePack, check_activities

Progress = Callable[[str], None]
# Kinds about where customers get stuck: each gets the edges where its cases spend their extra time.
STUCK_KINDS = frozenset(
    {"rework_loop", "ping_pong", "reopened_after_close", "order_violation", "long_wait", "stalled_case",
     "customer_chasing", "compliant_failure"}
)


@dataclass(frozen=True)
class AuditOptions:
    rules: RulePack = field(default_factory=RulePack)
    working_hours: WorkingHours | None = None
    # A reference model (BPMN or PNML) for compliant failures; without one, a model is discovered.
    model: Path | None = None


@dataclass
class AuditContext:
    """What every detector gets. `events` and `cases` are materialised engine tables."""

    log: EventLog
    roles: Roles
    options: AuditOptions
    events: ir.Table
    cases: ir.Table
    total_cases: int
    start: datetime | None
    end: datetime | None
    total_hours: float = 0.0
    notes: list[str] = field(default_factory=list)  # what detectors could not judge, and why
    process_changes: list[dict[str, Any]] = field(default_factory=list)  # activities that stopped or began

    def finding(
        self,
        *,
        kind: str,
        title: str,
        activities: list[str],
        case_ids: list[str],
        evidence: dict[str, Any],
        cost: Cost | None = None,
        customer_facing: bool = True,
    ) -> Finding:
        """A finding of this log: its cost (the shared method unless a detector measures its own) and its
        severity follow from its cases, the same way for every detector."""
        cost = cost if cost is not None else self.cost_of(case_ids)
        return Finding(
            kind=kind,
            title=title,
            activities=activities,
            case_ids=case_ids,
            total_cases=self.total_cases,
            severity=self.severity(len(set(case_ids)), cost, customer_facing=customer_facing),
            evidence=evidence,
            cost=cost,
        )

    def severity(self, cases: int, cost: Cost | None, *, customer_facing: bool = True) -> str:
        share = cases / self.total_cases if self.total_cases else 0.0
        hours = cost.hours_total if cost else None
        return severity_for(share, hours, self.total_hours, customer_facing=customer_facing)

    @property
    def thresholds(self) -> Any:
        return self.options.rules.thresholds

    def ids(self, table: ir.Table, column: str = "case_id") -> list[str]:
        """The distinct case ids of an engine table, as sorted strings."""
        return sorted(str(c) for c in table.select(column).distinct().execute()[column])

    def stuck_paths(self, case_sets: list[list[str]], top: int = 3) -> list[list[dict[str, Any]]]:
        """For each set of cases, the edges where those cases spend their extra time: per edge, the mean
        hours an affected case waits on it minus the mean of the other cases, times the affected cases; the
        largest first. One engine query for all the sets."""
        out: list[list[dict[str, Any]]] = [[] for _ in case_sets]
        fids, ids = [], []
        sizes: dict[int, int] = {}
        for i, cs in enumerate(case_sets):
            unique = list(dict.fromkeys(cs))
            if 0 < len(unique) < self.total_cases:
                fids += [i] * len(unique)
                ids += unique
                sizes[i] = len(unique)
        if not sizes:
            return out
        e = self.events.filter(self.events.prev_activity.notnull())
        per = e.group_by(["case_id", "prev_activity", "activity"]).aggregate(
            hours=((e.timestamp.epoch_seconds() - e.prev_ts.epoch_seconds()) / 3600.0).sum()
        )
        per = self.log.engine.materialize(per, "edge_waits")
        totals = per.group_by(["prev_activity", "activity"]).aggregate(all_hours=per.hours.sum())
        sets = ibis.memtable(
            {"fid": fids, "case_id": ids, "n_in": [sizes[f] for f in fids]},
            schema={"fid": "int64", "case_id": "string", "n_in": "int64"},
        )
        mine = per.join(sets, "case_id")
        agg = mine.group_by(["fid", "prev_activity", "activity"]).aggregate(
            hours=mine.hours.sum(), cases=mine.case_id.nunique(), n_in=mine.n_in.max()
        )
        j = agg.join(totals, ["prev_activity", "activity"])
        j = j.mutate(extra=(j.hours / j.n_in - (j.all_hours - j.hours) / (self.total_cases - j.n_in)) * j.n_in)
        j = j.filter(j.extra > 0)
        rank = ibis.row_number().over(group_by="fid", order_by=[ibis.desc(j.extra), j.prev_activity, j.activity])
        j = j.mutate(rank=rank)
        rows = j.filter(j.rank < top).order_by(["fid", "rank"]).execute()
        for r in rows.itertuples(index=False):
            out[int(r.fid)].append(
                {"source": str(r.prev_activity), "target": str(r.activity), "cases": int(r.cases),
                 "extra_hours_total": round(float(r.extra), 2)}
            )
        return out

    def cost_of(self, case_ids: Iterable[str]) -> Cost:
        """Extra elapsed hours of these cases against the other cases of the log (medians)."""
        ids = list(dict.fromkeys(case_ids))
        if not ids:
            return Cost(None, None, "no affected cases")
        chosen = ibis.memtable({"case_id": ids}, schema={"case_id": "string"})
        c = self.cases
        hits = chosen.mutate(affected=ibis.literal(True))
        joined = c.left_join(hits, c.case_id == hits.case_id)
        marked = joined.mutate(hit=joined.affected.fill_null(False))
        cols: dict[str, Any] = {"n": marked.count(), "median": marked.hours.median()}
        if "business_hours" in c.columns:
            cols["bmedian"] = marked.business_hours.median()
        stats = marked.group_by("hit").aggregate(**cols).execute()
        inside = stats[stats["hit"]]
        outside = stats[~stats["hit"]]
        n = len(ids)
        if outside.empty or inside.empty:
            return Cost(None, None, "every case is affected: no comparable cases without it", compared_cases=0)
        extra = max(0.0, float(inside["median"].iloc[0]) - float(outside["median"].iloc[0]))
        cost = Cost(
            hours_per_case=extra,
            hours_total=extra * n,
            method="median elapsed hours of the affected cases minus the median of the other cases",
            compared_cases=int(outside["n"].iloc[0]),
        )
        if "bmedian" in stats:
            bextra = max(0.0, float(inside["bmedian"].iloc[0]) - float(outside["bmedian"].iloc[0]))
            cost = Cost(
                cost.hours_per_case, cost.hours_total, cost.method, bextra, bextra * n, cost.compared_cases
            )
        return cost


Detector = Callable[[AuditContext], list[Finding]]


@dataclass
class AuditResult:
    log: dict[str, Any]
    findings: list[Finding]
    roles: Roles
    notes: list[str] = field(default_factory=list)
    process_changes: list[dict[str, Any]] = field(default_factory=list)
    lean: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"log": self.log, "findings": [f.to_json() for f in self.findings]}
        if self.lean is not None:
            out["lean"] = self.lean
        if self.process_changes:
            out["process_changes"] = [
                {**c, "date": c["date"].strftime("%Y-%m-%dT%H:%M:%SZ")} for c in self.process_changes
            ]
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def detectors() -> list[tuple[str, Detector]]:
    """Every detector, in a stable order. One module per detector under auditor/detectors/."""
    from auditor.detectors import REGISTRY

    return list(REGISTRY)


def build_context(log: EventLog, options: AuditOptions) -> AuditContext:
    t = log.table
    check_activities(options.rules, (str(a) for a in t.select("activity").distinct().execute()["activity"]))
    roles = infer(t, options.rules)
    engine = log.engine
    w = ibis.window(group_by="case_id", order_by=["timestamp", "seq"])
    system = list(roles.accounts.system) or ["\x00"]
    customer = list(roles.accounts.customer) or ["\x00"]
    flags = {f"r_{role}": t.activity.isin(list(roles.of(role)) or ["\x00"]) for role in ROLE_NAMES}
    events = engine.materialize(
        t.mutate(
            pos=ibis.row_number().over(w),
            prev_activity=t.activity.lag().over(w),
            prev_ts=t.timestamp.lag().over(w),
            prev_resource=t.resource.lag().over(w),
            prev_team=t.team.lag().over(w),
            next_activity=t.activity.lead().over(w),
            next_ts=t.timestamp.lead().over(w),
            is_system=t.resource.isin(system).fill_null(False),
            is_customer=t.resource.isin(customer).fill_null(False),
            **flags,
        ),
        "events",
    )
    e = events
    resolution_flag = e.r_resolution if roles.of("resolution") else e.r_closure
    per_case = e.group_by("case_id").aggregate(
        start=e.timestamp.min(),
        end=e.timestamp.max(),
        events=e.count(),
        first_resolution=e.timestamp.min(where=resolution_flag),
        first_closure=e.timestamp.min(where=e.r_closure),
    )
    per_case = per_case.mutate(
        hours=(per_case.end.epoch_seconds() - per_case.start.epoch_seconds()) / 3600.0,
    )
    if options.working_hours is not None:
        per_case = per_case.mutate(
            business_hours=business_hours_between(per_case.start, per_case.end, options.working_hours)
        )
    cases = engine.materialize(per_case, "cases")
    head = (
        cases.aggregate(n=cases.count(), start=cases.start.min(), end=cases.end.max(), hours=cases.hours.sum())
        .execute()
        .iloc[0]
    )
    return AuditContext(
        log=log,
        roles=roles,
        options=options,
        events=events,
        cases=cases,
        total_cases=int(head["n"]),
        start=_dt(head["start"]),
        end=_dt(head["end"]),
        total_hours=float(head["hours"] or 0.0),
    )


def run(log: EventLog, options: AuditOptions, progress: Progress | None = None) -> AuditResult:
    say = progress or (lambda _m: None)
    say("preparing")
    ctx = build_context(log, options)
    findings: list[Finding] = []
    for name, detect in detectors():
        say(name.replace("_", " "))
        findings.extend(detect(ctx))
    from auditor import lean  # lean builds on this module's context

    say("stuck paths")
    stuck = [f for f in findings if f.kind in STUCK_KINDS and "stuck_path" not in f.evidence]
    for f, path in zip(stuck, ctx.stuck_paths([f.case_ids for f in stuck]), strict=True):
        f.evidence["stuck_path"] = path

    say("lean figures")
    lean_figures = lean.compute(ctx, findings).to_json()
    t = log.table
    n_events = int(t.count().execute())
    n_acts = int(t.activity.nunique().execute())
    header = log_header(n_events, ctx.total_cases, n_acts, ctx.start, ctx.end)
    return AuditResult(
        log=header,
        findings=rank(findings),
        roles=ctx.roles,
        notes=[*ctx.roles.notes, *ctx.notes],
        process_changes=ctx.process_changes,
        lean=lean_figures,
    )


def _dt(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()

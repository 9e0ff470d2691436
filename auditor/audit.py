"""`auditor audit`: every detector over one log, findings ranked by what they cost.

Business rules:
- Detectors see the same context: the events ordered per case by timestamp then source order, with their
  neighbours, roles and account kinds, and one row per case (start, end, first resolution, first closure).
  Everything is computed in the engine once, before any detector runs.
- Cost of a finding: the median elapsed hours (first to last event) of the affected cases minus the median of
  the other cases of the log, never below zero, times the number of affected cases. With working hours the
  same is given in business hours. The method travels with the number. No cost is estimated when fewer than
  `MIN_COMPARED` cases, or fewer than `MIN_COMPARED_SHARE` of the log, are without the finding: such a
  remainder is the exceptions, not comparable cases, and the cost says so.
- Findings are ranked by total cost, then by the number of cases.
- Stuck path of a finding about customers getting stuck: the edges (previous activity → activity) on which
  its cases spend the most extra time: per edge, mean hours per affected case minus the mean per other case,
  times the affected cases; the top three, in `evidence.stuck_path`. That extra time is split, exactly, into
  `slower_hours` (the affected cases' passes over the edge took longer than the other cases' passes: their
  number of passes times the difference of the mean wait per pass) and `more_often_hours` (they pass over
  the edge more often per case, at the other cases' mean wait per pass: repeats and detours). A fixed timer
  (a survey's 7-day auto-close) is never slower, so its extra time shows as passed more often: cases that go
  through the closing steps twice. When no other case takes the edge, all its time is `more_often_hours`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditor import caveats
from auditor.businesstime import WorkingHours, business_hours_between
from auditor.engine import Engine
from auditor.findings import CaseIds, Cost, Finding, log_header, rank, severity_for
from auditor.ingest import START, EventLog, first_moment, has_starts
from auditor.parking import SUB_STATUS_COLUMNS
from auditor.roles import Roles, infer
from auditor.rules import ROLE_NAMES, RulePack, check_activities

Progress = Callable[[str], None]
# The shared cost compares a finding's cases with the cases without it. When those are a small remainder (a
# step done in 95% of cases), they are the exceptions: cases still open, closed as duplicates. Their
# shorter durations would be read as what the step costs (550,000 h for a survey on the sample), so no
# cost is estimated from fewer than 20 cases or 10% of the log.
MIN_COMPARED = 20
MIN_COMPARED_SHARE = 0.10
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
    # DuckDB's memory for the audit (its default is 80% of RAM): the detectors' intermediate tables spill
    # to disk beyond it. AUDITOR_MEMORY_LIMIT overrides it; None leaves the engine as it is.
    memory_limit: str | None = "2.5GB"


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
    # The end of the log without a few events far after the rest (a mistyped year), when there are such.
    rest_end: datetime | None = None
    whole_days: bool = False  # the timestamps carry no time of day: gaps under a day are not measured
    notes: list[str] = field(default_factory=list)  # what detectors could not judge, and why
    process_changes: list[dict[str, Any]] = field(default_factory=list)  # activities that stopped or began
    # While `run` collects findings, those priced by the shared method wait here (with whether they reach
    # the customer) and are priced together in one engine query by `settle`.
    pending: list[tuple[Finding, bool]] | None = None

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
        title = singular(title)
        if cost is None and self.pending is not None:
            f = Finding(kind=kind, title=title, activities=activities, case_ids=case_ids,
                        total_cases=self.total_cases, evidence=evidence)
            self.pending.append((f, customer_facing))
            return f
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

    def settle(self) -> None:
        """Prices the pending findings (one query for all) and sets their severity."""
        waiting, self.pending = self.pending or [], None
        for (f, customer_facing), cost in zip(waiting, self.costs_of([f.case_ids for f, _ in waiting]), strict=True):
            f.cost = cost
            f.severity = self.severity(f.cases, cost, customer_facing=customer_facing)

    def severity(self, cases: int, cost: Cost | None, *, customer_facing: bool = True) -> str:
        share = cases / self.total_cases if self.total_cases else 0.0
        hours = cost.hours_total if cost else None
        return severity_for(share, hours, self.total_hours, customer_facing=customer_facing)

    @property
    def thresholds(self) -> Any:
        return self.options.rules.thresholds

    def ids(self, table: ir.Table, column: str = "case_id") -> CaseIds:
        """The distinct case ids of an engine table, as sorted strings."""
        distinct = table.select(column).distinct()
        if distinct[column].type().is_string():
            # Sorted in the engine (byte order of UTF-8 is Python's code-point order) and fetched as Arrow:
            # at 10M events the findings list millions of ids.
            ordered = distinct.filter(distinct[column].notnull()).order_by(column)
            return CaseIds(ordered.to_pyarrow().column(0).to_pylist())
        return CaseIds(sorted({str(c) for c in distinct.execute()[column]}))

    def ids_by_activity(self, table: ir.Table, activities: list[str]) -> dict[str, CaseIds]:
        """Per activity, the distinct case ids of `table` as sorted strings (what `ids` gives), in one query."""
        pairs = table.select("activity", "case_id").distinct()
        pairs = pairs.filter(pairs.case_id.notnull()).to_pyarrow()
        if not pa.types.is_string(pairs["case_id"].type) and not pa.types.is_large_string(pairs["case_id"].type):
            pairs = pairs.set_column(1, "case_id", pc.cast(pairs["case_id"], pa.string()))
        out: dict[str, CaseIds] = {}
        for act in activities:
            cases = pairs.filter(pc.equal(pairs["activity"], act))["case_id"]
            # Arrow sorts strings by their UTF-8 bytes, which is Python's order.
            out[act] = CaseIds(cases.take(pc.sort_indices(cases)).to_pylist())
        return out

    def stuck_paths(self, case_sets: list[list[str]], top: int = 3) -> list[list[dict[str, Any]]]:
        """For each set of cases, the edges where those cases spend their extra time: per edge, the mean
        hours an affected case waits on it minus the mean of the other cases, times the affected cases; the
        largest first. One engine query for all the sets."""
        out: list[list[dict[str, Any]]] = [[] for _ in case_sets]
        chosen = {i: ids for i, ids in ((i, _distinct(cs)) for i, cs in enumerate(case_sets))
                  if 0 < len(ids) < self.total_cases}
        if not chosen:
            return out
        e = self.events.filter(self.events.prev_activity.notnull())
        per = e.group_by(["case_id", "prev_activity", "activity"]).aggregate(
            hours=((Engine.epoch_seconds(e.timestamp) - Engine.epoch_seconds(e.prev_ts)) / 3600.0).sum(), passes=e.count()
        )
        per = self.log.engine.materialize(per, "edge_waits")
        totals = per.group_by(["prev_activity", "activity"]).aggregate(
            all_hours=per.hours.sum(), all_passes=per.passes.sum()
        )
        sets = set_table(chosen, with_size=True)
        mine = per.join(sets, "case_id")
        agg = mine.group_by(["fid", "prev_activity", "activity"]).aggregate(
            # `per` has one row per case and edge, so counting rows counts distinct cases
            hours=mine.hours.sum(), passes=mine.passes.sum(), cases=mine.count(), n_in=mine.n_in.max()
        )
        j = agg.join(totals, ["prev_activity", "activity"])
        n_out = self.total_cases - j.n_in
        j = j.mutate(
            extra=(j.hours / j.n_in - (j.all_hours - j.hours) / n_out) * j.n_in,
            out_hours=j.all_hours - j.hours,
            out_passes=j.all_passes - j.passes,
        )
        j = j.filter(j.extra > 0)
        rank = ibis.row_number().over(group_by="fid", order_by=[ibis.desc(j.extra), j.prev_activity, j.activity])
        j = j.mutate(rank=rank)
        rows = j.filter(j.rank < top).order_by(["fid", "rank"]).execute()
        for r in rows.itertuples(index=False):
            out[int(r.fid)].append(_stuck_edge(r, self.total_cases))
        return out

    def cost_of(self, case_ids: Iterable[str]) -> Cost:
        """Extra elapsed hours of these cases against the other cases of the log (medians)."""
        return self.costs_of([case_ids])[0]

    def costs_of(self, case_sets: Sequence[Iterable[str]]) -> list[Cost]:
        """`cost_of` for many sets of cases in one engine query.

        The median of the other cases (every case not in the set) is an order statistic of the cases
        sorted by hours: the j-th smallest of the others is the case at global position j + k, where k is
        the number of the set's cases that sort before it. So one ranking of the cases serves every set,
        instead of comparing each set against the whole log in a query of its own.
        """
        sets = [_distinct(cs) for cs in case_sets]
        out: list[Cost | None] = [None if ids else Cost(None, None, "no affected cases") for ids in sets]
        todo = [i for i, ids in enumerate(sets) if ids]
        if not todo:
            return [c for c in out if c is not None]
        chosen = set_table({i: sets[i] for i in todo})
        cols = ["hours", *(["business_hours"] if "business_hours" in self.cases.columns else [])]
        medians = {col: self._set_medians(chosen, col) for col in cols}
        rows = {col: {int(r.fid): r for r in df.itertuples(index=False)} for col, df in medians.items()}
        for i in todo:
            n = len(sets[i])
            r = rows["hours"].get(i)
            if r is None or r.outside is None or pd.isna(r.outside):
                out[i] = Cost(None, None, "every case is affected: no comparable cases without it", compared_cases=0)
                continue
            others = self.total_cases - int(r.n)
            if others < max(MIN_COMPARED, MIN_COMPARED_SHARE * self.total_cases):
                out[i] = Cost(None, None, _too_few_others(others, self.total_cases), compared_cases=others)
                continue
            extra = max(0.0, float(r.inside) - float(r.outside))
            cost = Cost(
                hours_per_case=extra,
                hours_total=extra * n,
                method="median elapsed hours of the affected cases minus the median of the other cases",
                compared_cases=int(self.total_cases - r.n),
            )
            if "business_hours" in rows:
                b = rows["business_hours"][i]
                bextra = max(0.0, float(b.inside) - float(b.outside))
                cost = Cost(
                    cost.hours_per_case, cost.hours_total, cost.method, bextra, bextra * n, cost.compared_cases
                )
            out[i] = cost
        return [c for c in out if c is not None]

    def _set_medians(self, chosen: ir.Table, col: str) -> pd.DataFrame:
        """Per set (`fid`): its cases' count `n`, the median of `col` over them (`inside`) and over every
        other case of the log (`outside`, NULL when there is none)."""
        c = self.cases
        ranked = c.select("case_id", value=c[col]).mutate(
            q=ibis.row_number().over(order_by=[c[col], c.case_id])
        )
        hits = chosen.join(ranked, "case_id")
        hits = hits.mutate(
            # other cases sorting before this one: its rank minus the set's cases before it
            g=hits.q - ibis.row_number().over(group_by=hits.fid, order_by=hits.q)
        )
        per = hits.group_by("fid").aggregate(n=hits.count(), inside=hits.value.median())
        m = self.total_cases - per.n
        # quantile_cont(0.5) over the m other cases: the values at positions floor/ceil of (m - 1) / 2
        per = per.mutate(m=m, j_lo=((m - 1) / 2).floor().cast("int64"), j_hi=((m - 1) / 2).ceil().cast("int64"))
        j = hits.join(per.select("fid", "j_lo", "j_hi"), "fid")
        counted = j.group_by("fid").aggregate(k_lo=j.count(where=j.g <= j.j_lo), k_hi=j.count(where=j.g <= j.j_hi))
        per = per.join(counted, "fid")
        per = per.mutate(p_lo=per.j_lo + per.k_lo, p_hi=per.j_hi + per.k_hi)
        lo = ranked.select(q_lo=ranked.q, v_lo=ranked.value)
        hi = ranked.select(q_hi=ranked.q, v_hi=ranked.value)
        per = per.left_join(lo, per.p_lo == lo.q_lo).left_join(hi, per.p_hi == hi.q_hi)
        outside = ibis.ifelse(per.m > 0, per.v_lo + (per.v_hi - per.v_lo) * 0.5, ibis.null("float64"))
        return per.select("fid", "n", "inside", outside=outside).execute()


_ONE = re.compile(
    r"(?<![\d.,])\b1 ((?:extra |more |open |other |customer |round )?)(case|time|event|contact|trip|day|hour|step|"
    r"pair|team|return|repeat|handoff)s\b"
)


def singular(text: str) -> str:
    """Titles are written for many ("12 cases (30 extra times)"); with one, they read "1 case (1 extra time)"."""
    return _ONE.sub(r"1 \1\2", text)


def _too_few_others(others: int, total: int) -> str:
    return (
        f"not estimated: only {others:,} of {total:,} cases are without it, too few to stand for comparable "
        f"cases (at least {MIN_COMPARED} and {MIN_COMPARED_SHARE:.0%} of the cases are needed)"
    )


def _stuck_edge(r: Any, total_cases: int) -> dict[str, Any]:
    """One edge of a stuck path: its extra hours, split into slower passes and more frequent passes."""
    passes, out_passes = int(r.passes), int(r.out_passes)
    n_in, n_out = int(r.n_in), total_cases - int(r.n_in)
    mean_in = float(r.hours) / passes
    mean_out = float(r.out_hours) / out_passes if out_passes else None
    extra = float(r.extra)
    # extra = passes * (mean_in - mean_out) + mean_out * (passes - n_in * out_passes / n_out), exactly
    slower = passes * (mean_in - mean_out) if mean_out is not None else 0.0
    return {
        "source": str(r.prev_activity),
        "target": str(r.activity),
        "cases": int(r.cases),
        "extra_hours_total": round(extra, 2),
        "slower_hours": round(slower, 2),
        "more_often_hours": round(extra - slower, 2),
        "mean_wait_hours": round(mean_in, 2),
        "others_mean_wait_hours": round(mean_out, 2) if mean_out is not None else None,
        "passes_per_case": round(passes / n_in, 3),
        "others_passes_per_case": round(out_passes / n_out, 3),
    }


def _distinct(case_ids: Iterable[Any]) -> list[str]:
    """The ids as distinct strings in first-seen order; CaseIds are that already (millions at 10M events:
    going through them again in Python cost about 2 s of the audit)."""
    if type(case_ids) is CaseIds:
        return case_ids
    return list(dict.fromkeys(str(c) for c in case_ids))


def set_table(sets: dict[int, list[str]], *, with_size: bool = False) -> ir.Table:
    """Sets of case ids as one engine table: `fid` (the set's key), `case_id`, and with `with_size` the
    set's size `n_in`. Built column-wise in Arrow, without a Python loop over the ids."""
    sizes = np.fromiter((len(v) for v in sets.values()), np.int64, len(sets))
    keys = np.fromiter(sets, np.int64, len(sets))
    columns = {
        "fid": pa.array(np.repeat(keys, sizes)),
        "case_id": pa.array(list(itertools.chain.from_iterable(sets.values())), pa.string()),
    }
    if with_size:
        columns["n_in"] = pa.array(np.repeat(sizes, sizes))
    return ibis.memtable(pa.table(columns))


def id_table(**columns: list[Any]) -> ir.Table:
    """An in-memory table of case ids (strings) and integers for joins in the engine. Built through Arrow:
    from Python lists of millions of ids that is four times faster than through pandas."""
    # Arrow infers string and int64 columns from the values; an empty column is text.
    return ibis.memtable(pa.table({k: pa.array(v) if v else pa.array([], pa.string()) for k, v in columns.items()}))


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
        # Always present, empty or not: a script reading d["notes"] must not fail on a clean log.
        out["process_changes"] = [
            {**c, "date": c["date"].strftime("%Y-%m-%dT%H:%M:%SZ")} for c in self.process_changes
        ]
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
    # The canonical columns and a sub-status column (long_wait reads parking states from it), not the
    # source's other extra columns: a window carries every column through its sort (10M events: 0.7 s less
    # here), and legacy_step reads case attributes from the log itself.
    sub_status = [c for c in t.columns if c.lower() in SUB_STATUS_COLUMNS]
    starts = [START] if has_starts(t) else []  # a lifecycle log's instance starts: lead time counts from them
    b = t.select("case_id", "activity", "timestamp", "resource", "team", "seq", *sub_status, *starts)
    flags = {f"r_{role}": b.activity.isin(list(roles.of(role)) or ["\x00"]) for role in ROLE_NAMES}
    events = engine.materialize(
        b.mutate(
            pos=ibis.row_number().over(w),
            prev_activity=b.activity.lag().over(w),
            prev_ts=b.timestamp.lag().over(w),
            prev_resource=b.resource.lag().over(w),
            prev_team=b.team.lag().over(w),
            next_activity=b.activity.lead().over(w),
            next_ts=b.timestamp.lead().over(w),
            is_system=b.resource.isin(system).fill_null(False),
            is_customer=b.resource.isin(customer).fill_null(False),
            **flags,
        ),
        "events",
    )
    e = events
    resolution_flag = e.r_resolution if roles.of("resolution") else e.r_closure
    per_case = e.group_by("case_id").aggregate(
        start=first_moment(e),
        end=e.timestamp.max(),
        events=e.count(),
        first_resolution=e.timestamp.min(where=resolution_flag),
        first_closure=e.timestamp.min(where=e.r_closure),
    )
    per_case = per_case.mutate(
        hours=(Engine.epoch_seconds(per_case.end) - Engine.epoch_seconds(per_case.start)) / 3600.0,
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
    with log.engine.unordered():
        if options.memory_limit:
            with log.engine.capped_memory(options.memory_limit):
                return _run(log, options, say)
        return _run(log, options, say)


def _run(log: EventLog, options: AuditOptions, say: Progress) -> AuditResult:
    ctx = build_context(log, options)
    found = caveats.input_notes(log, ctx.events)
    ctx.notes.extend(found.notes)
    ctx.rest_end, ctx.whole_days = found.rest_end, found.whole_days
    findings: list[Finding] = []
    ctx.pending = []
    for name, detect in detectors():
        say(name.replace("_", " "))
        findings.extend(detect(ctx))
    say("costs")
    ctx.settle()
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
    # The context's tables are the audit's alone; what runs next on the log (the map) gets their memory.
    log.engine.drop(ctx.events)
    log.engine.drop(ctx.cases)
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

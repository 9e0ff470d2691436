"""ping_pong: work handed back and forth between two teams, or between two people.

Business rules (contract, and the decisions that make it exact):
- Two levels, named in `evidence.level`. At `team` level a case's sequence is its teams in event order
  (timestamp, then source order), skipping events without a team and events by system accounts, with
  consecutive repeats collapsed into one stay. At `resource` level it is the same over resources, skipping
  events without a resource and events by system or customer accounts (a customer is not a handover
  target).
- Ping-pong (the contract's case set): in that sequence some X is followed by another Y and then by X
  again, read as a direct return: the stays X, Y, X follow one another. A return through others
  (X → Y → Z → X, no direct return) is an indirect round trip: it is counted in the evidence of the pair
  {X, Y} (Y being whom the work went to when it last left X), never makes a case affected on its own, and
  `indirect_only_cases` says how many cases of the pair have only such returns.
- One finding per unordered pair {X, Y} per level with at least one direct return. Its cases are the cases
  with a direct X → Y → X or Y → X → Y; the pair is listed with the member the work returns to most first.
  Pairs with fewer than `MIN_PAIR_CASES` cases (or `MIN_PAIR_SHARE` of all cases, whichever is more) are
  folded into one finding per level that lists them (`evidence.pairs`), so the kind's case set is
  unchanged while the review is not buried in one-case findings.
- Round trips: the returns of the work to a member of the pair, within the finding's cases: a stay of X
  after an earlier stay of X. `direct` + `indirect` = `round_trips`; `returns_to` splits them by member.
  Tier 1 → Network Ops → Tier 1 → Network Ops → Tier 1 is 3 direct round trips: 2 back to Tier 1, 1 back
  to Network Ops.
- Handoffs: every move between X and Y in the finding's cases, per direction: how many, in how many cases,
  and the waiting, from the last event of the stay being left to the first event of the next stay (median
  and p90 hours).
- `activities`: the handover activities, i.e. the last activity of the stay being left at those handoffs,
  most frequent first.
- The map draws the handoffs red (`evidence.edges`): last activity of the stay left → first activity of the
  next stay, the most frequent `MAX_EDGES_PER_DIRECTION` per direction, with their cases. When skipped
  events (system, no team) lie between, that is not a directly-follows path: the map draws it anyway.
- Waste (Lean TIMWOODS): transport. Cost per finding: the audit's cost of its cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from auditor.audit import AuditContext
from auditor.engine import Engine
from auditor.findings import Cost, Finding

LEVELS = {"team": "teams", "resource": "resources"}
MAX_EDGES_PER_DIRECTION = 2
MIN_PAIR_CASES = 10  # a pair with fewer cases than this, or than MIN_PAIR_SHARE of all cases, is folded
MIN_PAIR_SHARE = 0.005
MAX_LISTED_PAIRS = 25
# Pricing is an engine query per finding, and on a large log most pairs are folded: `_level` leaves its pair
# findings unpriced and only those reported on their own are priced, once folding has chosen them.
UNPRICED = Cost(None, None, "not priced yet")


def detect(ctx: AuditContext) -> list[Finding]:
    findings: list[Finding] = []
    for level in LEVELS:
        findings.extend(_fold_minor(ctx, _level(ctx, level), level))
    return findings


def _fold_minor(ctx: AuditContext, pairs: list[Finding], level: str) -> list[Finding]:
    """Keeps a finding per material pair; the other pairs of the level become one finding that lists them,
    so a log with hundreds of teams does not bury the review in one-case findings."""
    floor = max(MIN_PAIR_CASES, MIN_PAIR_SHARE * ctx.total_cases)
    major = [_priced(ctx, f) for f in pairs if f.cases >= floor]
    minor = [f for f in pairs if f.cases < floor]
    if len(minor) <= 1:
        return [_priced(ctx, f) for f in pairs]
    members = "teams" if level == "team" else "resources"
    case_ids = sorted({c for f in minor for c in f.case_ids})
    acts: dict[str, int] = {}
    for f in minor:
        for a in f.activities:
            acts[a] = acts.get(a, 0) + f.cases
    listed = sorted(minor, key=lambda f: (-f.cases, f.title))
    # The top pairs' edges, one per edge: pairs share edges (Assign -> Reply), and a list naming one edge three
    # times reads as three places on the map. A case can be in two pairs, so an edge's cases are the most any
    # one pair has on it, never a sum that may count a case twice.
    edges: dict[tuple[str, str], int] = {}
    for f in listed[:3]:
        for e in f.evidence.get("edges", []):
            key = (e["source"], e["target"])
            edges[key] = max(edges.get(key, 0), int(e["cases"]))
    more = "more " if major else ""
    folded = ctx.finding(
        kind="ping_pong",
        title=(
            f"{len(minor):,} {more}{'team' if level == 'team' else 'people'} pairs hand work back and forth in "
            f"{len(case_ids):,} cases ({level} level; each pair under {math.ceil(floor)} cases)"
        ),
        activities=sorted(acts, key=lambda a: (-acts[a], a))[:5],
        case_ids=case_ids,
        evidence={
            "level": level,
            "pairs": [
                {members: f.evidence.get(members), "cases": f.cases, "round_trips": f.evidence.get("round_trips")}
                for f in listed[:MAX_LISTED_PAIRS]
            ],
            "pairs_total": len(minor),
            "edges": [{"source": a, "target": b, "cases": n}
                      for (a, b), n in sorted(edges.items(), key=lambda kv: (-kv[1], kv[0]))],
            "waste": "transport",
        },
    )
    return [*major, folded]


def _priced(ctx: AuditContext, f: Finding) -> Finding:
    """The finding with its cost and severity, by the audit's shared method."""
    return ctx.finding(
        kind=f.kind, title=f.title, activities=f.activities, case_ids=f.case_ids, evidence=f.evidence
    )


def stays(ctx: AuditContext, level: str) -> ir.Table:
    """One row per stay (a run of consecutive events of one actor), with the handoff that started it.

    Columns: case_id, actor, pos and timestamp/activity of the stay's first event, j (0-based stay number),
    p_actor, p_ts, p_act (the previous stay's actor and its last event; null for the first stay), prev_j and
    prev_next (the actor's previous stay in the case and whom the work went to after it).
    """
    e = ctx.events
    accounts = ctx.roles.accounts
    if level == "team":
        actor, p_actor, skipped = e.team, e.prev_team, list(accounts.system)
        keep = actor.notnull() & ~e.is_system
    else:
        actor, p_actor, skipped = e.resource, e.prev_resource, [*accounts.system, *accounts.customer]
        keep = actor.notnull() & ~e.is_system & ~e.is_customer
    # Whether the event before counts, by the same accounts that set is_system and is_customer.
    p_keep = p_actor.notnull()
    if skipped:
        p_keep = p_keep & ~e.prev_resource.isin(skipped).fill_null(False)
    x = e.select(
        "case_id",
        "pos",
        "timestamp",
        "activity",
        actor=actor,
        p_actor=p_actor,
        p_ts=e.prev_ts,
        p_act=e.prev_activity,
        keep=keep,
        p_keep=p_keep,
    )
    cols = ["case_id", "pos", "timestamp", "activity", "actor", "p_actor", "p_ts", "p_act"]
    # Most events continue the stay of the event right before them, and most handoffs follow a counted
    # event directly, whose actor and last event the context's prev_* columns hold already: no window.
    handed = x.filter(x.keep & x.p_keep & (x.actor != x.p_actor)).select(*cols)
    # An event after skipped ones looks back past them to the last counted event. The first skipped event
    # after a counted one (a carrier) holds that event in its prev_* columns, and it is the carrier last
    # before: so the window runs over these two kinds of event only.
    g = x.filter(x.keep != x.p_keep)
    w = ibis.window(group_by="case_id", order_by="pos")
    g = g.mutate(l_actor=g.p_actor.lag().over(w), l_ts=g.p_ts.lag().over(w), l_act=g.p_act.lag().over(w))
    g = g.filter(g.keep & (g.l_actor.isnull() | (g.l_actor != g.actor)))
    returned = g.select(*cols[:5], p_actor=g.l_actor, p_ts=g.l_ts, p_act=g.l_act)
    s = handed.union(returned)
    s = s.mutate(j=ibis.row_number().over(w), next_actor=s.actor.lead().over(w))
    wa = ibis.window(group_by=["case_id", "actor"], order_by="j")
    s = s.mutate(prev_j=s.j.lag().over(wa), prev_next=s.next_actor.lag().over(wa))
    return ctx.log.engine.materialize(s, f"stays_{level}")


def _level(ctx: AuditContext, level: str) -> list[Finding]:
    """One finding per pair of the level, not yet priced (`_fold_minor` prices those it keeps)."""
    engine = ctx.log.engine
    s = stays(ctx, level)
    r = s.filter(s.prev_j.notnull())
    r = r.mutate(
        direct=r.prev_j == r.j - 2,
        a=ibis.least(r.actor, r.prev_next),
        b=ibis.greatest(r.actor, r.prev_next),
    )
    per = r.group_by(["a", "b", "case_id", "actor"]).aggregate(
        d=r.direct.cast("int64").sum(), i=(~r.direct).cast("int64").sum()
    )
    wp = ibis.window(group_by=["a", "b", "case_id"])
    per = engine.materialize(per.mutate(hit=per.d.sum().over(wp) > 0), f"pingpong_{level}")
    hits = per.filter(per.hit)
    returns = hits.group_by(["a", "b", "actor"]).aggregate(d=hits.d.sum(), i=hits.i.sum()).execute()
    if returns.empty:
        for table in (s, per):
            engine.drop(table)
        return []
    pair_cases = hits.select("a", "b", "case_id").distinct()
    ids = pair_cases.execute()
    miss = per.filter(~per.hit)
    indirect_only = miss.group_by(["a", "b"]).aggregate(n=miss.case_id.nunique()).execute()

    h = s.filter(s.p_actor.notnull())
    h = h.mutate(a=ibis.least(h.p_actor, h.actor), b=ibis.greatest(h.p_actor, h.actor))
    pc = pair_cases.rename(pa="a", pb="b", pcase="case_id")
    h = h.join(pc, [h.a == pc.pa, h.b == pc.pb, h.case_id == pc.pcase])
    h = h.mutate(wait=(Engine.epoch_seconds(h.timestamp) - Engine.epoch_seconds(h.p_ts)) / 3600.0)
    h = engine.materialize(
        h.select("a", "b", "case_id", "p_actor", "actor", "p_act", "activity", "wait"), f"handoffs_{level}"
    )
    handoffs = (
        h.group_by(["a", "b", "p_actor", "actor"])
        .aggregate(n=h.count(), cases=h.case_id.nunique(), median=h.wait.median(), p90=h.wait.quantile(0.9))
        .execute()
    )
    acts = h.group_by(["a", "b", "p_act"]).aggregate(n=h.count()).execute()
    paths = (
        h.group_by(["a", "b", "p_actor", "actor", "p_act", "activity"])
        .aggregate(cases=h.case_id.nunique())
        .execute()
    )
    path_cases = h.group_by(["a", "b", "p_act", "activity"]).aggregate(cases=h.case_id.nunique()).execute()
    for table in (s, per, h):
        engine.drop(table)

    ids_of, io_of, handoffs_of = _by_pair(ids), _by_pair(indirect_only), _by_pair(handoffs)
    acts_of, paths_of, path_cases_of = _by_pair(acts), _by_pair(paths), _by_pair(path_cases)
    findings: list[Finding] = []
    for (a, b), ret in returns.groupby(["a", "b"], sort=True):
        pair = (str(a), str(b))
        returns_to = {str(x): int(d + i) for x, d, i in zip(ret["actor"], ret["d"], ret["i"], strict=True)}
        first, second = sorted(pair, key=lambda x: (-returns_to.get(x, 0), x))
        direct, indirect = int(ret["d"].sum()), int(ret["i"].sum())
        case_ids = sorted(str(c) for c in ids_of(a, b)["case_id"])
        io = io_of(a, b)["n"]
        mine = handoffs_of(a, b)
        order = [(first, second), (second, first)]
        evidence: dict[str, Any] = {
            "level": level,
            LEVELS[level]: [first, second],
            "round_trips": direct + indirect,
            "direct": direct,
            "indirect": indirect,
            "returns_to": {first: returns_to.get(first, 0), second: returns_to.get(second, 0)},
            "indirect_only_cases": int(io.iloc[0]) if len(io) else 0,
            "handoffs": [_handoff(mine, src, dst) for src, dst in order],
            "edges": _edges(paths_of(a, b), path_cases_of(a, b), order),
            "waste": "transport",
        }
        mine_acts = acts_of(a, b).sort_values(["n", "p_act"], ascending=[False, True])
        n = len(case_ids)
        findings.append(
            ctx.finding(
                kind="ping_pong",
                title=f"{first} and {second} hand work back and forth in {_n(n, 'case')} "
                f"({_n(direct + indirect, 'round trip')}, {level} level)",
                activities=[str(x) for x in mine_acts["p_act"]],
                case_ids=case_ids,
                evidence=evidence,
                cost=UNPRICED,
            )
        )
    return findings


def _n(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _by_pair(df: pd.DataFrame) -> Callable[[Any, Any], pd.DataFrame]:
    """The rows of a pair {a, b}. Split once: filtering the whole frame for each pair costs pairs x rows."""
    groups = {(a, b): g for (a, b), g in df.groupby(["a", "b"], sort=False)}
    empty = df.iloc[0:0]
    return lambda a, b: groups.get((a, b), empty)


def _handoff(df: pd.DataFrame, src: str, dst: str) -> dict[str, Any]:
    row = df[(df["p_actor"] == src) & (df["actor"] == dst)]
    if row.empty:
        return {
            "from": src,
            "to": dst,
            "handoffs": 0,
            "cases": 0,
            "median_wait_hours": None,
            "p90_wait_hours": None,
        }
    x = row.iloc[0]
    return {
        "from": src,
        "to": dst,
        "handoffs": int(x["n"]),
        "cases": int(x["cases"]),
        "median_wait_hours": float(x["median"]),
        "p90_wait_hours": float(x["p90"]),
    }


def _edges(paths: pd.DataFrame, totals: pd.DataFrame, order: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per direction, the most frequent handoff paths (activity → activity); each path's cases are counted
    once across both directions."""
    chosen: list[tuple[str, str]] = []
    for src, dst in order:
        one = paths[(paths["p_actor"] == src) & (paths["actor"] == dst)]
        top = one.sort_values(["cases", "p_act", "activity"], ascending=[False, True, True]).head(
            MAX_EDGES_PER_DIRECTION
        )
        chosen += [(str(x.p_act), str(x.activity)) for x in top.itertuples(index=False)]
    cases = {(str(x.p_act), str(x.activity)): int(x.cases) for x in totals.itertuples(index=False)}
    return [{"source": s, "target": t, "cases": cases[(s, t)]} for s, t in dict.fromkeys(chosen)]

"""A seeded generator of a realistic support-desk event log with planted, documented problems.

The log looks like a CRM export: one row per event, columns `Ticket ID, Activity, Timestamp, Agent, Team,
Channel, Priority, Category`, timestamps in UTC (`2024-03-01T07:12:09Z`), rows sorted by timestamp then
ticket. Within a ticket, timestamps are strictly increasing. `generate()` returns the events and a ground
truth that states, for every finding kind of the contract, exactly which tickets show it; `write_sample()`
writes both; `write_events()` writes a large log with the same behaviours fast, for benchmarks.

Who does what:

- Human agents belong to one team each ("Tier 1", "Tier 2", "Network Ops", "Billing"); their events carry
  that team. Events by the customer (Agent `customer`) and by the non-human accounts `bot-router`,
  `svc-workflow` and `siebel-connector` have an empty Team.
- Human work happens in business hours (Monday to Friday, 07:00-19:00 UTC); customers and timers act at
  any hour. Waits are lognormal (minutes to days) and scale with priority.

The happy path (most tickets, with no planted problem and no repeated activity):
`Create Ticket` (by the customer; phone tickets by the Tier 1 agent who took the call) -> `Auto-Assign`
(bot-router, 2-20 s later) -> `Take in Charge` -> `Update Status Field` -> `Reply to Customer` ->
`Resolve Ticket` -> `Send Survey` (svc-workflow, 24 h after resolution) -> `Close Ticket` (svc-workflow,
7 days after resolution). Optional clean steps: `Fill Knowledge Form`, `Investigate`, one `Request Info` /
`Customer Reply` pair, `Adjust Invoice` (Billing), `Sync to Legacy CRM`, and a one-way escalation
(`Escalate to Tier 2` then `Investigate` by Tier 2, or `Escalate to Network Ops` then `Run Line Test` by
Network Ops; the escalated-to team then answers and resolves). In a clean ticket no team and no human agent
appears twice apart from consecutive events, and `Close Ticket` is the last event.

Planted problems (shares of the tickets; see `PLAN` and logs/README.md):

1. rework loops: `Investigate` again after `Request Info` / `Customer Reply`; the two-step loop
   Investigate -> Request Info -> Customer Reply twice; or a second `Reply to Customer` after the customer
   said the first answer did not help.
2. ping-pong: Tier 1 escalates to Network Ops (`Escalate to Network Ops`), Network Ops runs a line test and
   hands it back (`Return to Tier 1`): teams Tier 1 -> Network Ops -> Tier 1. A share bounces twice, which
   also repeats the three hand-over activities (so those tickets are rework loops too).
3. reopened after close: the customer reopens (`Reopen Ticket`) 0.5-5 days after `Close Ticket`; the same
   agent takes it in charge again, answers and resolves; the timers fire again. The second cycle repeats
   Take in Charge, Update Status Field, Reply to Customer, Resolve Ticket, Send Survey and Close Ticket, so
   every reopened ticket is also a rework loop.
4. survey before resolution: a misconfigured trigger sends `Send Survey` 24 h after `Reply to Customer`,
   and the agent resolves only after that; no second survey.
5. closure before any agent response: the agent resolves without ever replying (the timers then close
   it), or closes the ticket directly (`Close Ticket` by the agent).
6. customer chasing: 2-4 unprompted `Customer Follow-up` events before the first resolution (a customer's
   repeated contacts are chasing, not rework: no rework loop).
7. long waits: an agent parks the ticket in `Pending Customer` and the customer replies 6.5-12 days
   later. Parking abuse: three Tier 1 agents (`PARKING_ABUSERS`) set `Pending Customer` two or three
   times, 3-5 days (plus the way to office hours) apart, with no customer event in between, and answer
   1-3 days later (the repeats make them rework loops too). `Pending Customer` appears in no other ticket.
8. stalled tickets: work stops after Take in Charge and one step (and, for a share, after 2-3 customer
   follow-ups, which makes them chasing too, not rework); the last event is at least 15 days before the end of the log
   and there is no closure. Tickets opened in the last days are open but recent: clean, not stalled.
9. tool-driven steps: `Auto-Assign` (bot-router), `Legacy CRM Import` (siebel-connector), the timers
   `Send Survey` (24 h + 0-4 s after resolution) and `Close Ticket` (7 days + 0-4 s after resolution),
   and the chained bookkeeping `Update Status Field` by the same agent 1-5 s after `Take in Charge` (always
   in planted tickets, 96 % of clean ones).
10. legacy steps: `Sync to Legacy CRM` by the resolving agent a few minutes after resolution (half of the
    resolved tickets) is followed 20-300 s later by `Legacy CRM Import` (siebel-connector) only while that
    import lands before the cut-over `CUTOVER`; afterwards the account vanishes and the sync goes on
    (orphaned). `Fill Knowledge Form` right after Take in Charge in 45 % of all tickets, drawn
    independently of every other choice: it adds its own minutes to hours and changes nothing else
    (vestigial).
11. compliant failures: the exact happy path (Create, Auto-Assign, Take in Charge, Update Status Field,
    optional Fill Knowledge Form and Sync to Legacy CRM, Reply, Resolve, the timers), but the waits before
    Take in Charge, Reply to Customer and Resolve Ticket are 1.5-3.5 days each instead of hours: 5-13
    days from creation to resolution where comparable clean tickets take about one (at most four and a
    half). No single wait is as long as a parking wait.

Ground truth (`generate()[1]`) is built from what each ticket was planned to show, never recomputed from
the events; tests/test_sample.py recomputes every definitional kind independently and checks equality.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SEED = 20240301
COLUMNS: tuple[str, ...] = (
    "Ticket ID",
    "Activity",
    "Timestamp",
    "Agent",
    "Team",
    "Channel",
    "Priority",
    "Category",
)

MINUTE = 60
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY


def _epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


LOG_START = _epoch(2024, 3, 1)
LOG_HORIZON = _epoch(2024, 8, 31, 23, 59, 59)
CUTOVER = _epoch(2024, 6, 1)
STALLED_DAYS = 14
CHASING_CONTACTS = 2
CASE_BASE = 100000
BIG_CASE_BASE = 10_000_000

# Activities.
CREATE = "Create Ticket"
AUTO_ASSIGN = "Auto-Assign"
TAKE = "Take in Charge"
STATUS = "Update Status Field"
FORM = "Fill Knowledge Form"
INVESTIGATE = "Investigate"
REQUEST_INFO = "Request Info"
CUSTOMER_REPLY = "Customer Reply"
REPLY = "Reply to Customer"
RESOLVE = "Resolve Ticket"
SYNC = "Sync to Legacy CRM"
IMPORT = "Legacy CRM Import"
SURVEY = "Send Survey"
CLOSE = "Close Ticket"
REOPEN = "Reopen Ticket"
FOLLOW_UP = "Customer Follow-up"
PENDING = "Pending Customer"
ESCALATE_NETOPS = "Escalate to Network Ops"
LINE_TEST = "Run Line Test"
RETURN_T1 = "Return to Tier 1"
ESCALATE_T2 = "Escalate to Tier 2"
ADJUST_INVOICE = "Adjust Invoice"

ACTIVITIES: tuple[str, ...] = (
    CREATE,
    AUTO_ASSIGN,
    TAKE,
    STATUS,
    FORM,
    INVESTIGATE,
    REQUEST_INFO,
    CUSTOMER_REPLY,
    REPLY,
    RESOLVE,
    SYNC,
    IMPORT,
    SURVEY,
    CLOSE,
    REOPEN,
    FOLLOW_UP,
    PENDING,
    ESCALATE_NETOPS,
    LINE_TEST,
    RETURN_T1,
    ESCALATE_T2,
    ADJUST_INVOICE,
)

# Accounts and teams.
CUSTOMER = "customer"
WORKFLOW = "svc-workflow"
ROUTER = "bot-router"
CONNECTOR = "siebel-connector"
SYSTEM_ACCOUNTS: tuple[str, ...] = (WORKFLOW, ROUTER, CONNECTOR)

TIER1 = "Tier 1"
TIER2 = "Tier 2"
NETOPS = "Network Ops"
BILLING = "Billing"
TEAMS: tuple[str, ...] = (TIER1, TIER2, NETOPS, BILLING)

AGENTS: dict[str, tuple[str, ...]] = {
    TIER1: (
        "Anna Keller",
        "Marco Rossi",
        "Priya Nair",
        "Tom Becker",
        "Lena Vogel",
        "Samuel Okafor",
        "Julia Wagner",
        "Diego Alvarez",
    ),
    TIER2: ("Hannah Schmidt", "Kenji Watanabe", "Fatima Zahra", "Oliver Brandt"),
    NETOPS: ("Nina Petrova", "Lukas Meyer", "Aisha Bello", "Jonas Lindqvist"),
    BILLING: ("Sofia Costa", "Peter Novak", "Grace Kim", "Ibrahim Haddad"),
}
PARKING_ABUSERS: tuple[str, ...] = ("Tom Becker", "Lena Vogel", "Diego Alvarez")

CHANNELS: tuple[tuple[str, float], ...] = (("Web", 0.35), ("Email", 0.35), ("Phone", 0.2), ("Chat", 0.1))
PRIORITIES: tuple[tuple[str, float], ...] = (
    ("Low", 0.2),
    ("Normal", 0.55),
    ("High", 0.2),
    ("Urgent", 0.05),
)
PRIORITY_SCALE: dict[str, float] = {"Low": 1.5, "Normal": 1.0, "High": 0.6, "Urgent": 0.35}
CATEGORIES: tuple[tuple[str, float], ...] = (
    ("Connectivity", 0.3),
    ("Outage", 0.1),
    ("Account", 0.2),
    ("Hardware", 0.15),
    ("Billing", 0.25),
)
NETWORK_CATEGORIES: tuple[str, ...] = ("Connectivity", "Outage")
QUEUE: dict[str, str] = {
    "Connectivity": TIER1,
    "Outage": TIER1,
    "Account": TIER1,
    "Hardware": TIER1,
    "Billing": BILLING,
}

# What gets planted, as shares of the tickets; every other ticket is clean.
PLAN: tuple[tuple[str, float], ...] = (
    ("rework", 0.08),
    ("ping_pong", 0.05),
    ("ping_pong_twice", 0.01),
    ("reopen", 0.04),
    ("survey_early", 0.03),
    ("closed_unanswered", 0.025),
    ("chasing", 0.045),
    ("chasing_stalled", 0.01),
    ("stalled", 0.015),
    ("parking", 0.03),
    ("parking_abuse", 0.02),
    ("compliant_failure", 0.02),
)

# Compliant failures: the waits before these steps are 1.5-3.5 days (instead of hours).
SLOW_STEPS: frozenset[str] = frozenset({TAKE, REPLY, RESOLVE})
SLOW_WAIT = (int(1.5 * DAY), int(3.5 * DAY))
# Parking: the customer answers 6.5-12 days after `Pending Customer`.
PARKING_WAIT = (int(6.5 * DAY), 12 * DAY)

FORM_SHARE = 0.45
SYNC_SHARE = 0.5
STATUS_SHARE_CLEAN = 0.96

_Event = tuple[int, str, str, str]  # (epoch seconds, activity, agent, team)


@dataclass(frozen=True)
class _Agent:
    name: str
    team: str


@dataclass
class _Case:
    plant: str
    channel: str
    priority: str
    category: str
    events: list[_Event]
    repeated: frozenset[str]
    case_id: str = ""


@dataclass
class _Flow:
    """Builds one ticket's events forward in time."""

    rng: random.Random
    t: int
    scale: float
    slow: bool = False
    events: list[_Event] = field(default_factory=list)

    def add(self, t: int, activity: str, agent: str, team: str) -> int:
        if self.events and t <= self.t:
            t = self.t + 1
        self.events.append((t, activity, agent, team))
        self.t = t
        return t

    def wait(self, median: float) -> int:
        """Lognormal around `median` (scaled by priority), capped at 4 times the scaled median."""
        m = median * self.scale
        return int(min(m * self.rng.lognormvariate(0.0, 0.8), 4 * m)) + 1

    def human(self, activity: str, agent: _Agent, median: float) -> int:
        slow = self.slow and activity in SLOW_STEPS
        wait = self.rng.randint(*SLOW_WAIT) if slow else self.wait(median)
        return self.add(_business(self.t + wait, self.rng), activity, agent.name, agent.team)

    def human_after(self, activity: str, agent: _Agent, seconds: int) -> int:
        return self.add(_business(self.t + seconds, self.rng), activity, agent.name, agent.team)

    def chained(self, activity: str, agent: _Agent) -> int:
        return self.add(self.t + self.rng.randint(1, 5), activity, agent.name, agent.team)

    def customer(self, activity: str, median: float) -> int:
        return self.add(self.t + self.wait(median), activity, CUSTOMER, "")

    def customer_after(self, activity: str, seconds: int) -> int:
        return self.add(self.t + seconds, activity, CUSTOMER, "")

    def system(self, activity: str, account: str, low: int, high: int) -> int:
        return self.add(self.t + self.rng.randint(low, high), activity, account, "")

    def timer(self, base: int, delay: int, activity: str) -> int:
        return self.add(base + delay + self.rng.randint(0, 4), activity, WORKFLOW, "")


def _business(t: int, rng: random.Random) -> int:
    """The first moment at or after `t` inside business hours (Mon-Fri 07:00-19:00 UTC), plus a small
    random delay when `t` had to move."""
    day, sec = divmod(t, DAY)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if weekday < 5 and 7 * HOUR <= sec < 19 * HOUR:
        return t
    if not (weekday < 5 and sec < 7 * HOUR):
        day += 1
        while (day + 3) % 7 >= 5:
            day += 1
    return day * DAY + 7 * HOUR + rng.randint(0, 40 * MINUTE)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(names, weights=weights)[0]


def _sample_start(rng: random.Random, low: int, high: int, phone: bool) -> int:
    """A creation time in [low, high]: weekdays and daytime are busier; phone calls only in office hours."""
    high = max(low, high)
    while True:
        t = rng.randint(low, high)
        day, sec = divmod(t, DAY)
        weekday = (day + 3) % 7
        hour = sec // HOUR
        if phone:
            if weekday < 5 and 7 <= hour < 19:
                return t
            continue
        weight = 0.35 if weekday >= 5 else 1.0
        weight *= 1.0 if 7 <= hour < 20 else (0.5 if hour >= 20 else 0.15)
        if rng.random() < weight:
            return t


def _agent(rng: random.Random, team: str, exclude: tuple[str, ...] = ()) -> _Agent:
    return _Agent(rng.choice([a for a in AGENTS[team] if a not in exclude]), team)


def _build(rng: random.Random, plant: str, channel: str, priority: str, category: str, start: int) -> _Case:
    """One ticket of the given plant, starting at `start`. Returns the events and the activities the
    plant repeats by design."""
    compliant = plant == "compliant_failure"
    f = _Flow(rng, start, PRIORITY_SCALE[priority], slow=compliant)
    queue = QUEUE[category]
    if plant == "parking_abuse":
        handler = _Agent(rng.choice(PARKING_ABUSERS), TIER1)
    elif plant == "parking":
        handler = _agent(rng, queue, PARKING_ABUSERS)
    else:
        handler = _agent(rng, queue)
    repeated: set[str] = set()

    # Independent draws, made for every ticket alike.
    form = rng.random() < FORM_SHARE
    sync = rng.random() < SYNC_SHARE
    status = plant != "clean" or rng.random() < STATUS_SHARE_CLEAN

    if channel == "Phone":
        creator = handler if queue == TIER1 and rng.random() < 0.7 else _agent(rng, TIER1)
        f.add(start, CREATE, creator.name, creator.team)
    else:
        f.add(start, CREATE, CUSTOMER, "")
    f.system(AUTO_ASSIGN, ROUTER, 2, 20)

    follow_ups_after = 0
    if plant == "chasing":
        total = rng.randint(2, 4)
        before = rng.randint(1, total)
        follow_ups_after = total - before
        for _ in range(before):
            f.customer(FOLLOW_UP, 8 * HOUR)

    f.human(TAKE, handler, 2 * HOUR)
    if status:
        f.chained(STATUS, handler)
    if form:
        f.human(FORM, handler, 25 * MINUTE)

    def finish(agent: _Agent, reply: bool = True, survey: bool = True) -> None:
        if reply:
            f.human(REPLY, agent, 3 * HOUR)
        resolved = f.human(RESOLVE, agent, 5 * HOUR)
        if sync:
            f.add(resolved + rng.randint(60, 900), SYNC, agent.name, agent.team)
        if survey:
            f.timer(resolved, DAY, SURVEY)
        f.timer(resolved, WEEK, CLOSE)

    if plant in ("clean", "compliant_failure"):
        agent = handler
        if not compliant:
            r = rng.random()
            if queue == BILLING:
                if r < 0.4:
                    f.human(ADJUST_INVOICE, handler, 3 * HOUR)
                if rng.random() < 0.2:
                    f.human(REQUEST_INFO, handler, 1 * HOUR)
                    f.customer(CUSTOMER_REPLY, 6 * HOUR)
            elif r < (0.15 if category in NETWORK_CATEGORIES else 0.12):
                if category in NETWORK_CATEGORIES:
                    agent = _agent(rng, NETOPS)
                    f.human(ESCALATE_NETOPS, handler, 90 * MINUTE)
                    f.human(LINE_TEST, agent, 4 * HOUR)
                else:
                    agent = _agent(rng, TIER2)
                    f.human(ESCALATE_T2, handler, 90 * MINUTE)
                    f.human(INVESTIGATE, agent, 4 * HOUR)
            else:
                if rng.random() < 0.3:
                    f.human(INVESTIGATE, handler, 1 * HOUR)
                if rng.random() < 0.2:
                    f.human(REQUEST_INFO, handler, 1 * HOUR)
                    f.customer(CUSTOMER_REPLY, 6 * HOUR)
        finish(agent)
    elif plant == "rework":
        variant = rng.random()
        if variant < 0.4:
            f.human(INVESTIGATE, handler, 1 * HOUR)
            f.human(REQUEST_INFO, handler, 1 * HOUR)
            f.customer(CUSTOMER_REPLY, 6 * HOUR)
            f.human(INVESTIGATE, handler, 2 * HOUR)
            repeated |= {INVESTIGATE}
        elif variant < 0.7:
            for _ in range(2):
                f.human(INVESTIGATE, handler, 1 * HOUR)
                f.human(REQUEST_INFO, handler, 1 * HOUR)
                f.customer(CUSTOMER_REPLY, 6 * HOUR)
            f.human(INVESTIGATE, handler, 2 * HOUR)
            repeated |= {INVESTIGATE, REQUEST_INFO, CUSTOMER_REPLY}
        else:
            f.human(REPLY, handler, 3 * HOUR)
            f.customer(CUSTOMER_REPLY, 6 * HOUR)
            f.human(INVESTIGATE, handler, 2 * HOUR)
            repeated |= {REPLY}
        finish(handler)
    elif plant in ("ping_pong", "ping_pong_twice"):
        netops = _agent(rng, NETOPS)
        bounces = 2 if plant == "ping_pong_twice" else 1
        for bounce in range(bounces):
            if bounce:
                f.human(INVESTIGATE, handler, 2 * HOUR)
            f.human(ESCALATE_NETOPS, handler, 90 * MINUTE)
            f.human(LINE_TEST, netops, 4 * HOUR)
            f.human(RETURN_T1, netops, 1 * HOUR)
        if bounces > 1:
            repeated |= {ESCALATE_NETOPS, LINE_TEST, RETURN_T1}
        finish(handler)
    elif plant == "reopen":
        finish(handler)
        f.customer_after(REOPEN, rng.randint(DAY // 2, 5 * DAY))
        f.human(TAKE, handler, 2 * HOUR)
        f.chained(STATUS, handler)
        f.human(REPLY, handler, 3 * HOUR)
        resolved = f.human(RESOLVE, handler, 5 * HOUR)
        f.timer(resolved, DAY, SURVEY)
        f.timer(resolved, WEEK, CLOSE)
        repeated |= {TAKE, STATUS, REPLY, RESOLVE, SURVEY, CLOSE}
    elif plant == "survey_early":
        if rng.random() < 0.3:
            f.human(INVESTIGATE, handler, 1 * HOUR)
        replied = f.human(REPLY, handler, 3 * HOUR)
        f.timer(replied, DAY, SURVEY)
        finish(handler, reply=False, survey=False)
    elif plant == "closed_unanswered":
        if rng.random() < 0.5:
            if rng.random() < 0.5:
                f.human(INVESTIGATE, handler, 1 * HOUR)
            finish(handler, reply=False)
        else:
            f.human(CLOSE, handler, 2 * HOUR)
    elif plant == "chasing":
        if rng.random() < 0.3:
            f.human(INVESTIGATE, handler, 1 * HOUR)
        for _ in range(follow_ups_after):
            f.customer(FOLLOW_UP, 8 * HOUR)
        finish(handler)
    elif plant in ("stalled", "chasing_stalled"):
        steps = (INVESTIGATE, REPLY) if plant == "chasing_stalled" else (INVESTIGATE, REPLY, REQUEST_INFO)
        f.human(rng.choice(steps), handler, 2 * HOUR)
        if plant == "chasing_stalled":
            for _ in range(rng.randint(2, 3)):
                f.customer(FOLLOW_UP, 1 * DAY)
    elif plant == "parking":
        if rng.random() < 0.3:
            f.human(INVESTIGATE, handler, 1 * HOUR)
        f.human(PENDING, handler, 2 * HOUR)
        f.customer_after(CUSTOMER_REPLY, rng.randint(*PARKING_WAIT))
        finish(handler)
    elif plant == "parking_abuse":
        if rng.random() < 0.3:
            f.human(INVESTIGATE, handler, 1 * HOUR)
        f.human(PENDING, handler, 2 * HOUR)
        for _ in range(rng.randint(1, 2)):
            f.human_after(PENDING, handler, rng.randint(3 * DAY, 5 * DAY))
        f.human_after(REPLY, handler, rng.randint(1 * DAY, 3 * DAY))
        finish(handler, reply=False)
        repeated.add(PENDING)
    else:
        raise ValueError(f"unknown plant {plant!r}")
    return _Case(plant, channel, priority, category, f.events, frozenset(repeated))


def _limit(plant: str) -> int | None:
    """Latest allowed last event: stalled tickets end 15+ days before the horizon, every other planted
    ticket is complete inside the log; clean tickets may run past it (and are cut)."""
    if plant in ("stalled", "chasing_stalled"):
        return LOG_HORIZON - (STALLED_DAYS + 1) * DAY
    if plant == "clean":
        return None
    return LOG_HORIZON


def _reserve(plant: str) -> int:
    if plant == "clean":
        return 0
    if plant in ("stalled", "chasing_stalled"):
        return 20 * DAY
    if plant in ("reopen", "parking", "parking_abuse", "compliant_failure"):
        return 40 * DAY
    return 14 * DAY


def _place(rng: random.Random, plant: str) -> _Case:
    """Draws the ticket's attributes and start, builds it, and moves it back by whole weeks (keeping
    weekdays and office hours) when it must end earlier than it does."""
    channel = _pick(rng, CHANNELS)
    priority = _pick(rng, PRIORITIES)
    if plant in ("ping_pong", "ping_pong_twice"):
        category = rng.choice(NETWORK_CATEGORIES)
    elif plant == "parking_abuse":
        category = _pick(rng, tuple(c for c in CATEGORIES if QUEUE[c[0]] == TIER1))
    else:
        category = _pick(rng, CATEGORIES)
    limit = _limit(plant)
    for _ in range(1000):
        start = _sample_start(rng, LOG_START, LOG_HORIZON - _reserve(plant), channel == "Phone")
        case = _build(rng, plant, channel, priority, category, start)
        last = case.events[-1][0]
        if limit is None or last <= limit:
            return case
        shift = math.ceil((last - limit) / WEEK) * WEEK
        if case.events[0][0] - shift >= LOG_START:
            case.events = [(t - shift, a, r, g) for t, a, r, g in case.events]
            return case
    raise RuntimeError(f"could not place a {plant} ticket inside the log window")  # pragma: no cover


def _add_legacy_imports(rng: random.Random, case: _Case) -> None:
    """Before the cut-over, siebel-connector imports each sync 20-300 s later."""
    out: list[_Event] = []
    for event in case.events:
        out.append(event)
        if event[1] == SYNC:
            at = event[0] + rng.randint(20, 300)
            if at < CUTOVER:
                out.append((at, IMPORT, CONNECTOR, ""))
    case.events = out


def _plan_counts(cases: int) -> list[tuple[str, int]]:
    counts: list[tuple[str, int]] = []
    left = cases
    for plant, share in PLAN:
        n = min(int(share * cases + 0.5), left)
        counts.append((plant, n))
        left -= n
    return counts


def _simulate(cases: int, seed: int) -> list[_Case]:
    """Every ticket, numbered in creation order and cut at the horizon."""
    if cases < 1:
        raise ValueError("cases must be at least 1")
    rng = random.Random(seed)
    slots: list[str] = []
    for plant, n in _plan_counts(cases):
        slots += [plant] * n
    slots += ["clean"] * (cases - len(slots))
    rng.shuffle(slots)
    anchor = slots.index("clean") if "clean" in slots else -1
    built: list[_Case] = []
    for i, plant in enumerate(slots):
        if i == anchor:
            # A web ticket opened in the last hour, so that the log ends close to the horizon.
            priority, category = _pick(rng, PRIORITIES), _pick(rng, CATEGORIES)
            start = LOG_HORIZON - rng.randint(10 * MINUTE, 50 * MINUTE)
            case = _build(rng, "clean", "Web", priority, category, start)
        else:
            case = _place(rng, plant)
        _add_legacy_imports(rng, case)
        case.events = [e for e in case.events if e[0] <= LOG_HORIZON]
        built.append(case)
    order = sorted(range(len(built)), key=lambda i: (built[i].events[0][0], i))
    result = [built[i] for i in order]
    for n, case in enumerate(result):
        case.case_id = f"T-{CASE_BASE + n}"
    return result


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _ids(cases: list[_Case], *plants: str) -> list[str]:
    return sorted(c.case_id for c in cases if c.plant in plants)


def _truth(cases: list[_Case], events: int, seed: int) -> dict[str, Any]:
    by_activity: dict[str, list[str]] = {}
    for case in cases:
        for activity in case.repeated:
            by_activity.setdefault(activity, []).append(case.case_id)
    rework_ids = sorted({c.case_id for c in cases if c.repeated})
    last = max(e[0] for c in cases for e in c.events)
    return {
        "seed": seed,
        "cases": len(cases),
        "events": events,
        "cutover": _iso(CUTOVER),
        "log_start": _iso(min(c.events[0][0] for c in cases)),
        "log_end": _iso(last),
        "columns": {
            "case": "Ticket ID",
            "activity": "Activity",
            "timestamp": "Timestamp",
            "resource": "Agent",
            "team": "Team",
        },
        "kinds": {
            "rework_loop": {
                "case_ids": rework_ids,
                "activities": sorted(by_activity),
                "by_activity": {a: sorted(ids) for a, ids in sorted(by_activity.items())},
                "planted_case_ids": _ids(cases, "rework"),
            },
            "ping_pong": {
                "case_ids": _ids(cases, "ping_pong", "ping_pong_twice"),
                "teams": [TIER1, NETOPS],
                "activities": [ESCALATE_NETOPS, RETURN_T1],
            },
            "reopened_after_close": {"case_ids": _ids(cases, "reopen"), "activities": [REOPEN]},
            "order_violation": {
                "rules": [
                    {"before": RESOLVE, "after": SURVEY, "case_ids": _ids(cases, "survey_early")},
                    {"before": REPLY, "after": CLOSE, "case_ids": _ids(cases, "closed_unanswered")},
                ]
            },
            "customer_chasing": {
                "case_ids": _ids(cases, "chasing", "chasing_stalled"),
                "activities": [FOLLOW_UP],
                "chasing_contacts": CHASING_CONTACTS,
            },
            "stalled_case": {
                "case_ids": _ids(cases, "stalled", "chasing_stalled"),
                "stalled_days": STALLED_DAYS,
            },
            "long_wait": {
                "case_ids": _ids(cases, "parking", "parking_abuse"),
                "activities": [PENDING],
                "parking_abuse": {
                    "agents": sorted(PARKING_ABUSERS),
                    "case_ids": _ids(cases, "parking_abuse"),
                },
            },
            "tool_driven_step": {
                "activities": {
                    AUTO_ASSIGN: "system_account",
                    IMPORT: "system_account",
                    SURVEY: "timer",
                    CLOSE: "timer",
                    STATUS: "chained_bookkeeping",
                }
            },
            "legacy_step": {
                "activities": {SYNC: "orphaned", FORM: "vestigial"},
                "orphaned_consumer": {"activity": IMPORT, "resource": CONNECTOR},
            },
            "compliant_failure": {"case_ids": _ids(cases, "compliant_failure")},
        },
        "clean_case_ids": _ids(cases, "clean"),
    }


def _frame(cases: list[_Case]) -> pd.DataFrame:
    rows: list[tuple[int, str, str, str, str, str, str, str]] = []
    for c in cases:
        for t, activity, agent, team in c.events:
            rows.append((t, c.case_id, activity, agent, team, c.channel, c.priority, c.category))
    rows.sort(key=lambda r: (r[0], r[1]))
    frame = pd.DataFrame(
        [(r[1], r[2], _iso(r[0]), r[3], r[4], r[5], r[6], r[7]) for r in rows],
        columns=list(COLUMNS),
    )
    return frame


def generate(cases: int = 3000, seed: int = SEED) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The sample log (string columns in the CSV layout, sorted by timestamp then ticket) and its ground
    truth. Deterministic: the same arguments give the same result."""
    simulated = _simulate(cases, seed)
    frame = _frame(simulated)
    return frame, _truth(simulated, len(frame), seed)


def write_sample(directory: Path, cases: int = 3000, seed: int = SEED) -> tuple[Path, Path]:
    """Writes `support-desk.csv` and `support-desk.truth.json` into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    frame, truth = generate(cases, seed)
    csv_path = directory / "support-desk.csv"
    truth_path = directory / "support-desk.truth.json"
    frame.to_csv(csv_path, index=False, lineterminator="\n")
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return csv_path, truth_path


# --- the fast writer for big logs -------------------------------------------------------------------

_POOL_CASES = 3000
_SHIFT_WEEKS = 26
_CHUNK_ROWS = 1_000_000


@dataclass
class _Pool:
    ts: npt.NDArray[np.int64]
    case: npt.NDArray[np.int64]
    activity: npt.NDArray[np.int16]
    agent: npt.NDArray[np.int16]
    team: npt.NDArray[np.int16]
    channel: npt.NDArray[np.int16]
    priority: npt.NDArray[np.int16]
    category: npt.NDArray[np.int16]
    agents: list[str]
    teams: list[str | None]
    channels: list[str]
    priorities: list[str]
    categories: list[str]
    cases: int


def _pool(seed: int) -> _Pool:
    cases = _simulate(_POOL_CASES, seed)
    agents = sorted({e[2] for c in cases for e in c.events})
    teams: list[str | None] = [None, *TEAMS]
    channels = [n for n, _ in CHANNELS]
    priorities = [n for n, _ in PRIORITIES]
    categories = [n for n, _ in CATEGORIES]
    a_code = {a: i for i, a in enumerate(ACTIVITIES)}
    r_code = {r: i for i, r in enumerate(agents)}
    t_code = {t: i for i, t in enumerate(teams)}
    t_code[""] = 0
    rows = sorted(
        (e[0], n, a_code[e[1]], r_code[e[2]], t_code[e[3]]) for n, c in enumerate(cases) for e in c.events
    )
    arr = np.array(rows, dtype=np.int64)
    meta = np.array(
        [
            (channels.index(c.channel), priorities.index(c.priority), categories.index(c.category))
            for c in cases
        ],
        dtype=np.int16,
    )
    case = arr[:, 1]
    return _Pool(
        ts=arr[:, 0].copy(),
        case=case.copy(),
        activity=arr[:, 2].astype(np.int16),
        agent=arr[:, 3].astype(np.int16),
        team=arr[:, 4].astype(np.int16),
        channel=meta[case, 0],
        priority=meta[case, 1],
        category=meta[case, 2],
        agents=agents,
        teams=teams,
        channels=channels,
        priorities=priorities,
        categories=categories,
        cases=len(cases),
    )


def write_events(path: Path, events: int, seed: int = SEED) -> Path:
    """Writes a big log (same columns and behaviours as the sample) with about `events` events, fast.

    A pool of 3,000 simulated tickets is tiled: each copy gets new ticket numbers and is moved forward by
    a random whole number of weeks (0-26, keeping weekdays and office hours) plus up to an hour. Legacy
    CRM imports that a move pushes past the cut-over are dropped, so the orphaned sync stays orphaned.
    Only whole tickets are written: the file holds at least `events` events and fewer than `events` plus
    the length of the longest ticket. No ground truth."""
    if events < 1:
        raise ValueError("events must be at least 1")
    pool = _pool(seed)
    rng = np.random.default_rng(seed)
    is_import = pool.activity == ACTIVITIES.index(IMPORT)
    import_ts = np.sort(pool.ts[is_import])
    offsets: list[int] = []
    kept = 0
    while kept < events:
        off = int(rng.integers(0, _SHIFT_WEEKS + 1)) * WEEK + int(rng.integers(0, HOUR))
        dropped = len(import_ts) - int(np.searchsorted(import_ts, CUTOVER - off, side="left"))
        offsets.append(off)
        kept += len(pool.ts) - dropped
    copies = len(offsets)
    off_arr = np.asarray(offsets, dtype=np.int64)
    n_pool = len(pool.ts)
    copy_of_row = np.repeat(np.arange(copies, dtype=np.int64), n_pool)
    row = np.tile(np.arange(n_pool, dtype=np.int64), copies)
    ts = pool.ts[row] + off_arr[copy_of_row]
    keep = ~(is_import[row] & (ts >= CUTOVER))
    # Whole tickets of the last copy, in ticket order, until the count is reached.
    last_copy = copies - 1
    before_last = int(np.count_nonzero(keep[: last_copy * n_pool]))
    last_keep = keep[last_copy * n_pool :]
    counts = np.bincount(pool.case[last_keep], minlength=pool.cases)
    need = events - before_last
    n_last = int(np.searchsorted(np.cumsum(counts), need, side="left")) + 1
    keep[last_copy * n_pool :] &= pool.case < n_last
    row, copy_of_row, ts = row[keep], copy_of_row[keep], ts[keep]
    del keep
    # Number the tickets in creation order, as a CRM does.
    pool_first = np.full(pool.cases, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(pool_first, pool.case, pool.ts)
    first = (pool_first[None, :] + off_arr[:, None]).ravel()[: last_copy * pool.cases + n_last]
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.lexsort((np.arange(len(first)), first))] = np.arange(len(first), dtype=np.int64)
    case_no = rank[copy_of_row * pool.cases + pool.case[row]]
    del copy_of_row, rank, first
    order = np.lexsort((case_no, ts))
    row, ts, case_no = row[order], ts[order], case_no[order]
    del order

    activities = pa.array(list(ACTIVITIES))
    agents = pa.array(pool.agents)
    teams = pa.array(pool.teams, type=pa.string())
    channels = pa.array(pool.channels)
    priorities = pa.array(pool.priorities)
    categories = pa.array(pool.categories)
    schema = pa.schema([(name, pa.string()) for name in COLUMNS])
    # No value holds a comma, quote or line break, so nothing is quoted (as in the sample).
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(COLUMNS) + "\n").encode())
        with pacsv.CSVWriter(sink, schema, write_options=options) as writer:
            for lo in range(0, len(ts), _CHUNK_ROWS):
                hi = min(lo + _CHUNK_ROWS, len(ts))
                r = row[lo:hi]
                numbers = pa.array(case_no[lo:hi] + BIG_CASE_BASE).cast(pa.string())
                stamps = pa.array(ts[lo:hi], type=pa.timestamp("s"))
                columns = [
                    pc.binary_join_element_wise("T-", numbers, ""),
                    activities.take(pa.array(pool.activity[r])),
                    pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ"),
                    agents.take(pa.array(pool.agent[r])),
                    teams.take(pa.array(pool.team[r])),
                    channels.take(pa.array(pool.channel[r])),
                    priorities.take(pa.array(pool.priority[r])),
                    categories.take(pa.array(pool.category[r])),
                ]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return path

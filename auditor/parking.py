"""Parking states: the statuses in which a case waits on someone outside the team and the SLA clock stops.

Business rules (inferred from names only; no rule-pack key, so the contract is unchanged):
- A parking state is named by one of: pending, on hold, hold, wait, waiting, awaiting, await, suspended,
  parked, snoozed, deferred, paused. "Wait - User", "Pending Customer", "Awaiting Caller", "On Hold",
  "Waiting for vendor" are parking states.
- Not parking: a wait on the organisation itself. When the name also says who is awaited and that is
  internal (assignment, queue, triage, dispatch, agent, analyst, engineer, technician, support, team,
  approval), the customer is waiting and the clock runs: "Awaiting Assignment", "Waiting for Support",
  "Pending Approval" are not parking. The internal words win over the customer words ("Waiting for agent
  response" is not parking).
- Who is awaited (`party`): `customer` when the name says customer, user, caller, client, requester,
  requestor, reporter, reply, response, answer, info(rmation), feedback or confirmation, and for a bare
  "pending" (as in Zendesk, where Pending means awaiting the requester); `third_party` for vendor,
  supplier, third party, external, partner, carrier, manufacturer, provider, contractor, parts, delivery,
  shipment, change, problem, implementation, release; otherwise `unspecified` ("Wait", "On Hold",
  "Suspended").
- A field change (`Status: Open -> Pending`, as the CRM profiles write it) is read by its new value only:
  `Status: Pending -> Open` leaves the parking state and is not one. Every change into the same value is
  one state, named `Status: Pending` whatever the old value was.
- The parking may live in a sub-status column rather than in the activity: BPIC 2013 writes the status as
  `concept:name` ("Accepted") and the sub-status as `lifecycle:transition` ("Wait - User"). A column named
  `lifecycle:transition`, `lifecycle`, `transition`, `sub_status`, `substatus` or `sub-status` is read as
  the sub-status, unless all its values are the standard XES lifecycle transitions (start, complete, …),
  which say where an activity instance is, not what the case waits for. The state is then named
  "activity / sub-status" ("Accepted / Wait"); an activity whose own name reads as parking is the state
  whatever its sub-status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

PARTIES = ("customer", "third_party", "unspecified")
SUB_STATUS_COLUMNS = (
    "lifecycle:transition",
    "lifecycle",
    "transition",
    "sub_status",
    "substatus",
    "sub-status",
)
XES_LIFECYCLE = frozenset(
    {
        "schedule", "assign", "reassign", "start", "suspend", "resume", "complete", "autoskip", "manualskip",
        "withdraw", "ate_abort", "pi_abort", "unknown",
    }
)  # fmt: skip

_PARK = re.compile(
    r"\b(pending|on hold|hold|wait|waiting|awaiting|await|suspended|parked|snoozed|deferred|paused)\b"
)
_INTERNAL = re.compile(
    r"\b(assignment|assign|assigned|queue|queued|triage|dispatch|agent|agents|analyst|engineer|technician|"
    r"support|team|approval|approve)\b"
)
_CUSTOMER = re.compile(
    r"\b(customer|user|caller|client|requester|requestor|reporter|end user|enduser|reply|response|answer|"
    r"info|information|feedback|confirmation)s?\b"
)
_THIRD = re.compile(
    r"\b(vendor|supplier|third party|3rd party|external|partner|carrier|manufacturer|provider|contractor|"
    r"parts|delivery|shipment|change|problem|implementation|release)s?\b"
)
_TRANSITION = re.compile(r"^(?P<field>[^:]+):\s*(?P<old>.*?)\s*->\s*(?P<new>.*)$")
_FIELD_VALUE = re.compile(r"^(?P<field>[^:]+):\s*(?P<value>.*)$")


@dataclass(frozen=True)
class ParkingState:
    """One parking state of a log: an activity, or an activity with a sub-status value."""

    activity: str
    sub_status: str | None
    party: str
    reason: str

    @property
    def label(self) -> str:
        if self.sub_status is not None:
            return f"{self.activity} / {self.sub_status}"
        m = _TRANSITION.match(self.activity.strip())
        return f"{m.group('field').strip()}: {m.group('new').strip()}" if m else self.activity


@dataclass(frozen=True)
class Recognised:
    """The parking states of a log, and the sub-status column they were read from (if any)."""

    states: tuple[ParkingState, ...]
    sub_status_column: str | None = None

    def activities(self, label: str) -> list[str]:
        """The log's activities that set the state named `label`."""
        return sorted({s.activity for s in self.states if s.label == label})

    def label(self, events: ir.Table) -> ir.StringValue:
        """The parking state of each event (its label), NULL when the event sets no parking state."""
        return self._pick(events, "label")

    def party(self, events: ir.Table) -> ir.StringValue:
        """Who the parking state of each event awaits, NULL when the event sets no parking state."""
        return self._pick(events, "party")

    def _pick(self, events: ir.Table, attribute: str) -> ir.StringValue:
        null = ibis.null().cast("string")
        if not self.states:
            return null
        # Activity-level states first: an activity that reads as parking is the state whatever its
        # sub-status says.
        ordered = sorted(self.states, key=lambda s: s.sub_status is not None)
        branches = []
        for s in ordered:
            cond = events.activity == s.activity
            if s.sub_status is not None and self.sub_status_column is not None:
                cond = cond & (events[self.sub_status_column] == s.sub_status)
            branches.append((cond, ibis.literal(str(getattr(s, attribute)))))
        return ibis.cases(*branches, else_=null)


def normalise(name: str) -> str:
    """The text a name is read by: a field change's new value, lower case, separators as spaces."""
    text = name.strip()
    m = _TRANSITION.match(text)
    if m:
        text = m.group("new")
    else:
        f = _FIELD_VALUE.match(text)
        if f and len(f.group("field").split()) <= 3:
            text = f.group("value")
    low = re.sub(r"[_\-/–—:()]+", " ", text.lower())
    return re.sub(r"\s+", " ", low).strip()


def classify(name: str) -> tuple[str, str] | None:
    """(party, reason) when the name reads as a parking state, else None."""
    low = normalise(name)
    park = _PARK.search(low)
    if not park:
        return None
    if _INTERNAL.search(low):
        return None
    if (m := _CUSTOMER.search(low)) is not None:
        return (
            "customer",
            f"its name reads as a parking state ('{park.group(0)}') awaiting the customer ('{m.group(0)}')",
        )
    if (m := _THIRD.search(low)) is not None:
        return (
            "third_party",
            f"its name reads as a parking state ('{park.group(0)}') awaiting a third party ('{m.group(0)}')",
        )
    if low == "pending":
        return "customer", "'pending' alone reads as awaiting the requester (as in Zendesk)"
    return "unspecified", f"its name reads as a parking state ('{park.group(0)}'); who is awaited is not said"


def sub_status_column(table: ir.Table) -> str | None:
    """The column that carries a sub-status, when the log has one with values other than XES lifecycles."""
    lower = {c.lower(): c for c in table.columns}
    for name in SUB_STATUS_COLUMNS:
        col = lower.get(name)
        if col is None or not table.schema()[col].is_string():
            continue
        values = table.select(v=table[col].lower()).distinct().execute()["v"]
        if any(v is not None and str(v) not in XES_LIFECYCLE for v in values):
            return col
    return None


def recognise(events: ir.Table) -> Recognised:
    """The parking states of a log, from its distinct activity (and sub-status) names."""
    sub = sub_status_column(events)
    states: list[ParkingState] = []
    acts = sorted(str(a) for a in events.select("activity").distinct().execute()["activity"] if a is not None)
    by_activity = {a: classify(a) for a in acts}
    for act, hit in by_activity.items():
        if hit is not None:
            states.append(ParkingState(act, None, hit[0], hit[1]))
    if sub is not None:
        pairs = events.filter(events[sub].notnull()).select("activity", sub).distinct().execute()
        for act, value in sorted(
            zip(pairs["activity"], pairs[sub], strict=True), key=lambda p: (str(p[0]), str(p[1]))
        ):
            if by_activity.get(str(act)) is not None:
                continue
            hit = classify(str(value))
            if hit is not None:
                states.append(ParkingState(str(act), str(value), hit[0], f"sub-status {sub!r}: {hit[1]}"))
    return Recognised(tuple(states), sub)

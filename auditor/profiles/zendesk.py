"""Zendesk ticket audits, flattened to one row per audit event.

Vendor facts this profile relies on:
- Each audit (`ticket_id`, `created_at`, `author_id`) holds events; a flattened export has one row per event
  with `field_name`, `previous_value`, `value` and usually the event `type`.
- At creation Zendesk writes one `Create` event per property set (status, priority, group_id, assignee_id,
  …): they form one `Created` event, the first of them; the others are its twins (counted as duplicates) and
  their group and assignee become the first team and owner. Without a `type` column, the rows at a
  ticket's first moment are its creation when none of them has a previous value.
- `Change` events: `status` is the status, `group_id` the group (the team), `assignee_id` the owner (an
  empty value clears it). Values are ids, kept as they are.
- Events of other types (Comment, Notification, …) have no field name: their type is the activity.
- Author `-1` is Zendesk itself (triggers, automations, the closing job). It is named `SYSTEM_AUTHOR`, so the
  audit counts it as a system account by its name: its closing job's extra field change is not "further
  work after closure", nor its notifications a person handing work around.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from auditor.options import ReadOptions
from auditor.profiles import history as h
from auditor.profiles.base import Profile

NAME = "zendesk"
CASE = ("ticket_id", "Ticket ID", "ticket")
TIMESTAMP = ("created_at", "Created at", "created", "timestamp")
RESOURCE = ("author_id", "Author ID", "author", "updater_id")
SYSTEM_AUTHOR = "Zendesk system (-1)"


def _system_author(t: ir.Table) -> ir.Table:
    return t.mutate(resource=ibis.ifelse(t.resource == "-1", SYSTEM_AUTHOR, t.resource))

SPEC = h.ChangeHistory(
    profile=NAME,
    field=("field_name", "Field name", "field"),
    values=(("previous_value", "value"), ("Previous value", "Value"), ("old_value", "new_value")),
    type_column=("type", "Type", "event_type"),
    field_types=("create", "change"),
    creation_types=("create",),
    creation_first_empty_old=True,
    status_fields=("status",),
    group_fields=(("group_id", "group"),),
    owner_fields=("assignee_id", "assignee"),
    prepare=_system_author,
)


def to_events(table: ir.Table, options: ReadOptions, source: str) -> ir.Table:
    return h.convert(table, options, source, SPEC)


PROFILE = Profile(
    name=NAME,
    description=(
        "Zendesk ticket audits, one row per audit event: Create events form `Created`, Change events of "
        "status, group_id (the team) and assignee_id (the owner) and other fields; Comment and other "
        "events keep their type as the activity."
    ),
    columns={"case": CASE, "timestamp": TIMESTAMP, "resource": RESOURCE},
    expected=("ticket_id", "created_at", "author_id", "type", "field_name", "previous_value", "value"),
    to_events=to_events,
    notes=(
        "`type` is optional; without it a ticket's creation is the rows at its first moment, when none of "
        "them has a previous value.",
    ),
)

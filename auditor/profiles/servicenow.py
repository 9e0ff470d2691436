"""ServiceNow `sys_audit`: one row per changed field of an audited record.

Vendor facts this profile relies on:
- `tablename` names the audited table: only `incident` rows are events; rows of other tables are rejected
  with the table named in the reason (never dropped silently). An export without `tablename` is taken to
  be incident rows only.
- `documentkey` is the incident's sys_id; `sys_created_on` is UTC; `user` is the changer's user name.
- `state` is the status; its values are codes. The out-of-the-box incident states (1 New, 2 In Progress,
  3 On Hold, 6 Resolved, 7 Closed, 8 Canceled) are named by their labels in the activities, so people and
  the role inference can read them; an instance's own codes stay as they are (the raw values stay in the
  old/new value columns). Incidents also carry the legacy `incident_state`, written at the
  same moment: that row is the twin of the `state` row (unverified; a lone `incident_state` row counts as
  a status change). `assignment_group` is the group, `assigned_to` the owner; reference values are
  sys_ids, kept as they are.
- An insert writes one row per field set, with no old value: the rows at an incident's first moment
  without an old value form `Created` (unverified: the insert audit depends on the instance's settings).
- `DELETED` / `RECOVERED` rows are the record's deletion and recovery; `comments` and `work_notes` rows
  are journal entries (`Comment added`, `Work note added`).
"""

from __future__ import annotations

import ibis.expr.types as ir

from auditor.options import ReadOptions
from auditor.profiles import history as h
from auditor.profiles.base import Profile

NAME = "servicenow"
CASE = ("documentkey", "Document key", "document_key")
TIMESTAMP = ("sys_created_on", "Created", "Sys created on")
RESOURCE = ("user", "sys_created_by", "Created by")

SPEC = h.ChangeHistory(
    profile=NAME,
    field=("fieldname", "Field name", "field_name"),
    values=(("oldvalue", "newvalue"), ("Old value", "New value"), ("old_value", "new_value")),
    scope=h.Scope(
        columns=("tablename", "Table name", "table_name"), values=("incident",), noun="an incident"
    ),
    creation_first_empty_old=True,
    status_fields=("state",),
    mirrors={"incident_state": "state"},
    # The incident table's out-of-the-box state choices; an instance's own codes stay as they are.
    status_labels={"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"},
    group_fields=(("assignment_group",),),
    owner_fields=("assigned_to",),
    activities={
        "deleted": "Deleted",
        "recovered": "Recovered",
        "comments": "Comment added",
        "work_notes": "Work note added",
    },
)


def to_events(table: ir.Table, options: ReadOptions, source: str) -> ir.Table:
    return h.convert(table, options, source, SPEC)


PROFILE = Profile(
    name=NAME,
    description=(
        "ServiceNow sys_audit rows of the incident table: state changes, assignment_group (the team), "
        "assigned_to (the owner) and other fields; rows of other tables are rejected."
    ),
    columns={"case": CASE, "timestamp": TIMESTAMP, "resource": RESOURCE},
    expected=("tablename", "documentkey", "fieldname", "oldvalue", "newvalue", "sys_created_on", "user"),
    to_events=to_events,
    notes=(
        "List-view export labels (Table name, Document key, Field name, Old value, New value, Created, "
        "User) are accepted too.",
    ),
)

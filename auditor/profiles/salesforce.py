"""Salesforce Case history: `CaseHistory` (one row per changed field) or `CaseHistory2` (a snapshot of
status and owner per update).

Vendor facts this profile relies on:
- A change of a lookup field (Owner, Contact, Account, …) is written twice: one row with the names, one with
  the record ids (15 or 18 letters and digits: `005…` a user, `00G…` a queue). The id row is the twin of
  the name row written for the same case, moment and field (paired in source order) and is counted as a
  duplicate. An id row without a name row is the change itself.
- A case is owned by a user or by a queue. An Owner change to a queue is a group change: the queue becomes
  the team, and the case has no user owner until someone takes it. The new value is a queue when it is a
  `00G` id, when its id twin is one, or when the same name is shown as a queue (by its id twin) anywhere
  else in the export. Otherwise it is a user.
- `created` (report exports: `Created.`) is the creation row. `ownerAssignment`, `ownerAccepted` and
  `ownerEscalated` are owner changes with their own activity names.
- `CaseHistory2` has no field column and usually no changer column: the first row of a case is `Created`
  when `PreviousUpdate` is empty, a row whose `Status` differs from the case's previous row is a status
  change, else one whose `OwnerId` differs is an owner (or queue) change, else `Case updated`. The resource
  is the changer when there is one, else the owner in effect.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from auditor.errors import MappingError
from auditor.options import ReadOptions
from auditor.profiles import history as h
from auditor.profiles.base import REASON, TWIN, Profile

NAME = "salesforce"
CASE = ("CaseId", "Case ID", "Case Number", "CaseNumber")
TIMESTAMP = ("CreatedDate", "Edit Date", "Created Date")
RESOURCE = ("CreatedBy.Name", "CreatedById", "Edited By", "Created By")
FIELD = ("Field", "Field / Event", "Field/Event", "Field Event")
VALUES = (("OldValue", "NewValue"), ("Old Value", "New Value"))
DATA_TYPE = ("DataType", "Data Type")
# CaseHistory2
STATUS = ("Status",)
OWNER_ID = ("OwnerId", "Owner ID", "Owner Id")
PREVIOUS_UPDATE = ("PreviousUpdate", "Previous Update")

OWNER_FIELDS = ("owner", "case owner", "ownerassignment", "owneraccepted", "ownerescalated")

SF_ID = r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$"
QUEUE_PREFIX = "00G"


def _is_id(value: ir.StringValue) -> ir.BooleanValue:
    return (value.re_search(SF_ID) & value.re_search(r"[0-9]")).fill_null(False)


def _is_queue_id(value: ir.StringValue) -> ir.BooleanValue:
    return _is_id(value) & value.startswith(QUEUE_PREFIX).fill_null(False)


def _lookup_twins(t: ir.Table) -> ir.Table:
    """Flags the id row of each name/id pair, and tells which owner values are queues."""
    t = t.mutate(
        __h_old_id=_is_id(t[h.OLD]),
        __h_new_id=_is_id(t[h.NEW]),
        __h_has_value=t[h.OLD].notnull() | t[h.NEW].notnull(),
    )
    old, new = t[h.OLD], t[h.NEW]
    id_row = t.__h_has_value & (old.isnull() | t.__h_old_id) & (new.isnull() | t.__h_new_id)
    dtype = h.find_column(t, DATA_TYPE)
    if dtype is not None:
        id_row = id_row | (t.__h_has_value & (h.clean(t[dtype]).lower() == "entityid").fill_null(False))
    t = t.mutate(
        __h_id_row=id_row,
        __h_old_qid=t.__h_old_id & old.startswith(QUEUE_PREFIX).fill_null(False),
        __h_new_qid=t.__h_new_id & new.startswith(QUEUE_PREFIX).fill_null(False),
    )
    # Pair the k-th name row with the k-th id row of the same case, moment and field.
    rank = ibis.row_number().over(
        ibis.window(group_by=["case_id", "timestamp", h.FL, "__h_id_row"], order_by="seq")
    )
    t = t.mutate(__h_pair=rank)
    pair = ibis.window(group_by=["case_id", "timestamp", h.FL, "__h_pair"])
    is_id = t.__h_id_row
    t = t.mutate(
        __h_has_name=(~is_id & t.__h_has_value).any().over(pair),
        __h_new_q=(is_id & t.__h_new_qid).any().over(pair),
        __h_old_q=(is_id & t.__h_old_qid).any().over(pair),
    )
    t = t.mutate(**{TWIN: t[TWIN] | (t.__h_id_row & t.__h_has_name)})
    # Names shown as queues anywhere in the export (by their id twin).
    owner_rows = t.filter(h.in_names(t[h.FL], OWNER_FIELDS) & ~t.__h_id_row)
    queues = (
        owner_rows.filter(owner_rows.__h_new_q)
        .select(name=owner_rows[h.NEW])
        .union(owner_rows.filter(owner_rows.__h_old_q).select(name=owner_rows[h.OLD]))
        .distinct()
    )
    return t.mutate(
        **{
            h.NEW_IS_GROUP: t.__h_new_qid | t.__h_new_q | t[h.NEW].isin(queues.name).fill_null(False),
            h.OLD_IS_GROUP: t.__h_old_qid | t.__h_old_q | t[h.OLD].isin(queues.name).fill_null(False),
        }
    )


CASE_HISTORY = h.ChangeHistory(
    profile=NAME,
    field=FIELD,
    values=VALUES,
    status_fields=("status",),
    group_fields=(),
    owner_fields=OWNER_FIELDS,
    creation_fields=("created", "created."),
    activities={
        "ownerassignment": "Owner assigned",
        "owneraccepted": "Owner accepted",
        "ownerescalated": "Owner escalated",
        "external": "Made visible to customers",
    },
    prepare=_lookup_twins,
)


def to_events(table: ir.Table, options: ReadOptions, source: str) -> ir.Table:
    if h.find_column(table, FIELD) is not None:
        return h.convert(table, options, source, CASE_HISTORY)
    if h.find_column(table, STATUS) is not None:
        return _snapshots(table, options, source)
    available = h.available_columns(table)
    raise MappingError(
        f"{source}: the {NAME} profile expects a field column ({', '.join(FIELD)}: CaseHistory) or a status "
        f"column (Status: CaseHistory2); neither is there. Available columns (besides the case, timestamp and "
        f"changer columns): {available}"
    )


def _snapshots(table: ir.Table, options: ReadOptions, source: str) -> ir.Table:
    """CaseHistory2: one snapshot (Status, OwnerId) per update."""
    status = h.clean(table[h.find_column(table, STATUS) or STATUS[0]])
    owner_col = h.find_column(table, OWNER_ID)
    owner = h.clean(table[owner_col]) if owner_col else ibis.null("string")
    prev_col = h.find_column(table, PREVIOUS_UPDATE)
    previous_update = h.clean(table[prev_col]) if prev_col else ibis.null("string")
    ordered = ibis.window(group_by="case_id", order_by=["timestamp", "seq"])
    t = table.mutate(
        __h_status=status,
        __h_owner_now=owner,
        __h_prev_status=status.lag().over(ordered),
        __h_prev_owner=owner.lag().over(ordered),
        __h_first=ibis.row_number().over(ordered) == 0,
        __h_prev_update=previous_update,
    )
    creation = t.__h_first & t.__h_prev_update.isnull()
    status_changed = ~creation & t.__h_status.notnull() & ~t.__h_status.identical_to(t.__h_prev_status)
    owner_changed = ~creation & t.__h_owner_now.notnull() & ~t.__h_owner_now.identical_to(t.__h_prev_owner)
    queue = _is_queue_id(t.__h_owner_now)
    activity = ibis.cases(
        (creation, "Created"),
        (status_changed, h.status_activity(t.__h_prev_status, t.__h_status, options.status_new_only)),
        (owner_changed & queue, "Owner changed to a queue"),
        (owner_changed, "Owner changed"),
        else_="Case updated",
    )
    t = t.mutate(
        **{
            h.ACTIVITY: activity,
            REASON: ibis.null("string"),
            TWIN: ibis.literal(False),
            h.TEAM_SET: ibis.ifelse(queue, t.__h_owner_now, ibis.null("string")),
            h.OWNER_SET: ibis.cases(
                (queue, ""), (t.__h_owner_now.notnull(), t.__h_owner_now), else_=ibis.null("string")
            ),
            h.TEAM_OLD: ibis.null("string"),
            h.OWNER_OLD: ibis.null("string"),
        }
    )
    return h.finish(t, table, profile=NAME, source=source, owner_is_resource=True)


PROFILE = Profile(
    name=NAME,
    description=(
        "Salesforce Case history: CaseHistory (Field, OldValue, NewValue; lookup changes written twice, "
        "the id row counted as a duplicate; Owner changes to a queue set the team) or CaseHistory2 "
        "(Status and OwnerId snapshots)."
    ),
    columns={"case": CASE, "timestamp": TIMESTAMP, "resource": RESOURCE},
    expected=("CaseId", "CreatedDate", "CreatedById", "Field", "OldValue", "NewValue"),
    to_events=to_events,
    notes=(
        "Also accepted: report-export labels (Case ID / Case Number, Edit Date, Edited By, Field / Event, "
        "Old Value, New Value), an optional DataType column, and CaseHistory2 (CaseId, CreatedDate, Status, "
        "OwnerId, PreviousUpdate) where the resource is the owner in effect.",
    ),
)

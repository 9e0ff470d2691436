"""Field-change history → process events: the one conversion shared by every CRM profile.

Business rules (base.py states the interface; this module is its single implementation):
- Every history row becomes exactly one event, one rejected row (NULL activity with a REASON) or one twin
  (counted as a duplicate). Nothing is filtered out.
- The creation row is `Created`. A vendor that writes one creation row per property set at creation
  (Zendesk `Create` events, ServiceNow's insert audit) gets one `Created` event per case: the first of those
  rows in the export; the others are its twins, and the values they carry (initial group, initial owner) apply from `Created` on.
  Where the export does not mark creation rows, the field rows at a case's first moment are its creation
  when none of them has an old value.
- A status change is `Status: <old> -> <new>`; `Status: <new>` when there was no old value;
  `Status: <old> -> (none)` when the new one is empty; `Status changed` when both are. With
  `ReadOptions.status_new_only` it is just `<new>` (`Status cleared` when empty).
- A group change is `<Field> changed` and sets `team` for that event and every following event of the case
  until the next group change (an empty new group clears it). An owner change is `<Field> changed` and sets
  the attribute column `owner` the same way; an owner change whose new owner is a group (a Salesforce
  queue) is `<Field> changed to a queue`, a group change: routing and a person taking the case are two steps. Every other field change is `<Field> changed`; its old and new
  values stay in their own columns as attributes.
- Before a case's first group (owner) change the team (owner) is NULL, unless the export says otherwise: a
  creation row that sets the group, or the old value of the first group change, which names the team in
  effect before it.
- `resource` is the changer column; when the export has none (every resource is NULL), it is the owner in
  effect.
- `<Field>` is the field name made readable: `assignment_group` → `Assignment group`, `group_id` → `Group`,
  `Tier__c` → `Tier`, `ownerAssignment` → `Owner Assignment`, a number → `Custom field <number>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from auditor.errors import MappingError
from auditor.mapping import normalise
from auditor.options import ReadOptions
from auditor.profiles.base import REASON, TWIN

CANONICAL = ("case_id", "timestamp", "resource", "seq")
OWNER = "owner"  # the attribute column carrying the owner in effect

# Working columns, dropped before the table is returned.
F = "__h_field"  # the field name, trimmed
FL = "__h_field_lc"  # the same in lower case, for matching
OLD = "__h_old"
NEW = "__h_new"
TYPE = "__h_type"  # lower-case event type (Zendesk), when the export has a type column
TYPE_NAME = "__h_type_name"  # the event type as written
CREATION = "__h_creation"  # bool: a row of the case's creation
FIXED = "__h_fixed"  # text: a fixed activity name for this row (pseudo-fields, non-field events)
NEW_IS_GROUP = "__h_new_group"  # bool: an owner-field row whose new value is a group (Salesforce queue)
OLD_IS_GROUP = "__h_old_group"  # bool: an owner-field row whose old value is a group
ORD = "__h_ord"
ACTIVITY = "__h_activity"
_ORD_DIGITS = 19  # digits of the largest int64, for keys that sort by row number as text
TEAM_SET, TEAM_OLD, OWNER_SET, OWNER_OLD = "__h_team_set", "__h_team_old", "__h_owner_set", "__h_owner_old"

Hook = Callable[[ir.Table], ir.Table]


@dataclass(frozen=True)
class Scope:
    """Rows belong to the profile only when `column` holds one of `values` (lower case); the others are
    rejected as "not <noun> row (<column> '<value>')". When the export has no such column, every row counts."""

    columns: tuple[str, ...]
    values: tuple[str, ...]
    noun: str


@dataclass(frozen=True)
class ChangeHistory:
    """What one vendor's field-change export looks like. Field names and types are compared in lower case.

    `group_fields` lists tiers, best first: the first tier with a row in the export is the group field
    (Jira: a Team field when there is one, else Component). `mirrors` maps a field the vendor writes
    alongside another one at the same moment (ServiceNow `incident_state` beside `state`) to that field:
    the mirror row is then a twin, and a lone mirror row counts as the field itself.
    """

    profile: str
    field: tuple[str, ...]
    values: tuple[tuple[str, str], ...]  # (old value, new value) column names, best pair first
    status_fields: tuple[str, ...]
    group_fields: tuple[tuple[str, ...], ...]
    owner_fields: tuple[str, ...]
    creation_fields: tuple[str, ...] = ()
    # When the export has no type column: the rows at a case's first moment are its creation (one per
    # property set at creation) when none of them has an old value.
    creation_first_empty_old: bool = False
    type_column: tuple[str, ...] = ()
    field_types: tuple[str, ...] = ()  # event types that are field rows; other types are events of their own
    creation_types: tuple[str, ...] = ()
    activities: Mapping[str, str] = dataclasses.field(default_factory=dict)  # field → fixed activity name
    mirrors: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # The vendor's out-of-the-box codes of status values and their labels (ServiceNow state 6 = Resolved):
    # activities name the label, so a person and the role inference can read them; other codes stay.
    status_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    scope: Scope | None = None
    prepare: Hook | None = None  # vendor-specific step: may set TWIN, NEW_IS_GROUP, OLD_IS_GROUP


# --------------------------------------------------------------------------------------------- helpers


def find_column(table: ir.Table, names: Sequence[str]) -> str | None:
    """The first of `names` (best first) that the table has, matched as `mapping.normalise` folds names
    (`history_created` is `history created`, `author.displayName` is `author displayName`)."""
    for name in names:
        for col in table.columns:
            if normalise(col) == normalise(name):
                return col
    return None


def available_columns(table: ir.Table) -> str:
    """The columns besides the case, timestamp and changer ones, for an error message, by the names the
    file gives them: reading renames a column that collides with a canonical name (`Activity`) to
    `src_Activity`, a name the user never wrote."""
    canonical = {"case_id", "activity", "timestamp", "resource", "team", "seq"}
    shown = [c[4:] if c.startswith("src_") and c[4:].lower() in canonical else c
             for c in table.columns if c not in CANONICAL]
    return ", ".join(repr(c) for c in shown) or "none"


def require_column(table: ir.Table, names: Sequence[str], *, profile: str, role: str, source: str) -> str:
    col = find_column(table, names)
    if col is None:
        available = available_columns(table)
        raise MappingError(
            f"{source}: the {profile} profile expects {'an' if role[0] in 'aeiou' else 'a'} {role} column ({', '.join(names)}); none is there. "
            f"Available columns (besides the case, timestamp and changer columns): {available}"
        )
    return col


def require_pair(
    table: ir.Table, pairs: Sequence[tuple[str, str]], *, profile: str, source: str
) -> tuple[str, str]:
    """The first (old, new) pair of columns the table has both of: never an old value from one pair and a
    new value from another (Jira's names beside its ids)."""
    for old_name, new_name in pairs:
        old, new = find_column(table, (old_name,)), find_column(table, (new_name,))
        if old is not None and new is not None:
            return old, new
    available = available_columns(table)
    expected = ", ".join(f"{o} + {n}" for o, n in pairs)
    raise MappingError(
        f"{source}: the {profile} profile expects an old-value and a new-value column ({expected}); "
        f"none of these pairs is there. Available columns (besides the case, timestamp and changer "
        f"columns): {available}"
    )


def clean(value: ir.Value) -> ir.StringValue:
    """Text, trimmed; an empty value is NULL."""
    s = value.cast("string").strip()
    return ibis.ifelse(s == "", ibis.null("string"), s)


def humanize(name: ir.StringValue) -> ir.StringValue:
    """A field or event-type name made readable (see the module docstring)."""
    text = (
        name.re_replace(r"__c$", "")
        .re_replace(r"(.)(_id|Id|_ID)$", r"\1")
        .re_replace(r"_+", " ")
        .re_replace(r"([a-z0-9])([A-Z])", r"\1 \2")
        .strip()
    )
    readable = text.substr(0, 1).upper() + text.substr(1)
    return ibis.ifelse(name.re_search(r"^[0-9]+$"), "Custom field " + name, readable)


def free_name(table: ir.Table, name: str) -> str:
    """`name`, or a variant, that no column of the table uses (compared case-insensitively)."""
    taken = {c.lower() for c in table.columns}
    candidate = name
    while candidate.lower() in taken:
        candidate = "current_" + candidate
    return candidate


def in_names(value: ir.StringValue, names: Sequence[str]) -> ir.BooleanValue:
    return value.isin([n.lower() for n in names]) if names else ibis.literal(False)


# --------------------------------------------------------------------------------------------- conversion


def convert(table: ir.Table, options: ReadOptions, source: str, spec: ChangeHistory) -> ir.Table:
    """Field-change rows (one per changed field) → events, following the module's rules."""
    field_col = require_column(table, spec.field, profile=spec.profile, role="field", source=source)
    old_col, new_col = require_pair(table, spec.values, profile=spec.profile, source=source)
    type_col = find_column(table, spec.type_column) if spec.type_column else None

    t = table.mutate(
        **{
            F: clean(table[field_col]),
            OLD: clean(table[old_col]),
            NEW: clean(table[new_col]),
            TYPE: clean(table[type_col]).lower() if type_col else ibis.null("string"),
            # as written, for the activity name: "SatisfactionRating" reads "Satisfaction rating"
            TYPE_NAME: clean(table[type_col]) if type_col else ibis.null("string"),
        }
    )
    field_row = t[TYPE].isnull() | in_names(t[TYPE], spec.field_types) if type_col else ibis.literal(True)
    t = t.mutate(**{FL: t[F].lower(), "__h_field_row": field_row})
    field_row = t.__h_field_row

    # Rows that cannot be events: out of scope, or no field name on a field row.
    reasons: list[tuple[ir.BooleanValue, ir.StringValue | str]] = []
    if spec.scope is not None:
        scope_col = find_column(t, spec.scope.columns)
        if scope_col is not None:
            scope_val = clean(t[scope_col])
            reasons.append(
                (
                    scope_val.isnull(),
                    f"not {spec.scope.noun} row ({scope_col} is empty)",
                )
            )
            reasons.append(
                (
                    ~scope_val.lower().isin(list(spec.scope.values)),
                    f"not {spec.scope.noun} row ({scope_col} '" + scope_val.substr(0, 60) + "')",
                )
            )
    reasons.append((field_row & t[F].isnull(), f"no field name (column {field_col!r})"))
    t = t.mutate(**{REASON: ibis.cases(*reasons, else_=ibis.null("string"))})
    t = t.mutate(__h_valid=t[REASON].isnull())

    # Pseudo-fields and non-field events with a fixed activity name.
    fixed = (
        ibis.cases(*[(t[FL] == k.lower(), v) for k, v in spec.activities.items()], else_=ibis.null("string"))
        if spec.activities
        else ibis.null("string")
    )
    if type_col:
        fixed = ibis.ifelse(~t.__h_field_row & t[F].isnull(), humanize(t[TYPE_NAME]), fixed)
    t = t.mutate(
        **{
            FIXED: fixed,
            TWIN: ibis.literal(False),
            NEW_IS_GROUP: ibis.literal(False),
            OLD_IS_GROUP: ibis.literal(False),
        }
    )

    # The creation rows.
    creation = in_names(t[FL], spec.creation_fields)
    if type_col and spec.creation_types:
        creation = creation | (t.__h_field_row & in_names(t[TYPE], spec.creation_types))
    elif spec.creation_first_empty_old:
        # ... and only when none of them has an old value (an update would have one).
        change = t.__h_valid & t[FIXED].isnull()
        whole_case = ibis.window(group_by="case_id")
        t = t.mutate(
            __h_first_ts=ibis.ifelse(change, t.timestamp, ibis.null()).min().over(whole_case),
            __h_first_old_ts=ibis.ifelse(change & t[OLD].notnull(), t.timestamp, ibis.null())
            .min()
            .over(whole_case),
        )
        creation = creation | (
            change
            & (t.timestamp == t.__h_first_ts)
            & (t.__h_first_old_ts.isnull() | (t.__h_first_old_ts > t.__h_first_ts))
        )
    t = t.mutate(**{CREATION: (t.__h_valid & creation).fill_null(False)})

    if spec.prepare is not None:
        t = spec.prepare(t)

    # Mirror fields: a twin when the primary field changed at the same moment; else the primary's role.
    for mirror, main in spec.mirrors.items():
        same_moment = (
            (t.__h_valid & (t[FL] == main.lower())).any().over(ibis.window(group_by=["case_id", "timestamp"]))
        )
        mirror_row = t.__h_valid & ~t[CREATION] & (t[FL] == mirror.lower())
        t = t.mutate(**{TWIN: t[TWIN] | (mirror_row & same_moment)})
    primary = t[FL]
    for mirror, main in spec.mirrors.items():
        primary = ibis.ifelse(t[FL] == mirror.lower(), main.lower(), primary)
    t = t.mutate(__h_primary=primary)
    primary = t.__h_primary

    # Roles of the field: status, group, owner (an owner field whose new value is a group is a group change).
    is_group = ibis.literal(False)
    chosen = ibis.literal(False)
    for tier in spec.group_fields:
        hit = in_names(primary, tier)
        is_group = is_group | (~chosen & hit)
        chosen = chosen | (t.__h_valid & hit).any().over(ibis.window())
    t = t.mutate(__h_group_field=is_group, __h_owner_field=in_names(primary, spec.owner_fields) & ~is_group)
    t = t.mutate(
        __h_role=ibis.cases(
            (in_names(primary, spec.status_fields), "status"),
            (t.__h_group_field | (t.__h_owner_field & t[NEW_IS_GROUP]), "group"),
            (t.__h_owner_field, "owner"),
            else_="other",
        )
    )

    # Carried values: what each row sets ('' clears) and what its old value says about the time before it.
    # Twins set nothing themselves (creation twins hand theirs to the creation event below).
    effective = t.__h_valid & (t[OLD].notnull() | t[NEW].notnull()) & ~(t[TWIN] & ~t[CREATION])
    role, owner_field = t.__h_role, t.__h_owner_field
    new_or_empty, old_or_empty = t[NEW].fill_null(""), t[OLD].fill_null("")
    t = t.mutate(
        **{
            TEAM_SET: ibis.ifelse(effective & (role == "group"), new_or_empty, ibis.null("string")),
            OWNER_SET: ibis.cases(
                (effective & (role == "owner"), new_or_empty),
                (effective & (role == "group") & owner_field, ""),
                else_=ibis.null("string"),
            ),
            TEAM_OLD: ibis.cases(
                (effective & (role == "group") & ~owner_field, old_or_empty),
                (effective & owner_field & t[OLD_IS_GROUP], t[OLD]),
                else_=ibis.null("string"),
            ),
            OWNER_OLD: ibis.cases(
                (effective & owner_field & t[OLD_IS_GROUP], ""),
                (effective & owner_field, old_or_empty),
                else_=ibis.null("string"),
            ),
        }
    )

    # One creation event per case: the first of its creation rows (a case is created once; its creation
    # rows share one moment); the others are its twins, and what they set applies from it on. (Unordered
    # windows of one partition: the engine needs no sort.)
    whole_case = ibis.window(group_by="case_id")
    t = t.mutate(
        __h_first_creation=ibis.ifelse(t[CREATION], t.seq, ibis.null("int64")).min().over(whole_case),
        __h_team_init=ibis.ifelse(t[CREATION], t[TEAM_SET], ibis.null("string")).max().over(whole_case),
        __h_owner_init=ibis.ifelse(t[CREATION], t[OWNER_SET], ibis.null("string")).max().over(whole_case),
    )
    t = t.mutate(__h_first=t.seq == t.__h_first_creation)
    t = t.mutate(
        **{
            TWIN: t[TWIN] | (t[CREATION] & ~t.__h_first),
            TEAM_SET: ibis.cases(
                (t[CREATION] & t.__h_first, t.__h_team_init),
                (t[CREATION], ibis.null("string")),
                else_=t[TEAM_SET],
            ),
            OWNER_SET: ibis.cases(
                (t[CREATION] & t.__h_first, t.__h_owner_init),
                (t[CREATION], ibis.null("string")),
                else_=t[OWNER_SET],
            ),
        }
    )

    activity = ibis.cases(
        (~t.__h_valid, ibis.null("string")),
        (t[CREATION], "Created"),
        (t[FIXED].notnull(), t[FIXED]),
        (
            t.__h_role == "status",
            status_activity(_label(t[OLD], spec), _label(t[NEW], spec), options.status_new_only),
        ),
        # Routing a case to a queue and a person taking it are two steps: under one name, every routed
        # case looked like rework.
        (t.__h_owner_field & (t.__h_role == "group"), humanize(t[F]) + " changed to a queue"),
        else_=humanize(t[F]) + " changed",
    )
    return finish(t.mutate(**{ACTIVITY: activity}), table, profile=spec.profile, source=source)


def finish(
    t: ir.Table, original: ir.Table, *, profile: str, source: str, owner_is_resource: bool = False
) -> ir.Table:
    """Carries team and owner forward, sets `activity`, `team`, the owner column and the resource, and drops
    the working columns. `t` holds ACTIVITY, REASON, TWIN and the TEAM_/OWNER_ SET and OLD columns.

    The resource is the changer; the owner in effect stands in when the export has no changer column (every
    resource NULL) or, with `owner_is_resource`, wherever the changer is missing.
    """
    t = _carry(t)
    if owner_is_resource:
        resource = t.resource.fill_null(t.__h_owner)
    else:
        resource = ibis.ifelse(t.resource.count().over(ibis.window()) == 0, t.__h_owner, t.resource)
    out = t.mutate(
        **{TWIN: t[TWIN].fill_null(False)},
        activity=t[ACTIVITY],
        team=t.__h_team,
        resource=resource,
        **{free_name(original, OWNER): t.__h_owner},
    )
    return out.drop(*[c for c in out.columns if c.startswith("__h_")])


def _carry(t: ir.Table) -> ir.Table:
    """`__h_team` / `__h_owner`: the last value set (TEAM_SET / OWNER_SET) at or before each row of the case;
    before the first one, the old value (TEAM_OLD / OWNER_OLD) of the earliest row up to that first set that
    has one. '' stands for "none" and ends as NULL. Windows of the same partition share one layer."""
    ordered = ibis.window(group_by="case_id", order_by=["timestamp", "seq"])
    running = ibis.window(group_by="case_id", order_by=["timestamp", "seq"], rows=(None, 0))
    t = t.mutate(
        **{
            ORD: ibis.row_number().over(ordered),
            "__h_n_team": t[TEAM_SET].count().over(running),
            "__h_n_owner": t[OWNER_SET].count().over(running),
        }
    )
    whole_case = ibis.window(group_by="case_id")

    def before(set_col: str, old_col: str, n: str) -> ir.StringValue:
        # The old value of the earliest row, up to and including the first set (no set strictly before
        # it), that has one: the minimum of "<row number, zero-padded><old value>" without its prefix (an
        # unordered window, cheaper than an ordered first value).
        evidence = t[old_col].notnull() & ((t[n] - t[set_col].notnull().cast("int64")) == 0)
        keyed = t[ORD].cast("string").lpad(_ORD_DIGITS, "0") + t[old_col]
        return ibis.ifelse(evidence, keyed, ibis.null("string")).min().over(whole_case).substr(_ORD_DIGITS)

    t = t.mutate(
        __h_fwd_team=t[TEAM_SET].max().over(ibis.window(group_by=["case_id", "__h_n_team"])),
        __h_fwd_owner=t[OWNER_SET].max().over(ibis.window(group_by=["case_id", "__h_n_owner"])),
        __h_before_team=before(TEAM_SET, TEAM_OLD, "__h_n_team"),
        __h_before_owner=before(OWNER_SET, OWNER_OLD, "__h_n_owner"),
    )
    team = ibis.ifelse(t.__h_n_team == 0, t.__h_before_team, t.__h_fwd_team)
    owner = ibis.ifelse(t.__h_n_owner == 0, t.__h_before_owner, t.__h_fwd_owner)
    return t.mutate(
        __h_team=ibis.ifelse(team == "", ibis.null("string"), team),
        __h_owner=ibis.ifelse(owner == "", ibis.null("string"), owner),
    )


def _label(value: ir.StringValue, spec: ChangeHistory) -> ir.StringValue:
    if not spec.status_labels:
        return value
    return value.substitute(dict(spec.status_labels), else_=value)


def status_activity(old: ir.StringValue, new: ir.StringValue, new_only: bool) -> ir.StringValue:
    if new_only:
        return ibis.cases(
            (new.notnull(), new),
            (old.notnull(), "Status cleared"),
            else_="Status changed",
        )
    return ibis.cases(
        (old.notnull() & new.notnull(), "Status: " + old + " -> " + new),
        (new.notnull(), "Status: " + new),
        (old.notnull(), "Status: " + old + " -> (none)"),
        else_="Status changed",
    )

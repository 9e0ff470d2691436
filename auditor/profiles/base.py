"""What a CRM export profile is: how field-change history rows become process events.

Business rule (shared by every profile): a status change is an activity; a group/queue change moves the team
carried by the following events of the case; the creation row is `Created`; every other field change stays
an event of its own (`<Field> changed`), because mandatory bookkeeping fields are exactly what the audit looks
for. Rows are never dropped here: a row the profile cannot turn into an event gets a NULL activity and a
reason, and the pipeline reports it as rejected; a vendor's twin row (Salesforce writes lookup changes
twice) is flagged and counted as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import ibis.expr.types as ir

from auditor.options import ReadOptions

TWIN = "__twin"  # boolean: this row repeats another row of the same change; counted as a duplicate
REASON = "__reason"  # text: why `activity` is NULL (the row is then rejected with this reason)


@dataclass(frozen=True)
class Profile:
    """A CRM export layout.

    `columns` lists, per canonical role (case, timestamp, resource), the source column names the export
    uses, best first (matched case-insensitively). `to_events` receives the accepted rows as an Ibis table
    with `case_id` (string), `timestamp` (UTC), `seq` (int64, source order), `resource` (string or NULL:
    who made the change) and every source column under its own name; it returns the same rows with
    `activity` (string, NULL only with a REASON), `team` (string or NULL), TWIN (boolean), optionally REASON
    and extra attribute columns.
    """

    name: str
    description: str
    columns: dict[str, tuple[str, ...]]
    expected: tuple[str, ...]
    to_events: Callable[[ir.Table, ReadOptions, str], ir.Table]
    notes: tuple[str, ...] = field(default=())

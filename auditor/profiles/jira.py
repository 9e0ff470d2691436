"""Jira / Jira Service Management changelog, flattened to one row per changed item.

Vendor facts this profile relies on:
- Each changelog history (`created`, with its own UTC offset, and `author`) holds items (`field`,
  `fromString`, `toString`); a flattened export has one row per item under the issue `key`. The offsets are
  read by the pipeline: every timestamp ends in UTC.
- `status` is the status, `assignee` the owner (display names). The group is unverified: a `Team` field
  when the export has one, else `Component` (`components`, `Component/s`).
- The changelog has no creation entry; a flattened export may add one as a row whose field is `created`
  (this profile's convention), which becomes `Created`.
- `fromString`/`toString` are preferred over the raw `from`/`to` ids when both are present.
"""

from __future__ import annotations

import ibis.expr.types as ir

from auditor.options import ReadOptions
from auditor.profiles import history as h
from auditor.profiles.base import Profile

NAME = "jira"
CASE = ("key", "issue key", "issuekey", "issue_key", "Issue")
TIMESTAMP = ("created", "history created", "changed")
RESOURCE = ("author", "author.displayName", "author_displayName", "authorDisplayName")

SPEC = h.ChangeHistory(
    profile=NAME,
    field=("field", "field_name"),
    values=(
        ("fromString", "toString"),
        ("from_string", "to_string"),
        ("From String", "To String"),
        ("from", "to"),
    ),
    creation_fields=("created",),
    status_fields=("status",),
    group_fields=(("team",), ("component", "components", "component/s")),
    owner_fields=("assignee",),
)


def to_events(table: ir.Table, options: ReadOptions, source: str) -> ir.Table:
    return h.convert(table, options, source, SPEC)


PROFILE = Profile(
    name=NAME,
    description=(
        "Jira / JSM changelog, one row per changed item: status changes, assignee (the owner), a Team "
        "field (else Component) as the group (unverified) and other fields; timestamps with offsets."
    ),
    columns={"case": CASE, "timestamp": TIMESTAMP, "resource": RESOURCE},
    expected=("key", "created", "author", "field", "fromString", "toString"),
    to_events=to_events,
    notes=(
        "A row whose field is `created` stands for the issue's creation (a convention of the flattening).",
    ),
)

"""The CRM profiles (`--profile salesforce|zendesk|servicenow|jira`) through the real ingestion pipeline."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from auditor.engine import Engine
from auditor.errors import MappingError
from auditor.ingest import EventLog, load
from auditor.options import ReadOptions
from auditor.profiles import PROFILE_NAMES, get_profile, looks_like

FIXTURES = Path(__file__).parent / "fixtures" / "profiles"


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as e:
        yield e


def ingest(engine: Engine, source: Path | str, **options: Any) -> tuple[EventLog, pd.DataFrame]:
    path = source if isinstance(source, Path) else FIXTURES / f"{source}.csv"
    profile = options.pop("profile", None) or (source if isinstance(source, str) else None)
    log = load(path, ReadOptions(profile=profile, **options), engine)
    events = log.table.order_by(["case_id", "timestamp", "seq"]).execute()
    return log, events


def case(events: pd.DataFrame, case_id: str, column: str) -> list[Any]:
    values = events.loc[events.case_id == case_id, column].tolist()
    return [None if isinstance(v, float) and pd.isna(v) else v for v in values]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def balanced(log: EventLog) -> bool:
    s = log.summary
    return s.rows_read == s.accepted + s.rejected + s.duplicates


# ----------------------------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_is_registered_and_documented(name: str) -> None:
    profile = get_profile(name.upper())
    assert profile.name == name
    assert profile.description
    assert profile.expected
    for role in ("case", "timestamp", "resource"):
        assert profile.columns[role]


# ----------------------------------------------------------------------------------------------- Salesforce

SF1, SF2, SF3 = "5005g00000Cs001AAA", "5005g00000Cs002AAA", "5005g00000Cs003AAA"
T1, T2 = "Tier 1 Support", "Tier 2 Support"


def test_salesforce_activities_team_and_owner(engine: Engine) -> None:
    _, events = ingest(engine, "salesforce")
    # Routing to a queue and a person taking the case are two steps, not one step done twice.
    assert case(events, SF1, "activity") == [
        "Created",
        "Owner changed to a queue",
        "Owner changed",
        "Status: New -> Working",
        "Owner changed to a queue",
        "Priority changed",
        "Owner changed",
        "Status: Working -> Escalated",
        "Status: Escalated -> Closed",
    ]
    # An Owner change to a queue is a group change: the queue is the team until the next one, and the case
    # has no user owner until someone takes it.
    assert case(events, SF1, "team") == [None, T1, T1, T1, T2, T2, T2, T2, T2]
    assert case(events, SF1, "owner") == [
        "Maria Lopez",
        None,
        "Tom Berg",
        "Tom Berg",
        None,
        None,
        "Ana Silva",
        "Ana Silva",
        "Ana Silva",
    ]
    assert case(events, SF1, "resource")[:4] == ["Maria Lopez", "Maria Lopez", "Tom Berg", "Tom Berg"]

    assert case(events, SF2, "activity") == [
        "Created",
        "Owner changed to a queue",
        "Owner changed",
        "Status: New -> Working",
        "Tier changed",
        "Owner changed to a queue",
        "Owner changed to a queue",
        "Owner changed",
        "Status: Working -> Closed",
    ]
    assert case(events, SF2, "team") == [None, T1, T1, T1, T1, T2, T1, T1, T1]
    assert case(events, SF2, "owner") == [
        "Site Guest User",
        None,
        "Maria Lopez",
        "Maria Lopez",
        "Maria Lopez",
        None,
        None,
        "Tom Berg",
        "Tom Berg",
    ]
    # The name row is kept even where the export lists the id row first (rows 15/16).
    assert case(events, SF2, "seq") == [14, 16, 17, 19, 20, 21, 23, 25, 27]

    # No queue at all: the team stays NULL; a user-to-user Owner change only moves the owner.
    assert case(events, SF3, "activity") == [
        "Created",
        "Contact changed",
        "Subject changed",
        "Owner changed",
        "Status: New -> Closed",
    ]
    assert case(events, SF3, "team") == [None] * 5
    assert case(events, SF3, "owner") == ["Tom Berg", "Tom Berg", "Tom Berg", "Maria Lopez", "Maria Lopez"]


def test_salesforce_id_rows_are_twins_counted_as_duplicates(engine: Engine) -> None:
    log, events = ingest(engine, "salesforce")
    s = log.summary
    assert (s.rows_read, s.accepted, s.rejected, s.duplicates, s.twins) == (34, 23, 0, 11, 11)
    assert balanced(log)
    # Every kept Owner/Contact event is a name row, never an id row.
    changes = events[events.Field.isin(["Owner", "Contact"])]
    assert set(changes.DataType) == {"Text"}
    assert not changes.NewValue.str.match(r"^00[5G]").any()
    # The old and new values stay as attributes; the truncated (255-character) value is kept as it is.
    subject = events[events.Field == "Subject"].iloc[0]
    assert len(subject.OldValue) == 255


def test_salesforce_queue_by_id_or_by_a_name_shown_as_queue(engine: Engine, tmp_path: Path) -> None:
    header = ["CaseId", "CreatedById", "CreatedDate", "Field", "OldValue", "NewValue"]
    rows = [
        # Case A shows "Billing Queue" as a queue (its id twin is a 00G id).
        ["500A", "005U1", "2024-03-01T08:00:00.000Z", "created", "", ""],
        ["500A", "005U1", "2024-03-01T08:01:00.000Z", "Owner", "Maria Lopez", "Billing Queue"],
        ["500A", "005U1", "2024-03-01T08:01:00.000Z", "Owner", "0055g00000Usr01AAA", "00G5g000001Bq1QAAS"],
        # Case B: a name row without its id twin, to a name known as a queue: a group change.
        ["500B", "005U1", "2024-03-02T08:00:00.000Z", "created", "", ""],
        ["500B", "005U1", "2024-03-02T08:05:00.000Z", "Owner", "Maria Lopez", "Billing Queue"],
        # Case C: only the id row: the change itself, a queue by its 00G prefix.
        ["500C", "005U1", "2024-03-03T08:00:00.000Z", "Owner", "0055g00000Usr01AAA", "00G5g000001Tr2QAAS"],
        # Case D: a name not known as a queue is a user.
        ["500D", "005U1", "2024-03-04T08:00:00.000Z", "Owner", "Maria Lopez", "Tom Berg"],
    ]
    log, events = ingest(engine, write_csv(tmp_path / "sf.csv", header, rows), profile="salesforce")
    assert log.summary.twins == 1
    assert case(events, "500A", "team") == [None, "Billing Queue"]
    assert case(events, "500B", "team") == [None, "Billing Queue"]
    assert case(events, "500B", "owner") == ["Maria Lopez", None]
    assert case(events, "500C", "team") == ["00G5g000001Tr2QAAS"]
    assert case(events, "500D", "team") == [None]
    assert case(events, "500D", "owner") == ["Tom Berg"]


def test_salesforce_report_export_labels(engine: Engine, tmp_path: Path) -> None:
    header = ["Case Number", "Edited By", "Edit Date", "Field / Event", "Old Value", "New Value"]
    rows = [
        ["00001026", "Maria Lopez", "2024-03-04 09:00:00", "Created.", "", ""],
        ["00001026", "Maria Lopez", "2024-03-04 09:10:00", "Status", "New", "Working"],
        ["00001026", "Maria Lopez", "2024-03-04 09:30:00", "Priority", "Low", "High"],
    ]
    log, events = ingest(engine, write_csv(tmp_path / "report.csv", header, rows), profile="salesforce")
    assert case(events, "00001026", "activity") == ["Created", "Status: New -> Working", "Priority changed"]
    assert case(events, "00001026", "resource") == ["Maria Lopez"] * 3
    assert log.summary.mapping is not None
    assert (log.summary.mapping.case, log.summary.mapping.resource) == ("Case Number", "Edited By")


def test_salesforce_casehistory2_snapshots_with_the_owner_as_resource(engine: Engine, tmp_path: Path) -> None:
    q1, q2, tom, ana = "00G5g000001Tr1QAAS", "00G5g000001Tr2QAAS", "0055g00000Usr02AAA", "0055g00000Usr03AAA"
    header = ["CaseId", "CreatedDate", "Status", "OwnerId", "PreviousUpdate"]
    rows = [
        ["500A", "2024-03-01T08:00:00.000+0000", "New", q1, ""],
        ["500A", "2024-03-01T08:30:00.000+0000", "New", tom, "2024-03-01T08:00:00.000+0000"],
        ["500A", "2024-03-01T08:31:00.000+0000", "Working", tom, "2024-03-01T08:30:00.000+0000"],
        ["500A", "2024-03-01T09:00:00.000+0000", "Escalated", q2, "2024-03-01T08:31:00.000+0000"],
        ["500A", "2024-03-01T09:10:00.000+0000", "Escalated", ana, "2024-03-01T09:00:00.000+0000"],
        ["500A", "2024-03-01T10:00:00.000+0000", "Closed", ana, "2024-03-01T09:10:00.000+0000"],
    ]
    log, events = ingest(engine, write_csv(tmp_path / "ch2.csv", header, rows), profile="salesforce")
    assert case(events, "500A", "activity") == [
        "Created",
        "Owner changed",
        "Status: New -> Working",
        "Status: Working -> Escalated",
        "Owner changed",
        "Status: Escalated -> Closed",
    ]
    assert case(events, "500A", "team") == [q1, q1, q1, q2, q2, q2]
    assert case(events, "500A", "owner") == [None, tom, tom, None, ana, ana]
    assert case(events, "500A", "resource") == [None, tom, tom, None, ana, ana]
    assert balanced(log)


# ----------------------------------------------------------------------------------------------- Zendesk

G1, G2, G3 = "360004567891", "360004567892", "360004567893"
A1, A2, A3 = "372110399001", "372110399002", "372110399003"


def test_zendesk_activities_team_and_owner(engine: Engine) -> None:
    _, events = ingest(engine, "zendesk")
    assert case(events, "4101", "activity") == [
        "Comment",  # the audit's events keep their order: the description comes before the Create events
        "Created",
        "Notification",
        "Assignee changed",
        "Status: new -> open",
        "Comment",
        "Group changed",
        "Assignee changed",
        "Assignee changed",
        "Status: open -> pending",
        "Comment",
        "Status: pending -> open",
        "Status: open -> solved",
        "Status: solved -> closed",
    ]
    # The group set at creation (a Create event) is the first team.
    assert case(events, "4101", "team") == [None] + [G1] * 5 + [G3] * 8
    # An empty assignee clears the owner.
    assert case(events, "4101", "owner") == [None, None, None, A1, A1, A1, A1, None] + [A2] * 6
    # Author -1 is Zendesk itself (the closing job): named so that the audit counts it as a system account.
    assert case(events, "4101", "resource")[-1] == "Zendesk system (-1)"

    assert case(events, "4102", "activity") == [
        "Created",
        "Group changed",
        "Tags changed",
        "Status: open -> solved",
        "Comment",
        "Status: solved -> open",
        "Status: open -> solved",
    ]
    assert case(events, "4102", "team") == [None] + [G2] * 6
    assert case(events, "4102", "owner") == [A3] * 7  # the assignee set at creation

    assert case(events, "4103", "activity") == [
        "Created",
        "Group changed",
        "Group changed",
        "Status: new -> open",
        "Assignee changed",
        "Custom field 360012345678 changed",
    ]
    assert case(events, "4103", "team") == [G1, G2, G1, G1, G1, G1]
    assert case(events, "4103", "owner") == [None, None, None, None, A1, A1]


def test_zendesk_create_events_form_one_created_event(engine: Engine) -> None:
    log, events = ingest(engine, "zendesk")
    s = log.summary
    # 7 Create events beyond the first of each ticket are twins; the Change without a field is rejected.
    assert (s.rows_read, s.accepted, s.rejected, s.duplicates, s.twins) == (35, 27, 1, 7, 7)
    assert balanced(log)
    assert (events.activity == "Created").sum() == 3
    rejected = log.rejected.execute() if log.rejected is not None else pd.DataFrame()
    assert rejected.row.tolist() == [35]
    assert rejected.reason.tolist() == ["no field name (column 'field_name')"]
    assert rejected.value.tolist() == ["urgent"]


def test_zendesk_without_a_type_column(engine: Engine, tmp_path: Path) -> None:
    header = ["ticket_id", "created_at", "author_id", "field_name", "previous_value", "value"]
    rows = [
        ["77", "2024-03-01T08:00:00Z", "11", "status", "", "new"],
        ["77", "2024-03-01T08:00:00Z", "11", "group_id", "", G1],
        ["77", "2024-03-01T09:00:00Z", "12", "assignee_id", "", A1],
        ["77", "2024-03-01T09:00:00Z", "12", "status", "new", "open"],
        # Starts mid-ticket: the first moment has an old value, so it is no creation; the old group of the
        # first group change is the team before it.
        ["78", "2024-03-01T10:00:00Z", "12", "status", "open", "pending"],
        ["78", "2024-03-01T10:05:00Z", "12", "assignee_id", "", A1],
        ["78", "2024-03-01T11:00:00Z", "12", "group_id", G1, G2],
    ]
    log, events = ingest(engine, write_csv(tmp_path / "zd.csv", header, rows), profile="zendesk")
    assert case(events, "77", "activity") == ["Created", "Assignee changed", "Status: new -> open"]
    assert case(events, "77", "team") == [G1, G1, G1]
    assert case(events, "78", "activity") == ["Status: open -> pending", "Assignee changed", "Group changed"]
    assert case(events, "78", "team") == [G1, G1, G2]
    assert log.summary.twins == 1


# ----------------------------------------------------------------------------------------------- ServiceNow

INC_A, INC_B, INC_C = (
    "9d385017c611228701d22104cc95c371",
    "e8caedcbc0a80164017df472f39eaed1",
    "57af7aec73d423002728660c4cf6a71c",
)
SERVICE_DESK, NETWORK, HARDWARE = (
    "d625dccec0a8016700a222a0f7900d06",
    "287ebd7da9fe198100f92cc8d1d2154e",
    "8a4dde73c6112278017a6a4baf547aa7",
)
BETH, DON = "46d44a23a9fe19810012d100cca80666", "5137153cc611227c000bbd1bd8cd2005"


def test_servicenow_activities_team_and_owner(engine: Engine) -> None:
    _, events = ingest(engine, "servicenow")
    assert case(events, INC_A, "activity") == [
        "Created",
        "Assigned to changed",
        "Status: New -> In Progress",
        "Assignment group changed",
        "Assigned to changed",
        "Work note added",
        "Assigned to changed",
        "Assignment group changed",
        "Status: In Progress -> Resolved",
        "Close code changed",
        "Status: Resolved -> Closed",
    ]
    sd, net = SERVICE_DESK, NETWORK
    assert case(events, INC_A, "team") == [sd, sd, sd, net, net, net, net, sd, sd, sd, sd]
    assert case(events, INC_A, "owner") == [None, BETH, BETH, BETH, None, None, DON, DON, DON, DON, DON]
    assert case(events, INC_A, "resource")[-1] == "system"

    # No insert rows in the export: the old group of the first group change is the team before it.
    assert case(events, INC_B, "activity") == [
        "Priority changed",
        "Assignment group changed",
        "Comment added",
        "Status: In Progress -> On Hold",
        "Status: On Hold -> In Progress",
        "Status: In Progress -> Resolved",
    ]
    assert case(events, INC_B, "team") == [HARDWARE] + [NETWORK] * 5
    assert case(events, INC_B, "owner") == [None] * 6

    assert case(events, INC_C, "activity") == ["Created", "Status: New -> Canceled", "Deleted"]
    assert case(events, INC_C, "team") == [SERVICE_DESK] * 3


def test_servicenow_rows_of_other_tables_are_rejected_not_dropped(engine: Engine) -> None:
    log, events = ingest(engine, "servicenow")
    s = log.summary
    # Twins: the insert's extra rows and the incident_state rows beside each state row.
    assert (s.rows_read, s.accepted, s.rejected, s.duplicates, s.twins) == (35, 20, 2, 13, 13)
    assert balanced(log)
    assert log.rejected is not None
    rejected = log.rejected.execute()
    assert rejected.row.tolist() == [12, 15]
    assert rejected.reason.tolist() == [
        "not an incident row (tablename 'sys_user')",
        "not an incident row (tablename 'problem')",
    ]
    assert rejected.fieldname.tolist() == ["last_login_time", "state"]
    # every original field is kept in the rejected rows, the mapped ones included
    assert rejected.documentkey.tolist() == ["02826bf03710200044e0bfc8bcbe5d3f", "a9e30c7dc61122760116894de7bcc7bd"]
    assert rejected.sys_created_on.tolist() == ["2024-03-01 09:07:30", "2024-03-01 11:31:02"]
    assert rejected.user.tolist() == ["don.goodliffe", "don.goodliffe"]
    assert set(events.tablename) == {"incident"}
    assert "incident_state" not in set(events.fieldname)


def test_servicenow_list_export_labels(engine: Engine, tmp_path: Path) -> None:
    # sys_audit's own `Reason` column: the rejected file's `reason` beside it failed every command
    header = ["Table name", "Document key", "Field name", "Old value", "New value", "Created", "User", "Reason"]
    rows = [
        ["incident", "abc", "state", "1", "2", "2024-03-01 08:00:00", "beth.anglin", ""],
        ["sc_task", "def", "state", "1", "2", "2024-03-01 08:00:00", "beth.anglin", "why"],
    ]
    log, events = ingest(engine, write_csv(tmp_path / "sn.csv", header, rows), profile="servicenow")
    assert case(events, "abc", "activity") == ["Status: New -> In Progress"]
    assert log.summary.reasons == {"not an incident row (Table name 'sc_task')": 1}
    assert log.rejected is not None and log.rejected.execute()["src_Reason"].tolist() == ["why"]


# ----------------------------------------------------------------------------------------------- Jira

SD, NO = "Service Desk", "Network Ops"
PRIYA, JONAS = "Priya Patel", "Jonas Weber"


def test_jira_activities_team_and_owner(engine: Engine) -> None:
    log, events = ingest(engine, "jira")
    assert case(events, "SUP-101", "activity") == [
        "Created",
        "Team changed",
        "Assignee changed",
        "Status: Open -> In Progress",
        "Team changed",
        "Assignee changed",
        "Assignee changed",
        "Status: In Progress -> Waiting for customer",
        "Status: Waiting for customer -> In Progress",
        "Status: In Progress -> Resolved",
        "Resolution changed",
    ]
    assert case(events, "SUP-101", "team") == [None, SD, SD, SD] + [NO] * 7
    assert case(events, "SUP-101", "owner") == [None, None, PRIYA, PRIYA, PRIYA, None] + [JONAS] * 5
    # The Team field is the group, so Component is an ordinary field; the Team's old value is the team
    # before its first change.
    assert case(events, "SUP-102", "activity") == [
        "Status: Open -> In Progress",
        "Component changed",
        "Team changed",
        "Assignee changed",
        "Status: In Progress -> Resolved",
        "Status: Resolved -> Reopened",
        "Fix Version changed",
        "Status: Reopened -> Closed",
    ]
    assert case(events, "SUP-102", "team") == [SD, SD] + [NO] * 6
    assert case(events, "SUP-103", "activity") == [
        "Created",
        "Priority changed",
        "Link changed",
        "Status: Open -> Canceled",
    ]
    assert case(events, "SUP-103", "team") == [None] * 4
    s = log.summary
    assert (s.rows_read, s.accepted, s.rejected, s.duplicates) == (26, 26, 0, 0)
    assert balanced(log)


def test_jira_offsets_end_in_utc(engine: Engine) -> None:
    _, events = ingest(engine, "jira")
    assert str(events.timestamp.dt.tz) == "UTC"

    def utc(*parts: int) -> pd.Timestamp:
        return pd.Timestamp(datetime(*parts, tzinfo=UTC))

    sup101 = case(events, "SUP-101", "timestamp")
    assert sup101[0] == utc(2024, 3, 1, 8, 15)  # +0100
    assert sup101[6] == utc(2024, 3, 1, 10, 30)  # 16:00+0530, after 11:00+0100 (10:00 UTC)
    assert case(events, "SUP-102", "timestamp")[-1] == utc(2024, 3, 5, 15, 30)  # -0500
    # Across the switch to summer time (+0100 → +0200) the order follows the instants.
    assert case(events, "SUP-104", "timestamp") == [
        utc(2024, 3, 31, 0, 30),
        utc(2024, 3, 31, 1, 10),
        utc(2024, 3, 31, 1, 40),
    ]


def test_jira_old_and_new_values_come_from_one_pair_of_columns(engine: Engine, tmp_path: Path) -> None:
    # Without toString, the names (fromString) are not mixed with the ids (to): the id pair is used.
    header = ["key", "created", "author", "field", "from", "fromString", "to"]
    rows = [["X-1", "2024-03-01T09:00:00.000+0100", "Priya Patel", "status", "1", "Open", "3"]]
    _, events = ingest(engine, write_csv(tmp_path / "jira.csv", header, rows), profile="jira")
    assert case(events, "X-1", "activity") == ["Status: 1 -> 3"]


def test_jira_component_is_the_group_without_a_team_field(engine: Engine, tmp_path: Path) -> None:
    header = ["key", "created", "author", "field", "fromString", "toString"]
    rows = [
        ["X-1", "2024-03-01T09:00:00.000+0100", "Priya Patel", "Component", "", "VPN"],
        ["X-1", "2024-03-01T09:10:00.000+0100", "Priya Patel", "status", "Open", "Done"],
    ]
    _, events = ingest(engine, write_csv(tmp_path / "jira.csv", header, rows), profile="jira")
    assert case(events, "X-1", "activity") == ["Component changed", "Status: Open -> Done"]
    assert case(events, "X-1", "team") == ["VPN", "VPN"]


# ----------------------------------------------------------------------------------------------- all profiles


@pytest.mark.parametrize(
    ("name", "case_id", "statuses"),
    [
        ("salesforce", SF1, ["Working", "Escalated", "Closed"]),
        ("zendesk", "4101", ["open", "pending", "open", "solved", "closed"]),
        ("servicenow", INC_A, ["In Progress", "Resolved", "Closed"]),
        ("jira", "SUP-101", ["In Progress", "Waiting for customer", "In Progress", "Resolved"]),
    ],
)
def test_status_new_only(engine: Engine, name: str, case_id: str, statuses: list[str]) -> None:
    _, full = ingest(engine, name)
    _, short = ingest(engine, name, status_new_only=True)
    transitions = case(full, case_id, "activity")
    named = case(short, case_id, "activity")
    # The same events, a status change named by its new value; every other activity unchanged.
    assert [n for t, n in zip(transitions, named, strict=True) if t.startswith("Status: ")] == statuses
    assert [n for t, n in zip(transitions, named, strict=True) if not t.startswith("Status: ")] == [
        t for t in transitions if not t.startswith("Status: ")
    ]
    assert not any(a.startswith("Status: ") for a in short.activity)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_input_column_is_kept(engine: Engine, name: str) -> None:
    log, events = ingest(engine, name)
    with (FIXTURES / f"{name}.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    mapping = log.summary.mapping
    assert mapping is not None
    mapped = {mapping.case, mapping.timestamp, mapping.resource}
    assert [c for c in header if c not in mapped] == [c for c in events.columns if c in header]
    assert {"case_id", "activity", "timestamp", "resource", "team", "seq", "owner"} <= set(events.columns)
    assert not [c for c in events.columns if c.startswith("__")]


@pytest.mark.parametrize(
    ("name", "drop", "expected"),
    [
        ("salesforce", "OldValue", "OldValue"),
        ("zendesk", "field_name", "field_name"),
        ("servicenow", "newvalue", "newvalue"),
        ("jira", "field", "field"),
        ("servicenow", "documentkey", "documentkey"),  # checked by the pipeline from Profile.columns
    ],
)
def test_missing_column_names_profile_expected_and_available(
    engine: Engine, tmp_path: Path, name: str, drop: str, expected: str
) -> None:
    with (FIXTURES / f"{name}.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, c in enumerate(rows[0]) if c != drop]
    path = write_csv(
        tmp_path / f"{name}.csv", [rows[0][i] for i in keep], [[r[i] for i in keep] for r in rows[1:]]
    )
    with pytest.raises(MappingError) as err:
        ingest(engine, path, profile=name)
    message = str(err.value)
    assert f"the {name} profile expects" in message
    assert expected in message
    other = next(c for c in rows[0] if c != drop and c not in ("CaseId", "ticket_id", "documentkey", "key"))
    assert repr(other) in message  # the available columns are listed


def test_column_names_match_case_insensitively(engine: Engine, tmp_path: Path) -> None:
    header = ["TICKET_ID", "Created_At", "AUTHOR_ID", "Type", "Field_Name", "Previous_Value", "VALUE"]
    rows = [["9", "2024-03-01T08:00:00Z", "5", "Change", "status", "open", "solved"]]
    _, events = ingest(engine, write_csv(tmp_path / "zd.csv", header, rows), profile="zendesk")
    assert case(events, "9", "activity") == ["Status: open -> solved"]
    assert case(events, "9", "resource") == ["5"]


def test_column_names_match_as_the_mapping_folds_them(engine: Engine, tmp_path: Path) -> None:
    # Jira lists `history created`; an export writes `history_created`, `author.displayName`, `from_string`
    header = ["issue_key", "issue_created", "history_created", "author.displayName", "field", "from_string", "to_string"]
    rows = [["SUP-1", "2024-03-01T08:00:00+0100", "2024-03-02T09:00:00+0100", "Ana", "status", "Open", "Done"]]
    path = write_csv(tmp_path / "jira.csv", header, rows)
    log, events = ingest(engine, path, profile="jira")
    assert log.mapping is not None and log.mapping.timestamp == "history_created"
    assert case(events, "SUP-1", "activity") == ["Status: Open -> Done"]
    assert case(events, "SUP-1", "resource") == ["Ana"]
    assert looks_like(header) == "jira"


def test_a_source_column_named_like_a_canonical_one_is_kept_renamed(engine: Engine, tmp_path: Path) -> None:
    # The engine compares names case-insensitively: the export's own `Team` column cannot sit beside the
    # canonical `team`, so it is kept as `src_Team`.
    header = ["key", "created", "author", "field", "fromString", "toString", "Team"]
    rows = [["X-1", "2024-03-01T09:00:00.000+0100", "Priya Patel", "status", "Open", "Done", "Blue"]]
    _, df = ingest(engine, write_csv(tmp_path / "jira.csv", header, rows), profile="jira")
    assert df["src_Team"].tolist() == ["Blue"] and df["activity"].tolist() == ["Status: Open -> Done"]


@pytest.mark.parametrize("name", ["salesforce", "zendesk", "servicenow", "jira"])
def test_profile_rule_pack_audits_its_fixture(name: str) -> None:
    """models/<profile>.rules.toml names only activities the profile produces, so it audits the fixture."""
    from auditor import audit, rules

    root = Path(__file__).resolve().parents[1]
    pack = rules.load(root / "models" / f"{name}.rules.toml")
    with Engine() as engine:
        log = load(FIXTURES / f"{name}.csv", ReadOptions(profile=name, status_new_only=True), engine)
        ctx = audit.build_context(log, audit.AuditOptions(rules=pack))
        result = audit.run(log, audit.AuditOptions(rules=pack))
        resources = set(log.table.resource.execute().dropna())
    assert ctx.roles.of("closure") == pack.roles["closure"]
    assert set(ctx.roles.accounts.system) <= resources
    assert result.log["cases"] > 0


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_written_parquet_keeps_source_order(engine: Engine, name: str, tmp_path: Path) -> None:
    """The README promises the Parquet in source order (`seq`); a profile's conversion must not scramble it."""
    from auditor.ingest import write

    log, _ = ingest(engine, name)
    out = tmp_path / f"{name}.parquet"
    write(log, out)
    seq = pq.read_table(out, columns=["seq"]).column("seq").to_pylist()
    assert seq == sorted(seq) and len(seq) == log.summary.accepted


def test_the_documented_examples_are_what_ingest_gives(tmp_path: Path) -> None:
    """docs/profiles.md shows, per profile, an export and the events it becomes: each example is ingested
    and its table compared (seq, activity, resource), so the documentation cannot drift from the code."""
    import re

    from conftest import ROOT

    text = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    sections = re.split(r"^## `(\w+)`", text, flags=re.M)[1:]
    checked = []
    for name, body in zip(sections[::2], sections[1::2], strict=True):
        export = re.search(r"```csv\n(.*?)```", body, re.S)
        table = re.search(r"^\| seq \|.*?\n\|[- |]+\n((?:\|.*\n)+)", body[export.end():] if export else "", re.M)
        assert export and table, name
        path = tmp_path / f"{name}.csv"
        path.write_text(export.group(1), encoding="utf-8")
        with Engine() as engine:
            got = load(path, ReadOptions(profile=name), engine).table.order_by("seq").execute()
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.group(1).splitlines()]
        expected = [(int(r[0]), r[2], r[3]) for r in rows]
        assert list(zip(got["seq"], got["activity"], got["resource"], strict=True)) == expected, name
        checked.append(name)
    assert sorted(checked) == ["jira", "salesforce", "servicenow", "zendesk"]


def test_missing_column_error_lists_the_files_own_names(engine: Engine, tmp_path: Path) -> None:
    """Reading renames a source column that collides with a canonical one (`Activity` to `src_Activity`);
    the error lists the names the user's file has."""
    path = write_csv(tmp_path / "z.csv", ["ticket_id", "created_at", "Activity", "Team", "Agent"],
                     [["1", "2024-03-01 09:00:00", "Open", "T1", "ann"]])
    with pytest.raises(MappingError) as err:
        ingest(engine, path, profile="zendesk")
    message = str(err.value)
    assert "'Activity', 'Team'" in message and "src_" not in message


def test_a_history_export_without_its_profile_is_pointed_to_it(engine: Engine, tmp_path: Path) -> None:
    """Read without --profile, a field-history export fails on the activity column, or reads field values
    as activities; read with another vendor's profile it fails on that vendor's columns. Either way the
    user is told which profile the columns look like."""
    history = tmp_path / "casehistory.csv"
    history.write_text(
        "CaseId,CreatedById,CreatedDate,Field,OldValue,NewValue\n"
        "500A,u1,2024-03-04T09:00:00.000+0000,created,,\n"
        "500A,u1,2024-03-04T09:10:00.000+0000,Status,New,Working\n"
    )
    with pytest.raises(MappingError, match=r"look like a salesforce field-history export: try --profile salesforce$"):
        load(history, ReadOptions(), engine)
    with pytest.raises(MappingError, match=r"zendesk profile expects a case column.*try --profile salesforce$"):
        load(history, ReadOptions(profile="zendesk"), engine)
    snapshot = tmp_path / "casehistory2.csv"
    snapshot.write_text("CaseId,CreatedDate,Status,OwnerId\n500A,2024-03-04T09:00:00Z,New,005x\n")
    log = load(snapshot, ReadOptions(), engine)
    assert any("try --profile salesforce" in n for n in log.summary.notes)
    assert not any("try --profile" in n for n in load(snapshot, ReadOptions(profile="salesforce"), engine).summary.notes)


def test_an_event_type_in_camel_case_reads_as_words(engine: Engine, tmp_path: Path) -> None:
    src = tmp_path / "zd.csv"
    src.write_text(
        "ticket_id,created_at,author_id,type,field_name,previous_value,value\n"
        "1,2024-03-01T09:00:00Z,5,Create,status,,new\n"
        "1,2024-03-01T10:00:00Z,7,SatisfactionRating,,,good\n"
    )
    _, events = ingest(engine, src, profile="zendesk")
    assert case(events, "1", "activity") == ["Created", "Satisfaction Rating"]


def test_a_newest_first_export_gives_the_same_log(engine: Engine, tmp_path: Path) -> None:
    """A history list exported newest first (ORDER BY CreatedDate DESC) also lists the rows of one save in
    reverse: the Owner change came before `Created`, and `Created` took the queue as its team. Events of one
    moment now keep the export's oldest-first order, and a rejected row keeps its own row number."""
    rows = (FIXTURES / "salesforce.csv").read_text(encoding="utf-8").splitlines()
    header, body = rows[0], [r for r in rows[1:] if r.strip()]
    cols = header.split(",")
    bad = body[-1].split(",")
    bad[cols.index("Id")], bad[cols.index("Field")] = "0175g00001Hx9999AAA", ""  # a change without a field name
    body.append(",".join(bad))
    oldest_first, newest_first = tmp_path / "asc.csv", tmp_path / "desc.csv"
    oldest_first.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    newest_first.write_text("\n".join([header, *reversed(body)]) + "\n", encoding="utf-8")
    log_a, a = ingest(engine, oldest_first, profile="salesforce")
    log_d, d = ingest(engine, newest_first, profile="salesforce")
    assert log_d.summary.newest_first and not log_a.summary.newest_first
    same = ["case_id", "timestamp", "activity", "resource", "team", "owner"]
    assert d[same].reset_index(drop=True).equals(a[same].reset_index(drop=True))
    assert (log_a.summary.rejected, log_d.summary.rejected) == (1, 1)
    assert log_a.rejected is not None and log_d.rejected is not None
    assert log_a.rejected.execute()["row"].tolist() == [len(body)]  # the last row of the oldest-first file
    assert log_d.rejected.execute()["row"].tolist() == [1]  # the same row, first in the newest-first file
    assert log_d.rejected.execute()["reason"].iloc[0].startswith("no field name")

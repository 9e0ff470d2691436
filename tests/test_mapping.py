"""Column roles are inferred from common names, and derived columns are not mistaken for raw ones."""

from __future__ import annotations

import pytest

from auditor.errors import MappingError
from auditor.mapping import infer_mapping, normalise


def infer(cols: list[str], **given: str | None):  # type: ignore[no-untyped-def]
    return infer_mapping(cols, given=dict(given), source="x.csv")


def test_bpic2014_subset_columns() -> None:
    cols = ["", "incident_id", "km_number", "interaction_id", "datestamp", "incidentactivity_number",
            "incidentactivity_type", "assignment_group", "date", "first_activity", "last_activity", "first_day",
            "last_day", "case_resolution_days", "activity_resolution_secs", "r"]
    m = infer(cols)
    assert (m.case, m.activity, m.timestamp, m.resource, m.team) == (
        "incident_id", "incidentactivity_type", "datestamp", None, "assignment_group")


def test_xes_columns() -> None:
    cols = ["case:concept:name", "concept:name", "org:resource", "time:timestamp", "lifecycle:transition", "org:group"]
    m = infer(cols)
    assert (m.case, m.activity, m.timestamp, m.resource, m.team) == (
        "case:concept:name", "concept:name", "time:timestamp", "org:resource", "org:group")


@pytest.mark.parametrize(
    ("cols", "expected"),
    [
        (["Ticket ID", "Activity", "Timestamp", "Agent", "Team"], ("Ticket ID", "Activity", "Timestamp", "Agent", "Team")),
        (["SR Number", "Status", "Changed", "Owner", "Queue"], ("SR Number", "Status", "Changed", "Owner", "Queue")),
        (["number", "state", "sys_updated_on", "assigned_to", "assignment_group"],
         ("number", "state", "sys_updated_on", "assigned_to", "assignment_group")),
        (["CaseNumber", "EventName", "EventTime", "UserName"], ("CaseNumber", "EventName", "EventTime", "UserName", None)),
    ],
)
def test_common_names(cols: list[str], expected: tuple[str | None, ...]) -> None:
    m = infer(cols)
    assert (m.case, m.activity, m.timestamp, m.resource, m.team) == expected


@pytest.mark.parametrize(
    ("cols", "timestamp"),
    [
        (["Case Number", "Subject", "Date/Time Opened", "Case Owner", "Edit Date", "Status"], "Edit Date"),
        (["Incident ID", "Created Date", "Activity", "Changed At", "Changed By"], "Changed At"),
        (["issue_key", "issue_created", "history_created", "field", "activity"], "history_created"),
        # a person, not a time; and a creation date alone is the event's time (Salesforce CaseHistory)
        (["Case", "Activity", "Created Date", "Changed By"], "Created Date"),
        (["CaseId", "Activity", "CreatedDate", "CreatedById"], "CreatedDate"),
    ],
)
def test_the_case_opening_date_gives_way_to_the_change_date(cols: list[str], timestamp: str) -> None:
    assert infer(cols).timestamp == timestamp


def test_given_options_win_and_are_not_reported_inferred() -> None:
    m = infer(["a", "b", "c", "Agent"], case="a", activity="B", timestamp="c")
    assert (m.case, m.activity, m.timestamp, m.resource) == ("a", "b", "c", "Agent")
    assert m.inferred == ("resource",)


def test_one_column_one_role() -> None:
    m = infer(["status", "case", "time"], activity="status")
    assert m.activity == "status" and m.case == "case"


def test_missing_roles_error() -> None:
    with pytest.raises(MappingError, match="timestamp; pass --timestamp COL"):
        infer(["case", "activity", "note"])


def test_normalise() -> None:
    assert normalise("CreatedById") == "created by id"
    assert normalise(" sys_created_on ") == "sys created on"


def test_one_column_cannot_be_case_and_activity() -> None:
    """`--case X --activity X` was accepted: every case a single activity's name."""
    cols = ["Ticket", "Step", "Timestamp", "Agent"]
    with pytest.raises(MappingError, match="--case and --activity both name column 'Ticket'"):
        infer_mapping(cols, given={"case": "Ticket", "activity": "Ticket"}, source="x.csv")
    # a resource given as the team too is allowed (people at both levels)
    m = infer_mapping(cols, given={"resource": "Agent", "team": "Agent"}, source="x.csv")
    assert m.resource == m.team == "Agent" and m.case == "Ticket"


@pytest.mark.parametrize(
    ("cols", "expected"),
    [
        (["Ticket-Nr.", "Aktivität", "Zeitstempel", "Bearbeiter", "Gruppe"],
         ("Ticket-Nr.", "Aktivität", "Zeitstempel", "Bearbeiter", "Gruppe")),
        (["Numéro de ticket", "Activité", "Horodatage", "Utilisateur", "Équipe"],
         ("Numéro de ticket", "Activité", "Horodatage", "Utilisateur", "Équipe")),
        (["Caso", "Actividad", "Fecha y hora", "Usuario", "Grupo"], ("Caso", "Actividad", "Fecha y hora", "Usuario", "Grupo")),
        (["Zaak", "Activiteit", "Tijdstip", "Medewerker", "Afdeling"], ("Zaak", "Activiteit", "Tijdstip", "Medewerker", "Afdeling")),
    ],
)
def test_names_in_other_languages(cols: list[str], expected: tuple[str | None, ...]) -> None:
    m = infer(cols)
    assert (m.case, m.activity, m.timestamp, m.resource, m.team) == expected


def test_normalise_folds_accents() -> None:
    assert normalise("Aktivität") == "aktivitat"
    assert normalise("Équipe") == "equipe"

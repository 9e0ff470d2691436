"""Which source column plays which role: case id, activity, timestamp, resource, team.

Business rule: a column named by an option must exist (matched exactly, else case-insensitively); a role
with no option is inferred from common names in CRM and process-mining exports, and every inferred role is
reported to the user, never applied silently. Derived columns (first_activity, case_resolution_days, …) are
not mistaken for the raw ones. One source column plays at most one role.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from auditor.errors import MappingError

ROLES = ("case", "activity", "timestamp", "resource", "team")
REQUIRED = ("case", "activity", "timestamp")

# Exact names (after normalisation: lower case, separators folded to one space), best first.
_EXACT: dict[str, tuple[str, ...]] = {
    "case": (
        "case:concept:name", "case id", "caseid", "case", "case number", "case no", "ticket id", "ticketid",
        "ticket", "ticket number", "ticket no", "incident id", "incident", "incident number", "number",
        "sr number", "sr id", "service request", "service request id", "request id", "issue key", "issue id",
        "issue", "key", "documentkey", "objectid", "work item id", "problem id", "trace id", "process id",
        # German, French, Spanish, Italian, Dutch, Portuguese exports (accents folded by `normalise`)
        "ticket nr", "ticketnummer", "ticket nummer", "vorgang", "vorgangsnummer", "vorgangs nr", "fall id",
        "fallnummer", "meldung", "meldungsnummer", "numero de ticket", "numero ticket", "dossier", "caso",
        "numero de caso", "id caso", "expediente", "incidencia", "numero de incidencia", "pratica",
        "segnalazione", "zaak", "zaaknummer", "melding", "chamado", "numero do chamado", "protocolo",
    ),
    "activity": (
        "concept:name", "activity", "activity name", "activityname", "activity type", "event", "event name",
        "event type", "action", "step", "task", "task name", "status", "state", "operation", "transition",
        "activity id",
        "aktivitat", "aktivitaet", "tatigkeit", "taetigkeit", "ereignis", "aktion", "schritt", "activite",
        "evenement", "etape", "actividad", "evento", "accion", "paso", "attivita", "azione", "activiteit",
        "gebeurtenis", "stap", "atividade", "acao", "etapa",
        "type",  # event APIs (webhooks, audit streams): last, behind any name that says activity or status
    ),
    "timestamp": (
        "time:timestamp", "timestamp", "event timestamp", "complete timestamp", "datestamp", "datetime",
        "date time", "event time", "time", "start timestamp", "created date", "createddate", "created at",
        "created on", "sys created on", "created", "changed", "change date", "changed at", "modified",
        "modified date", "updated at", "occurred at", "occurred on", "happened at", "logged at", "recorded at",
        "event at", "date",
        "zeitstempel", "zeitpunkt", "datum uhrzeit", "datum zeit", "erstellt am", "geandert am", "horodatage",
        "date heure", "date et heure", "fecha hora", "fecha y hora", "marca de tiempo", "marca temporal",
        "data ora", "data e ora", "tijdstip", "datum tijd", "data hora", "data e hora", "datum", "fecha",
        "data",
    ),
    "resource": (
        "org:resource", "resource", "user", "user name", "username", "user id", "agent", "agent name",
        "performer", "actor", "author", "changed by", "created by", "createdbyid", "created by id",
        "employee", "operator", "handled by", "owner", "assignee", "assigned to", "updated by", "modified by",
        "last modified by", "edited by", "performed by", "done by", "executed by", "processed by", "changed by user",
        "bearbeiter", "sachbearbeiter", "benutzer", "mitarbeiter", "utilisateur", "intervenant", "operateur",
        "usuario", "agente", "utente", "operatore", "medewerker", "gebruiker", "behandelaar", "atendente",
        "responsavel",
    ),
    "team": (
        "org:group", "team", "team name", "group", "assignment group", "group name", "queue", "queue name",
        "workgroup", "work group", "support group", "section", "support section", "responsible section",
        "department", "org:role",
        "gruppe", "bearbeitergruppe", "abteilung", "equipe", "groupe", "equipo", "grupo", "departamento",
        "squadra", "gruppo", "reparto", "afdeling", "groep",
    ),
}

# Word stems that mark a column as belonging to a role when no exact name matches.
_STEMS: dict[str, tuple[str, ...]] = {
    "case": ("case", "ticket", "incident", "request", "issue", "problem", "vorgang"),
    "activity": ("activity", "event", "action", "status", "step", "task", "aktivit", "activit", "ereignis"),
    "timestamp": ("timestamp", "stamp", "datetime", "time", "date", "created", "changed", "modified", "datum",
                  "zeit", "fecha"),
    "resource": ("resource", "user", "agent", "performer", "operator", "assignee", "owner", "author", "actor",
                 "bearbeiter", "benutzer", "mitarbeiter", "usuario", "utilisateur"),
    "team": ("team", "group", "queue", "section", "department", "gruppe", "groupe", "grupo", "gruppo",
             "equipe", "abteilung"),
}
# Words that mark a derived or summary column, not the raw role.
_DERIVED = ("first", "last", "prev", "previous", "next", "count", "days", "secs", "seconds", "hours",
            "duration", "resolution", "total", "number of", "num", "avg", "mean", "flag",
            "dauer", "anzahl", "duree", "duracion", "durata", "duur")
_ID_SUFFIX = ("id", "number", "no", "key", "nr", "code")
# A date named for the case's opening ("Date/Time Opened", "Created Date") is the case's, repeated on each of
# its events, when a column named for the change an event records ("Edit Date", "Changed At") stands beside it.
_OPENING = ("opened", "open", "opening", "created", "creation", "erstellt", "erstelldatum")
_CHANGE = ("edit", "edited", "changed", "change", "modified", "modification", "updated", "update", "event",
           "history", "geandert", "anderung", "aenderung")


def normalise(name: str) -> str:
    """Lower case, camelCase split, accents dropped (Aktivität, Activité), separators (_ - . / space) folded
    to single spaces."""
    text = "".join(c for c in unicodedata.normalize("NFKD", name.strip()) if not unicodedata.combining(c))
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    text = re.sub(r"[_\-./\s]+", " ", text.lower())
    return text.strip()


@dataclass(frozen=True)
class ColumnMapping:
    """Source column per role; `inferred` lists the roles that were not given by an option."""

    case: str
    activity: str
    timestamp: str
    resource: str | None = None
    team: str | None = None
    inferred: tuple[str, ...] = field(default=())
    # A column of times of day that completes `timestamp`, a column of dates (`Date` and `Time` exports)
    time: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        out = {role: getattr(self, role) for role in ROLES}
        if self.time is not None:
            out["time"] = self.time
        return out

    def describe(self) -> str:
        parts = []
        for role in ROLES:
            col = getattr(self, role)
            if col is None:
                continue
            mark = " (inferred)" if role in self.inferred else ""
            joined = f" + {self.time!r}" if role == "timestamp" and self.time else ""
            parts.append(f"{role}={col!r}{joined}{mark}")
        return ", ".join(parts)


def resolve_column(name: str, columns: Sequence[str], *, option: str, source: str) -> str:
    """The column a user named: exact match, else a unique case-insensitive match, else an error that
    lists what is there and the closest names."""
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(name, list(columns), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise MappingError(
        f"{source}: {option} {name!r} is not a column.{hint} Available columns: {_listing(columns)}"
    )


def score(column: str, role: str) -> int:
    """How strongly a column's name says it plays `role` (0: not at all)."""
    norm = normalise(column)
    exact = _EXACT[role]
    if norm in exact:
        return 1000 - exact.index(norm)
    # XES-style prefixes ("case:" for trace attributes) are never the event-level roles.
    if role != "case" and norm.startswith("case:"):
        return 0
    words = norm.replace(":", " ").split()
    compact = "".join(words)
    if any(d in words or (" " in d and d in norm) for d in _DERIVED):
        return 0
    stems = _STEMS[role]
    for rank, stem in enumerate(stems):
        if stem not in compact:
            continue
        points = 500 - 10 * rank
        if role == "case":
            # "incident_id", "ticket_number": an identifier of the case, not a property of it.
            if words[-1] in _ID_SUFFIX or compact.endswith(("id", "number")):
                points += 50
            elif compact != stem:
                points -= 300
            if any(s in compact for s in _STEMS["activity"][:1]):
                points -= 200
        elif role == "activity" and (compact.endswith(("type", "name")) or compact == stem):
            points += 30
        elif role in ("resource", "team") and words[-1] in ("id",):
            points -= 20
        elif role in ("resource", "team") and words[-1] in ("kind", "type", "role", "category", "count"):
            return 0  # "actor.kind": what sort of account, not which one
        elif role in ("resource", "team") and words[-1] == "name":
            points += 30  # "actor.name" beside "actor.id"
        if role in ("activity", "timestamp") and words[-1] in _ID_SUFFIX:
            points -= 100
        if role == "timestamp" and any(w in words for w in ("start", "started", "begin", "begins")):
            points -= 50  # an instance's start: the event's time is its end ("end_time" beside "start_time")
        return points
    return 0


def infer_mapping(
    columns: Sequence[str],
    *,
    given: dict[str, str | None],
    source: str,
    preferred: dict[str, Sequence[str]] | None = None,
) -> ColumnMapping:
    """Resolves the roles given by options and infers the others from column names.

    `preferred` lists, per role, column names a CRM profile expects; they are tried before the common names.
    """
    chosen: dict[str, str | None] = {}
    used: set[str] = set()
    option_of = {r: f"--{r}" for r in ROLES}
    for role in ROLES:
        name = given.get(role)
        if name:
            resolved = resolve_column(name, columns, option=option_of[role], source=source)
            # A case id that is also the activity (or the time) makes every number meaningless; a resource
            # column given as the team too is a choice (ping-pong between people at both levels).
            other = next((r for r, c in chosen.items() if c == resolved and {r, role} & set(REQUIRED)), None)
            if other is not None:
                raise MappingError(
                    f"{source}: {option_of[other]} and {option_of[role]} both name column {resolved!r}; each of "
                    "case, activity and timestamp needs a column of its own"
                )
            chosen[role] = resolved
            used.add(resolved)
    inferred: list[str] = []
    for role in ROLES:
        if role in chosen:
            continue
        free = [c for c in columns if c not in used]
        col = _pick(role, free, (preferred or {}).get(role, ()))
        if role == "timestamp" and col is not None and _words(col) & set(_OPENING):
            changes = [c for c in free if _words(c) & set(_CHANGE) and _best_role(c) == "timestamp"]
            col = _pick(role, changes, ()) or col
        chosen[role] = col
        if col is not None:
            used.add(col)
            inferred.append(role)
    missing = [r for r in REQUIRED if chosen.get(r) is None]
    if missing:
        flags = " ".join(f"--{r} COL" for r in missing)
        raise MappingError(
            f"{source}: cannot tell which column holds the {' and the '.join(_role_name(r) for r in missing)};"
            f" pass {flags}. Available columns: {_listing(columns)}"
        )
    return ColumnMapping(
        case=str(chosen["case"]),
        activity=str(chosen["activity"]),
        timestamp=str(chosen["timestamp"]),
        resource=chosen.get("resource"),
        team=chosen.get("team"),
        inferred=tuple(inferred),
    )


def _pick(role: str, columns: Sequence[str], preferred: Iterable[str]) -> str | None:
    for name in preferred:
        for col in columns:
            if col == name or col.lower() == name.lower():
                return col
    best: tuple[int, int, str] | None = None
    for pos, col in enumerate(columns):
        points = score(col, role)
        if points <= 0:
            continue
        key = (points, -pos, col)
        if best is None or key > best:
            best = key
    return best[2] if best else None


def timestamp_candidates(columns: Iterable[str]) -> list[str]:
    """The columns whose name says timestamp more than any other role, strongest first."""
    named = [c for c in columns if score(c, "timestamp") > 0 and _best_role(c) == "timestamp"]
    return sorted(named, key=lambda c: -score(c, "timestamp"))


def _best_role(column: str) -> str:
    """The role a column's name says most strongly ("Changed By" is a person, not a time)."""
    return max(ROLES, key=lambda r: score(column, r))


def _words(column: str) -> set[str]:
    return set(normalise(column).replace(":", " ").split())


def _role_name(role: str) -> str:
    return {"case": "case id", "activity": "activity", "timestamp": "timestamp"}.get(role, role)


def _listing(columns: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f", … ({len(columns) - limit} more)" if len(columns) > limit else "")

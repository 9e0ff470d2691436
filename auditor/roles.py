"""Which activities play which role (resolution, closure, reopen, survey, customer contact, agent response)
and which accounts are systems or customers.

Business rules:
- The rule pack wins, role by role: a role the pack sets is not inferred. System accounts given by the pack
  are the only system accounts; likewise customer accounts.
- Otherwise roles are inferred from activity names (resolve/solved/fixed; close/closed/cancel; reopen;
  survey/CSAT/NPS/feedback; customer follow-up/chase/update from customer; reply/respond/contact customer).
  For a field-change activity (`Status: Resolved -> Closed`) only the new value counts; another field's edit
  (`Close code changed`, `Resolution changed`) plays no role.
- A customer contact is one the customer starts, unprompted: when no name says so, activities done mostly by
  customer accounts count, unless they answer an agent's request: most of them directly follow one agent
  step, and most of that step's occurrences are followed by them (Request Info -> Customer Reply).
- Accounts are systems by name (system, bot, auto, svc, workflow, integration, connector, …) or by behaviour
  (active at nearly every hour of the day and on weekends AND carrying at least five times the events of a
  typical account, without being a customer account: a 24/7 team alone does not look like a robot);
  customers by name (customer, caller, client, requester, end-user).
- Names in English and in the commonest words of German, French, Spanish, Italian, Dutch and Portuguese.
  When no name (and no pack) gives a resolution or closure, activities that end most of the cases they
  occur in (`END_SHARE`, in at least `END_COVERAGE` of the cases, not their first event) are the closure,
  inferred from behaviour, and the notes say so.
- When no resolution activity exists, closure activities stand in for it, and the notes say so.
- Default order rules, when their roles are known: a survey is not sent before the resolution; a case is not
  closed before an agent responded, applied only when most closed cases record an agent response at all.
- Every inferred assignment carries its reason, so `auditor rules suggest` can show it to a person.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from auditor.engine import Engine
from auditor.rules import ROLE_NAMES, OrderRule, RulePack

# English, plus the commonest German, French, Spanish, Italian, Dutch and Portuguese words: a CRM in another
# language names its statuses in it. Logs in other languages still get a closure from behaviour (below).
_ROLE_PATTERNS: dict[str, str] = {
    "resolution": (
        r"\b(resolve|resolved|resolution|resolving|solve|solved|fixed|fix applied|gelöst|geloest|behoben|"
        r"résolu|résolue|resolu|resuelto|resuelta|solucionado|solucionada|risolto|risolta|opgelost|resolvido|"
        r"resolvida)\b"
    ),
    "closure": (
        r"\b(close|closed|closure|closing|auto[- ]?close|autoclosed|cancel|cancelled|canceled|done|"
        r"geschlossen|abgeschlossen|erledigt|storniert|fermé|fermée|ferme|clôturé|clôturée|cloturé|clos|"
        r"annulé|cerrado|cerrada|cancelado|cancelada|chiuso|chiusa|annullato|gesloten|afgesloten|fechado|"
        r"fechada|encerrado|encerrada)\b"
    ),
    "reopen": (
        r"\b(re[- ]?open|re[- ]?opened|re[- ]?opening|wieder ?eröffnet|wieder ?geöffnet|wiedereroeffnet|"
        r"réouvert|réouverte|rouvert|rouverte|reabierto|reabierta|riaperto|riaperta|heropend|heropent|"
        r"reaberto|reaberta)\b"
    ),
    "survey": (
        r"\b(survey|csat|nps|feedback|satisfaction|rating request|rate us|umfrage|kundenumfrage|"
        r"zufriedenheitsumfrage|kundenzufriedenheit|enquête|enquete|sondage|encuesta|sondaggio|questionario|"
        r"tevredenheidsonderzoek|klanttevredenheid|pesquisa|questionário|questionario de satisfação)\b"
    ),
    "customer_contact": (
        r"\b(customer|caller|client|requester|requestor|user)s? (follow[- ]?up|chase|chaser|call|called|calls|email|"
        r"emails|update|contact|comment|message|reminder|complaint|escalation)\b"
        r"|\b(follow[- ]?up|chase|call|email|update|comment|message|reminder|contact) (from|by) "
        r"(the )?(customer|caller|client|requester|requestor|user)\b"
        # German, French, Spanish, Italian, Dutch, Portuguese: the customer asks, calls, chases
        r"|\b(kunde|kundin) (fragt|ruft|meldet|schreibt|mahnt|erinnert)\b|\b(rückfrage|nachfrage|anruf|mahnung|"
        r"erinnerung|beschwerde) (des |der |vom )?kunden\b|\bkunden ?(anruf|rückfrage|nachfrage|mahnung|beschwerde)\b"
        r"|\b(relance|appel|rappel|message|réclamation|plainte) (du |de la |d'un )?client\b|\bclient (relance|appelle|"
        r"rappelle|écrit)\b|\b(llamada|seguimiento|reclamación|reclamo|mensaje|queja) (del |de la )?cliente\b"
        r"|\bcliente (llama|vuelve|escribe|reclama|pregunta|chiama|sollecita|scrive|liga|pergunta)\b"
        r"|\b(sollecito|chiamata|reclamo|messaggio) (del )?cliente\b|\bklant (belt|vraagt|mailt|rappelleert)\b"
        r"|\b(herinnering|klacht|vraag) (van )?(de )?klant\b|\b(ligação|reclamação|mensagem) do cliente\b"
    ),
    "agent_response": (
        r"\b(reply|replied|respond|responded|response|answer|answered|contact|contacted|call|called|email|"
        r"emailed|mail|mailed|message|comment|notify|notified|inform|informed|communication with|"
        r"communicate with|callback to) (to )?(the )?(customer|caller|client|"
        r"requester|requestor|user)\b|\b(first|agent|public) (response|reply|comment)\b|\bsend (response|reply)\b"
        r"|\b(antwort|rückmeldung|rueckmeldung) an (den |die )?kunden?\b|\bkunde (informiert|kontaktiert|angerufen)\b"
        r"|\b(réponse|reponse) (au|à la|a la) client\b|\bclient (informé|contacté|rappelé)\b"
        r"|\brespuesta al cliente\b|\bcliente (informado|contactado)\b|\brisposta al cliente\b"
        r"|\bantwoord (aan|naar) (de )?klant\b|\bresposta ao cliente\b"
    ),
}
# Words that turn a resolution, closure or reopen name into something else: the step is rejected or refused
# ("Resolution rejected by customer"), or it is about the step, not the step ("Closure request", "Do not close",
# "Closing note added", "Auto-close warning").
_REJECTED = re.compile(r"\b(rejected|reject|declined|denied|refused|abgelehnt|rejeté|rejetée|rechazado|rechazada|"
                       r"respinto|respinta|afgewezen|rejeitado|rejeitada)\b")
_BEFORE_ROLE = re.compile(
    r"\b(not|never|don'?t|do not|cannot|can'?t|won'?t|without|no|nicht|kein|keine|ohne|pas|ne|sans|no se|sin|non|"
    r"senza|niet|zonder|não|sem|requested|request to|request for|requests|proposed|proposal|suggested|pending|"
    r"awaiting|waiting for|scheduled|planned|ready for|ready to|prepare|prepared|about to)(\s+(to|for|the|a))?\s*$"
)
_AFTER_ROLE = re.compile(
    r"^\s*(request|requested|proposed|proposal|pending|scheduled|planned|note|notes|notice|warning|reminder|"
    r"code|reason|category|date|time|comment|summary|template|check|checklist|review|approval|form)\b"
)
# Words that close or finish things in general ("Triage done", "Escalation cancelled"): a closure of the case
# only when the rest of the name is about the case itself ("Ticket cancelled", "Marked done", "Done").
_WEAK_CLOSURE = frozenset({"done", "cancel", "cancelled", "canceled", "erledigt", "storniert", "annulé", "cancelado",
                           "cancelada", "annullato"})
_CASE_WORDS = frozenset({
    "ticket", "case", "issue", "incident", "request", "service", "call", "order", "status", "state", "marked", "mark",
    "as", "set", "to", "the", "is", "was", "by", "customer", "user", "requester", "agent", "system", "auto", "work",
    "item", "all", "vorgang", "fall", "anfrage", "meldung", "als", "dossier", "demande", "caso", "solicitud",
    "pratica", "richiesta", "zaak", "melding", "chamado", "pedido", "de", "du", "la", "le", "el", "il", "der", "die",
})
# Outbound messages that name the customer ("Customer update sent", "Customer call scheduled"): the agent
# writes to the customer; the customer did not get in touch.
_OUTBOUND = re.compile(r"\b(sent|send|sending|scheduled|outbound|planned|notified|notification|informed|"
                       r"gesendet|verschickt|envoyé|envoyée|enviado|enviada|inviato|inviata|verstuurd)\b")
_SYSTEM_NAME = re.compile(
    r"(^|[^a-z])(system|sys|bot|bots|auto|automated|automation|svc|service|workflow|wf|integration|api|"
    r"connector|daemon|scheduler|batch|robot|rpa|noreply|no-reply|cron|job|sync|engine|trigger|script)"
    r"([^a-z]|$)",
    re.IGNORECASE,
)
_CUSTOMER_NAME = re.compile(
    r"(^|[^a-z])(customer|customers|caller|client|requester|requestor|end[-_ ]?user|enduser|guest|"
    r"external user|contact person|kunde|kunden|kundin|anrufer|cliente|clientes|klant|appelant|demandeur|"
    r"solicitante|richiedente|aanvrager|requerente)([^a-z]|$)",
    re.IGNORECASE,
)
END_SHARE = 0.8  # an activity that is the last event of this share of its cases is how they end
# A closure by name must end at least this share of the cases it occurs in; reopened cases close again, so a
# real closure ends nearly all of them, whatever the reopen rate.
CLOSURE_ENDS = 0.5
SAME_SAVE = 60.0  # seconds: a field recorded within a minute of the closure belongs to closing the case
END_COVERAGE = 0.2  # ... when it occurs in at least this share of all cases
ONE_ACCOUNT = 0.9  # an account with this share of the events is noted: the log hardly tells people apart
RESPONSE_RECORDED = 0.5  # share of closed cases with an agent response for the default closure rule to apply
_OTHER_RECORD = (
    r"\b(problem|change|rfc|task|subtask|sub task|child|linked|related|parent|vendor|supplier|purchase order|"
    r"work order|known error)\b"
)
_FIELD_EDIT = re.compile(r"\b(changed|cleared|updated|set)$", re.IGNORECASE)
_TRANSITION = re.compile(r"^(?P<field>[^:]+):\s*(?P<old>.*?)\s*->\s*(?P<new>.*)$")


@dataclass(frozen=True)
class Assignment:
    """Activities in one role, and why each is there."""

    activities: tuple[str, ...]
    reasons: dict[str, str] = field(default_factory=dict)
    from_pack: bool = False


@dataclass(frozen=True)
class Accounts:
    system: tuple[str, ...]
    customer: tuple[str, ...]
    reasons: dict[str, str]
    system_from_pack: bool = False
    customer_from_pack: bool = False
    notes: tuple[str, ...] = ()
    known: int = 0  # accounts in the log (0: it names no resource)


@dataclass(frozen=True)
class Roles:
    roles: dict[str, Assignment]
    accounts: Accounts
    order: tuple[OrderRule, ...]
    notes: tuple[str, ...] = ()

    def of(self, role: str) -> tuple[str, ...]:
        return self.roles[role].activities if role in self.roles else ()

    @property
    def resolution_or_closure(self) -> tuple[str, ...]:
        return self.of("resolution") or self.of("closure")


def name_role(activity: str) -> str | None:
    """The role an activity's name suggests, if any (reopen before closure: 'Reopen' is not a closure)."""
    text = activity.strip()
    m = _TRANSITION.match(text)
    if m:
        text = m.group("new")
    elif _FIELD_EDIT.search(text):
        return None  # "Close code changed", "Resolution changed": a field edited, not the event itself
    low = re.sub(r"[_\-/]+", " ", text.lower())
    low = re.sub(r"\s+", " ", low)
    for role in ("reopen", "survey", "customer_contact", "agent_response", "resolution", "closure"):
        m = re.search(_ROLE_PATTERNS[role], low)
        if not m:
            continue
        if role in ("resolution", "closure") and re.search(_OTHER_RECORD, low):
            return None  # closes a linked problem, change or task, not this case
        if role in ("resolution", "closure", "reopen") and (
            _REJECTED.search(low) or _BEFORE_ROLE.search(low[: m.start()]) or _AFTER_ROLE.search(low[m.end():])
        ):
            continue  # "Resolution rejected", "Do not close", "Closure request": not the step itself
        if role == "closure" and m.group(0) in _WEAK_CLOSURE:
            rest = set(re.findall(r"[^\W\d_]+", low[: m.start()] + " " + low[m.end():]))
            if not rest <= _CASE_WORDS:
                continue  # "Triage done", "Escalation cancelled": a step finished, not the case
        if role == "customer_contact" and _OUTBOUND.search(low):
            continue  # "Customer update sent": the agent writes; the customer did not get in touch
        return role
    return None


def match_globs(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def infer_accounts(table: ir.Table, pack: RulePack) -> Accounts:
    """System and customer accounts: the pack's globs, else names, else behaviour."""
    res = table.filter(table.resource.notnull())
    hour, weekday = Engine.utc_hour_and_weekday(res.timestamp)
    stats = (
        res.group_by("resource")
        .aggregate(
            events=res.count(),
            hours=hour.nunique(),
            weekend=(weekday >= 5).cast("float64").mean(),
        )
        .execute()
    )
    reasons: dict[str, str] = {}
    names = [str(r) for r in stats["resource"]]
    notes: list[str] = [*_same_but_case(names, "accounts")]
    _note_unmatched(pack.customer, names, "customer", notes)
    _note_unmatched(pack.system, names, "system", notes)
    if pack.customer is not None:
        customer = [n for n in names if match_globs(n, pack.customer)]
        for n in customer:
            reasons[n] = "customer account (rule pack)"
    else:
        customer = [n for n in names if _CUSTOMER_NAME.search(n)]
        for n in customer:
            reasons[n] = "customer account: its name says so"
    if pack.system is not None:
        system = [n for n in names if match_globs(n, pack.system)]
        for n in system:
            reasons[n] = "system account (rule pack)"
    else:
        system = []
        # A 24/7 team has people at every hour too: round-the-clock activity alone is not enough, the
        # account must also carry far more events than a typical account.
        typical = float(stats["events"].median()) if len(stats) else 0.0
        for n, hours, weekend, events in zip(names, stats["hours"], stats["weekend"], stats["events"], strict=True):
            if n in customer:
                continue
            if _SYSTEM_NAME.search(n):
                system.append(n)
                reasons[n] = "system account: its name says so"
            elif int(hours) >= 22 and float(weekend) >= 0.15 and int(events) >= 5 * typical and len(names) >= 3:
                system.append(n)
                reasons[n] = (
                    f"system account by behaviour: active in {int(hours)} of 24 hours, {float(weekend):.0%} on "
                    f"weekends, {int(events) / typical:.0f}x the events of a typical account"
                )
    if len(stats):
        total = int(stats["events"].sum())
        top = stats.sort_values(["events", "resource"], ascending=[False, True]).iloc[0]
        if total and int(top["events"]) >= ONE_ACCOUNT * total:
            # Touch time is read from consecutive events by the same person: one account doing nearly
            # everything makes every gap under the cap look like work.
            notes.append(
                f"one account, {str(top['resource'])!r}, performs {int(top['events']) / total:.0%} of the events "
                "that name a resource: touch time (and so process cycle efficiency) counts its gaps as work, and "
                "hand-overs between people are barely visible; the export may name the ticket's owner or the "
                "integration user instead of who did each step"
            )
    both = set(system) & set(customer)
    if both:
        # A customer is never a system account (a customer's events are contacts, not the tool's steps).
        notes.append(
            f"accounts {', '.join(repr(n) for n in sorted(both)[:5])}{' …' if len(both) > 5 else ''} match both the system "
            "and the customer accounts: counted as customers"
        )
        system = [n for n in system if n not in both]
    return Accounts(
        system=tuple(sorted(system)),
        customer=tuple(sorted(customer)),
        reasons=reasons,
        system_from_pack=pack.system is not None,
        customer_from_pack=pack.customer is not None,
        notes=tuple(notes),
        known=len(names),
    )


def _same_but_case(names: list[str], what: str) -> list[str]:
    """A note per group of names that differ only in letter case ("Resolve", "resolve"): two exports or two
    configurations merged, most likely one step or one person, which the audit counts as two."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.casefold(), []).append(n)
    return [
        f"{what} {', '.join(repr(n) for n in sorted(g))} differ only in letter case: the audit counts them "
        "apart; if they are one, make their names equal in the export"
        for _, g in sorted(groups.items()) if len(g) > 1
    ]


def _note_unmatched(patterns: tuple[str, ...] | None, names: list[str], kind: str, notes: list[str]) -> None:
    """A note for each of the pack's account patterns for `kind` that matches no account of the log (a
    typo, or a pack written for another system), naming the close matches. The pack still decides (the
    contract: when given, no other account is one), so a list that matches nothing means no such account,
    and the note says that too."""
    if not patterns:
        return
    unmatched = [p for p in patterns if not any(match_globs(n, (p,)) for n in names)]
    for p in unmatched:
        close = difflib.get_close_matches(p.lower(), [n.lower() for n in names], n=3, cutoff=0.5)
        hint = f" (close: {', '.join(n for n in names if n.lower() in close)})" if close else ""
        notes.append(f"rule pack [resources] {kind}: {p!r} matches no account of this log{hint}")
    if len(unmatched) == len(patterns):
        notes.append(
            f"rule pack [resources] {kind}: no pattern matches, so no account counts as a {kind} account; "
            f"without the key they would be inferred"
        )


def infer(table: ir.Table, pack: RulePack) -> Roles:
    """Resolves every role and the accounts for this log."""
    accounts = infer_accounts(table, pack)
    acts = table.group_by("activity").aggregate(
        events=table.count(),
        by_customer=table.resource.isin(list(accounts.customer) or ["\x00"]).fill_null(False).cast("int64").sum(),
    )
    acts_df = acts.execute()
    activities = sorted(str(a) for a in acts_df["activity"])
    by_customer = {
        str(a): int(c) / int(n) for a, c, n in zip(acts_df["activity"], acts_df["by_customer"], acts_df["events"], strict=True)
    }
    roles: dict[str, Assignment] = {}
    notes: list[str] = [*_same_but_case(activities, "activities")]
    for role in ROLE_NAMES:
        if role in pack.roles:
            roles[role] = Assignment(pack.roles[role], {a: "rule pack" for a in pack.roles[role]}, from_pack=True)
            continue
        chosen = {a: f"its name reads as {role.replace('_', ' ')}" for a in activities if name_role(a) == role}
        roles[role] = Assignment(tuple(sorted(chosen)), chosen)
    if not roles["closure"].from_pack and roles["closure"].activities:
        roles["closure"] = _closures_that_end(table, roles, accounts, notes)
    if not roles["customer_contact"].activities and accounts.customer:
        roles["customer_contact"] = _contacts_by_behaviour(table, accounts, by_customer, roles)
    named_end = roles["closure"].activities or roles["resolution"].activities
    if not named_end and not roles["closure"].from_pack and not roles["resolution"].from_pack:
        ending = _closure_by_behaviour(table, roles)
        if ending.activities:
            roles["closure"] = ending
            notes.append(
                f"no activity is named as a resolution or closure: {', '.join(ending.activities)} "
                f"{'ends' if len(ending.activities) == 1 else 'end'} most cases "
                f"{'it occurs' if len(ending.activities) == 1 else 'they occur'} in and "
                f"{'stands' if len(ending.activities) == 1 else 'stand'} in as closure (see `auditor rules suggest`; "
                "a rule pack's [roles] decides)"
            )
    if not roles["resolution"].activities and roles["closure"].activities:
        notes.append(
            "the rule pack lists no resolution activity: closure activities stand in for resolution"
            if roles["resolution"].from_pack else
            "no resolution activity found: closure activities stand in for resolution"
        )
    order = list(pack.order)
    survey, resolution = roles["survey"].activities, roles["resolution"].activities or roles["closure"].activities
    if survey and resolution:
        order.append(OrderRule(resolution, survey, origin="default: a survey is sent after the resolution"))
    response, closure = roles["agent_response"].activities, roles["closure"].activities
    if response and closure:
        # Only where the log records responses as a rule: a log that rarely writes them down would make
        # every silent case look closed before an answer.
        per = table.group_by("case_id").aggregate(
            closed=table.activity.isin(list(closure)).any(), answered=table.activity.isin(list(response)).any()
        )
        closed = per.filter(per.closed)
        share = closed.answered.cast("float64").mean().execute()
        share = float(share) if share is not None else 0.0
        if share >= RESPONSE_RECORDED:
            order.append(OrderRule(response, closure, origin="default: a case is closed only after an agent responded"))
        else:
            notes.append(
                f"default rule 'closed only after an agent responded' not applied: only {share:.0%} of closed "
                f"cases record an agent response ({', '.join(response)}); add an [[order]] rule to apply it anyway"
            )
    return Roles(roles=roles, accounts=accounts, order=_unique(order), notes=(*accounts.notes, *notes))


def _contacts_by_behaviour(
    table: ir.Table, accounts: Accounts, by_customer: dict[str, float], roles: dict[str, Assignment]
) -> Assignment:
    """Activities done mostly by customer accounts that do not answer one particular agent step."""
    taken = {a for r in roles.values() for a in r.activities}
    candidates = [a for a, share in by_customer.items() if share >= 0.8 and a not in taken]
    if not candidates:
        return Assignment(())
    w = ibis.window(group_by="case_id", order_by=["timestamp", "seq"])
    t = table.mutate(prev=table.activity.lag().over(w), pos=ibis.row_number().over(w))
    c = t.filter(t.activity.isin(candidates))
    first = c.group_by("activity").aggregate(n=c.count(), first=(c.pos == 0).cast("int64").sum())
    cp = c.filter(c.prev.notnull())
    pred = cp.group_by(["activity", "prev"]).aggregate(k=cp.count())
    volume = t.group_by("activity").aggregate(total=t.count())
    first_df, pred_df, vol_df = first.execute(), pred.execute(), volume.execute()
    totals = {str(a): int(n) for a, n in zip(vol_df["activity"], vol_df["total"], strict=True)}
    reasons: dict[str, str] = {}
    for act, n, first_n in zip(first_df["activity"], first_df["n"], first_df["first"], strict=True):
        if int(first_n) / int(n) >= 0.5:
            continue  # the case's opening event (ticket creation), not a contact during the case
        preds = pred_df[pred_df["activity"] == act]
        if len(preds):
            top = preds.sort_values("k", ascending=False).iloc[0]
            request = str(top["prev"])
            answers = int(top["k"]) / int(n)  # share of this activity that follows the agent step
            answered = int(top["k"]) / totals.get(request, int(top["k"]))  # share of the step it follows
            if answers >= 0.6 and answered >= 0.6 and by_customer.get(request, 0.0) < 0.5:
                continue  # the answer to an agent's request (Request Info -> Customer Reply): prompted
        reasons[str(act)] = f"{by_customer[str(act)]:.0%} of its events are by customer accounts"
    return Assignment(tuple(sorted(reasons)), reasons)


def _closures_that_end(table: ir.Table, roles: dict[str, Assignment], accounts: Accounts, notes: list[str]) -> Assignment:
    """The name-inferred closures that end the cases they occur in. A name that reads as closure but is
    followed by further work in most of its cases ("Triage done" before the reply, a closure field filled in
    early) is not how cases close: taken as the closure, every case would "come back after closure". A case
    ends with an activity when its last occurrence is the case's last event, or within `SAME_SAVE` of it;
    surveys and system accounts' events after it do not count (a survey follows the closure by design)."""
    closure = roles["closure"]
    acts = list(closure.activities)
    survey = list(roles["survey"].activities) or ["\x00"]
    system = list(accounts.system) or ["\x00"]
    t = table.filter(~table.activity.isin(survey) & ~table.resource.isin(system).fill_null(False))
    # The case's last event is the activity itself exactly when their times are equal, so the times alone
    # decide (no ordering by source row needed: events within the minute count as the same save anyway).
    ends = t.group_by("case_id").aggregate(end=t.timestamp.max())
    c = t.filter(t.activity.isin(acts))
    mine = c.group_by(["case_id", "activity"]).aggregate(at=c.timestamp.max())
    j = mine.join(ends, "case_id")
    ended = Engine.epoch_seconds(j.end) - Engine.epoch_seconds(j.at) <= SAME_SAVE
    df = j.group_by("activity").aggregate(cases=j.count(), ended=ended.cast("int64").sum()).execute()
    share = {str(a): int(e) / int(n) for a, n, e in zip(df["activity"], df["cases"], df["ended"], strict=True) if int(n)}
    keep = {a: r for a, r in closure.reasons.items() if share.get(a, 1.0) >= CLOSURE_ENDS}
    for a in acts:
        if a not in keep:
            notes.append(
                f"{a!r} reads as a closure by its name, but further work follows it in "
                f"{1 - share.get(a, 0.0):.0%} of the cases it occurs in: not taken as the closure (a rule pack's "
                "[roles] closure decides)"
            )
    return Assignment(tuple(sorted(keep)), keep)


def _closure_by_behaviour(table: ir.Table, roles: dict[str, Assignment]) -> Assignment:
    """Activities that end the cases they occur in: the last event in at least `END_SHARE` of their cases,
    present in at least `END_COVERAGE` of all cases, and not the first event of most of them (a case of one
    event). How cases end when no name says so ('Completed', a status in another language)."""
    taken = {a for r in roles.values() for a in r.activities}
    # Plain aggregations, not a window: the first and last activity of each case by (timestamp, seq).
    key = ibis.struct({"t": table.timestamp, "s": table.seq})  # compared field by field: time, then source order
    ends = table.group_by("case_id").aggregate(last=table.activity.argmax(key), first=table.activity.argmin(key))
    present = table.select("case_id", "activity").distinct()
    per = present.group_by("activity").aggregate(cases=present.count())
    lasts = ends.group_by(l_act=ends.last).aggregate(ended=ends.count())
    firsts = ends.group_by(f_act=ends.first).aggregate(began=ends.count())
    j = per.left_join(lasts, per.activity == lasts.l_act).left_join(firsts, per.activity == firsts.f_act)
    df = j.select("activity", "cases", ended=j.ended.fill_null(0), began=j.began.fill_null(0)).execute()
    total = int(ends.count().execute())
    reasons: dict[str, str] = {}
    for act, cases, ended, began in zip(df["activity"], df["cases"], df["ended"], df["began"], strict=True):
        cases, ended, began = int(cases), int(ended), int(began)
        if str(act) in taken or not total or cases < END_COVERAGE * total:
            continue
        if ended >= END_SHARE * cases and began < 0.5 * cases:
            reasons[str(act)] = (
                f"it is the last event of {ended / cases:.0%} of the {cases:,} cases it occurs in "
                f"({cases / total:.0%} of all cases), and no name says closure"
            )
    return Assignment(tuple(sorted(reasons)), reasons)


def _unique(rules: list[OrderRule]) -> tuple[OrderRule, ...]:
    seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    out = []
    for r in rules:
        key = (r.before, r.after)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return tuple(out)

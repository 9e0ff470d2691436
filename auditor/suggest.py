"""`auditor rules suggest`: the rule pack auditor would infer, written for a person to review.

Business rule: every inferred line carries a comment saying why; roles nothing was found for are written
as commented-out lines, so the reviewer sees what is missing instead of silence. The output is valid TOML
in the contract's rule-pack format and can be passed back with `--rules`.
"""

from __future__ import annotations

import json

from auditor.roles import Roles
from auditor.rules import ROLE_NAMES, Thresholds

_ROLE_HELP = {
    "resolution": "the customer's issue is solved",
    "closure": "the case is closed (by an agent or a timer)",
    "reopen": "a closed case is opened again",
    "survey": "a satisfaction survey or feedback request is sent",
    "customer_contact": "contacts the customer starts, unprompted",
    "agent_response": "an agent answers the customer",
}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def suggest(roles: Roles, source: str, thresholds: Thresholds | None = None) -> str:
    th = thresholds or Thresholds()
    lines = [
        f"# Rule pack inferred by `auditor rules suggest` from {source}.",
        "# Review every line: the comments say why each name is here. Pass it back with --rules FILE.",
        "",
        "[roles]",
    ]
    for role in ROLE_NAMES:
        a = roles.roles.get(role)
        acts = a.activities if a else ()
        lines.append(f"# {role}: {_ROLE_HELP[role]}")
        if not acts:
            lines.append(f"# {role} = []    # nothing in this log reads as this role: add the names if it has them")
            continue
        lines.append(f"{role} = [")
        for act in acts:
            lines.append(f"    {_q(act)},    # {a.reasons.get(act, 'inferred') if a else 'inferred'}")
        lines.append("]")
    for note in roles.notes:
        lines.append(f"# note: {note}")
    acc = roles.accounts
    lines += ["", "[resources]", "# glob patterns of account names; when `system` is given, no other account is one"]
    for key, names in (("system", acc.system), ("customer", acc.customer)):
        if not names:
            why = "no account of this log looks like one" if acc.known else "the log names no resource (who did each step)"
            lines.append(f"# {key} = []    # {why}")
            continue
        lines.append(f"{key} = [")
        for n in names:
            lines.append(f"    {_q(n)},    # {acc.reasons.get(n, 'inferred')}")
        lines.append("]")
    lines += [
        "",
        "[tools]",
        "# legacy = []    # steps you already know to be legacy (auditor also finds them from behaviour)",
    ]
    rules = [r for r in roles.order if r.origin != "rule pack"]
    if rules:
        lines.append("")
    for r in rules:
        # One rule with lists, never one rule per pair: "closed before any agent response" is not "closed
        # before each kind of response", which would flag every case that got only one kind.
        lines += [f"[[order]]    # {r.origin}", f"before = {_names(r.before)}", f"after = {_names(r.after)}", ""]
    lines += [
        "[thresholds]",
        f"stalled_days = {th.stalled_days:g}        # an open case idle this long at the end of the log is stalled",
        f"chasing_contacts = {th.chasing_contacts}       # this many customer contacts before resolution is chasing",
        "",
    ]
    return "\n".join(lines)


def _names(names: tuple[str, ...]) -> str:
    """One name as a TOML string, several as an array (a rule holds when any of them occurs)."""
    return _q(names[0]) if len(names) == 1 else "[" + ", ".join(_q(n) for n in names) + "]"

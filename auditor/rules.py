"""Rule packs (`--rules FILE`, TOML): what the user knows about their process.

Business rules:
- Every key is optional; what a pack leaves out is inferred from the log (see roles.py) and
  `auditor rules suggest` prints the inferred pack for a person to review.
- Activity names are exactly as in the log. A name the log does not contain is an error that lists the
  close matches: a typo must not silently switch a rule off.
- An unknown table or key is an error too, for the same reason.
- `[[order]]`: `after` must not happen while `before` has not yet happened in the case.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor.errors import UsageError

ROLE_NAMES = ("resolution", "closure", "reopen", "survey", "customer_contact", "agent_response")
VALUE_CLASSES = ("VA", "BVA", "NVA")
_TABLES = {"roles", "resources", "tools", "order", "thresholds", "value"}


@dataclass(frozen=True)
class OrderRule:
    """`after` must not occur in a case before any of `before` has occurred."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    origin: str = "rule pack"

    @property
    def label(self) -> str:
        return f"{' / '.join(self.before)} before {' / '.join(self.after)}"


MAX_THRESHOLD = 1_000_000  # days, contacts, a factor or hours: beyond this a threshold means "never"


@dataclass(frozen=True)
class Thresholds:
    stalled_days: float = 14.0
    chasing_contacts: int = 2
    # Additions: a wait is long when its median is this many times the log's typical wait and at least
    # `long_wait_min_hours`.
    long_wait_factor: float = 3.0
    long_wait_min_hours: float = 24.0


@dataclass(frozen=True)
class RulePack:
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    system: tuple[str, ...] | None = None
    customer: tuple[str, ...] | None = None
    legacy: tuple[str, ...] = ()
    order: tuple[OrderRule, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    value: dict[str, str] = field(default_factory=dict)
    path: str | None = None


def load(path: Path | None) -> RulePack:
    """Reads and checks a rule pack's structure (activity names are checked against the log later)."""
    if path is None:
        return RulePack()
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Windows editors write a BOM
    except FileNotFoundError as exc:
        raise UsageError(f"--rules {where}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--rules {where}: cannot read it ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--rules {where}: not valid TOML ({exc})") from exc
    unknown = set(data) - _TABLES
    if unknown:
        raise UsageError(f"{where}: unknown table(s) {sorted(unknown)}; known: {sorted(_TABLES)}")
    roles_raw = _table(data, "roles", where)
    _only(roles_raw, ROLE_NAMES, "roles", where)
    roles = {k: _names(v, f"roles.{k}", where) for k, v in roles_raw.items()}
    res = _table(data, "resources", where)
    _only(res, ("system", "customer"), "resources", where)
    tools = _table(data, "tools", where)
    _only(tools, ("legacy",), "tools", where)
    thr_raw = _table(data, "thresholds", where)
    known_thr = tuple(Thresholds.__dataclass_fields__)
    _only(thr_raw, known_thr, "thresholds", where)
    thresholds = Thresholds()
    for key, number in thr_raw.items():
        default = getattr(thresholds, key)
        # nan, inf and numbers beyond any log's scale crashed the detectors or silently disabled them
        if (
            not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number)
            or number < 0 or number > MAX_THRESHOLD
        ):
            raise UsageError(
                f"{where}: thresholds.{key} must be a non-negative number up to {MAX_THRESHOLD:,}, got {number!r}"
            )
        if isinstance(default, int) and (number != int(number) or number < 1):
            raise UsageError(f"{where}: thresholds.{key} must be a whole number of at least 1, got {number!r}")
        thresholds = replace(thresholds, **{key: type(default)(number)})
    order_raw = data.get("order", [])
    if not isinstance(order_raw, list):
        raise UsageError(f"{where}: [[order]] must be an array of tables with `before` and `after`")
    order = []
    for i, rule in enumerate(order_raw, start=1):
        if not isinstance(rule, dict) or set(rule) != {"before", "after"}:
            raise UsageError(f"{where}: [[order]] rule {i} needs exactly `before` and `after`")
        before = _names(rule["before"], "order.before", where)
        after = _names(rule["after"], "order.after", where)
        if not before or not after:
            raise UsageError(f"{where}: [[order]] rule {i} names no activity in `before` or `after`")
        if set(before) & set(after):
            both = ", ".join(repr(a) for a in sorted(set(before) & set(after)))
            raise UsageError(f"{where}: [[order]] rule {i} has {both} both before and after itself")
        order.append(OrderRule(before, after))
    value_raw = _table(data, "value", where)
    value: dict[str, str] = {}
    for cls, acts in value_raw.items():
        if cls not in VALUE_CLASSES:
            raise UsageError(f"{where}: [value] keys are {', '.join(VALUE_CLASSES)}, not {cls!r}")
        for act in _names(acts, f"value.{cls}", where):
            if act in value and value[act] != cls:
                raise UsageError(f"{where}: [value] puts {act!r} in both {value[act]} and {cls}")
            value[act] = cls
    return RulePack(
        roles=roles,
        system=_names(res["system"], "resources.system", where) if "system" in res else None,
        customer=_names(res["customer"], "resources.customer", where) if "customer" in res else None,
        legacy=_names(tools.get("legacy", []), "tools.legacy", where),
        order=tuple(order),
        thresholds=thresholds,
        value=value,
        path=where,
    )


def check_activities(pack: RulePack, activities: Iterable[str]) -> None:
    """Every activity a pack names must be in the log; the error lists the close matches."""
    known = set(activities)
    named: list[tuple[str, str]] = []
    for role, acts in pack.roles.items():
        named += [(f"roles.{role}", a) for a in acts]
    named += [("tools.legacy", a) for a in pack.legacy]
    for rule in pack.order:
        named += [("order.before", a) for a in rule.before] + [("order.after", a) for a in rule.after]
    named += [("value", a) for a in pack.value]
    for where, act in named:
        if act not in known:
            close = difflib.get_close_matches(act, sorted(known), n=3, cutoff=0.6)
            folded = [k for k in known if k.lower() == act.lower()]
            hint = close or folded
            suggestion = f" Close matches: {', '.join(repr(c) for c in hint)}." if hint else ""
            raise UsageError(
                f"{pack.path or 'rule pack'}: {where} names {act!r}, which is not an activity of this log.{suggestion}"
            )


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise UsageError(f"{where}: [{name}] must be a table")
    return value


def _only(table: dict[str, Any], allowed: Iterable[str], name: str, where: str) -> None:
    extra = set(table) - set(allowed)
    if extra:
        raise UsageError(f"{where}: unknown key(s) {sorted(extra)} in [{name}]; known: {', '.join(allowed)}")


def _names(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where}: {key} must be a list of names (strings)")
    return tuple(value)

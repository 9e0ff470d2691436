"""CRM export profiles (`--profile`): field-change history turned into process events."""

from __future__ import annotations

from auditor.errors import UsageError
from auditor.mapping import normalise
from auditor.profiles.base import Profile

PROFILE_NAMES = ("salesforce", "zendesk", "servicenow", "jira")


def get_profile(name: str) -> Profile:
    key = name.strip().lower()
    if key not in PROFILE_NAMES:
        raise UsageError(f"--profile {name!r} is not known; choose one of: {', '.join(PROFILE_NAMES)}")
    from importlib import import_module

    module = import_module(f"auditor.profiles.{key}")
    profile: Profile = module.PROFILE
    return profile


def looks_like(columns: list[str]) -> str | None:
    """The profile whose export layout these columns are, if any: at least half of its expected columns,
    and at least three, are present (names compared without letter case). A Salesforce CaseHistory2
    snapshot (`CaseId` and `OwnerId`) counts too. For hints, never to convert without being asked."""
    have = {normalise(c) for c in columns}
    best, best_share = None, 0.0
    for name in PROFILE_NAMES:
        expected = [normalise(c) for c in get_profile(name).expected]
        hits = sum(c in have for c in expected)
        share = hits / len(expected)
        if hits >= 3 and share >= 0.5 and share > best_share:
            best, best_share = name, share
    if best is None and {"case id", "owner id"} <= have:
        best = "salesforce"
    return best

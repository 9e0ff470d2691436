"""CRM export profiles (`--profile`): field-change history turned into process events."""

from __future__ import annotations

from auditor.errors import UsageError
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

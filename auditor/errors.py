"""The project's error types.

Library code never prints and never exits: it raises one of these, and the CLI turns it into one line on
stderr and exit code 2. Every message names the file, row or field at fault and says what to do.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base of every error a user can cause; the CLI exits 2 on it."""


class InputError(AuditorError):
    """The input file is unreadable, malformed, or does not fit the mapping."""


class MappingError(InputError):
    """A column named by an option is absent, or a required role could not be inferred."""


class TimestampError(InputError):
    """Timestamps cannot be parsed unambiguously."""


class UsageError(AuditorError):
    """Options contradict each other or name something that does not exist."""


class StrictModeError(InputError):
    """`--strict` was given and at least one row was rejected."""

"""Typed options shared by every command that reads a log (the contract's mapping options)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReadOptions:
    """How to read SOURCE. Every field is optional: what is absent is inferred or sniffed.

    Column names are matched exactly first, then case-insensitively.
    """

    case: str | None = None
    activity: str | None = None
    timestamp: str | None = None
    resource: str | None = None
    team: str | None = None
    sep: str | None = None
    encoding: str | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"
    # False when the CLI's --timezone was left out: working hours then follow the zone a canonical Parquet
    # was ingested in, not UTC. A caller that builds ReadOptions chose its zone.
    timezone_chosen: bool = True
    profile: str | None = None
    # Profiles only: name a status change by its new value ("In Progress") instead of the transition
    # ("Status: New -> In Progress").
    status_new_only: bool = False
    # Reject the whole input (exit 2) when any row would be rejected.
    strict: bool = False
    # "complete": when a lifecycle column holds both start and complete transitions (XES), only the
    # complete events are analysed, the others rejected with their reason; "all" keeps every transition.
    lifecycle: str = "complete"
    # A grouped report prints each case's id once: a row without one belongs to the case of the row above.
    fill_case: bool = False
    # Cap on the decompressed size of a .gz input, in bytes: a defence against decompression bombs.
    max_decompressed_bytes: int = 64 * 1024**3
    extra: dict[str, str] = field(default_factory=dict)

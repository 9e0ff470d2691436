"""The detectors: one module per finding kind, each a function `detect(ctx) -> list[Finding]`.

The registry imports the modules in a fixed order, so the findings' order before ranking (and every tie
after it) is stable from run to run.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.audit import Detector

ORDER = (
    "rework_loop",
    "ping_pong",
    "reopened_after_close",
    "order_violation",
    "customer_chasing",
    "stalled_case",
    "long_wait",
    "tool_driven_step",
    "legacy_step",
    "compliant_failure",
)


def _load() -> list[tuple[str, Detector]]:
    out = []
    for name in ORDER:
        if find_spec(f"auditor.detectors.{name}") is None:
            continue  # a detector that has not been written yet; never a placeholder
        out.append((name, import_module(f"auditor.detectors.{name}").detect))
    return out


REGISTRY: list[tuple[str, Detector]] = _load()

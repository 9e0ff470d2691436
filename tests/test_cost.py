"""The shared cost method: batched order statistics in the engine equal plain medians computed in pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from audit_helpers import SAMPLE, tiny_log
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import audit
from auditor.businesstime import parse as parse_hours
from auditor.engine import Engine
from auditor.ingest import load
from auditor.options import ReadOptions


def _expected(hours: pd.Series, ids: list[str]) -> tuple[float, float | None]:
    """The medians of the chosen cases and of the others; None for the others when they are too few to
    compare with (fewer than 20, or than 10% of the cases)."""
    inside = float(hours.loc[ids].median())
    rest = hours.drop(ids)
    enough = len(rest) >= max(audit.MIN_COMPARED, audit.MIN_COMPARED_SHARE * len(hours))
    return inside, (float(rest.median()) if enough else None)


def test_batched_costs_equal_pandas_medians_on_the_sample() -> None:
    with Engine() as engine:
        ctx = audit.build_context(load(SAMPLE, ReadOptions(), engine), audit.AuditOptions())
        cases = ctx.cases.execute().set_index("case_id")
        hours = cases["hours"]
        ids = sorted(hours.index)
        # sets of every size class, including odd and even complements, and one holding all but one case
        picks = [ids[:1], ids[::2], ids[1::3], ids[::7], ids[:-1], ids[5:6] + ids[100:103], list(hours.nlargest(40).index),
                 ids[: int(len(ids) * 0.9)]]
        costs = ctx.costs_of(picks)
        # all but one case, or one case in ten: the rest are too few to stand for comparable cases
        for pick in (picks[4], ids[: int(len(ids) * 0.9) + 1]):
            cost = ctx.cost_of(pick)
            assert cost.hours_per_case is None and cost.hours_total is None
            assert cost.compared_cases == len(ids) - len(pick) and cost.method.startswith("not estimated: only ")
        picks.pop(4)
        costs.pop(4)
        for pick, cost in zip(picks, costs, strict=True):
            inside, outside = _expected(hours, pick)
            assert outside is not None
            assert cost.hours_per_case == pytest.approx(max(0.0, inside - outside), abs=1e-9)
            assert cost.hours_total == pytest.approx(max(0.0, inside - outside) * len(pick), abs=1e-6)
            assert cost.compared_cases == len(ids) - len(pick)
        # one at a time gives the same numbers as the batch
        assert ctx.cost_of(picks[2]) == costs[2]
        every = ctx.costs_of([ids, [], ids[:3] + ids[:3]])
        assert every[0].hours_total is None and every[0].compared_cases == 0
        assert every[1].method == "no affected cases"
        assert every[2] == ctx.cost_of(ids[:3])


@settings(max_examples=25, deadline=None)
@given(
    # enough cases that the others can be compared with (20 at least), and a few that leave too few
    spans=st.lists(st.integers(min_value=0, max_value=30), min_size=24, max_size=36),
    chosen=st.lists(st.sets(st.integers(min_value=0, max_value=35), min_size=1, max_size=10), min_size=1, max_size=4),
)
def test_complement_median_with_ties(tmp_path_factory: pytest.TempPathFactory, spans: list[int], chosen: list[set[int]]) -> None:
    """Many equal durations (ties) and small logs: still exactly the medians pandas computes, and no cost
    where the other cases are too few."""
    tmp = tmp_path_factory.mktemp("cost")
    rows = []
    for i, hours in enumerate(spans):
        rows.append((f"c{i:02d}", "Open", "2024-01-01 00:00"))
        rows.append((f"c{i:02d}", "Close", f"2024-01-{1 + hours // 24:02d} {hours % 24:02d}:00"))
    path: Path = tiny_log(tmp, rows, ("case", "activity", "timestamp"))
    sets = [[f"c{i:02d}" for i in sorted(s) if i < len(spans)] for s in chosen]
    sets = [s for s in sets if s] or [["c00"]]
    with Engine() as engine:
        ctx = audit.build_context(load(path, ReadOptions(), engine), audit.AuditOptions())
        hours = ctx.cases.execute().set_index("case_id")["hours"]
        for ids, cost in zip(sets, ctx.costs_of(sets), strict=True):
            inside, outside = _expected(hours, ids)
            if outside is None:
                assert cost.hours_per_case is None
            else:
                assert cost.hours_per_case == pytest.approx(max(0.0, inside - outside), abs=1e-9)


def test_business_hours_cost_is_batched_too() -> None:
    wh = parse_hours("Mon-Fri 08:00-18:00")
    with Engine() as engine:
        ctx = audit.build_context(load(SAMPLE, ReadOptions(), engine), audit.AuditOptions(working_hours=wh))
        cases = ctx.cases.execute().set_index("case_id")
        ids = sorted(cases.index)[::5]
        cost = ctx.cost_of(ids)
        inside, outside = _expected(cases["business_hours"], ids)
        assert outside is not None
        assert cost.business_hours_per_case == pytest.approx(max(0.0, inside - outside), abs=1e-9)

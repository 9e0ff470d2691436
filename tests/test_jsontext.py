"""The findings JSON layout: the same data as json.dumps, with each list of case ids on one line."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from auditor.render.jsontext import dumps

text = st.text(max_size=12)
finding = st.fixed_dictionaries(
    {"kind": text, "case_ids": st.lists(text, max_size=6), "evidence": st.dictionaries(text, st.lists(text, max_size=3), max_size=3)}
)


@given(st.lists(finding, max_size=5), st.dictionaries(text, text, max_size=3))
def test_reads_back_as_the_same_data(findings: list[dict[str, object]], log: dict[str, str]) -> None:
    data = {"log": log, "findings": findings}
    assert json.loads(dumps(data)) == data


def test_case_ids_on_one_line_the_rest_indented() -> None:
    out = dumps({"log": {"cases": 2}, "findings": [{"kind": "rework_loop", "case_ids": ["c1", "c\"2"], "evidence": {"k": [1]}}]})
    lines = out.splitlines()
    assert '      "case_ids": ["c1", "c\\"2"],' in lines
    assert '        "k": [' in lines
    assert out.endswith("}\n")

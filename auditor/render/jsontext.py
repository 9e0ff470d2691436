"""The findings JSON as text: indented for people, with each list of case ids on one line.

Business rule: the JSON is the contract's, whatever its layout; only the layout is chosen here. At 10M
events a findings file lists millions of case ids; one per line made the file twice as large and took
Python's indenting encoder seconds, while a list on one line is encoded by the fast C encoder.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any


def dumps(data: dict[str, Any]) -> str:
    """`json.dumps(data, indent=2)` with every finding's `case_ids` written on one line."""
    findings = data.get("findings")
    if not isinstance(findings, list):
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # a random mark per call, so no text in the data can be mistaken for it
    mark = f"\x00case_ids:{secrets.token_hex(8)}:{{}}\x00"
    lists: list[str] = []
    shallow = []
    for f in findings:
        if isinstance(f, dict) and isinstance(f.get("case_ids"), list):
            lists.append(json.dumps(f["case_ids"], ensure_ascii=False))
            f = {**f, "case_ids": mark.format(len(lists) - 1)}
        shallow.append(f)
    text = json.dumps({**data, "findings": shallow}, indent=2, ensure_ascii=False)
    # one pass over the text (replacing mark by mark copied the whole text once per finding)
    head, _, tail = json.dumps(mark, ensure_ascii=False).partition("{}")
    pattern = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    return pattern.sub(lambda m: lists[int(m.group(1))], text) + "\n"

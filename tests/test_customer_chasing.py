"""customer_chasing: at least `chasing_contacts` customer contacts before the first resolution (contract)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from audit_helpers import SAMPLE, SAMPLE_RULES, run_audit, sample_findings, sample_truth, tiny_log
from conftest import shared

from auditor import rules
from auditor.audit import AuditOptions, build_context
from auditor.detectors import customer_chasing
from auditor.engine import Engine
from auditor.findings import Finding
from auditor.ingest import load
from auditor.options import ReadOptions


def chasing(findings: tuple[Finding, ...] | list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "customer_chasing"]


def detect(path: Path, pack: rules.RulePack, contacts: int | None = None) -> list[Finding]:
    """Only this detector, on a log, with the pack's threshold replaced when given."""
    if contacts is not None:
        pack = replace(pack, thresholds=replace(pack.thresholds, chasing_contacts=contacts))
    with Engine() as engine:
        ctx = build_context(load(path, ReadOptions(), engine), AuditOptions(rules=pack))
        return customer_chasing.detect(ctx)


def test_sample_truth_exact() -> None:
    truth = sample_truth()
    found = chasing(sample_findings())
    assert len(found) == 1
    f = found[0]
    assert f.case_ids == truth["kinds"]["customer_chasing"]["case_ids"]
    assert f.activities == truth["kinds"]["customer_chasing"]["activities"]
    assert not set(truth["clean_case_ids"]) & set(f.case_ids)
    ev = f.evidence
    # As planted (logs/README.md #6): 2, 3 or 4 follow-ups; 135 answered and resolved, 30 stalled.
    assert ev["contacts_per_case"] == {
        "median": 3.0,
        "max": 4,
        "cases_by_contacts": {"2": 52, "3": 66, "4": 47},
    }
    assert (ev["resolved"], ev["never_resolved"]) == (135, 30)
    assert ev["hours_first_contact_to_resolution"]["cases"] == 135
    assert {"source": "Customer Follow-up", "target": "Customer Follow-up", "cases": 148} in ev["edges"]
    assert ev["waste"] == "waiting" and ev["threshold"] == 2


def test_sample_thresholds() -> None:
    truth = sample_truth()["kinds"]["customer_chasing"]["case_ids"]
    pack = rules.load(SAMPLE_RULES)
    # No ticket has exactly one follow-up: a threshold of 1 gives the same tickets.
    assert detect(SAMPLE, pack, 1)[0].case_ids == truth
    three = detect(SAMPLE, pack, 3)[0]
    assert three.cases == 66 + 47 and set(three.case_ids) < set(truth)
    assert three.evidence["contacts_per_case"]["cases_by_contacts"] == {"3": 66, "4": 47}
    assert not detect(SAMPLE, pack, 5)


ROWS = [
    # c1: two follow-ups before the resolution; a third one at the resolution's timestamp but after it
    ("c1", "Create Ticket", "2024-01-01 09:00", "customer", None),
    ("c1", "Customer Follow-up", "2024-01-01 12:00", "customer", None),
    ("c1", "Customer Follow-up", "2024-01-02 09:00", "customer", None),
    ("c1", "Resolve Ticket", "2024-01-02 18:00", "ann", "T1"),
    ("c1", "Customer Follow-up", "2024-01-02 18:00", "customer", None),
    ("c1", "Close Ticket", "2024-01-03 18:00", "svc-bot", None),
    # c2: one follow-up only
    ("c2", "Create Ticket", "2024-01-01 09:00", "customer", None),
    ("c2", "Customer Follow-up", "2024-01-01 10:00", "customer", None),
    ("c2", "Resolve Ticket", "2024-01-01 11:00", "ann", "T1"),
    # c3: three follow-ups, never resolved
    ("c3", "Create Ticket", "2024-01-01 09:00", "customer", None),
    ("c3", "Take in Charge", "2024-01-01 10:00", "bob", "T1"),
    ("c3", "Customer Follow-up", "2024-01-02 10:00", "customer", None),
    ("c3", "Customer Follow-up", "2024-01-03 10:00", "customer", None),
    ("c3", "Customer Follow-up", "2024-01-04 10:00", "customer", None),
    # c4: the customer answers two questions: prompted, not a contact; then the case is resolved
    ("c4", "Create Ticket", "2024-01-01 09:00", "customer", None),
    ("c4", "Request Info", "2024-01-01 10:00", "ann", "T1"),
    ("c4", "Customer Reply", "2024-01-01 11:00", "customer", None),
    ("c4", "Request Info", "2024-01-01 12:00", "ann", "T1"),
    ("c4", "Customer Reply", "2024-01-01 13:00", "customer", None),
    ("c4", "Resolve Ticket", "2024-01-01 14:00", "ann", "T1"),
]
CLEAN = [r for r in ROWS if r[0] in ("c2", "c4")]


def test_clean_tiny_log_has_no_chasing(tmp_path: Path) -> None:
    assert not chasing(run_audit(tiny_log(tmp_path, CLEAN)))


def test_tiny_log_cases_and_evidence(tmp_path: Path) -> None:
    found = chasing(run_audit(tiny_log(tmp_path, ROWS)))
    assert len(found) == 1
    f = found[0]
    assert f.case_ids == ["c1", "c3"] and f.activities == ["Customer Follow-up"]
    ev = f.evidence
    assert ev["contacts_per_case"] == {"median": 2.5, "max": 3, "cases_by_contacts": {"2": 1, "3": 1}}
    # c1: first contact 2024-01-01 12:00, resolved 2024-01-02 18:00
    assert ev["hours_first_contact_to_resolution"] == {"median": 30.0, "p90": 30.0, "cases": 1}
    assert (ev["resolved"], ev["never_resolved"]) == (1, 1)
    assert ev["edges"] == [
        {"source": "Customer Follow-up", "target": "Customer Follow-up", "cases": 2},
        {"source": "Create Ticket", "target": "Customer Follow-up", "cases": 1},
        {"source": "Take in Charge", "target": "Customer Follow-up", "cases": 1},
    ]


def test_threshold_from_the_rule_pack(tmp_path: Path) -> None:
    log = tiny_log(tmp_path, ROWS)
    three = chasing(run_audit(log, "[thresholds]\nchasing_contacts = 3\n", tmp_path))
    assert [f.case_ids for f in three] == [["c3"]]
    one = chasing(run_audit(log, "[thresholds]\nchasing_contacts = 1\n", tmp_path))
    assert [f.case_ids for f in one] == [["c1", "c2", "c3"]]


# --- real data: BPIC 2014 incident activities ------------------------------------------------------------

BPIC = "bpic2014-incident-activity/incident_activity_subset.csv.gz"
BPIC_PACK = """
[roles]
customer_contact = ["update from customer"]
resolution = {resolution}
closure = ["closed"]
[thresholds]
chasing_contacts = {n}
"""


def pandas_chasing(path: Path, contacts: int, resolution: list[str]) -> tuple[list[str], int, int]:
    """Independent computation: 'update from customer' events before the incident's first resolution event,
    in the order of time, then of the file. Returns the chased incidents, their contacts and how many of
    them resolved."""
    df = pd.read_csv(path, usecols=["incident_id", "datestamp", "incidentactivity_type"])
    df["row"] = range(len(df))
    df["ts"] = pd.to_datetime(df["datestamp"])
    df = df.sort_values(["incident_id", "ts", "row"], kind="stable")
    df["k"] = df.groupby("incident_id").cumcount()
    res = df[df["incidentactivity_type"].isin(resolution)].groupby("incident_id")["k"].min()
    first = df["incident_id"].map(res)
    hits = df[(df["incidentactivity_type"] == "update from customer") & (first.isna() | (df["k"] < first))]
    counts = hits.groupby("incident_id").size()
    chased = counts[counts >= contacts]
    return sorted(str(c) for c in chased.index), int(chased.sum()), int(chased.index.isin(res.index).sum())


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("contacts", "resolution"),
    [(1, ["resolved", "closed"]), (2, ["resolved", "closed"]), (1, ["resolved"])],
    ids=["1-resolved-or-closed", "2-resolved-or-closed", "1-resolved"],
)
def test_bpic2014_matches_pandas(tmp_path: Path, contacts: int, resolution: list[str]) -> None:
    path = shared(BPIC)
    pack_file = tmp_path / "bpic.toml"
    pack_file.write_text(BPIC_PACK.format(n=contacts, resolution=json.dumps(resolution)))
    expected, total, resolved = pandas_chasing(path, contacts, resolution)
    found = detect(path, rules.load(pack_file))
    if not expected:
        assert not found  # no incident has two updates from the customer
        return
    assert len(found) == 1
    f = found[0]
    assert f.case_ids == expected and f.activities == ["update from customer"]
    ev = f.evidence
    assert sum(int(k) * v for k, v in ev["contacts_per_case"]["cases_by_contacts"].items()) == total
    assert ev["resolved"] == resolved and ev["never_resolved"] == len(expected) - resolved
    # Every incident of the subset is closed: the unresolved ones were closed without a resolution.
    assert ev["closed_without_resolution"] == ev["never_resolved"]

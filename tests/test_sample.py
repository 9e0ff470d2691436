"""The sample generator: determinism, the committed log, and the ground truth checked against an
independent pandas computation of every definitional finding kind of the contract."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from auditor import sample

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "logs" / "support-desk.csv"
TRUTH = ROOT / "logs" / "support-desk.truth.json"

SYSTEM = {"svc-workflow", "bot-router", "siebel-connector"}
CUSTOMER = "customer"
CASE, ACT, TS, RES, TEAM = "Ticket ID", "Activity", "Timestamp", "Agent", "Team"
HAPPY = {
    "Create Ticket",
    "Auto-Assign",
    "Take in Charge",
    "Update Status Field",
    "Fill Knowledge Form",
    "Reply to Customer",
    "Resolve Ticket",
    "Sync to Legacy CRM",
    "Legacy CRM Import",
    "Send Survey",
    "Close Ticket",
}


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["ts"] = pd.to_datetime(df[TS], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    return df


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    df = _read(CSV)
    # Case order: within a case, by time (timestamps are strictly increasing, so this is unambiguous).
    return df.sort_values([CASE, "ts"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TRUTH.read_text(encoding="utf-8"))
    return data


def _ids(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _first(log: pd.DataFrame, activity: str) -> pd.Series:
    return log[log[ACT] == activity].groupby(CASE)["ts"].min()


# --- independent recomputation of the contract's definitions -----------------------------------------


def rework(log: pd.DataFrame) -> dict[str, list[str]]:
    """Activities repeated in a case, the customer's own contacts apart (those are chasing, not rework)."""
    log = log[log[ACT] != "Customer Follow-up"]
    counts = log.groupby([CASE, ACT]).size()
    repeated = counts[counts > 1].reset_index()
    return {a: _ids(g[CASE]) for a, g in repeated.groupby(ACT)}


def team_sequences(log: pd.DataFrame) -> dict[str, list[str]]:
    human = log[(log[TEAM] != "") & ~log[RES].isin(SYSTEM)]
    out: dict[str, list[str]] = {}
    for case, teams in human.groupby(CASE)[TEAM]:
        seq: list[str] = []
        for team in teams:
            if not seq or seq[-1] != team:
                seq.append(team)
        out[str(case)] = seq
    return out


def ping_pong(log: pd.DataFrame) -> list[str]:
    """X -> Y -> X in the collapsed team sequence."""
    return _ids(c for c, s in team_sequences(log).items() if any(s[i] == s[i + 2] for i in range(len(s) - 2)))


def team_revisits(log: pd.DataFrame) -> list[str]:
    """The loose reading: a team comes back at any later point."""
    return _ids(c for c, s in team_sequences(log).items() if len(set(s)) < len(s))


def resource_revisits(log: pd.DataFrame) -> list[str]:
    human = log[~log[RES].isin(SYSTEM) & (log[RES] != CUSTOMER)]
    out = []
    for case, resources in human.groupby(CASE)[RES]:
        seq = [r for i, r in enumerate(resources) if i == 0 or resources.iloc[i - 1] != r]
        if len(set(seq)) < len(seq):
            out.append(str(case))
    return _ids(out)


def reopened(log: pd.DataFrame) -> list[str]:
    first_close = _first(log, "Close Ticket")
    after = log[log["ts"] > log[CASE].map(first_close)]
    hit = after[
        (after[ACT] == "Reopen Ticket")
        | (after[ACT] == "Customer Follow-up")
        | (after[RES] == CUSTOMER)
        | ~after[RES].isin(SYSTEM)
    ]
    return _ids(hit[CASE])


def any_after_close(log: pd.DataFrame) -> list[str]:
    first_close = _first(log, "Close Ticket")
    return _ids(log[log["ts"] > log[CASE].map(first_close)][CASE])


def order_violations(log: pd.DataFrame, before: str, after: str) -> list[str]:
    first_before = log[CASE].map(_first(log, before))
    hit = log[(log[ACT] == after) & (first_before.isna() | (log["ts"] < first_before))]
    return _ids(hit[CASE])


def chasing(log: pd.DataFrame, contacts: int = 2) -> list[str]:
    resolved = log[CASE].map(_first(log, "Resolve Ticket"))
    before = log[(log[ACT] == "Customer Follow-up") & (resolved.isna() | (log["ts"] < resolved))]
    counts = before.groupby(CASE).size()
    return _ids(counts[counts >= contacts].index)


def stalled(log: pd.DataFrame, days: int = 14) -> list[str]:
    end = log["ts"].max()
    closed = set(log.loc[log[ACT] == "Close Ticket", CASE])
    last = log.groupby(CASE)["ts"].max()
    old = last[end - last >= pd.Timedelta(days=days)]
    return _ids(c for c in old.index if c not in closed)


# --- tests ------------------------------------------------------------------------------------------


def test_same_seed_same_log_other_seed_other_log() -> None:
    a, ta = sample.generate(300, seed=7)
    b, tb = sample.generate(300, seed=7)
    c, _ = sample.generate(300, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert ta == tb
    assert not a.equals(c)
    assert list(a.columns) == list(sample.COLUMNS)


def test_committed_files_match_the_generator(tmp_path: Path, truth: dict[str, Any]) -> None:
    assert truth["seed"] == sample.SEED
    csv_path, truth_path = sample.write_sample(tmp_path, cases=truth["cases"], seed=truth["seed"])
    assert csv_path.read_bytes() == CSV.read_bytes()
    assert truth_path.read_bytes() == TRUTH.read_bytes()


def test_shape(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    raw = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    assert list(raw.columns) == list(sample.COLUMNS)
    assert raw[TS].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert raw[CASE].str.fullmatch(r"T-\d{6}").all()
    ts = pd.to_datetime(raw[TS], utc=True)
    # CRM export order: by timestamp, then ticket; not grouped by ticket.
    keys = list(zip(ts, raw[CASE], strict=True))
    assert keys == sorted(keys)
    assert len(raw) == truth["events"] and raw[CASE].nunique() == truth["cases"] == 3000
    assert 25_000 <= len(raw) <= 40_000
    assert CSV.stat().st_size < 5_000_000
    # No ties within a ticket.
    assert (log.groupby(CASE)["ts"].diff().dropna() > pd.Timedelta(0)).all()
    span = log["ts"].max() - log["ts"].min()
    assert pd.Timedelta(days=175) <= span <= pd.Timedelta(days=190)
    # Customer and system events carry no team; human events do.
    nonhuman = log[RES].isin(SYSTEM) | (log[RES] == CUSTOMER)
    assert (log.loc[nonhuman, TEAM] == "").all()
    assert (log.loc[~nonhuman, TEAM] != "").all()
    assert set(log[TEAM]) == {"", "Tier 1", "Tier 2", "Network Ops", "Billing"}
    assert 16 <= log.loc[~nonhuman, RES].nunique() <= 24
    # Every human works in one team.
    assert (log.loc[~nonhuman].groupby(RES)[TEAM].nunique() == 1).all()


def test_truth_is_well_formed(truth: dict[str, Any], log: pd.DataFrame) -> None:
    cases = set(log[CASE])
    lists = [truth["clean_case_ids"]]
    for kind in truth["kinds"].values():
        if "case_ids" in kind:
            lists.append(kind["case_ids"])
    lists += [r["case_ids"] for r in truth["kinds"]["order_violation"]["rules"]]
    lists += list(truth["kinds"]["rework_loop"]["by_activity"].values())
    for ids in lists:
        assert ids == sorted(set(ids)) and set(ids) <= cases and ids
        assert all(isinstance(i, str) for i in ids)
    assert set(truth["kinds"]) == {
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
    }
    # The clean tickets are the majority.
    assert len(truth["clean_case_ids"]) > len(cases) / 2


def test_rework_loops_equal_truth(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    t = truth["kinds"]["rework_loop"]
    found = rework(log)
    assert found == t["by_activity"]
    assert sorted(found) == t["activities"]
    assert _ids(c for ids in found.values() for c in ids) == t["case_ids"]
    assert set(t["planted_case_ids"]) <= set(t["case_ids"])
    # Multi-step loops A -> B -> A -> B are among them.
    both = set(found["Investigate"]) & set(found["Request Info"])
    assert len(both) >= 20


def test_ping_pong_equals_truth(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    t = truth["kinds"]["ping_pong"]
    assert ping_pong(log) == t["case_ids"]
    # The loose reading (a team comes back at all) and resource-level ping-pong give the same tickets.
    assert team_revisits(log) == t["case_ids"]
    assert resource_revisits(log) == t["case_ids"]
    for seq in (s for c, s in team_sequences(log).items() if c in set(t["case_ids"])):
        assert seq[:3] == t["teams"] + t["teams"][:1] or seq[1:4] == t["teams"] + t["teams"][:1]


def test_reopened_equals_truth(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    ids = truth["kinds"]["reopened_after_close"]["case_ids"]
    assert reopened(log) == ids
    # In every other ticket the first closure is the last event.
    assert any_after_close(log) == ids
    reopen = log[log[ACT] == "Reopen Ticket"]
    assert (reopen[RES] == CUSTOMER).all() and _ids(reopen[CASE]) == ids


def test_order_violations_equal_truth(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    rules = truth["kinds"]["order_violation"]["rules"]
    assert [(r["before"], r["after"]) for r in rules] == [
        ("Resolve Ticket", "Send Survey"),
        ("Reply to Customer", "Close Ticket"),
    ]
    for rule in rules:
        assert order_violations(log, rule["before"], rule["after"]) == rule["case_ids"]


def test_chasing_equals_truth(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    t = truth["kinds"]["customer_chasing"]
    assert t["chasing_contacts"] == 2
    assert chasing(log, 2) == t["case_ids"]
    # Robust to the threshold: no ticket has exactly one follow-up.
    assert chasing(log, 1) == t["case_ids"]
    assert (log.loc[log[ACT] == "Customer Follow-up", RES] == CUSTOMER).all()


def test_stalled_equals_truth(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    t = truth["kinds"]["stalled_case"]
    assert t["stalled_days"] == 14
    assert stalled(log, 14) == t["case_ids"]
    # With a margin: the same tickets at 13 and 15 days.
    assert stalled(log, 13) == stalled(log, 15) == t["case_ids"]
    # Some open tickets at the end of the log are recent, clean and not stalled.
    closed = set(log.loc[log[ACT] == "Close Ticket", CASE])
    last = log.groupby(CASE)["ts"].max()
    open_recent = [
        c for c in last.index if c not in closed and last[c] > log["ts"].max() - pd.Timedelta(days=7)
    ]
    assert len(open_recent) >= 50
    assert set(open_recent) <= set(truth["clean_case_ids"])


def test_clean_cases_show_nothing(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    clean = set(truth["clean_case_ids"])
    found: set[str] = set()
    for ids in rework(log).values():
        found |= set(ids)
    found |= set(ping_pong(log)) | set(team_revisits(log)) | set(resource_revisits(log))
    found |= set(reopened(log)) | set(any_after_close(log)) | set(chasing(log, 1)) | set(stalled(log, 13))
    found |= set(order_violations(log, "Resolve Ticket", "Send Survey"))
    found |= set(order_violations(log, "Reply to Customer", "Close Ticket"))
    assert not clean & found
    planted: set[str] = set()
    for kind in truth["kinds"].values():
        planted |= set(kind.get("case_ids", []))
    for rule in truth["kinds"]["order_violation"]["rules"]:
        planted |= set(rule["case_ids"])
    assert not clean & planted
    assert clean | planted == set(log[CASE])
    in_clean = log[log[CASE].isin(clean)]
    assert not set(in_clean[ACT]) & {
        "Pending Customer",
        "Reopen Ticket",
        "Customer Follow-up",
        "Return to Tier 1",
    }


def test_timers_are_near_constant(log: pd.DataFrame) -> None:
    resolved = log[log[ACT] == "Resolve Ticket"][[CASE, "ts"]].rename(columns={"ts": "resolved"})
    for activity, delay in (("Send Survey", pd.Timedelta(days=1)), ("Close Ticket", pd.Timedelta(days=7))):
        ev = log[(log[ACT] == activity) & (log[RES] == "svc-workflow")][[CASE, "ts"]]
        pairs = pd.merge_asof(
            ev.sort_values("ts"), resolved.sort_values("resolved"), left_on="ts", right_on="resolved", by=CASE
        )
        pairs = pairs.dropna()
        lag = pairs["ts"] - pairs["resolved"] - delay
        assert len(pairs) > 2500
        assert ((lag >= pd.Timedelta(0)) & (lag <= pd.Timedelta(seconds=5))).all()
    # Close Ticket is (nearly always) the timer; Send Survey always svc-workflow.
    close = log[log[ACT] == "Close Ticket"]
    assert (close[RES] == "svc-workflow").mean() > 0.97
    assert (log.loc[log[ACT] == "Send Survey", RES] == "svc-workflow").all()


def test_auto_assign_is_the_router_within_seconds(log: pd.DataFrame) -> None:
    assign = log[log[ACT] == "Auto-Assign"]
    assert (assign[RES] == "bot-router").all()
    lag = assign.set_index(CASE)["ts"] - _first(log, "Create Ticket")
    assert lag.between(pd.Timedelta(seconds=2), pd.Timedelta(seconds=20)).all()


def test_chained_bookkeeping(log: pd.DataFrame) -> None:
    prev_act = log.groupby(CASE)[ACT].shift()
    prev_res = log.groupby(CASE)[RES].shift()
    prev_ts = log.groupby(CASE)["ts"].shift()
    status = log[ACT] == "Update Status Field"
    assert (prev_act[status] == "Take in Charge").all()
    assert (prev_res[status] == log.loc[status, RES]).all()
    lag = (log.loc[status, "ts"] - prev_ts[status]).dt.total_seconds()
    assert lag.between(1, 5).all()
    take = log[ACT] == "Take in Charge"
    next_act = log.groupby(CASE)[ACT].shift(-1)
    assert (next_act[take] == "Update Status Field").mean() > 0.95


def test_orphaned_consumer_vanishes_at_cutover(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    cutover = pd.Timestamp(truth["cutover"])
    assert log["ts"].min() + pd.Timedelta(days=60) < cutover < log["ts"].max() - pd.Timedelta(days=60)
    connector = log[log[RES] == "siebel-connector"]
    assert (connector[ACT] == "Legacy CRM Import").all()
    assert (connector["ts"] < cutover).all() and len(connector) > 300
    sync = log[log[ACT] == "Sync to Legacy CRM"]
    assert (~sync[RES].isin(SYSTEM | {CUSTOMER})).all()
    assert (sync["ts"] >= cutover).sum() > 300
    nxt = log.groupby(CASE)[ACT].shift(-1)
    nxt_ts = log.groupby(CASE)["ts"].shift(-1)
    is_sync = log[ACT] == "Sync to Legacy CRM"
    early = is_sync & (log["ts"] < cutover - pd.Timedelta(seconds=300))
    late = is_sync & (log["ts"] >= cutover)
    assert (nxt[early] == "Legacy CRM Import").all()
    assert ((nxt_ts[early] - log.loc[early, "ts"]).dt.total_seconds().between(20, 300)).all()
    assert not (nxt[late] == "Legacy CRM Import").any()
    assert truth["kinds"]["legacy_step"]["activities"]["Sync to Legacy CRM"] == "orphaned"


def test_vestigial_form_is_independent_of_outcomes(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    form_cases = set(log.loc[log[ACT] == "Fill Knowledge Form", CASE])
    all_cases = set(log[CASE])
    share = len(form_cases) / len(all_cases)
    assert 0.35 < share < 0.55
    problem_ids: set[str] = set()
    for key in ("reopened_after_close", "customer_chasing", "stalled_case", "ping_pong", "compliant_failure"):
        problem_ids |= set(truth["kinds"][key]["case_ids"])
    problem_share = len(form_cases & problem_ids) / len(problem_ids)
    assert abs(problem_share - share) < 0.08
    # It always follows Take in Charge (and its bookkeeping) and is done by that agent.
    prev_act = log.groupby(CASE)[ACT].shift()
    prev_res = log.groupby(CASE)[RES].shift()
    form = log[ACT] == "Fill Knowledge Form"
    assert prev_act[form].isin({"Take in Charge", "Update Status Field"}).all()
    assert (prev_res[form] == log.loc[form, RES]).all()


def test_parking(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    t = truth["kinds"]["long_wait"]
    pending = log[log[ACT] == "Pending Customer"]
    assert _ids(pending[CASE]) == t["case_ids"]
    assert (~pending[RES].isin(SYSTEM | {CUSTOMER})).all()
    abuse = set(t["parking_abuse"]["case_ids"])
    assert abuse < set(t["case_ids"])
    nxt = log.groupby(CASE)[ACT].shift(-1)
    nxt_res = log.groupby(CASE)[RES].shift(-1)
    wait = (log.groupby(CASE)["ts"].shift(-1) - log["ts"]).dt.total_seconds() / 86400
    is_pending = log[ACT] == "Pending Customer"
    in_abuse = log[CASE].isin(abuse)
    # Normal parking: the customer answers 6.5-12 days later.
    normal = is_pending & ~in_abuse
    assert (nxt[normal] == "Customer Reply").all() and wait[normal].between(6.5, 12.01).all()
    # Abuse: the same few agents re-park with no customer event in between.
    abused = is_pending & in_abuse
    assert set(log.loc[abused, RES]) == set(t["parking_abuse"]["agents"])
    assert not (set(log.loc[normal, RES]) & set(t["parking_abuse"]["agents"]))
    assert (nxt_res[abused] != CUSTOMER).all() and (wait[abused] >= 1).all()
    assert (pending.groupby(CASE).size().reindex(sorted(abuse)) >= 2).all()
    # Parking waits dwarf the usual waits between two events of a clean ticket before resolution.
    clean = log[log[CASE].isin(set(truth["clean_case_ids"]))]
    gaps = clean.groupby(CASE)["ts"].diff().dt.total_seconds() / 86400
    before_resolution = ~clean[ACT].isin({"Send Survey", "Close Ticket", "Legacy CRM Import"})
    assert gaps[before_resolution].max() < wait[normal].min()
    # ... and every single wait of a compliant failure too (theirs are long, but spread over the steps).
    slow = log[log[CASE].isin(set(truth["kinds"]["compliant_failure"]["case_ids"]))]
    slow_gaps = slow.groupby(CASE)["ts"].diff().dt.total_seconds() / 86400
    assert slow_gaps[~slow[ACT].isin({"Send Survey", "Close Ticket"})].max() < wait[normal].min()


def test_compliant_failures(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    ids = set(truth["kinds"]["compliant_failure"]["case_ids"])
    failing = log[log[CASE].isin(ids)]
    assert set(failing[ACT]) <= HAPPY
    assert failing.groupby([CASE, ACT]).size().max() == 1
    assert set(failing.groupby(CASE)[ACT].last()) == {"Close Ticket"}
    # Comparable clean tickets: the same priority, the same happy-path activities.
    clean_ids = set(truth["clean_case_ids"])
    acts = log.groupby(CASE)[ACT].agg(set)
    happy_clean = [c for c in clean_ids if acts[c] <= HAPPY and "Close Ticket" in acts[c]]
    created = _first(log, "Create Ticket")
    duration = (_first(log, "Resolve Ticket") - created).dt.total_seconds()
    priority = log.groupby(CASE)["Priority"].first()
    for prio in sorted(set(priority[list(ids)])):
        base = duration[[c for c in happy_clean if priority[c] == prio]]
        slow = duration[[c for c in ids if priority[c] == prio]]
        assert slow.min() > base.max()
        assert slow.median() > 5 * base.median()


def test_write_events(tmp_path: Path) -> None:
    path = sample.write_events(tmp_path / "big.csv", 50_000, seed=3)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    longest = sample.generate(seed=3)[0].groupby(CASE).size().max()
    assert 50_000 <= len(df) < 50_000 + longest
    assert list(df.columns) == list(sample.COLUMNS)
    ts = pd.to_datetime(df[TS], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    keys = list(zip(ts, df[CASE], strict=True))
    assert keys == sorted(keys)
    df["ts"] = ts
    by_case = df.sort_values([CASE, "ts"], kind="stable")
    assert (by_case.groupby(CASE)["ts"].diff().dropna() > pd.Timedelta(0)).all()
    cutover = pd.Timestamp(sample.CUTOVER, unit="s", tz="UTC")
    assert (df.loc[df[RES] == "siebel-connector", "ts"] < cutover).all()
    assert (df.loc[df[RES] == CUSTOMER, TEAM] == "").all()
    assert sample.write_events(tmp_path / "again.csv", 50_000, seed=3).read_bytes() == path.read_bytes()


def test_rule_pack_fits_the_log(log: pd.DataFrame, truth: dict[str, Any]) -> None:
    rules = tomllib.loads((ROOT / "models" / "support-desk.rules.toml").read_text(encoding="utf-8"))
    activities = set(log[ACT])
    for names in rules["roles"].values():
        assert set(names) <= activities
    system = {
        r for r in set(log[RES]) if any(fnmatch.fnmatchcase(r, p) for p in rules["resources"]["system"])
    }
    assert system == SYSTEM
    assert rules["resources"]["customer"] == [CUSTOMER]
    assert [(o["before"], o["after"]) for o in rules["order"]] == [
        (r["before"], r["after"]) for r in truth["kinds"]["order_violation"]["rules"]
    ]
    assert rules["thresholds"] == {"stalled_days": 14, "chasing_contacts": 2}

"""The audit's shared parts: rule packs, roles, costs, severity, business hours, the JSON shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest
from audit_helpers import SAMPLE, SAMPLE_RULES, sample_findings

from auditor import rules
from auditor.audit import AuditOptions, build_context
from auditor.businesstime import business_hours_between, parse
from auditor.engine import Engine
from auditor.errors import UsageError
from auditor.findings import KINDS, severity_for
from auditor.ingest import load
from auditor.options import ReadOptions
from auditor.roles import name_role


def test_rule_pack_loads_and_checks_names(tmp_path: Path) -> None:
    pack = rules.load(SAMPLE_RULES)
    assert pack.roles["resolution"] == ("Resolve Ticket",) and pack.thresholds.stalled_days == 14
    bad = tmp_path / "bad.toml"
    bad.write_text('[roles]\nresolution = ["Resolve Tiket"]\n')
    with Engine() as engine:
        log = load(SAMPLE, ReadOptions(), engine)
        with pytest.raises(UsageError, match="Close matches: 'Resolve Ticket'"):
            build_context(log, AuditOptions(rules=rules.load(bad)))


@pytest.mark.parametrize(
    ("text", "message"),
    [("[rolez]\n", "unknown table"), ("[roles]\nfix = ['x']\n", "unknown key"), ("[[order]]\nbefore = 'a'\n", "exactly"),
     ("[thresholds]\nstalled_days = -1\n", "non-negative"), ("x = [", "not valid TOML"),
     ("[thresholds]\nchasing_contacts = nan\n", "non-negative"), ("[thresholds]\nstalled_days = inf\n", "non-negative"),
     ("[thresholds]\nchasing_contacts = 1e300\n", "up to"), ("[thresholds]\nlong_wait_factor = nan\n", "non-negative"),
     ("[thresholds]\nchasing_contacts = 1.5\n", "whole number"), ("[thresholds]\nchasing_contacts = 0\n", "at least 1"),
     ("[[order]]\nbefore = []\nafter = 'a'\n", "names no activity"),
     ("[[order]]\nbefore = 'a'\nafter = ['a', 'b']\n", "both before and after"),
     ("[value]\nVA = ['a']\nNVA = ['a']\n", "both VA and NVA")],
)
def test_rule_pack_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        rules.load(path)


def test_rule_pack_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_bytes("[thresholds]\nstalled_days = 3\n".encode("utf-8-sig"))
    assert rules.load(path).thresholds.stalled_days == 3


def test_inferred_roles_equal_the_sample_pack() -> None:
    pack = rules.load(SAMPLE_RULES)
    with Engine() as engine:
        ctx = build_context(load(SAMPLE, ReadOptions(), engine), AuditOptions())
        for role, acts in pack.roles.items():
            assert ctx.roles.of(role) == acts, role
        assert set(ctx.roles.accounts.system) == {"bot-router", "svc-workflow", "siebel-connector"}
        assert ctx.roles.accounts.customer == ("customer",)


def test_field_change_names_use_the_new_value() -> None:
    assert name_role("Status: Resolved -> Closed") == "closure"
    assert name_role("Status: Closed -> Reopened") == "reopen"
    assert name_role("Reply to Customer") == "agent_response"
    assert name_role("Customer Reply") is None


def test_status_names_in_other_languages() -> None:
    assert name_role("Gelöst") == "resolution" and name_role("Ticket geschlossen") == "closure"
    assert name_role("Wiedereröffnet") == "reopen" and name_role("Status: En cours -> Résolu") == "resolution"
    assert name_role("Cerrado") == "closure" and name_role("Heropend") == "reopen"
    assert name_role("Opgelost") == "resolution" and name_role("Clôturé") == "closure"
    assert name_role("Fechado automaticamente") == "closure"
    assert name_role("Kunde angerufen") == "agent_response"  # the agent called the customer
    assert name_role("Kunde verärgert") is None  # words outside the list stay unnamed


def test_severity_is_relative_to_the_log() -> None:
    assert severity_for(0.15, 0, 1000) == "high"
    assert severity_for(0.01, 60, 1000) == "high"
    assert severity_for(0.01, 60, 100_000) == "low"
    assert severity_for(0.15, 0, 1000, customer_facing=False) == "medium"


def test_business_hours() -> None:
    wh = parse("Mon-Fri 08:00-18:00", "Europe/Berlin")
    df = pd.DataFrame(
        {"a": pd.to_datetime(["2024-03-01 16:00", "2024-03-04 06:00", "2024-03-02 10:00"], utc=True),
         "b": pd.to_datetime(["2024-03-04 08:00", "2024-03-11 06:00", "2024-03-02 12:00"], utc=True)}
    )
    with Engine() as engine:
        t = ibis.memtable(df)
        out = engine.backend.execute(t.mutate(h=business_hours_between(t.a, t.b, wh)))
    assert out["h"].tolist() == [2.0, 50.0, 0.0]
    with pytest.raises(UsageError):
        parse("weekdays 9-5")


def _worked_minutes(a: pd.Timestamp, b: pd.Timestamp, zone: str, windows: Any) -> float:
    """Reference: steps minute by minute through local time and counts the minutes inside a window."""
    n = 0
    t = a
    while t < b:
        local = t.tz_convert(zone)
        tod = local.hour * 3600 + local.minute * 60
        n += any(s <= tod < e for s, e in windows[local.weekday()])
        t += pd.Timedelta(minutes=1)
    return n / 60


@pytest.mark.parametrize(
    "spec",
    ["Mon-Fri 08:00-12:00, 13:00-17:00; Sat 09:00-13:00", "Mon-Fri 22:00-06:00", "Sun-Thu 20:00-04:00, 09:00-12:00",
     "Mon 08:00-12:00; Mon 14:00-18:00; Wed-Fri 00:00-24:00"],
)
def test_business_hours_with_breaks_and_night_shifts(spec: str) -> None:
    """Lunch breaks, night shifts past midnight (Friday's runs into Saturday) and several segments for one
    day, against a minute-by-minute count in local time (a daylight-saving change included)."""
    wh = parse(spec, "Europe/Berlin")
    rng = np.random.default_rng(7)
    base = pd.Timestamp("2024-03-25 00:00", tz="UTC")  # Berlin changes to summer time on the 31st
    a = base + pd.to_timedelta(rng.integers(0, 9 * 24 * 60, 40), unit="min")
    b = a + pd.to_timedelta(rng.integers(0, 4 * 24 * 60, 40), unit="min")
    df = pd.DataFrame({"a": a, "b": b})
    with Engine() as engine:
        t = ibis.memtable(df)
        out = engine.backend.execute(t.mutate(h=business_hours_between(t.a, t.b, wh)))
    expected = [_worked_minutes(x, y, "Europe/Berlin", wh.windows) for x, y in zip(df["a"], df["b"], strict=True)]
    assert np.allclose(out["h"].to_numpy(), expected)


def test_working_hours_spec_errors() -> None:
    night = parse("Fri 22:00-06:00")
    assert night.windows[4] == ((22 * 3600, 86400),) and night.windows[5] == ((0, 6 * 3600),)
    assert night.weekly_seconds == 8 * 3600
    for bad, says in (("Mon 08:00-12:00, 11:00-13:00", "overlap"), ("Mon 08:00-08:00", "no time"),
                      ("Sun 22:00-06:00; Mon 05:00-09:00", "Mon overlap"), ("Mon 25:00-26:00", "not a time")):
        with pytest.raises(UsageError, match=says.split()[-1]):
            parse(bad)


def test_findings_json_shape() -> None:
    for f in sample_findings():
        d = f.to_json()
        assert list(d)[:8] == ["kind", "title", "activities", "cases", "case_share", "case_ids", "severity", "evidence"]
        assert d["kind"] in KINDS and d["case_ids"] == sorted(d["case_ids"]) and d["cases"] == len(d["case_ids"])
        assert 0 < d["case_share"] <= 1


def test_stuck_path_matches_pandas() -> None:
    finding = next(f for f in sample_findings() if f.kind == "rework_loop" and f.activities == ["Reply to Customer"])
    df = pd.read_csv(SAMPLE).rename(columns={"Ticket ID": "case", "Activity": "act", "Timestamp": "ts"})
    df["ts"] = pd.to_datetime(df["ts"])
    df = df.sort_values(["case", "ts"], kind="stable")
    df["prev"] = df.groupby("case")["act"].shift()
    df["wait"] = (df["ts"] - df.groupby("case")["ts"].shift()).dt.total_seconds() / 3600
    passes = df.dropna(subset=["prev"])
    hit = passes["case"].isin(finding.case_ids)
    n_in, n_out = len(finding.case_ids), df["case"].nunique() - len(finding.case_ids)
    per_edge = passes[hit].groupby(["prev", "act"])["wait"].agg(["sum", "count"]).join(
        passes[~hit].groupby(["prev", "act"])["wait"].agg(["sum", "count"]).add_suffix("_out"), how="left"
    ).fillna(0.0)
    per_edge["extra"] = (per_edge["sum"] / n_in - per_edge["sum_out"] / n_out) * n_in
    best = per_edge["extra"].idxmax()
    top = finding.evidence["stuck_path"][0]
    assert (top["source"], top["target"]) == best
    assert abs(top["extra_hours_total"] - per_edge["extra"].max()) < 0.01
    # The split: slower passes (against the other cases' mean wait per pass) and more passes per case.
    row = per_edge.loc[best]
    mean_in, mean_out = row["sum"] / row["count"], row["sum_out"] / row["count_out"]
    assert abs(top["slower_hours"] - row["count"] * (mean_in - mean_out)) < 0.01
    assert abs(top["more_often_hours"] - mean_out * (row["count"] - n_in * row["count_out"] / n_out)) < 0.02
    assert abs(top["slower_hours"] + top["more_often_hours"] - top["extra_hours_total"]) < 0.02
    assert top["passes_per_case"] == round(row["count"] / n_in, 3)
    assert top["others_passes_per_case"] == round(row["count_out"] / n_out, 3)
    assert top["mean_wait_hours"] == round(mean_in, 2) and top["others_mean_wait_hours"] == round(mean_out, 2)


def test_stuck_path_of_a_fixed_timer_is_more_passes_not_slower(tmp_path: Path) -> None:
    """A survey's fixed 7-day auto-close is never slower: reopened cases spend extra time on it because
    they pass it twice, and the split says so."""
    from audit_helpers import run_audit, tiny_log

    rows = []
    for i in range(40):
        day = f"2024-03-{1 + i % 20:02d}"
        steps = [("Open", "08:00"), ("Work", "10:00"), ("Resolve", "12:00")]
        rows += [(f"c{i}", a, f"{day} {t}", "ann", "T1") for a, t in steps]
        rows.append((f"c{i}", "Survey", f"{day} 13:00", "system", ""))
        rows.append((f"c{i}", "Close", f"{(pd.Timestamp(day) + pd.Timedelta(days=7)):%Y-%m-%d} 13:00", "system", ""))
        if i % 4 == 0:  # reopened: the closing steps again, the same fixed timer
            later = pd.Timestamp(day) + pd.Timedelta(days=8)
            rows += [(f"c{i}", "Reopen", f"{later:%Y-%m-%d} 09:00", "customer", ""),
                     (f"c{i}", "Work", f"{later:%Y-%m-%d} 10:00", "ann", "T1"),
                     (f"c{i}", "Resolve", f"{later:%Y-%m-%d} 12:00", "ann", "T1"),
                     (f"c{i}", "Survey", f"{later:%Y-%m-%d} 13:00", "system", ""),
                     (f"c{i}", "Close", f"{later + pd.Timedelta(days=7):%Y-%m-%d} 13:00", "system", "")]
    reopened = next(f for f in run_audit(tiny_log(tmp_path, rows)) if f.kind == "reopened_after_close")
    timer = next(e for e in reopened.evidence["stuck_path"] if (e["source"], e["target"]) == ("Survey", "Close"))
    assert timer["slower_hours"] == 0.0
    assert timer["more_often_hours"] == timer["extra_hours_total"] == 10 * 168.0
    assert (timer["passes_per_case"], timer["others_passes_per_case"]) == (2.0, 1.0)
    assert timer["mean_wait_hours"] == timer["others_mean_wait_hours"] == 168.0


def test_customer_contacts_from_behaviour(tmp_path: Path) -> None:
    """No activity is named as a contact: customers' own unprompted events count, answers to a request don't."""
    from audit_helpers import tiny_log

    rows = []
    for i in range(30):
        day = f"2024-02-{1 + i % 28:02d}"
        rows += [
            (f"c{i}", "Open", f"{day} 08:00", "customer", ""),
            (f"c{i}", "Ask for Details", f"{day} 09:00", "ann", "T1"),
            (f"c{i}", "Details Sent", f"{day} 10:00", "customer", ""),   # an answer: prompted
            (f"c{i}", "Analyse", f"{day} 11:00", "ann", "T1"),
        ]
        if i % 2:
            rows.append((f"c{i}", "Nudge", f"{day} 12:00", "customer", ""))  # unprompted, after varied steps
        rows.append((f"c{i}", "Resolve", f"{day} 13:00", "ann", "T1"))
        if i % 3 == 0:
            rows.append((f"c{i}", "Nudge", f"{day} 14:00", "customer", ""))
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions())
    assert ctx.roles.of("customer_contact") == ("Nudge",)
    assert "customer accounts" in ctx.roles.roles["customer_contact"].reasons["Nudge"]


def test_account_patterns_that_match_nobody_are_noted(tmp_path: Path) -> None:
    """A typo in `[resources] system` ("nobody-*" for "bot-*") switched system-account inference off in
    silence: the router bot then handed work back and forth with people, and first-pass yield fell to 0.
    The pack still decides (the contract), but the notes say which pattern matched nothing, and how close."""
    from audit_helpers import tiny_log

    rows = [(f"c{i}", act, f"2024-02-01 {8 + k:02d}:00", who, "T1")
            for i in range(5) for k, (act, who) in enumerate([("Open", "bot-router"), ("Work", "Ana"), ("Close", "Dan")])]
    path = tiny_log(tmp_path, rows)

    def roles_with(text: str) -> Any:
        pack_file = tmp_path / "pack.toml"
        pack_file.write_text(text)
        with Engine() as engine:
            return build_context(load(path, ReadOptions(), engine), AuditOptions(rules=rules.load(pack_file))).roles

    typo = roles_with('[resources]\nsystem = ["nobody-*"]\n')
    assert typo.accounts.system == ()  # the pack says which accounts are systems, even when it is wrong
    assert "rule pack [resources] system: 'nobody-*' matches no account of this log" in typo.notes[0]
    assert typo.notes[1] == ("rule pack [resources] system: no pattern matches, so no account counts as a system "
                             "account; without the key they would be inferred")
    near = roles_with('[resources]\nsystem = ["bot-routr"]\n')
    assert near.notes[0].endswith("(close: bot-router)")
    partly = roles_with('[resources]\nsystem = ["Dan", "nobody-*"]\n')
    assert partly.accounts.system == ("Dan",)  # the pack decides; only the unmatched pattern is noted
    assert [n for n in partly.notes if "[resources]" in n] == [
        "rule pack [resources] system: 'nobody-*' matches no account of this log"
    ]
    both = roles_with('[resources]\nsystem = ["bot-*"]\ncustomer = ["bot-router"]\n')
    assert both.accounts.system == () and both.accounts.customer == ("bot-router",)
    assert "accounts 'bot-router' match both the system and the customer accounts: counted as customers" in both.notes
    packed = roles_with('[roles]\nresolution = []\nclosure = ["Close"]\n')
    assert "the rule pack lists no resolution activity: closure activities stand in for resolution" in packed.notes
    none = roles_with('[resources]\nsystem = []\n')
    assert none.accounts.system == () and not [n for n in none.notes if "[resources]" in n]


def test_names_that_differ_only_in_letter_case_are_noted(tmp_path: Path) -> None:
    from audit_helpers import tiny_log

    rows = [("c1", "Resolve", "2024-02-01 08:00", "Ana", "T1"), ("c1", "Close", "2024-02-01 09:00", "ana", "T1"),
            ("c2", "resolve", "2024-02-01 08:00", "Bo", "T1"), ("c2", "closed", "2024-02-01 09:00", "Bo", "T1")]
    with Engine() as engine:
        notes = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions()).roles.notes
    assert "accounts 'Ana', 'ana' differ only in letter case: the audit counts them apart; if they are one, make " \
           "their names equal in the export" in notes
    assert any(n.startswith("activities 'Resolve', 'resolve' differ only in letter case") for n in notes)
    assert not any("'Close'" in n for n in notes)  # close and closed are different words


def test_a_few_events_far_beyond_the_rest_of_the_log_are_noted(tmp_path: Path) -> None:
    """One mistyped year moved the log's end three years on: stalled cases then idled 27,000 hours and every
    step looked discontinued, with no word about why."""
    from audit_helpers import tiny_log

    from auditor.caveats import input_notes

    rows = [(f"c{i}", act, f"2024-03-{1 + i % 25:02d} {8 + k}:00", "Ana", "T1")
            for i in range(40) for k, act in enumerate(["Open", "Work", "Close"])]
    with Engine() as engine:
        log = load(tiny_log(tmp_path, rows), ReadOptions(), engine)
        assert not [n for n in input_notes(log, log.table).notes if "far" in n]
        rows += [("c1", "Add Comment", "2027-05-02 10:00", "Ana", "T1"), ("c2", "Open", "2001-01-01 10:00", "Ana", "T1"),
                 ("c3", "Open", "2001-01-02 10:00", "Ana", "T1")]
        log = load(tiny_log(tmp_path, rows), ReadOptions(), engine)
        found = input_notes(log, log.table)
        notes = [n for n in found.notes if "far" in n]
    assert found.rest_end is not None and f"{found.rest_end:%Y-%m-%d}" == "2024-03-25"
    assert notes == [
        "1 event (2027-05-02) lies far after the rest of the log, which ends on 2024-03-25: a mistyped date? "
        "Case durations, stalled cases' idle time and discontinued or introduced steps are measured to the log's end",
        "2 events (2001-01-01 to 2001-01-02) lie far before the rest of the log, which starts on 2024-03-01: a "
        "mistyped date? Case durations, stalled cases' idle time and discontinued or introduced steps are measured "
        "to the log's start",
    ]


def test_closure_from_behaviour_when_no_name_says_it(tmp_path: Path) -> None:
    """BPIC 2013's problems end with 'Completed', which no name pattern reads as a closure: stalled cases and
    returns after closure went unseen. An activity that ends most of its cases stands in, with its reason."""
    from audit_helpers import tiny_log

    rows = []
    for i in range(40):
        day = f"2024-02-{1 + i % 28:02d}"
        steps = ["Logged", "Analysed", "Completed"] if i % 4 else ["Logged", "Analysed"]  # a quarter still open
        if i % 10 == 1:
            steps += ["Analysed", "Completed"]  # worked again after completion
        rows += [(f"c{i}", a, f"{day} {8 + k:02d}:00", "ann", "T1") for k, a in enumerate(steps)]
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions())
    assert ctx.roles.of("closure") == ("Completed",)
    assert ctx.roles.roles["closure"].reasons["Completed"].startswith("it is the last event of 100% of the 30 cases")
    assert any("Completed ends most cases it occurs in and stands in as closure" in n for n in ctx.roles.notes)
    # a name or a pack wins over behaviour
    named = [(c, "Closed" if a == "Completed" else a, t, r, g) for c, a, t, r, g in rows]
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path / "n", named), ReadOptions(), engine), AuditOptions())
    assert ctx.roles.of("closure") == ("Closed",)
    pack = rules.RulePack(roles={"closure": ()})
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions(rules=pack))
    assert ctx.roles.of("closure") == ()


@pytest.mark.parametrize(
    ("name", "role"),
    [
        # a step finished, not the case
        ("Triage done", None), ("Escalation cancelled", None), ("Aufgabe erledigt", None),
        ("Marked done", "closure"), ("Done", "closure"), ("Ticket cancelled", "closure"), ("Erledigt", "closure"),
        # about the step, not the step
        ("Resolution rejected by customer", None), ("Proposed resolution rejected", None), ("Closure rejected", None),
        ("Do not close", None), ("Closing note added", None), ("Reopen request rejected", None),
        ("Auto-close warning", None), ("Awaiting closure", None), ("Not resolved", None), ("Requested closure", None),
        ("Closed without resolution", "closure"), ("Closed - not resolved", "closure"), ("Closed - No Response", "closure"),
        ("Service request closed", "closure"),
        # the agent writes to the customer: not the customer getting in touch
        ("Customer update sent", None), ("Customer email sent", None), ("Customer call scheduled", None),
        ("Customer Follow-up", "customer_contact"),
        # other languages
        ("Umfrage gesendet", "survey"), ("Enquête envoyée", "survey"), ("Encuesta enviada", "survey"),
        ("Kunde fragt nach", "customer_contact"), ("Relance du client", "customer_contact"),
        ("Cliente llama de nuevo", "customer_contact"), ("Antwort an Kunden", "agent_response"),
        ("Réponse au client", "agent_response"), ("Respuesta al cliente", "agent_response"),
    ],
)
def test_names_that_only_look_like_a_role(name: str, role: str | None) -> None:
    """A clean log got 100 'reopens' because 'Triage done' read as the closure, and 30 'chased' cases from the
    agent's own 'Customer update sent'."""
    assert name_role(name) == role


def test_a_closure_name_followed_by_work_in_most_cases_is_not_the_closure(tmp_path: Path) -> None:
    from audit_helpers import tiny_log

    rows = []
    for i in range(40):
        day = f"2024-02-{1 + i % 28:02d}"
        steps = ["Open", "Checklist closed", "Work", "Close Ticket", "Send Survey"]
        if i % 5 == 0:
            steps += ["Reopen Ticket", "Work", "Close Ticket"]  # a real closure comes back and closes again
        rows += [(f"c{i}", a, f"{day} {8 + k:02d}:00", "ann", "T1") for k, a in enumerate(steps)]
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions())
    assert ctx.roles.of("closure") == ("Close Ticket",)
    assert any("'Checklist closed' reads as a closure by its name, but further work follows it in 100%" in n
               for n in ctx.roles.notes)
    # the pack decides
    pack = rules.RulePack(roles={"closure": ("Checklist closed",)})
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions(rules=pack))
    assert ctx.roles.of("closure") == ("Checklist closed",)


def test_customer_accounts_named_in_other_languages() -> None:
    from auditor.roles import _CUSTOMER_NAME

    assert all(_CUSTOMER_NAME.search(n) for n in ("Kunde", "Cliente", "klant", "Anrufer"))
    assert not _CUSTOMER_NAME.search("Kundendienst-Team")


def test_titles_read_in_the_singular_for_one() -> None:
    from auditor.audit import singular

    assert singular("X is done again in 1 cases (1 extra times)") == "X is done again in 1 case (1 extra time)"
    assert singular("11 cases (21 extra times); 1 round trips") == "11 cases (21 extra times); 1 round trip"
    assert singular("1,001 cases and 0.1 cases") == "1,001 cases and 0.1 cases"


def test_one_account_doing_nearly_everything_is_noted(tmp_path: Path) -> None:
    from audit_helpers import tiny_log

    rows = [(f"c{i}", a, f"2024-03-{1 + i % 20:02d} {8 + k:02d}:00", "admin", "T1")
            for i in range(30) for k, a in enumerate(["Open", "Work", "Close Ticket"])]
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions())
    assert any(n.startswith("one account, 'admin', performs 100% of the events") for n in ctx.roles.notes)
    rows = [(c, a, t, "ann" if i % 3 else "bob", g) for i, (c, a, t, _, g) in enumerate(rows)]
    with Engine() as engine:
        ctx = build_context(load(tiny_log(tmp_path, rows), ReadOptions(), engine), AuditOptions())
    assert not any(n.startswith("one account") for n in ctx.roles.notes)

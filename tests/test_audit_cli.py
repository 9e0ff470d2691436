"""CliRunner tests for `auditor audit` and `auditor rules suggest`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit_helpers import SAMPLE, SAMPLE_RULES, tiny_log
from typer.testing import CliRunner

from auditor.cli import app

runner = CliRunner()


def test_audit_json_is_the_contract() -> None:
    res = runner.invoke(app, ["audit", str(SAMPLE), "--rules", str(SAMPLE_RULES), "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["log"] == {"events": 32046, "cases": 3000, "activities": 22,
                           "start": "2024-03-01T01:16:31Z", "end": "2024-08-31T23:59:29Z"}
    assert data["findings"], "the sample has planted problems"
    keys = [(-(f["cost"]["extra_hours_total"] or 0.0), -f["cases"]) for f in data["findings"]]
    assert keys == sorted(keys), "findings are ranked by total extra hours, then by cases"
    # the additions are there even when empty (this clean-enough sample has no notes), for scripts
    assert isinstance(data["notes"], list) and isinstance(data["process_changes"], list)
    assert res.stderr == ""


def test_audit_markdown_and_table_to_file(tmp_path: Path) -> None:
    md = tmp_path / "a.md"
    res = runner.invoke(app, ["audit", str(SAMPLE), "--format", "markdown", "-o", str(md)])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert text.startswith("# Audit of support-desk.csv") and "| # | severity | kind |" in text
    assert "all in the JSON" in text
    table = tmp_path / "a.txt"
    assert runner.invoke(app, ["audit", str(SAMPLE), "-o", str(table), "-q"]).exit_code == 0
    assert "findings, ranked by extra hours" in table.read_text()


def test_fail_on_exit_codes() -> None:
    res = runner.invoke(app, ["audit", str(SAMPLE), "--format", "json", "-q", "--fail-on", "high"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["findings"]  # the findings are still printed
    res = runner.invoke(app, ["audit", str(SAMPLE), "--format", "json", "-q", "--fail-on", "bogus"])
    assert res.exit_code == 2


def test_bad_rules_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text('[roles]\nsurvey = ["Send Surveys"]\n')
    res = runner.invoke(app, ["audit", str(SAMPLE), "--rules", str(bad)])
    assert res.exit_code == 2
    assert "Close matches: 'Send Survey'" in res.stderr and "Traceback" not in res.stderr


def test_rules_suggest_round_trip(tmp_path: Path) -> None:
    pack = tmp_path / "suggested.toml"
    res = runner.invoke(app, ["rules", "suggest", str(SAMPLE), "-o", str(pack), "-q"])
    assert res.exit_code == 0, res.output
    text = pack.read_text()
    assert '"Resolve Ticket",    # its name reads as resolution' in text
    assert '"bot-router",    # system account: its name says so' in text
    res = runner.invoke(app, ["audit", str(SAMPLE), "--rules", str(pack), "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    with_suggested = json.loads(res.stdout)["findings"]
    res = runner.invoke(app, ["audit", str(SAMPLE), "--rules", str(SAMPLE_RULES), "--format", "json", "-q"])
    with_given = json.loads(res.stdout)["findings"]
    assert [(f["kind"], f["case_ids"]) for f in with_suggested] == [(f["kind"], f["case_ids"]) for f in with_given]


def test_working_hours_adds_business_cost() -> None:
    res = runner.invoke(app, ["audit", str(SAMPLE), "--format", "json", "-q", "--working-hours", "Mon-Fri 07:00-19:00"])
    assert res.exit_code == 0, res.output
    cost = json.loads(res.stdout)["findings"][0]["cost"]
    assert "extra_business_hours_per_case" in cost
    assert cost["extra_business_hours_per_case"] <= cost["extra_hours_per_case"]
    res = runner.invoke(app, ["audit", str(SAMPLE), "--working-hours", "9 to 5"])
    assert res.exit_code == 2


def test_suggested_pack_keeps_any_of_semantics(tmp_path: Path) -> None:
    """Two kinds of agent response: the suggested pack says "closed before any response" in one rule, so
    passing it back finds what the built-in default finds (one rule per response found every case)."""
    rows = []
    for i in range(12):
        reply = "Reply to Customer" if i % 2 else "Call Customer"
        rows += [(f"c{i:02d}", "Open", "2024-01-01 08:00", "ann", "t1"), (f"c{i:02d}", reply, "2024-01-01 09:00", "bob", "t1")]
        rows += [(f"c{i:02d}", "Close Ticket", "2024-01-01 10:00", "bob", "t1")]
    rows += [("c99", "Open", "2024-01-01 08:00", "ann", "t1"), ("c99", "Close Ticket", "2024-01-01 08:30", "bob", "t1")]
    log = tiny_log(tmp_path, rows)
    pack = tmp_path / "suggested.toml"
    res = runner.invoke(app, ["rules", "suggest", str(log), "-o", str(pack), "-q"])
    assert res.exit_code == 0, res.output
    assert 'before = ["Call Customer", "Reply to Customer"]' in pack.read_text()

    def order_findings(*extra: str) -> list[tuple[str, list[str]]]:
        res = runner.invoke(app, ["audit", str(log), "--format", "json", "-q", *extra])
        assert res.exit_code == 0, res.output
        return [(f["title"], f["case_ids"]) for f in json.loads(res.stdout)["findings"] if f["kind"] == "order_violation"]

    default = order_findings()
    assert [ids for _, ids in default] == [["c99"]]
    assert order_findings("--rules", str(pack)) == default


def test_audit_output_that_cannot_be_a_file(tmp_path: Path) -> None:
    """-o naming a folder, or a path through a file, is a one-line usage error before any work."""
    folder = tmp_path / "out"
    folder.mkdir()
    a_file = tmp_path / "f.json"
    a_file.write_text("{}")
    for bad, says in ((folder, "is a directory"), (a_file / "x.json", "is a file, not a folder")):
        res = runner.invoke(app, ["audit", str(SAMPLE), "-o", str(bad), "--format", "json", "-q"])
        assert res.exit_code == 2 and says in res.stderr, res.output
        res = runner.invoke(app, ["rules", "suggest", str(SAMPLE), "-o", str(bad), "-q"])
        assert res.exit_code == 2 and says in res.stderr, res.output


def test_every_output_says_what_was_left_out_and_what_was_not_judged(tmp_path: Path) -> None:
    """A review document must keep the audit's caveats: rows left out of the log, timestamps without a time
    of day (duplicates may then be real repeats), what the detectors could not judge, process changes."""
    src = tmp_path / "days.csv"
    src.write_text(
        "case,activity,timestamp,resource\n"
        "c1,Open,2024-03-01,Ana\nc1,Open,2024-03-01,Ana\nc1,Close,2024-03-02,Ana\n"
        "c2,Open,notadate,Bo\nc2,Open,2024-03-01,Bo\nc2,Close,2024-03-05,Bo\n"
    )
    res = runner.invoke(app, ["audit", str(src), "--format", "json"])
    assert res.exit_code == 0, res.output
    notes = json.loads(res.stdout)["notes"]
    left_out = [n for n in notes if "rejected" in n]
    assert left_out == [
        "1 row of days.csv rejected and 1 exact duplicate left out: the findings cover the other 4 events "
        "(`auditor ingest` writes the rejected rows with their reasons)"
    ]
    day = [n for n in notes if n.startswith("the timestamps carry no time of day")]
    assert len(day) == 1 and "may be real repeats on the same day" in day[0]
    # stderr says it once, as a note, not also as the reader's summary line
    assert res.stderr.count("1 row of days.csv rejected") == 1 and "duplicates left out (see" not in res.stderr
    md = runner.invoke(app, ["audit", str(src), "--format", "markdown", "-q"]).stdout
    assert "## Notes" in md and "1 row of days.csv rejected" in md and "no time of day" in md
    table = runner.invoke(app, ["audit", str(src), "-q"]).stdout
    assert "note: 1 row of days.csv rejected" in table


def test_process_changes_reach_the_markdown_and_the_table() -> None:
    data = json.loads(runner.invoke(app, ["audit", str(SAMPLE), "--format", "json", "-q"]).stdout)
    assert data["process_changes"], "the sample has a discontinued step"
    first = data["process_changes"][0]
    md = runner.invoke(app, ["audit", str(SAMPLE), "--format", "markdown", "-q"]).stdout
    assert "## Process changes" in md and f"| {first['activity']} | {first['change']} | {first['date']} |" in md
    table = runner.invoke(app, ["audit", str(SAMPLE), "-q"]).stdout
    assert f"{first['activity']} {first['change']} {first['date'][:10]}" in table


def test_an_empty_working_hours_and_a_miscased_zone_are_usage_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["audit", str(SAMPLE), "--working-hours", ""])
    assert res.exit_code == 2 and res.stderr == "auditor: error: --working-hours '': no working window given\n"
    res = runner.invoke(app, ["audit", str(SAMPLE), "--timezone", "europe/berlin"])
    assert res.exit_code == 2
    assert "did you mean 'Europe/Berlin'? (zone names are case-sensitive)" in res.stderr


def test_rules_suggest_says_when_the_log_names_no_resource(tmp_path: Path) -> None:
    src = tmp_path / "nores.csv"
    src.write_text("case,activity,timestamp\nc1,Open,2024-03-01 08:00\nc1,Close,2024-03-01 09:00\n")
    res = runner.invoke(app, ["rules", "suggest", str(src), "-q"])
    assert res.exit_code == 0
    assert "# system = []    # the log names no resource (who did each step)" in res.stdout


def test_working_hours_follow_the_zone_the_log_was_ingested_in(tmp_path: Path) -> None:
    """A log ingested with --timezone Europe/Berlin and audited again from its Parquet counted business hours
    on UTC's clock (1.02 h against 0.38 h). Without --timezone they follow the recorded zone, and say so."""
    src = SAMPLE
    out = tmp_path / "berlin.parquet"
    assert runner.invoke(app, ["ingest", str(src), "-o", str(out), "--timezone", "Europe/Berlin", "-q"]).exit_code == 0
    hours = ["--working-hours", "Mon-Fri 08:00-18:00", "--format", "json"]

    def business(*args: str) -> tuple[list[Any], str]:
        res = runner.invoke(app, ["audit", *args, *hours])
        assert res.exit_code == 0, res.output
        findings = json.loads(res.stdout)["findings"]
        return [(f["title"], (f.get("cost") or {}).get("extra_business_hours_per_case")) for f in findings], res.stderr

    from_csv, _ = business(str(src), "--timezone", "Europe/Berlin")
    from_parquet, said = business(str(out))
    assert from_parquet == from_csv
    assert "working hours are read in Europe/Berlin, the zone the log was ingested in" in said
    on_utc, said_utc = business(str(out), "--timezone", "UTC")
    assert on_utc != from_csv and "ingested in" not in said_utc

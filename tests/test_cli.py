"""A CliRunner test per command: exit codes, stdout/stderr separation, --quiet, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from conftest import FIXTURES, ROOT
from typer.testing import CliRunner

from auditor.cli import app

runner = CliRunner()
DIRTY = FIXTURES / "dirty.csv"


def test_ingest_writes_log_and_rejected(tmp_path: Path) -> None:
    out = tmp_path / "log.parquet"
    res = runner.invoke(app, ["ingest", str(DIRTY), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "rows read 16 = accepted 8 + rejected 6 + 2 duplicates" in res.stderr
    assert "case='Ticket' (inferred)" in res.stderr
    assert res.stdout == ""
    assert pd.read_parquet(out).shape[0] == 8
    assert pd.read_csv(tmp_path / "log.rejected.csv").shape[0] == 6


def test_ingest_quiet_prints_nothing(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ingest", str(DIRTY), "-o", str(tmp_path / "l.parquet"), "--quiet"])
    assert res.exit_code == 0
    assert res.stderr == "" and res.stdout == ""


def test_ingest_strict_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ingest", str(DIRTY), "-o", str(tmp_path / "l.parquet"), "--strict"])
    assert res.exit_code == 2
    assert res.stderr.startswith("auditor: error:") and res.stderr.count("\n") == 1


def test_bad_input_one_line_exit_2(tmp_path: Path) -> None:
    for args in (
        ["stats", str(tmp_path / "missing.csv")],
        ["stats", str(DIRTY), "--case", "nope"],
        ["stats", str(DIRTY), "--timezone", "Nowhere/City"],
        ["ingest", str(DIRTY), "-o", str(tmp_path / "x.csv")],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr


def test_usage_error_exit_2() -> None:
    res = runner.invoke(app, ["stats"])
    assert res.exit_code == 2


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    """The contract: bad usage is one clear line on stderr and exit 2, not typer's framed box."""
    for args, says in (
        (["audit", str(DIRTY), "--format", "xml"], "Invalid value for '--format'"),
        (["graph", str(DIRTY), "-o", str(tmp_path / "m.svg"), "--top-variants", "0"], "'--top-variants'"),
        (["audit", str(DIRTY), "--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'"),
        (["rules", "suggest"], "Missing argument"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith("auditor: error: ") and res.stderr.count("\n") == 1, res.stderr
        assert says in res.stderr and "--help)" in res.stderr and res.stdout == ""


def test_help_and_version_still_exit_0() -> None:
    for args in (["--help"], ["audit", "-h"], ["--version"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
        assert res.stdout


def test_stats_json_on_stdout() -> None:
    res = runner.invoke(app, ["stats", str(DIRTY), "--format", "json", "--top", "3"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["events"] == 8 and data["cases"] == 4
    assert data["start"] == "2024-04-03T09:00:00Z" and data["end"] == "2024-04-16T08:00:00Z"
    assert len(data["top_activities"]) == 3
    assert data["top_variants"][0]["cases"] >= 1
    assert "6 rows rejected" in res.stderr


def test_stats_table() -> None:
    res = runner.invoke(app, ["stats", str(DIRTY), "-q"])
    assert res.exit_code == 0
    assert "top activities" in res.stdout and "events per case" in res.stdout
    assert res.stderr == ""


def test_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "stats", str(DIRTY), "--format", "json", "-q"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["events"] == 8


def test_a_reader_that_stops_early_is_not_a_fail_on_exit(tmp_path: Path) -> None:
    """`auditor ... | head`: the reader goes away. Exit 1 would read as "--fail-on reached"; auditor exits
    141, as a Unix tool stopped by SIGPIPE does, and prints nothing."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as for a user
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "audit", str(ROOT / "logs" / "support-desk.csv"), "--format", "json", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1) == b"{"
    proc.stdout.close()  # the JSON is about 300 KB: far more than the pipe holds
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""


def test_help_lists_mapping_options() -> None:
    res = runner.invoke(app, ["ingest", "--help"])
    assert res.exit_code == 0
    for opt in ("--case", "--activity", "--timestamp", "--resource", "--team", "--sep", "--encoding",
                "--timestamp-format", "--timezone", "--profile", "--quiet", "--strict"):
        assert opt in res.stdout


def test_ingest_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    """Fixing `x.rejected.csv` and reading it back into `x.parquet` would write the new rejected rows over
    the fixed file, the user's work."""
    fixed = tmp_path / "x.rejected.csv"
    fixed.write_bytes(DIRTY.read_bytes())
    before = fixed.read_bytes()
    res = runner.invoke(app, ["ingest", str(fixed), "-o", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "would overwrite the source" in res.stderr and res.stderr.count("\n") == 1
    assert fixed.read_bytes() == before and not (tmp_path / "x.parquet").exists()
    res = runner.invoke(app, ["ingest", str(fixed), "-o", str(tmp_path / "fixed.parquet")])
    assert res.exit_code == 0, res.output


def test_names_with_brackets_print_as_text(tmp_path: Path) -> None:
    """rich reads "[auto]" as a style tag and dropped it: names and notes from the log are text."""
    src = tmp_path / "[x]bracket.csv"
    rows = ["case,activity,timestamp"]
    for i in range(30):
        rows += [f"c{i},Open,2024-03-01 0{i % 10}:00:00", f"c{i},[auto] Close,2024-03-02 0{i % 10}:00:00"]
    src.write_text("\n".join(rows) + "\n")
    stats = runner.invoke(app, ["stats", str(src)])
    assert stats.exit_code == 0, stats.output
    assert "[auto] Close" in stats.stdout and "[x]bracket.csv" in stats.stdout
    variants = runner.invoke(app, ["variants", str(src)])
    assert variants.exit_code == 0 and "Open → [auto] Close" in variants.stdout
    rules = tmp_path / "rules.toml"
    rules.write_text('[roles]\nclosure = ["[auto] Close"]\n')
    audit = runner.invoke(app, ["audit", str(src), "--rules", str(rules)])
    assert audit.exit_code == 0, audit.output
    # the notes and the findings table quote the step as it is
    assert "[auto] Close" in audit.stdout


def test_outputs_never_overwrite_the_source_and_unwritable_paths_exit_2(tmp_path: Path) -> None:
    """`audit -o log.csv` replaced the log with the findings; a read-only place was an 'internal error'."""
    src = tmp_path / "log.csv"
    text = "case,activity,timestamp\n1,A,2024-03-01 10:00\n1,B,2024-03-01 11:00\n"
    src.write_text(text)
    model = ROOT / "models" / "support-desk.bpmn"
    for args in (
        ["audit", str(src), "-o", str(src)],
        ["rules", "suggest", str(src), "-o", str(src)],
        ["graph", str(src), "-o", str(src), "--no-findings"],
        ["conform", str(src), "--model", str(model), "--cases-out", str(src)],
    ):
        res = runner.invoke(app, [*args, "-q"])
        assert res.exit_code == 2 and "would overwrite the source log" in res.stderr, (args, res.output)
        assert src.read_text() == text
    blocked = tmp_path / "ro"
    blocked.mkdir()
    blocked.chmod(0o500)
    try:
        if os.access(blocked, os.W_OK):  # root writes anywhere: a path through a file is refused instead
            blocked = src
        for args in (
            ["ingest", str(src), "-o", str(blocked / "x.parquet")],
            ["graph", str(src), "-o", str(blocked / "m.dot"), "--no-findings"],
            ["discover", str(src), "-o", str(blocked / "d"), "--formats", "pnml"],
            ["conform", str(src), "--model", str(model), "--cases-out", str(blocked / "c.csv")],
        ):
            res = runner.invoke(app, [*args, "-q"])
            assert res.exit_code == 2, (args, res.output)
            assert "internal error" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    finally:
        (tmp_path / "ro").chmod(0o700)

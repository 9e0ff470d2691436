"""The command line: parse options, call the library, print. Nothing else lives here.

Errors a user can cause (AuditorError) become one line on stderr and exit code 2; typer's pretty tracebacks
are off because local variables hold customer data. Progress and summaries go to stderr, results to stdout,
so `auditor stats x.csv --format json > stats.json` stays clean.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

try:  # typer from 0.2x carries its own copy of click; before, it used click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    import click.exceptions as click_errors  # type: ignore[no-redef]

from auditor import __version__
from auditor.engine import Engine
from auditor.errors import AuditorError, UsageError
from auditor.findings import OVERLAP_NOTE
from auditor.ingest import EventLog, IngestSummary, check_output, load, write
from auditor.options import ReadOptions
from auditor.profiles import PROFILE_NAMES


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a bad value) as one line and exit 2, as the contract says, instead of
    typer's framed box of usage, hint and message."""

    def main(  # type: ignore[override]  # typer's signature differs between versions; these four are click's
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click_errors.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already, as typer does
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if isinstance(exc, click_errors.UsageError) and exc.ctx else "auditor"
            hint = f" (see {where} --help)" if isinstance(exc, click_errors.UsageError) else ""
            _error_line(" ".join(exc.format_message().split()) + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:
            _error_line("interrupted")
            sys.exit(130)
        except SystemExit as exc:
            # typer and rich exit 1 when the reader of stdout goes away (`| head`); 1 means "--fail-on was
            # reached" here, so exit as a Unix tool stopped by SIGPIPE does (128 + 13).
            if isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
                sys.exit(141)
            raise
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="auditor",
    help="Mine what really happens in a CRM's event log and show where the process serves the tool "
    "instead of the customer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


# ---------------------------------------------------------------- the mapping options, shared by commands
Source = Annotated[Path, typer.Argument(help="The log: .csv, .tsv, .txt (delimited text), .parquet/.pq, .xes, .jsonl/.ndjson; .gz for text, XES and JSON Lines", show_default=False)]
CaseOpt = Annotated[str | None, typer.Option("--case", help="Column of the case id (inferred when absent).", rich_help_panel="Mapping")]
ActivityOpt = Annotated[str | None, typer.Option("--activity", help="Column of the activity (inferred when absent).", rich_help_panel="Mapping")]
TimestampOpt = Annotated[str | None, typer.Option("--timestamp", help="Column of the timestamp (inferred when absent).", rich_help_panel="Mapping")]
ResourceOpt = Annotated[str | None, typer.Option("--resource", help="Column of who did it (optional).", rich_help_panel="Mapping")]
TeamOpt = Annotated[str | None, typer.Option("--team", help="Column of the team, group or queue (optional).", rich_help_panel="Mapping")]
SepOpt = Annotated[str | None, typer.Option("--sep", help="CSV delimiter, e.g. ';' or '\\t' (sniffed when absent).", rich_help_panel="Mapping")]
EncodingOpt = Annotated[str | None, typer.Option("--encoding", help="File encoding (detected when absent: UTF-8 with or without BOM, UTF-8 with stray cp1252 bytes, cp1252, else charset-normalizer's guess, e.g. cp1251).", rich_help_panel="Mapping")]
TsFormatOpt = Annotated[str | None, typer.Option("--timestamp-format", help="strftime format of the timestamps, e.g. '%d.%m.%Y %H:%M:%S'.", rich_help_panel="Mapping")]
TimezoneOpt = Annotated[str | None, typer.Option("--timezone", help="Zone of naive timestamps (default UTC; for a log written by `auditor ingest`, the zone it was read in); everything is converted to UTC. Working hours are in this zone.", rich_help_panel="Mapping", show_default=False)]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help=f"A CRM export layout: {', '.join(PROFILE_NAMES)}.", rich_help_panel="Mapping")]
StatusNewOpt = Annotated[bool, typer.Option("--status-new-only", help="With --profile: name a status change by its new value only.", rich_help_panel="Mapping")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 2 when any row would be rejected.", rich_help_panel="Mapping")]
LifecycleOpt = Annotated[str, typer.Option("--lifecycle", help="complete: when the log records start and complete transitions (XES lifecycle), analyse the complete events and reject the others with their reason; all: keep every transition.", rich_help_panel="Mapping")]
FillCaseOpt = Annotated[bool, typer.Option("--fill-case", help="A grouped report prints each case's id once: a row without a case id belongs to the case of the row above it.", rich_help_panel="Mapping")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr (errors still print).")]


READ_DEFAULT = ReadOptions()
_READ_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("case", CaseOpt, None),
    ("activity", ActivityOpt, None),
    ("timestamp", TimestampOpt, None),
    ("resource", ResourceOpt, None),
    ("team", TeamOpt, None),
    ("sep", SepOpt, None),
    ("encoding", EncodingOpt, None),
    ("timestamp_format", TsFormatOpt, None),
    ("timezone", TimezoneOpt, None),
    ("profile", ProfileOpt, None),
    ("status_new_only", StatusNewOpt, False),
    ("strict", StrictOpt, False),
    ("lifecycle", LifecycleOpt, "complete"),
    ("fill_case", FillCaseOpt, False),
)


def reads_log(fn: F) -> F:
    """Gives a command the contract's mapping options (one definition for every command that reads SOURCE)
    and hands it a ReadOptions as `opts`. The options appear before --quiet in --help."""
    sig = inspect.signature(fn, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "opts"]
    mapping = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _READ_OPTIONS
    ]
    at = next((i for i, p in enumerate(own) if p.name == "quiet"), len(own))
    params = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else p
        for p in [*own[:at], *mapping, *own[at:]]
    ]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name, _, _ in _READ_OPTIONS}
        opts = ReadOptions(**{k: v for k, v in given.items() if v is not None}, timezone_chosen=given["timezone"] is not None)
        return fn(**kwargs, opts=opts)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": sig.return_annotation}
    return wrapper  # type: ignore[return-value]


class Ui:
    """stderr output: progress while the work runs, then a summary; silent with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        # Piped output gets a review-friendly width instead of rich's 80-column fallback.
        self.out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)

    @contextmanager
    def progress(self, label: str) -> Iterator[Callable[[str], None]]:
        if self.quiet or not self.err.is_terminal:
            yield lambda _msg: None
            return
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=self.err, transient=True
        ) as bar:
            task = bar.add_task(label)
            yield lambda msg: bar.update(task, description=f"{label}: {msg}")

    def note(self, text: str) -> None:
        # Notes quote the log (activity names, file names): "[[order]]" or "[auto] Close" are text, not markup.
        if not self.quiet:
            self.err.print(text, markup=False)


def _error_line(message: str) -> None:
    """The one line on stderr that every error is."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"auditor: error: {message}", markup=False)


def _fail(message: str, code: int = 2) -> None:
    _error_line(message)
    raise typer.Exit(code)


def _read(ui: Ui, engine: Engine, source: Path, options: ReadOptions, *, summary: bool = True) -> EventLog:
    """The log, with its inferred mapping on stderr and, unless the caller reports the reading itself
    (`summary=False`: ingest's summary, or the audit's notes), the reader's notes and the rows that were
    left out of it."""
    with ui.progress(f"reading {source.name}") as step:
        log = load(source, options, engine, progress=step)
    _report_mapping(ui, log.summary)
    s = log.summary
    if summary:
        for note in s.notes:
            ui.note(f"note: {note}")
        if s.rejected or s.duplicates:
            ui.note(f"{s.rejected:,} rows rejected and {s.duplicates:,} duplicates left out (see `auditor ingest`)")
    return log


def _report_mapping(ui: Ui, s: IngestSummary) -> None:
    if s.mapping is None or not s.mapping.inferred:
        return
    ui.note(f"mapping: {s.mapping.describe()}")


def _report_ingest(ui: Ui, s: IngestSummary, out: Path, rejected: Path) -> None:
    details = []
    if s.encoding:
        details.append(f"encoding {s.encoding}")
    if s.delimiter:
        details.append(f"delimiter {s.delimiter!r}")
    if s.timestamps:
        details.append(f"timestamps {s.timestamps}")
    if details:
        ui.note("read as " + ", ".join(details))
    for note in s.notes:
        ui.note(f"note: {note}")
    dup = f"{s.duplicates:,} duplicates" + (f" (incl. {s.twins:,} vendor twin rows)" if s.twins else "")
    ui.note(
        f"rows read {s.rows_read:,} = accepted {s.accepted:,} + rejected {s.rejected:,} + {dup}"
        f" · {s.cases:,} cases"
    )
    for reason, n in sorted(s.reasons.items(), key=lambda kv: -kv[1]):
        ui.note(f"  rejected {n:,}: {reason}")
    if s.rejected:  # the file is written on every run; it is worth a look only with rows in it
        ui.note(f"rejected rows: {rejected}")
    ui.note(f"wrote {out}")


def _guard(fn: F) -> F:
    """Turns the project's errors into one line and exit 2; an unexpected error into one line and exit 3."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AuditorError as exc:
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except (typer.Exit, typer.Abort, SystemExit, BrokenPipeError):
            raise  # a closed stdout is the top level's to report (see _OneLineErrors)
        except OSError as exc:
            # A folder that cannot be created or a file that cannot be written: the user's to fix, not a bug.
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}; check the path and its permissions")
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            if os.environ.get("AUDITOR_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                  "rerun with AUDITOR_DEBUG=1 for the traceback and report it", 3)
        return None

    return wrapper  # type: ignore[return-value]


@app.command()
@_guard
@reads_log
def ingest(
    source: Source,
    output: Annotated[Path, typer.Option("--output", "-o", help="The canonical log to write (.parquet).", show_default=False)],
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Validate SOURCE and write the canonical log as Parquet.

    Rejected rows go to OUT.rejected.csv beside OUT (row, reason, original fields); exact duplicate events
    are dropped and counted. The summary states: rows read = accepted + rejected + duplicates.
    """
    ui = Ui(quiet)
    check_output(output, source)
    with Engine() as engine:
        log = _read(ui, engine, source, opts, summary=False)
        with ui.progress("writing"):
            rejected = write(log, output)
        _report_ingest(ui, log.summary, output, rejected)


@app.command()
@_guard
@reads_log
def stats(
    source: Source,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table for a person, json for scripts.")] = OutputFormat.table,
    top: Annotated[int, typer.Option("--top", min=1, help="How many activities and variants to list.")] = 10,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Events, cases, activities, date range, events per case, top activities and top variants."""
    from auditor.stats import compute

    ui = Ui(quiet)
    with Engine() as engine:
        log = _read(ui, engine, source, opts)
        with ui.progress("computing"):
            result = compute(log, top=top)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    _print_stats(ui.out, result)


def _print_stats(out: Console, r: Any) -> None:
    head = Table(title=escape(r.name), show_header=False, title_justify="left")
    head.add_column("what")
    head.add_column("value", justify="right")
    epc = r.events_per_case
    for label, value in (
        ("events", f"{r.events:,}"),
        ("cases", f"{r.cases:,}"),
        ("activities", f"{r.activities:,}"),
        ("variants", f"{r.variants:,}"),
        ("resources", f"{r.resources:,}"),
        ("teams", f"{r.teams:,}"),
        ("from", r.to_json()["start"] or "-"),
        ("to", r.to_json()["end"] or "-"),
        ("events per case", f"min {epc['min']:.0f} · median {epc['median']:.1f} · mean {epc['mean']:.2f} · max {epc['max']:.0f}"),
    ):
        head.add_row(label, escape(value))
    out.print(head)
    acts = Table(title="top activities", title_justify="left")
    for col, just in (("activity", "left"), ("events", "right"), ("share", "right"), ("cases", "right")):
        acts.add_column(col, justify=just)  # type: ignore[arg-type]
    for a in r.top_activities:
        acts.add_row(escape(a.activity), f"{a.events:,}", f"{a.event_share:.1%}", f"{a.cases:,}")
    out.print(acts)
    var = Table(title="top variants", title_justify="left")
    for col, just in (("cases", "right"), ("share", "right"), ("activities", "left")):
        var.add_column(col, justify=just)  # type: ignore[arg-type]
    for v in r.top_variants:
        var.add_row(f"{v.cases:,}", f"{v.case_share:.1%}", escape(" → ".join(v.activities)))
    out.print(var)


class FindingsFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"


RulesOpt = Annotated[Path | None, typer.Option("--rules", help="A rule pack (TOML): roles, accounts, order rules, thresholds.", show_default=False)]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="A reference model (.bpmn or .pnml) for compliant failures; without it a model is discovered from the log.", show_default=False),
]
WorkingHoursOpt = Annotated[
    str | None,
    typer.Option("--working-hours", help="Also give durations in business time, e.g. 'Mon-Fri 08:00-18:00', 'Mon-Fri 08:00-12:00, 13:00-17:00; Sat 09:00-13:00' or a night shift 'Mon-Fri 22:00-06:00' (in --timezone).", show_default=False),
]


def _audit_options(rules_path: Path | None, working_hours: str | None, zone: str, model: Path | None = None) -> Any:
    """Rule pack, working hours and reference model, checked before any log is read."""
    from auditor import rules as rule_packs
    from auditor.audit import AuditOptions
    from auditor.businesstime import parse as parse_hours

    pack = rule_packs.load(rules_path)
    wh = parse_hours(working_hours, zone) if working_hours is not None else None  # '' is an error, not 'none'
    if model is not None:
        from auditor.conformance import load_model

        load_model(model)  # an unreadable model fails now, in one line, not after the log is read
    return AuditOptions(rules=pack, working_hours=wh, model=model)


def _run_audit(ui: Ui, log: EventLog, options: Any, *, zone_given: bool, echo_notes: bool = True) -> Any:
    from auditor.audit import run

    wh = options.working_hours
    recorded = log.summary.timezone
    if wh is not None and not zone_given and recorded and recorded != wh.zone:
        # A log written by `auditor ingest --timezone Europe/Berlin`: its working day is Berlin's, not UTC's.
        options = dataclasses.replace(options, working_hours=dataclasses.replace(wh, zone=recorded))
        ui.note(f"note: working hours are read in {recorded}, the zone the log was ingested in (--timezone sets another)")

    with ui.progress("auditing") as step:
        result = run(log, options, progress=step)
    if echo_notes:
        for note in result.notes:
            ui.note(f"note: {note}")
    return result


def _audit(
    ui: Ui, engine: Engine, source: Path, opts: ReadOptions, rules_path: Path | None, working_hours: str | None,
    model: Path | None = None, *, echo_notes: bool = True,
) -> Any:
    options = _audit_options(rules_path, working_hours, opts.timezone, model)
    log = _read(ui, engine, source, opts, summary=False)  # the audit's notes say what was left out
    return _run_audit(ui, log, options, echo_notes=echo_notes, zone_given=opts.timezone_chosen)


def _check_file_output(output: Path | None, source: Path | None = None, *, option: str = "-o") -> None:
    """Fails before any work when an output cannot be a file: a folder, a path through an existing file, or
    the SOURCE log itself (which writing would destroy)."""
    if output is None:
        return
    if str(output) in ("", ".") or output.is_dir():
        raise UsageError(f"{option} {output}: is a directory; name the file to write")
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {output}: {parent} is a file, not a folder")
            break
    if source is not None and output.exists() and source.exists() and output.samefile(source):
        raise UsageError(f"{option} {output}: writing it would overwrite the source log; choose another name")


@app.command()
@_guard
@reads_log
def audit(
    source: Source,
    rules_file: RulesOpt = None,
    fmt: Annotated[FindingsFormat, typer.Option("--format", help="table for a person, json (the contract) for scripts, markdown for a review document.")] = FindingsFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.", show_default=False)] = None,
    fail_on: Annotated[Severity | None, typer.Option("--fail-on", help="Exit 1 when a finding reaches this severity.", show_default=False)] = None,
    working_hours: WorkingHoursOpt = None,
    model: ModelOpt = None,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Run every detector and list the findings, ranked by what they cost."""
    from auditor.findings import SEVERITIES
    from auditor.render.jsontext import dumps as findings_json
    from auditor.render.markdown import findings_markdown

    ui = Ui(quiet)
    _check_file_output(output, source)
    with Engine() as engine:
        # The table printed to the terminal carries the notes itself; every other output gets them on
        # stderr as well.
        echo = not (fmt is FindingsFormat.table and output is None)
        result = _audit(ui, engine, source, opts, rules_file, working_hours, model, echo_notes=echo)
    data = result.to_json()
    if fmt is FindingsFormat.json:
        text = findings_json(data)
    elif fmt is FindingsFormat.markdown:
        text = findings_markdown(data, title=f"Audit of {source.name}")
    else:
        text = ""
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            if fmt is FindingsFormat.table:
                with output.open("w", encoding="utf-8") as fh:
                    _print_findings(Console(file=fh, width=160, highlight=False, soft_wrap=True), data)
            else:
                output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {output}: cannot write it ({exc.strerror or exc})") from exc
        ui.note(f"wrote {output}")
    elif fmt is FindingsFormat.table:
        _print_findings(ui.out, data)
    else:
        sys.stdout.write(text)
    ui.note(f"{len(data['findings'])} findings")
    if fail_on is not None:
        floor = SEVERITIES.index(fail_on.value)
        reached = [f for f in data["findings"] if SEVERITIES.index(f["severity"]) >= floor]
        if reached:
            ui.note(f"{len(reached)} finding(s) at or above {fail_on.value}: exit 1")
            raise typer.Exit(1)


def _print_findings(out: Console, data: dict[str, Any]) -> None:
    log = data["log"]
    out.print(
        f"{log['events']:,} events · {log['cases']:,} cases · {log['activities']:,} activities · "
        f"{log['start']} to {log['end']}"
    )
    for note in data.get("notes") or []:
        out.print(f"note: {note}", markup=False, highlight=False)
    changes = data.get("process_changes") or []
    if changes:
        out.print("process changes (context, not findings): " + "; ".join(
            f"{c['activity']} {c['change']} {c['date'][:10]} ({c['events']:,} events)" for c in changes
        ), markup=False, highlight=False)
    if not data["findings"]:
        out.print("No findings.")
        return
    table = Table(title="findings, ranked by extra hours", title_justify="left")
    for col, just in (("#", "right"), ("severity", "left"), ("kind", "left"), ("finding", "left"),
                      ("cases", "right"), ("share", "right"), ("extra h/case", "right"), ("extra h total", "right")):
        table.add_column(col, justify=just, no_wrap=col != "finding")  # type: ignore[arg-type]
    styles = {"high": "bold red", "medium": "yellow", "low": "", "info": "dim"}
    for i, f in enumerate(data["findings"], start=1):
        cost = f.get("cost") or {}
        per, total = cost.get("extra_hours_per_case"), cost.get("extra_hours_total")
        table.add_row(
            str(i), f"[{styles[f['severity']]}]{f['severity']}[/]" if styles[f["severity"]] else f["severity"],
            f["kind"], escape(f["title"]), f"{f['cases']:,}", f"{f['case_share']:.1%}",
            "–" if per is None else f"{per:,.1f}", "–" if total is None else f"{total:,.0f}",
        )
    out.print(table)
    out.print(OVERLAP_NOTE)


rules_app = typer.Typer(help="Rule packs: what auditor infers, for a person to review.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("suggest")
@_guard
@reads_log
def rules_suggest(
    source: Source,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the pack to this file instead of stdout.", show_default=False)] = None,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Print the rule pack auditor infers from SOURCE, with a comment per line saying why."""
    from auditor.roles import infer
    from auditor.rules import RulePack
    from auditor.suggest import suggest

    ui = Ui(quiet)
    _check_file_output(output, source)
    with Engine() as engine:
        log = _read(ui, engine, source, opts)
        text = suggest(infer(log.table, RulePack()), source.name)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {output}: cannot write it ({exc.strerror or exc})") from exc
        ui.note(f"wrote {output}")
    else:
        sys.stdout.write(text)


class Direction(StrEnum):
    LR = "LR"
    TB = "TB"


@app.command()
@_guard
@reads_log
def graph(
    source: Source,
    output: Annotated[Path, typer.Option("--output", "-o", help="The map: .svg, .png, .pdf, .dot, or the graph as data, .json or .csv (edges; the nodes go beside it as <stem>.nodes.csv). The suffix picks the format.", show_default=False)],
    min_share: Annotated[float | None, typer.Option("--min-share", min=0.0, help="Hide activities and paths taken by fewer than this share of the cases (e.g. 0.02); 0 shows everything. Default: automatic, hiding only thin paths until the map is legible. The title says what was hidden.", show_default=False)] = None,
    top_variants: Annotated[int | None, typer.Option("--top-variants", min=1, help="Draw only the cases of the N most frequent variants (the title says how many cases that is).", show_default=False)] = None,
    direction: Annotated[Direction, typer.Option("--direction", help="Layout: LR (left to right) or TB (top to bottom).")] = Direction.LR,
    findings_file: Annotated[Path | None, typer.Option("--findings", help="Draw these findings instead of running the audit: a findings JSON file, as `auditor audit --format json` writes.", show_default=False)] = None,
    rules_file: RulesOpt = None,
    no_findings: Annotated[bool, typer.Option("--no-findings", help="Draw the plain map, without running the audit.")] = False,
    working_hours: WorkingHoursOpt = None,
    model: ModelOpt = None,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Draw the process map: the directly-follows graph with case counts and waiting times.

    Path width is the cases taking it, path colour the median wait, with start and end markers, a title
    (log, cases, dates, what was hidden) and a legend. The audit runs on the same log (with --rules) and its
    findings are drawn: legacy steps grey and dashed, tool-driven steps blue with a gear, and the paths where
    customers get stuck (where the affected cases spend their extra time) thick and red. --findings draws a
    saved audit instead; --no-findings draws the plain map.
    """
    from auditor import processmap

    ui = Ui(quiet)
    # Before reading a large log: a wrong suffix, a missing `dot` or a bad findings file fail at once.
    processmap.check_output(output)
    _check_file_output(output, source)
    if findings_file is not None and no_findings:
        raise UsageError("--findings draws a saved audit: it does not go with --no-findings")
    if findings_file is not None or no_findings:
        # They would be ignored, and a typo in them would pass unnoticed: the audit does not run.
        given = [name for name, value in (("--rules", rules_file), ("--working-hours", working_hours),
                                          ("--model", model)) if value is not None]
        if given:
            mode = "--findings draws a saved audit" if findings_file is not None else "--no-findings draws no findings"
            raise UsageError(f"{mode}: {', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the audit, which does not run")
    findings, saved_header = processmap.load_saved_audit(findings_file) if findings_file is not None else ([], None)
    audit_opts = (
        None if (findings_file is not None or no_findings) else _audit_options(rules_file, working_hours, opts.timezone, model)
    )
    map_opts = processmap.MapOptions(min_share=min_share, top_variants=top_variants, direction=direction.value)
    with Engine() as engine:
        log = _read(ui, engine, source, opts, summary=audit_opts is None)
        other = None
        if audit_opts is not None:
            findings = _run_audit(ui, log, audit_opts, zone_given=opts.timezone_chosen).to_json()["findings"]
        elif findings_file is not None:
            other = processmap.origin_note(saved_header, log, findings_file)
        if findings_file is not None and not findings:
            ui.note(f"note: {findings_file.name} holds no findings: the plain map is drawn")
        with ui.progress("drawing"):
            view = processmap.build(log, findings, map_opts, warnings=[other] if other else [])
            written = processmap.write(view, output)
    for note in view.notes:
        ui.note(note if note.startswith("warning: ") else f"note: {note}")
    ui.note(
        f"wrote {', '.join(str(p) for p in written)}: {len(view.nodes):,} activities, {len(view.edges):,} paths, "
        f"{view.title.cases:,} cases"
    )


class MinerChoice(StrEnum):
    inductive = "inductive"
    heuristics = "heuristics"


@app.command()
@_guard
@reads_log
def discover(
    source: Source,
    output: Annotated[Path, typer.Option("--output", "-o", help="The directory to write model.bpmn, model.pnml, the pictures and model.json into (created when missing).", show_default=False)],
    miner: Annotated[MinerChoice, typer.Option("--miner", help="inductive (sound, block-structured; --noise for IMf) or heuristics (frequency-based; --dependency).")] = MinerChoice.inductive,
    noise: Annotated[float, typer.Option("--noise", help="Inductive miner: IMf noise threshold in [0, 1); 0 keeps every behaviour of the variants used.")] = 0.0,
    dependency: Annotated[float | None, typer.Option("--dependency", help="Heuristics miner: dependency threshold in [0, 1] (default 0.5).", show_default=False)] = None,
    formats: Annotated[str, typer.Option("--formats", help="Comma-separated: svg, png, pdf, dot (pictures of the BPMN model), bpmn, pnml.")] = "svg,bpmn,pnml",
    coverage: Annotated[float, typer.Option("--coverage", help="Discover from the most frequent variants until this share of cases is covered (1 = all).")] = 1.0,
    max_variants: Annotated[int, typer.Option("--max-variants", help="At most this many variants (the most frequent) go into the miner; the output says which share of cases they cover.")] = 1000,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="json also prints model.json on stdout.")] = OutputFormat.table,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Discover the process model from the log's variants and write it as BPMN, PNML and pictures.

    pm4py mines the variants with their case counts (computed in the engine), not the events. Fitness and
    precision of the model against the log are printed and written to DIR/model.json.
    """
    from auditor import discovery

    ui = Ui(quiet)
    # Before reading a large log: bad options fail at once.
    wanted = discovery.parse_formats(formats)
    if dependency is not None and miner is not MinerChoice.heuristics:
        raise UsageError("--dependency applies to the heuristics miner (--miner heuristics); the inductive miner takes --noise")
    settings = discovery.DiscoveryOptions(
        miner=discovery.Miner(miner.value), noise=noise, coverage=coverage, max_variants=max_variants,
        dependency_threshold=dependency if dependency is not None else discovery.DiscoveryOptions.dependency_threshold,
    )
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output}: exists and is not a directory; -o names the output directory")
    with Engine() as engine:
        log = _read(ui, engine, source, opts)
        with ui.progress("discovering") as step:
            result = discovery.run(log, settings, progress=step)
            written = discovery.write(result, output, wanted)
    for line in result.summary():
        ui.note(line)
    ui.note(f"wrote {', '.join(p.name for p in written.values())} in {output}")
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")


@app.command()
@_guard
@reads_log
def variants(
    source: Source,
    top: Annotated[int, typer.Option("--top", min=1, help="How many variants to list, the most frequent first.")] = 20,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table for a person, json for scripts.")] = OutputFormat.table,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """List the variants (distinct activity sequences) with their cases, share and median throughput time."""
    from auditor import variants as variant_stats

    ui = Ui(quiet)
    with Engine() as engine:
        log = _read(ui, engine, source, opts)
        with ui.progress("computing variants"):
            vs = variant_stats.compute(log, top=top)
    data = _variants_json(log.name, vs)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    _print_variants(ui.out, data)


def _variants_json(name: str, vs: Any) -> dict[str, Any]:
    shown: list[dict[str, Any]] = []
    cases = 0
    for i, v in enumerate(vs.variants, start=1):
        cases += v.cases
        shown.append({
            "rank": i,
            "cases": v.cases,
            "case_share": round(v.case_share, 6),
            # from the case counts, so that the last shown equals shown_case_share exactly
            "cumulative_case_share": round(cases / vs.total_cases, 6) if vs.total_cases else 0.0,
            "median_hours": round(v.median_hours, 3),
            "activities": list(v.activities),
        })
    return {
        "log": {"name": name, "cases": vs.total_cases, "variants": vs.total_variants},
        "shown": len(vs.variants),
        "shown_case_share": round(vs.coverage, 6),
        "variants": shown,
    }


def _hours(h: float) -> str:
    return f"{h / 24:,.1f} d" if h >= 48 else f"{h:,.1f} h"


def _print_variants(out: Console, data: dict[str, Any]) -> None:
    log = data["log"]
    table = Table(
        title=f"{escape(log['name'])}: {data['shown']:,} of {log['variants']:,} variants, {data['shown_case_share']:.1%} "
        f"of {log['cases']:,} cases",
        title_justify="left",
    )
    for col, just in (("#", "right"), ("cases", "right"), ("share", "right"), ("cumulative", "right"),
                      ("median throughput", "right"), ("activities", "left")):
        table.add_column(col, justify=just, no_wrap=col != "activities")  # type: ignore[arg-type]
    for v in data["variants"]:
        table.add_row(
            str(v["rank"]), f"{v['cases']:,}", f"{v['case_share']:.1%}", f"{v['cumulative_case_share']:.1%}",
            _hours(v["median_hours"]), escape(" → ".join(v["activities"])),
        )
    out.print(table)


@app.command()
@_guard
@reads_log
def conform(
    source: Source,
    model: Annotated[Path, typer.Option("--model", "-m", help="The reference model: BPMN 2.0 XML (.bpmn) or PNML (.pnml).", show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table for a person, json for scripts.")] = OutputFormat.table,
    top: Annotated[int, typer.Option("--top", min=1, help="How many of the most deviating variants to list.")] = 10,
    cases_out: Annotated[Path | None, typer.Option("--cases-out", help="Write one row per case (case_id, variant_rank, fitness, conforms, conforms_so_far) to this .csv file.", show_default=False)] = None,
    align_max: Annotated[int, typer.Option("--align-max", min=0, help="Align at most this many deviating variants (most cases first) to tell skipped from inserted activities.")] = 500,
    opts: ReadOptions = READ_DEFAULT,
    quiet: QuietOpt = False,
) -> None:
    """Replay the log on a reference model: fitness, skipped and inserted activities, deviating variants.

    Each variant is replayed once (token-based replay) and weighted by its cases; the deviating variants
    are aligned to the model to tell which activities were skipped and which were inserted.
    """
    from auditor import conformance

    ui = Ui(quiet)
    if cases_out is not None and cases_out.suffix.lower() != ".csv":
        raise UsageError(f"{cases_out}: --cases-out must name a .csv file")
    _check_file_output(cases_out, source, option="--cases-out")
    # Before reading a large log: an unreadable model fails at once.
    reference = conformance.load_model(model)
    with Engine() as engine:
        log = _read(ui, engine, source, opts)
        with ui.progress("checking conformance") as step:
            report, per_case = conformance.check(
                log, reference, conformance.ConformOptions(align_max_variants=align_max), progress=step
            )
            if cases_out is not None:
                engine.write_csv(per_case, cases_out)
    for line in report.summary():
        ui.note(line)
    if cases_out is not None:
        ui.note(f"wrote {cases_out}")
    data = report.to_json(top=top)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    # the unrounded fitness, as the summary on stderr: the JSON's rounded value rounded again printed 0.966
    # on stdout beside 0.965 on stderr
    _print_conformance(ui.out, data, report.fitness.log_fitness)


def _print_conformance(out: Console, data: dict[str, Any], fitness: float) -> None:
    log = data["log"]
    out.print(
        f"{escape(log['name'])} against {escape(str(data['model']['path']))}: fitness {fitness:.3f} · "
        f"{data['conforming_cases']:,} of {log['cases']:,} cases conform ({data['conforming_share']:.1%}) · "
        f"{data['conforming_so_far_cases']:,} with the open cases that fit so far"
    )
    if data["activities"]:
        acts = Table(title="activities skipped or inserted (cases)", title_justify="left")
        for col, just in (("activity", "left"), ("skipped", "right"), ("inserted", "right"), ("in model", "left")):
            acts.add_column(col, justify=just)  # type: ignore[arg-type]
        unknown = data["unknown_activities"]
        for a in data["activities"]:
            acts.add_row(escape(a["activity"]), f"{a['skipped_cases']:,}", f"{a['inserted_cases']:,}",
                         "no" if a["activity"] in unknown else "yes")
        out.print(acts)
    if data["variants_deviating_most"]:
        var = Table(title="variants deviating most (cases × fitness lost)", title_justify="left")
        for col, just in (("#", "right"), ("cases", "right"), ("fitness", "right"), ("so far", "left"),
                          ("skipped", "left"), ("inserted", "left"), ("activities", "left")):
            var.add_column(col, justify=just, no_wrap=col in ("#", "cases", "fitness"))  # type: ignore[arg-type]
        for v in data["variants_deviating_most"]:
            var.add_row(
                str(v["rank"]), f"{v['cases']:,}", f"{v['fitness']:.3f}", "ok" if v["conforms_so_far"] else "deviates",
                escape(", ".join(v["skipped"])) or ("–" if v["aligned"] else "?"),
                escape(", ".join(v["inserted"])) or ("–" if v["aligned"] else "?"),
                escape(" → ".join(v["activities"])),
            )
        out.print(var)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Mine what really happens in a CRM's event log and show where the process serves the tool instead of
    the customer."""


def main() -> None:
    app()

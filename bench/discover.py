"""Discovery speed, peak memory and model quality: auditor (engine variants -> pm4py's inductive miner)
against `pm4py.discover_petri_net_inductive` on the full event DataFrame.

Run by hand (never part of the test suite), from the repository root:

    .venv/bin/python bench/discover.py                          # 1M and 10M events (10M takes minutes)
    .venv/bin/python bench/discover.py --sizes 1000000          # one size
    .venv/bin/python bench/discover.py --sizes 100000 --json bench/out/discover.json

What is measured, per size, on the same generated CSV (`auditor.sample.write_events`, cached in bench/out/
and shared with bench/ingest.py) and in the same run, each contender in its own fresh process:

1. `pm4py` (the baseline): `pandas.read_csv` + `pm4py.format_dataframe` (load), then
   `pm4py.discover_petri_net_inductive(df)` (discover). With `--pm4py-quality-max` (default 1M events)
   also pm4py's own `fitness_token_based_replay(df, ...)` and `precision_token_based_replay(df, ...)` on the
   full DataFrame, to show their cost and that auditor's per-variant figures equal them.
2. `auditor`: `load(csv)` into the engine (load), then `auditor.discovery.run`: variants with their counts in
   the engine and the inductive miner on them (discover), then fitness and precision per variant weighted
   by cases (quality). After the timed work the same child evaluates pm4py's model (read back from its
   PNML) the same way, so both models are measured by one method, and compares the two nets.
3. `auditor discover (CLI)`: `auditor discover FILE -o DIR` end to end, timed from outside (imports, load,
   discovery, quality, writing svg/bpmn/pnml): the honest number for a shell user.

Peak memory: each Python child reads its own VmHWM right after its timed work; the CLI's is `ru_maxrss`
from wait4 (see bench/_common.py for why never RUSAGE_CHILDREN deltas).

The target (issue 3): at 10M events auditor's discovery is at least 5x faster than the baseline's, with
fitness and precision no lower than those of pm4py's model on the full DataFrame. The ratio is taken on
the discovery step (both start from a loaded log); the load+discover ratio is printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import _common as common

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (1_000_000, 10_000_000)
DEFAULT_SEED = 20240301  # auditor.sample.SEED
TARGET_SIZE = 10_000_000
TARGET_SPEEDUP = 5.0
PACKAGES = ("auditor", "duckdb", "ibis-framework", "pandas", "pyarrow", "pm4py", "numpy")
PM4PY, AUDITOR, CLI = "pm4py", "auditor", "cli"


# ====================================================================== workers (child processes)


def worker_generate(args: argparse.Namespace) -> None:
    from auditor.sample import write_events

    tmp = args.file.with_name(args.file.name + ".partial")
    write_events(tmp, args.events, seed=args.seed)
    tmp.replace(args.file)


def worker_pm4py(args: argparse.Namespace) -> None:
    t_import = time.perf_counter()
    import pandas as pd
    import pm4py

    report: dict[str, Any] = {"import_s": time.perf_counter() - t_import}
    t0 = time.perf_counter()
    df = pd.read_csv(args.file)
    df = pm4py.format_dataframe(df, case_id="Ticket ID", activity_key="Activity", timestamp_key="Timestamp")
    t1 = time.perf_counter()
    report["peak_rss_load"] = common.peak_rss()
    net, im, fm = pm4py.discover_petri_net_inductive(df, noise_threshold=args.noise)
    t2 = time.perf_counter()
    report.update(load_s=t1 - t0, discover_s=t2 - t1, peak_rss=common.peak_rss(), events=len(df))
    pm4py.write_pnml(net, im, fm, str(args.pnml))
    if args.quality:
        fit = pm4py.fitness_token_based_replay(df, net, im, fm)
        t3 = time.perf_counter()
        prec = pm4py.precision_token_based_replay(df, net, im, fm)
        t4 = time.perf_counter()
        report.update(
            own_fitness=fit["log_fitness"],
            own_precision=prec,
            own_fitness_s=t3 - t2,
            own_precision_s=t4 - t3,
            peak_rss_quality=common.peak_rss(),
        )
    common.write_report(args.result, report)


def _arcs(net: Any) -> list[tuple[str, str]]:
    def name(node: Any) -> str:
        label = getattr(node, "label", "place")
        return "tau" if label is None else str(label)

    return sorted((name(a.source), name(a.target)) for a in net.arcs)


def worker_auditor(args: argparse.Namespace) -> None:
    t_import = time.perf_counter()
    from auditor import discovery
    from auditor.engine import Engine
    from auditor.ingest import load
    from auditor.options import ReadOptions

    report: dict[str, Any] = {"import_s": time.perf_counter() - t_import}
    options = discovery.DiscoveryOptions(noise=args.noise)
    t0 = time.perf_counter()
    engine = Engine()
    log = load(args.file, ReadOptions(), engine)
    t1 = time.perf_counter()
    report["peak_rss_load"] = common.peak_rss()
    result = discovery.run(log, options)
    t2 = time.perf_counter()
    s = result.seconds
    q = result.quality
    report.update(
        load_s=t1 - t0,
        # Variants (one scan and sort in the engine) plus the miner on them: the counterpart of pm4py's
        # discover_petri_net_inductive on a loaded DataFrame.
        discover_s=s["variants"] + s["discovery"],
        variants_s=s["variants"],
        mine_s=s["discovery"],
        quality_s=s["quality"],
        run_s=t2 - t1,
        peak_rss=common.peak_rss(),
        events=log.summary.accepted,
        cases=result.input.total_cases,
        variants=result.input.total_variants,
        input_variants=result.input.variants,
        input_case_share=result.input.case_share,
        fitness=q.fitness.log_fitness,
        precision=q.precision,
        evaluated_case_share=result.evaluated.case_share,
    )
    # After the timed work: pm4py's model measured the same way, on the same variants.
    if args.pm4py_pnml and args.pm4py_pnml.exists():
        theirs = discovery.read_model(args.pm4py_pnml)
        counts = discovery.variant_counts(log, options.eval_max_variants).counts
        tq, _ = discovery.quality(theirs, counts)
        report.update(
            pm4py_fitness=tq.fitness.log_fitness,
            pm4py_precision=tq.precision,
            same_model=_arcs(theirs.net) == _arcs(result.model.net),
        )
    engine.close()
    common.write_report(args.result, report)


# ====================================================================== the runner


def _py_child(worker: str, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", worker, *extra]


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _prepare(size: int, args: argparse.Namespace) -> dict[str, Any]:
    # Same file, parameters and metadata as bench/ingest.py, so either benchmark reuses the other's input.
    path = args.data_dir / f"events-{size}-seed{args.seed}.csv"
    params = {"generator": "auditor.sample.write_events", "events": size, "seed": args.seed}
    build = _py_child("gen", "--file", str(path), "--events", str(size), "--seed", str(args.seed))
    meta = common.cached_file(path, params, build, log=args.data_dir / f"gen-{size}.log", say=_say)
    if meta["reused"]:
        _say(f"reusing {path.name} ({meta['bytes'] / common.MIB:,.0f} MiB)")
    return {"path": path, "bytes": meta["bytes"], "events": meta["lines"] - 1}


def _run(contender: str, size: int, file: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    work = args.data_dir / "discover"
    work.mkdir(parents=True, exist_ok=True)
    stem = f"{contender}-{size}"
    result, log, pnml = work / f"{stem}.json", work / f"{stem}.log", work / f"pm4py-{size}.pnml"
    src = str(file["path"])
    noise = ["--noise", str(args.noise)]
    if contender == PM4PY:
        pnml.unlink(missing_ok=True)
        argv = _py_child("pm4py", "--file", src, "--result", str(result), "--pnml", str(pnml), *noise)
        if size <= args.pm4py_quality_max:
            argv.append("--quality")
    elif contender == AUDITOR:
        argv = _py_child("auditor", "--file", src, "--result", str(result), "--pm4py-pnml", str(pnml), *noise)
    else:
        out = work / f"cli-{size}"
        argv = [str(Path(sys.executable).with_name("auditor")), "discover", src, "-o", str(out), "-q", *noise]
    _say(f"{size:,} events: {contender} ...")
    child = common.run_child(argv, log=log, result=result if contender != CLI else None, timeout=args.timeout)
    row: dict[str, Any] = {
        "contender": contender,
        "size": size,
        "ok": child.ok,
        "runner_wall_s": child.wall,
        "cpu_s": child.cpu,
        "others_cpu": child.others_cpu,
        "wait4_maxrss": child.maxrss,
        "log": str(log),
    }
    if not child.ok or (contender != CLI and not child.report):
        why = "timed out" if child.timed_out else f"exit {child.returncode}"
        _say(f"  FAILED ({why}); last lines of {log}:\n{child.tail()}")
        row["error"] = why
        return row
    if contender == CLI:
        row.update(wall_s=child.wall, peak_rss=child.maxrss)
        _say(f"  {child.wall:.1f} s end to end, peak {common.fmt_mib(child.maxrss)} MiB (wait4)")
        return row
    r = child.report
    row.update(report=r, peak_rss=r["peak_rss"], wall_s=r["load_s"] + r["discover_s"])
    extra = ""
    if contender == AUDITOR:
        extra = (
            f" (variants {r['variants_s']:.2f} + miner {r['mine_s']:.2f}); quality {r['quality_s']:.2f} s; "
            f"fitness {r['fitness']:.4f} precision {r['precision']:.4f}; {r['variants']:,} variants"
        )
    elif "own_fitness" in r:
        extra = (
            f"; pm4py's own fitness {r['own_fitness']:.4f} ({r['own_fitness_s']:.1f} s), "
            f"precision {r['own_precision']:.4f} ({r['own_precision_s']:.1f} s)"
        )
    _say(
        f"  load {r['load_s']:.1f} s, discover {r['discover_s']:.2f} s{extra}, "
        f"peak {common.fmt_mib(r['peak_rss'])} MiB"
    )
    return row


def _table(rows: list[dict[str, Any]], files: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: the comparison the target is about."""
    out: list[dict[str, Any]] = []
    for size, file in files.items():
        by = {r["contender"]: r for r in rows if r["size"] == size and r["ok"]}
        p, a, c = by.get(PM4PY), by.get(AUDITOR), by.get(CLI)
        s: dict[str, Any] = {"size": size, "events": file["events"]}
        if p:
            pr = p["report"]
            s.update(pm4py_load_s=pr["load_s"], pm4py_discover_s=pr["discover_s"], pm4py_peak=pr["peak_rss"])
            if "own_fitness" in pr:
                s.update(
                    pm4py_own_fitness=pr["own_fitness"],
                    pm4py_own_precision=pr["own_precision"],
                    pm4py_own_quality_s=pr["own_fitness_s"] + pr["own_precision_s"],
                )
        if a:
            ar = a["report"]
            s.update(
                auditor_load_s=ar["load_s"],
                auditor_discover_s=ar["discover_s"],
                auditor_quality_s=ar["quality_s"],
                auditor_peak=ar["peak_rss"],
                auditor_fitness=ar["fitness"],
                auditor_precision=ar["precision"],
                variants=ar["variants"],
                input_case_share=ar["input_case_share"],
                pm4py_fitness=ar.get("pm4py_fitness"),
                pm4py_precision=ar.get("pm4py_precision"),
                same_model=ar.get("same_model"),
            )
        if c:
            s.update(cli_s=c["wall_s"], cli_peak=c["peak_rss"])
        if p and a:
            s["discover_speedup"] = common.ratio(s["pm4py_discover_s"], s["auditor_discover_s"])
            s["load_discover_speedup"] = common.ratio(
                s["pm4py_load_s"] + s["pm4py_discover_s"], s["auditor_load_s"] + s["auditor_discover_s"]
            )
            s["peak_ratio"] = common.ratio(s["pm4py_peak"], s["auditor_peak"])
        if p and c:
            s["cli_speedup"] = common.ratio(s["pm4py_load_s"] + s["pm4py_discover_s"], s["cli_s"])
        out.append(s)
    return out


def _verdict(summary: list[dict[str, Any]]) -> dict[str, Any]:
    row = next((s for s in summary if s["size"] == TARGET_SIZE), None)
    needs = f">= {TARGET_SPEEDUP:g}x faster discovery, fitness and precision >= pm4py's model on the full DataFrame"
    if not row or row.get("discover_speedup") is None or row.get("pm4py_fitness") is None:
        return {
            "verdict": "NOT EVALUATED",
            "needs": needs,
            "why": f"needs both contenders at {TARGET_SIZE:,} events",
        }
    eps = 1e-9
    ok = (
        row["discover_speedup"] >= TARGET_SPEEDUP
        and row["auditor_fitness"] >= row["pm4py_fitness"] - eps
        and row["auditor_precision"] >= row["pm4py_precision"] - eps
    )
    return {"verdict": "PASS" if ok else "FAIL", "needs": needs, "speedup": row["discover_speedup"]}


def _print(summary: list[dict[str, Any]]) -> None:
    def f(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    headers = [
        "events", "contender", "load s", "discover s", "quality s", "peak MiB", "fitness", "precision",
    ]  # fmt: skip
    rows: list[list[str]] = []
    for s in summary:
        rows.append(
            [
                f"{s['events']:,}", "pm4py (DataFrame)", f(s.get("pm4py_load_s"), ".1f"),
                f(s.get("pm4py_discover_s"), ".2f"), f(s.get("pm4py_own_quality_s"), ".1f"),
                common.fmt_mib(s.get("pm4py_peak")), f(s.get("pm4py_fitness"), ".4f"),
                f(s.get("pm4py_precision"), ".4f"),
            ]
        )  # fmt: skip
        rows.append(
            [
                "", "auditor (variants)", f(s.get("auditor_load_s"), ".1f"), f(s.get("auditor_discover_s"), ".2f"),
                f(s.get("auditor_quality_s"), ".1f"), common.fmt_mib(s.get("auditor_peak")),
                f(s.get("auditor_fitness"), ".4f"), f(s.get("auditor_precision"), ".4f"),
            ]
        )  # fmt: skip
        if "cli_s" in s:
            rows.append(
                [
                    "",
                    "auditor discover (CLI)",
                    "",
                    f"{s['cli_s']:.1f} total",
                    "",
                    common.fmt_mib(s["cli_peak"]),
                    "",
                    "",
                ]
            )
    common.print_table(headers, rows, right=[True, False, True, True, True, True, True, True])
    print()
    for s in summary:
        own = ""
        if s.get("pm4py_own_fitness") is not None:
            own = (
                f"; pm4py's own full-DataFrame figures: fitness {s['pm4py_own_fitness']:.4f}, precision "
                f"{s['pm4py_own_precision']:.4f} (in {s['pm4py_own_quality_s']:.0f} s)"
            )
        print(
            f"{s['events']:,} events: discovery {common.fmt_ratio(s.get('discover_speedup'))} faster, "
            f"load+discovery {common.fmt_ratio(s.get('load_discover_speedup'))}, CLI end to end "
            f"{common.fmt_ratio(s.get('cli_speedup'))}, peak memory ratio {common.fmt_ratio(s.get('peak_ratio'))}; "
            f"{f(s.get('variants'), ',')} variants, discovery input {f(s.get('input_case_share'), '.1%')} of cases; "
            f"same net as pm4py: {s.get('same_model')}{own}"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--noise", type=float, default=0.0, help="IMf noise threshold for both contenders")
    ap.add_argument("--data-dir", type=Path, default=HERE / "out")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per contender run")
    ap.add_argument("--contenders", default=f"{PM4PY},{AUDITOR},{CLI}")
    ap.add_argument(
        "--pm4py-quality-max", type=int, default=1_000_000,
        help="up to this size pm4py also computes its own fitness and precision on the full DataFrame",
    )  # fmt: skip
    # Worker-only arguments.
    ap.add_argument("--worker", choices=["gen", PM4PY, AUDITOR], help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--events", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--pnml", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--pm4py-pnml", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--quality", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker == "gen":
        worker_generate(args)
        return
    if args.worker == PM4PY:
        worker_pm4py(args)
        return
    if args.worker == AUDITOR:
        worker_auditor(args)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    contenders = [c for c in (PM4PY, AUDITOR, CLI) if c in args.contenders.split(",")]
    m = common.machine()
    print(f"machine: {common.describe_machine(m)}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in common.versions(PACKAGES).items()))
    files: dict[int, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for size in sizes:
        files[size] = _prepare(size, args)
        # pm4py first: the auditor child then measures pm4py's model too (from its PNML).
        for contender in contenders:
            rows.append(_run(contender, size, files[size], args))
    summary = _table(rows, files)
    print()
    _print(summary)
    verdict = _verdict(summary)
    print(f"\ntarget at {TARGET_SIZE:,} events ({verdict['needs']}): {verdict['verdict']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "machine": m,
                    "versions": common.versions(PACKAGES),
                    "git": common.git_state(HERE.parent, ["auditor", "bench"]),
                    "files": {str(k): {**v, "path": str(v["path"])} for k, v in files.items()},
                    "runs": rows,
                    "summary": summary,
                    "target": verdict,
                },
                indent=1,
                default=str,
            )
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

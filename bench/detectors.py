"""Per-detector time and output fingerprint, for optimising one detector without changing its answers.

    .venv/bin/python bench/detectors.py --events 1000000                      # every detector
    .venv/bin/python bench/detectors.py --events 1000000 --only rework_loop   # context + one detector
    .venv/bin/python bench/detectors.py --events 1000000 --save bench/out/fp-1m.json
    .venv/bin/python bench/detectors.py --events 1000000 --check bench/out/fp-1m.json

The input is the generated CSV that `ingest.py` and `audit.py` cache in bench/out/, ingested once to Parquet beside it. `--save` stores each detector's findings (the contract JSON,
cost included); `--check` compares a run against a saved file and names every detector whose findings differ.
Timings are wall seconds of one run on whatever else the machine is doing: compare runs made minutes apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from auditor import audit  # noqa: E402
from auditor.engine import Engine  # noqa: E402
from auditor.ingest import load, write  # noqa: E402
from auditor.options import ReadOptions  # noqa: E402


def _parquet(events: int, seed: int, data_dir: Path) -> Path:
    csv = data_dir / f"events-{events}-seed{seed}.csv"
    if not csv.exists():
        raise SystemExit(f"{csv} is missing: run bench/ingest.py --sizes {events} first (it generates it)")
    out = csv.with_suffix(".parquet")
    if not out.exists() or out.stat().st_mtime < csv.stat().st_mtime:
        with Engine() as engine:
            write(load(csv, ReadOptions(), engine), out)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20240301)
    p.add_argument("--data-dir", type=Path, default=HERE / "out")
    p.add_argument("--only", default="", help="comma-separated detector names (default: all)")
    p.add_argument("--save", type=Path, help="write the findings per detector to this JSON file")
    p.add_argument("--check", type=Path, help="compare the findings with a file written by --save")
    args = p.parse_args()
    src = _parquet(args.events, args.seed, args.data_dir)
    only = {n for n in args.only.split(",") if n}
    found: dict[str, list[dict[str, object]]] = {}
    with Engine() as engine:
        t0 = time.perf_counter()
        log = load(src, ReadOptions(), engine)
        ctx = audit.build_context(log, audit.AuditOptions())
        print(f"{'context':<22}{time.perf_counter() - t0:8.2f} s", flush=True)
        for name, detect in audit.detectors():
            if only and name not in only:
                continue
            t = time.perf_counter()
            findings = detect(ctx)
            print(f"{name:<22}{time.perf_counter() - t:8.2f} s  {len(findings)} findings", flush=True)
            # the order within a detector is not part of its answer (the audit ranks every finding)
            found[name] = sorted((f.to_json() for f in findings), key=lambda f: str(f["title"]))
    if args.save:
        args.save.write_text(json.dumps(found, indent=1, sort_keys=True, default=str))
    if args.check:
        saved = json.loads(args.check.read_text())
        now = json.loads(json.dumps(found, sort_keys=True, default=str))
        bad = [n for n in now if saved.get(n) != now[n]]
        for n in bad:
            print(f"DIFFERENT: {n}", flush=True)
        print("findings identical" if not bad else f"{len(bad)} detector(s) differ", flush=True)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

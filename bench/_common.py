"""Shared helpers for the benchmarks in this folder (standard library only).

- `run_child`: runs one contender in a fresh process and measures its wall time and peak RSS.
- `Phases`: inside a child, times named phases (wrapped functions) with the peak RSS of each.
- `cached_file`: builds a generated input once (in a child process) and reuses it while it matches.
- `machine`, `versions`, `print_table`, `median`, `fmt_*`: reporting.

How peak memory is measured, and why the runner must stay small. On Linux a child's `ru_maxrss` (from
`wait4` or `getrusage(RUSAGE_CHILDREN)`, in KiB) starts at the RSS of the parent at fork time: the kernel
folds the parent's high-water mark into the child when it calls exec. A runner holding 1 GiB makes every
`/bin/true` report 1 GiB. So the runner imports no data libraries and holds no data; it generates inputs
in children too. And `RUSAGE_CHILDREN` is the maximum over all children so far, not a sum, so deltas of it
are wrong as soon as a smaller child follows a larger one: `run_child` uses `os.wait4` on the one child
instead. A Python child additionally reports its own `VmHWM` (the peak RSS of its own address space after
exec, exact and unaffected by the runner) at the moments it chooses, with `peak_rss()`; the benchmarks
prefer that figure and fall back to `wait4` for processes they cannot instrument (a CLI).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


# ---------------------------------------------------------------- memory of the current process


def _status_kib(key: str) -> int | None:
    """A `kB` field of /proc/self/status (Linux), e.g. VmHWM or VmRSS."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def ru_maxrss_bytes(value: int) -> int:
    """`ru_maxrss` in bytes: Linux reports KiB, macOS bytes."""
    return value if sys.platform == "darwin" else value * 1024


def peak_rss() -> int:
    """Peak RSS of this process so far, in bytes (VmHWM; getrusage where /proc is missing)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource

    return ru_maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def current_rss() -> int:
    kib = _status_kib("VmRSS")
    return (kib or 0) * 1024


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0). This also lowers `ru_maxrss`: use it only in
    a run that reports per-phase peaks, never in the run whose overall peak is reported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- phases inside a child


@dataclass
class Phase:
    label: str
    depth: int
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds of the process (all threads) during the phase
    peak: int = 0  # bytes, the peak RSS while the phase ran
    rss_after: int = 0  # bytes


class Phases:
    """Times named phases, nested, each with its own peak RSS (by resetting VmHWM at every start).

    `wrap(owner, "name")` replaces a function or method on a module or class by a timed one; `phase()`
    is a context manager for code of one's own. The overall peak is the maximum over the phases.
    """

    def __init__(self) -> None:
        self.records: list[Phase] = []
        self._open: list[Phase] = []
        self.can_reset = reset_peak_rss()

    def _fold(self) -> None:
        hwm = peak_rss()
        for p in self._open:
            p.peak = max(p.peak, hwm)

    def start(self, label: str) -> Phase:
        self._fold()
        rec = Phase(label, len(self._open))
        self.records.append(rec)
        self._open.append(rec)
        if self.can_reset:
            reset_peak_rss()
        rec.cpu = time.process_time()
        rec.seconds = time.perf_counter()
        return rec

    def stop(self, rec: Phase) -> None:
        rec.seconds = time.perf_counter() - rec.seconds
        rec.cpu = time.process_time() - rec.cpu
        self._fold()
        rec.rss_after = current_rss()
        self._open.remove(rec)

    def phase(self, label: str) -> _PhaseContext:
        return _PhaseContext(self, label)

    def wrap(self, owner: Any, name: str, label: str | Callable[..., str] | None = None) -> None:
        original = getattr(owner, name)
        tracer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            text = label(*args, **kwargs) if callable(label) else (label or name)
            rec = tracer.start(text)
            try:
                return original(*args, **kwargs)
            finally:
                tracer.stop(rec)

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, name, timed)

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "label": p.label,
                "depth": p.depth,
                "seconds": p.seconds,
                "cpu": p.cpu,
                "peak_rss": p.peak,
                "rss_after": p.rss_after,
            }
            for p in self.records
        ]


class _PhaseContext:
    def __init__(self, phases: Phases, label: str) -> None:
        self.phases, self.label = phases, label
        self.rec: Phase | None = None

    def __enter__(self) -> Phase:
        self.rec = self.phases.start(self.label)
        return self.rec

    def __exit__(self, *exc: object) -> None:
        assert self.rec is not None
        self.phases.stop(self.rec)


# ---------------------------------------------------------------- running a child


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes on the machine have used since boot (/proc/stat, Linux)."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(
    max_wait: float, *, threshold: float = 0.25, window: float = 3.0, say: Callable[[str], None] | None = None
) -> float | None:
    """Waits (at most `max_wait` seconds) until the machine's busy CPU, averaged over `window` seconds, is
    at most `threshold` cores, so that a benchmark on a shared machine does not race other work. Returns
    the last load seen (None where /proc/stat is missing)."""
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        before = busy_cpu_seconds()
        if before is None:
            return None
        time.sleep(window)
        after = busy_cpu_seconds()
        load = (after - before) / window if after is not None else 0.0
        if load <= threshold or time.monotonic() >= deadline:
            return load
        if say is not None and not told:
            say(f"  waiting for a quieter machine (other processes use {load:.2f} cores) ...")
            told = True


@dataclass
class ChildResult:
    argv: list[str]
    returncode: int
    wall: float  # seconds, measured by the runner: process start-up and imports included
    maxrss: int  # bytes, from wait4 (see the module docstring for its floor)
    cpu: float = 0.0  # seconds of CPU (user + system) the child used
    others_cpu: float | None = None  # cores kept busy by OTHER processes during the run, on average
    report: dict[str, Any] = field(default_factory=dict)  # what the child wrote to its result file
    log: Path | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def run_child(
    argv: Sequence[str],
    *,
    log: Path | None = None,
    result: Path | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ChildResult:
    """Runs argv to completion in its own process group, stdout and stderr to `log`.

    The wall time runs from just before the spawn to the moment the child is reaped. The peak RSS is the
    child's own `ru_maxrss` from `os.wait4` (never a RUSAGE_CHILDREN delta). When `result` is given the
    child is expected to write a JSON object there; it comes back as `report`.

    `others_cpu` tells whether the numbers are trustworthy on a shared machine: the machine's busy CPU
    time during the run minus the child's own, per second of wall time (0.5 = half a core was taken by
    something else all along).
    """
    if result is not None and result.exists():
        result.unlink()
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed below
    busy_before = busy_cpu_seconds()
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        wall = time.perf_counter() - start
        busy_after = busy_cpu_seconds()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    report: dict[str, Any] = {}
    if result is not None and result.exists():
        report = json.loads(result.read_text())
    cpu = usage.ru_utime + usage.ru_stime
    others = None
    if busy_before is not None and busy_after is not None and wall > 0:
        others = max(0.0, (busy_after - busy_before - cpu) / wall)
    return ChildResult(
        argv=list(argv),
        returncode=proc.returncode,
        wall=wall,
        maxrss=ru_maxrss_bytes(usage.ru_maxrss),
        cpu=cpu,
        others_cpu=others,
        report=report,
        log=log,
        timed_out=fired.is_set(),
    )


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    """For children: hands `report` back to `run_child` (atomically)."""
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str))
    tmp.replace(path)


# ---------------------------------------------------------------- generated inputs, built once


def count_lines(path: Path, chunk: int = MIB) -> int:
    """Newlines in the file, streamed (the runner must not hold the file in memory)."""
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            n += block.count(b"\n")
    return n


def cached_file(
    path: Path,
    params: dict[str, Any],
    build: Sequence[str],
    *,
    log: Path | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Returns the metadata of `path`, building it first with the command `build` unless a previous
    build with the same `params` is present and intact (same size as recorded).

    The metadata lives beside the file (`<name>.meta.json`): params, bytes, lines, build seconds. It is
    written only after a successful build, so an interrupted build is never reused.
    """
    meta_path = path.with_name(path.name + ".meta.json")
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if meta.get("params") == params and meta.get("bytes") == path.stat().st_size:
            meta["reused"] = True
            return meta
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    say(f"generating {path.name} ...")
    child = run_child(build, log=log)
    if not child.ok or not path.exists():
        raise RuntimeError(f"building {path} failed (exit {child.returncode}):\n{child.tail()}")
    meta = {
        "params": params,
        "bytes": path.stat().st_size,
        "lines": count_lines(path),
        "build_seconds": round(child.wall, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    say(f"generated {path.name}: {meta['bytes'] / MIB:,.0f} MiB in {child.wall:,.1f} s")
    meta["reused"] = False
    return meta


# ---------------------------------------------------------------- the machine and the versions


def _meminfo_kib(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cgroup_memory_limit() -> int | None:
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return None
    return None if text == "max" else int(text)


def machine() -> dict[str, Any]:
    mem = _meminfo_kib("MemTotal")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_bytes": mem * 1024 if mem else None,
        "cgroup_memory_limit": _cgroup_memory_limit(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "disk_free_bytes": shutil.disk_usage(Path.cwd()).free,
    }


def git_state(repo: Path, paths: Sequence[str] = ()) -> dict[str, Any]:
    """The commit and whether `paths` differ from it (a hash of the diff), so numbers can be attributed to
    the code that produced them even in a working tree with uncommitted edits."""
    import hashlib

    def git(*cmd: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *cmd], capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    state: dict[str, Any] = {"commit": git("rev-parse", "HEAD").strip() or None}
    status = git("status", "--porcelain", "--", *paths).splitlines()
    state["dirty"] = [line[3:] for line in status]
    if status:
        digest = hashlib.sha256(git("diff", "HEAD", "--", *paths).encode())
        for line in sorted(status):
            if line.startswith("??"):
                for f in sorted(
                    (repo / line[3:]).rglob("*") if (repo / line[3:]).is_dir() else [repo / line[3:]]
                ):
                    if f.is_file():
                        digest.update(f.read_bytes())
        state["diff_sha256"] = digest.hexdigest()[:12]
    return state


def versions(packages: Sequence[str]) -> dict[str, str | None]:
    """Installed versions, read from package metadata (no import, so the runner stays small)."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def describe_machine(m: dict[str, Any]) -> str:
    ram = f"{m['ram_bytes'] / 1024**3:.1f} GiB RAM" if m.get("ram_bytes") else "RAM unknown"
    limit = m.get("cgroup_memory_limit")
    if limit:
        ram += f" (cgroup limit {limit / 1024**3:.1f} GiB)"
    return (
        f"{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {ram}; {m['os']}; Python {m['python']}"
    )


# ---------------------------------------------------------------- reporting


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_mib(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / MIB:,.0f}"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return numerator / denominator


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[bool] | None = None,
    file: Any = None,
) -> None:
    """A plain-text table; `right[i]` right-aligns column i (numbers)."""
    right = right or [False] * len(headers)
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if right[i] else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in rows:
        print(line(r), file=file)

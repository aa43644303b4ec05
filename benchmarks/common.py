"""What every benchmark script shares: timing, peak memory measured in a fresh process,
log-log slopes, the printed table and the JSON file.

Scripts run each (implementation, size) point in a child process (``isolated``) so peak
memory belongs to that point alone; the child resets the kernel's high-water mark
(/proc/self/clear_refs) after building its inputs, so the figure is the operation's own
peak resident set, inputs included.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def time_call(
    fn: Callable[[], Any],
    *,
    warmup: int = 1,
    repeats: int = 3,
    sync: Callable[[Any], Any] = lambda r: r,
) -> float:
    """Median wall time of ``fn`` in seconds, after ``warmup`` untimed calls.

    ``sync`` receives each result and must block until it is ready (CUDA, JAX async dispatch).
    """
    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reset_peak_memory() -> None:
    """Make the kernel's peak-RSS counter start from the current RSS (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mib() -> float:
    """Peak resident set of this process since the last reset, in MiB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def isolated(script: str, args: Sequence[str], timeout: float = 600) -> dict[str, Any]:
    """Run ``script args`` in a fresh interpreter; it prints one JSON object as its last line.

    A failure or timeout comes back as {"error": ...} so one bad point never stops a table.
    """
    try:
        done = subprocess.run(
            [sys.executable, script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): ~1 linear, ~2 quadratic."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if y and y > 0]
    if len(pts) < 2:
        return math.nan
    mx = statistics.fmean(p[0] for p in pts)
    my = statistics.fmean(p[1] for p in pts)
    num = sum((x - mx) * (y - my) for x, y in pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return num / den


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A fixed-width table of ``columns``; floats get 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return "" if v is None else str(v)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [
        max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(columns)
    ]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def environment() -> dict[str, Any]:
    """Where the figures were measured."""
    env: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    for module in ("numpy", "torch", "jax", "triton"):
        if module in sys.modules:
            env[module] = getattr(sys.modules[module], "__version__", "?")
    return env


def write_json(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``payload`` plus the environment to ``<out_dir>/<name>.json``; returns the path."""
    out_dir = out_dir or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2) + "\n")
    return path

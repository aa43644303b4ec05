"""The time budget of a conformance run, per adapter (issue: kernel-scale conformance, part 6).

Each row is one ``aha conform`` in a fresh process, timed from the outside, with the machine's
load average beside it (the machine is shared: a figure means little without it). torch-flex
runs with an empty inductor cache (TORCHINDUCTOR_CACHE_DIR in a fresh temporary folder), so
its figure includes every compile. Budgets (2 CPU cores): default run ≤ 30 s numpy, ≤ 60 s
torch and jax, ≤ 120 s torch-flex, ≤ 180 s triton (interpreter); ``--tier kernel`` on numpy
≤ 600 s.

    python benchmarks/bench_conform_budget.py                 # every row below
    python benchmarks/bench_conform_budget.py --only numpy jax
    python benchmarks/bench_conform_budget.py --dry-run       # two kernel cases on numpy
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import print_table, write_json

# The exit status a run should end with: 0 (conforms), except torch-flex on a CPU, which
# declines every VJP (FlexAttention has no backward there) and so conforms partially (3).
EXPECTED_EXIT = {"torch-flex": 3}

# (row name, adapter, extra arguments, budget in seconds)
Run = tuple[str, str, tuple[str, ...], float]
RUNS: tuple[Run, ...] = (
    ("numpy", "numpy", (), 30.0),
    ("torch", "torch", (), 60.0),
    ("jax", "jax", (), 60.0),
    ("torch-flex (cold cache)", "torch-flex", (), 120.0),
    ("triton (interpreter)", "triton", (), 180.0),
    ("numpy --tier kernel", "numpy", ("--tier", "kernel"), 600.0),
)
VERDICT = re.compile(r"^(\S+): (.*?) — (\d+) passed, (\d+) failed, (\d+) n/a.*$", re.M)


def conform(adapter: str, extra: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """One ``aha conform`` in a child process: wall time, exit status, its verdict line."""
    env = dict(os.environ)
    cache = tempfile.mkdtemp(prefix="aha-inductor-cold-")
    if adapter == "torch-flex":
        env["TORCHINDUCTOR_CACHE_DIR"] = cache  # cold: every kernel compiles
    if adapter == "triton":
        env.setdefault("TRITON_INTERPRET", "1")
    command = [sys.executable, "-m", "aha.conformance.cli", "conform", "--adapter", adapter]
    load_before = os.getloadavg()[0]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [*command, *extra], capture_output=True, text=True, timeout=timeout, env=env
        )
        seconds, status, output = time.perf_counter() - start, done.returncode, done.stdout
    except subprocess.TimeoutExpired:
        seconds, status, output = time.perf_counter() - start, None, ""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    found = VERDICT.search(output)
    return {
        "seconds": round(seconds, 1),
        # CPU seconds of the run and its workers: on a shared machine, wall time ≈ this / the
        # cores it got; the budget is for wall time on an idle 2-core machine.
        "cpu_s": round(cpu, 1),
        "exit": status,
        "verdict": found.group(2) if found else ("timed out" if status is None else "?"),
        "passed": int(found.group(3)) if found else None,
        "failed": int(found.group(4)) if found else None,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "command": " ".join(["aha conform --adapter", adapter, *extra]),
        "failures": [line.strip() for line in output.splitlines() if line.startswith("FAIL")][:20],
        "tail": output[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="two kernel cases on numpy")
    parser.add_argument("--only", nargs="*", help="adapters to run (default: every row)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--out", type=Path, help="where to write the JSON")
    args = parser.parse_args()
    runs: tuple[Run, ...] = RUNS
    if args.dry_run:
        extra: tuple[str, ...] = (
            "--no-properties",
            "--case",
            "kernel/*/T300-*",
            "--isolation",
            "none",
        )
        runs = (("numpy (dry run)", "numpy", extra, 30.0),)
    elif args.only:
        runs = tuple(r for r in RUNS if r[1] in args.only)
    rows = []
    for name, adapter, extra, budget in runs:
        row = {"run": name, "budget_s": budget, **conform(adapter, extra, args.timeout)}
        expected = EXPECTED_EXIT.get(adapter, 0)
        row["within"] = row["seconds"] <= budget and row["exit"] == expected and not row["failed"]
        rows.append(row)
        print(f"{name}: {row['seconds']} s, exit {row['exit']}, {row['verdict']}", flush=True)
    print_table(
        rows,
        (
            "run",
            "seconds",
            "cpu_s",
            "budget_s",
            "within",
            "exit",
            "passed",
            "failed",
            "load_before",
        ),
    )
    path = write_json("bench_conform_budget", {"dry_run": args.dry_run, "rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""The reference's two evaluation orders (spec/AHA.md ORDER-1) against T and reach: dense
(``local_attention``, ``local_attention_vjp``) beside blocked (``local_attention_blocked``,
``local_attention_vjp_blocked``), float64, B = 1, H = 8, Dh = 64.

Sweeps: T in {1024 … 16384} at reach 512, and reach in {64 … 1024} at T = 4096; plus the
blocked global branch evaluated on 256 rows only at T = 16384 (cost by rows asked for). Each
point runs in a fresh process (common.isolated) so its peak memory is its own; a dense point
whose [B, H, T, T] buffers would not fit the memory budget is reported skipped with the reason.
Prints a table and the log-log slope of time in T at fixed reach per implementation, from
wall time and from CPU time (with one BLAS thread the latter is the work done, whatever the
load of a shared machine).
Target (issue 11): blocked local forward at T = 16384, reach 512 well under a minute on
2 cores and under 3 GB peak; slope ≤ 1.1.

BLAS threads: one by default (--threads). The blocked order makes many small matmuls
([Bq, Dh] × [Dh, Bq + 2ρ − 2] per head); on these 2 shared cores OpenBLAS's second thread
cost far more than it gave (T = 4096, reach 512: 2.2 s with one thread, 25 s with two, at a
load average of 8).

    python benchmarks/bench_scalable.py            # the full sweep (minutes; a quiet machine)
    python benchmarks/bench_scalable.py --dry-run  # tiny sizes, one repeat: proves it runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import common

B, H, DH = 1, 8, 64
SIZES, REACH = (1024, 2048, 4096, 8192, 16384), 512
REACHES, REACH_T = (64, 128, 256, 512, 1024), 4096
ROWS_T, ROWS = 16384, 256
DRY_SIZES, DRY_REACH, DRY_REACHES, DRY_REACH_T, DRY_ROWS_T = (64, 128), 8, (4, 8), 128, 128
# Bytes held per [B, H, T, T] entry at the dense peak, measured at T = 1024 and rounded up:
# the forward keeps about five binary64 arrays of that size, the VJP about ten.
DENSE_ENTRY_BYTES = {"local": 48, "local_vjp": 96}
DENSE_BUDGET_GIB = 6.0  # the machine is shared; a dense point above this is skipped


def run_point(impl: str, op: str, T: int, reach: int, repeats: int) -> dict[str, Any]:
    """Time and peak memory of one point (runs in the child process)."""
    from aha import reference as ref
    from aha.reference import AHAConfig

    if impl == "dense":
        need = DENSE_ENTRY_BYTES[op] * B * H * T * T / 2**30
        free = available_gib()
        if need > min(DENSE_BUDGET_GIB, 0.5 * free):
            return {
                "skipped": f"dense needs ~{need:.1f} GiB of [B, H, T, T] buffers "
                f"(budget {DENSE_BUDGET_GIB:.0f} GiB, {free:.1f} GiB available)"
            }
    config = AHAConfig(window=reach, max_rel_dist=reach)
    rng = np.random.default_rng(0)
    q, k, v, d_out = (rng.standard_normal((B, H, T, DH)) for _ in range(4))
    table = rng.standard_normal((H, 2 * reach - 1))
    s = np.ones(B)  # s = 1: reach = min(W, T, R)
    rows = np.sort(rng.choice(T, size=min(ROWS, T), replace=False))
    calls = {
        ("dense", "local"): lambda: ref.local_attention(q, k, v, s, table, config),
        ("dense", "local_vjp"): lambda: ref.local_attention_vjp(
            q, k, v, s, table, config, None, d_out
        ),
        ("blocked", "local"): lambda: ref.local_attention_blocked(q, k, v, s, table, config),
        ("blocked", "local_vjp"): lambda: ref.local_attention_vjp_blocked(
            q, k, v, s, table, config, None, d_out
        ),
        ("blocked", "global_rows"): lambda: ref.global_attention_blocked(
            q, k, v, table, config, rows=rows
        ),
    }
    common.reset_peak_memory()
    cpu_start = time.process_time()
    seconds = common.time_call(calls[impl, op], warmup=0, repeats=repeats)
    cpu_seconds = (time.process_time() - cpu_start) / repeats
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mib": common.peak_memory_mib()}


def available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 8.0


def plan_points(dry_run: bool) -> list[dict[str, Any]]:
    """(impl, op, T, reach) of every point, in the order they are run and printed."""
    sizes, reach = (DRY_SIZES, DRY_REACH) if dry_run else (SIZES, REACH)
    reaches, reach_t = (DRY_REACHES, DRY_REACH_T) if dry_run else (REACHES, REACH_T)
    points = [
        {"sweep": "T", "impl": impl, "op": op, "T": T, "reach": reach}
        for op in ("local", "local_vjp")
        for impl in ("blocked", "dense")
        for T in sizes
    ]
    # The dense order's cost does not depend on the reach: its T sweep has the T = 4096 point.
    points += [
        {"sweep": "reach", "impl": "blocked", "op": "local", "T": reach_t, "reach": r}
        for r in reaches
    ]
    rows_t = DRY_ROWS_T if dry_run else ROWS_T
    points.append(
        {"sweep": "rows", "impl": "blocked", "op": "global_rows", "T": rows_t, "reach": reach}
    )
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON result")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per point")
    parser.add_argument("--point", nargs=4, help=argparse.SUPPRESS)  # child: impl op T reach
    args = parser.parse_args()
    if args.point:
        impl, op, T, reach = args.point
        # Large points are timed once: each takes seconds and the machine is shared.
        repeats = 1 if args.dry_run or int(T) >= 8192 else 3
        print(json.dumps(run_point(impl, op, int(T), int(reach), repeats)))
        return
    extra = ["--dry-run"] if args.dry_run else []
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # read by each child's BLAS when it starts
    rows = []
    for p in plan_points(args.dry_run):
        point = [p["impl"], p["op"], str(p["T"]), str(p["reach"])]
        rows.append({**p, **common.isolated(__file__, ["--point", *point, *extra], timeout=900)})
        print(json.dumps(rows[-1]), flush=True)
    columns = ["sweep", "impl", "op", "T", "reach", "seconds", "cpu_seconds", "peak_mib"]
    common.print_table(rows, [*columns, "skipped", "error"])
    # Wall time carries the machine's load; with one BLAS thread, CPU time is the work done.
    slopes, cpu_slopes = {}, {}
    for impl in ("blocked", "dense"):
        for op in ("local", "local_vjp"):
            name = f"{impl} {op}"
            ok = [
                r
                for r in rows
                if (r["sweep"], r["impl"], r["op"]) == ("T", impl, op) and "seconds" in r
            ]
            sizes = [r["T"] for r in ok]
            slopes[name] = common.loglog_slope(sizes, [r["seconds"] for r in ok])
            cpu_slopes[name] = common.loglog_slope(sizes, [r["cpu_seconds"] for r in ok])
            print(
                f"log-log slope of time vs T at fixed reach, {name}: wall {slopes[name]:.2f}, "
                f"CPU {cpu_slopes[name]:.2f}"
            )
    setup = {
        "dry_run": args.dry_run,
        "B": B,
        "H": H,
        "Dh": DH,
        "dtype": "float64",
        "threads": args.threads,
        "load_average_at_end": os.getloadavg(),
    }
    payload = {"setup": setup, "rows": rows, "slopes": slopes, "cpu_slopes": cpu_slopes}
    print(f"wrote {common.write_json('bench_scalable', payload, args.out)}")


if __name__ == "__main__":
    main()

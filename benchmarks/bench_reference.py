"""Wall time and peak memory of the NumPy reference's local attention, float64, one thread:
B=2, H=8, Dh=64, T in {512, 1024, 2048} (issue target: T=2048 under 10 s on one core).

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_reference.py [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common


def point(T: int, repeats: int) -> dict[str, float]:
    from aha.reference import AHAConfig, local_attention

    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 8, T, 64)) for _ in range(3))
    config = AHAConfig(window=128, max_rel_dist=128, temp_scale=0.5, score_scale="log")
    table = rng.normal(size=(8, 255))
    common.reset_peak_memory()
    seconds = common.time_call(
        lambda: local_attention(q, k, v, [0.5, 1.0], table, config), warmup=0, repeats=repeats
    )
    return {"seconds": seconds, "peak_mib": common.peak_memory_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON result")
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.point:
        print(json.dumps(point(args.point, 1 if args.dry_run else 3)))
        return
    sizes = [32, 64] if args.dry_run else [512, 1024, 2048]
    extra = ["--dry-run"] if args.dry_run else []
    rows = [{"T": T, **common.isolated(__file__, ["--point", str(T), *extra])} for T in sizes]
    common.print_table(rows, ["T", "seconds", "peak_mib", "error"])
    ok = [r for r in rows if "seconds" in r]
    slope = common.loglog_slope([r["T"] for r in ok], [r["seconds"] for r in ok])
    print(f"log-log slope of time vs T: {slope:.2f}")
    setup = {"dry_run": args.dry_run, "threads": os.environ.get("OMP_NUM_THREADS")}
    payload = {"setup": setup, "rows": rows, "slope": slope}
    print(f"wrote {common.write_json('bench_reference', payload, args.out)}")


if __name__ == "__main__":
    main()

"""PyTorch local attention vs T: the NumPy reference, torch dense, torch-flex and SDPA.

Reach 128 (window = max_rel_dist = 128, s = 1), B = 1, H = 8, Dh = 64, float32 on the CPU;
on CUDA (--device cuda) bfloat16 with T up to 32768, without the NumPy reference (CPU only).
Each (implementation, T) point runs in a fresh process (common.isolated) so its peak memory is
its own; a point whose [B, H, T, T] buffers would not fit in memory is reported skipped, with
the reason, and a point that fails is reported, never stopping the sweep. Times are medians
of 3 calls after a warm-up call (torch-flex compiles there); the reference is timed once.
Targets: torch-flex at least 5× faster than torch dense at T = 8192, and a log-log slope of
time vs T of at most 1.2.

    python benchmarks/bench_local_cpu.py                 # the full sweep: a quiet machine
    python benchmarks/bench_local_cpu.py --device cuda   # bfloat16 on a GPU
    python benchmarks/bench_local_cpu.py --dry-run       # tiny sizes, one repeat: proves it runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import common

SIZES = {"cpu": (512, 1024, 2048, 4096, 8192), "cuda": (512, 1024, 2048, 4096, 8192, 16384, 32768)}
DRY_SIZES = (32, 64)
DTYPES = {"cpu": "float32", "cuda": "bfloat16"}
REACH, DRY_REACH = 128, 8
B, H, DH = 1, 8, 64
IMPLS = ("reference", "torch-dense", "torch-flex", "sdpa")


def entry_bytes(impl: str, itemsize: int) -> int:
    """Bytes held per [B, H, T, T] entry at the peak, measured on the CPU at T = 2048 in
    float32 and rounded up: the reference keeps about four float64 arrays of that size, torch
    dense about four float32 ones (16-bit inputs compute in float32 too), SDPA's mask about
    four entries of the dtype; torch-flex none."""
    return {"reference": 40, "torch-dense": 20, "sdpa": 4 * itemsize + 2, "torch-flex": 0}[impl]


os.environ.setdefault(
    "TORCHINDUCTOR_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "aha-inductor")
)


def run_point(impl: str, T: int, reach: int, device: str, repeats: int) -> dict[str, Any]:
    """Time and peak memory of one implementation at one T (runs in the child process)."""
    import torch

    from aha import reference as ref
    from aha.adapters.torch import local_attention
    from aha.adapters.torch.sdpa import banded_sdpa
    from aha.reference import AHAConfig

    if impl == "reference" and device != "cpu":
        return {"skipped": "the NumPy reference runs on the CPU only"}
    dtype = getattr(torch, DTYPES[device])
    need = entry_bytes(impl, dtype.itemsize) * B * H * T * T
    free = available_bytes(device)
    if need > 0.8 * free:
        return {
            "skipped": f"needs ~{need / 2**30:.1f} GiB of [B, H, T, T] buffers, "
            f"{free / 2**30:.1f} GiB free"
        }
    config = AHAConfig(window=reach, max_rel_dist=reach)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((B, H, T, DH), np.float32) for _ in range(3))
    table = rng.standard_normal((H, 2 * reach - 1), np.float32)
    s = np.ones(B)  # s = 1: reach = min(W, T, R)
    fn: Callable[[], Any]
    if impl == "reference":
        fn = lambda: ref.local_attention(q, k, v, s, table, config)  # noqa: E731
    else:
        qt, kt, vt, tt = (torch.from_numpy(a).to(device, dtype) for a in (q, k, v, table))
        scale = config.softmax_scale(DH)
        fn = {
            "torch-dense": lambda: local_attention(qt, kt, vt, s, tt, config, path="dense"),
            "torch-flex": lambda: local_attention(qt, kt, vt, s, tt, config, path="flex"),
            "sdpa": lambda: banded_sdpa(qt, kt, vt, tt, reach=min(reach, T), scale=scale),
        }[impl]
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    if impl == "reference":
        repeats = 1  # minutes a call at T = 8192; NumPy has nothing to warm up
    with torch.no_grad():
        if impl != "reference":
            fn()  # warm-up outside the memory window: torch-flex compiles here
            sync()
        reset_peak(device)
        seconds = common.time_call(fn, warmup=0, repeats=repeats, sync=lambda _: sync())
    return {"seconds": seconds, "peak_mib": peak_mib(device)}


def available_bytes(device: str) -> float:
    if device == "cuda":
        import torch

        return float(torch.cuda.mem_get_info()[0])
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024.0
    return float("inf")


def reset_peak(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    common.reset_peak_memory()


def peak_mib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return common.peak_memory_mib()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON result")
    parser.add_argument("--point", nargs=5, help=argparse.SUPPRESS)  # the child's entry
    args = parser.parse_args(argv)
    if args.point:
        impl, T, reach, device, repeats = args.point
        print(json.dumps(run_point(impl, int(T), int(reach), device, int(repeats))))
        return

    import torch  # noqa: F401  (common.environment records the versions of imported frameworks)

    device = args.device
    sizes, reach, repeats = (DRY_SIZES, DRY_REACH, 1) if args.dry_run else (SIZES[device], REACH, 3)
    rows = [
        {
            "impl": impl,
            "T": T,
            **common.isolated(
                __file__, ["--point", impl, str(T), str(reach), device, str(repeats)]
            ),
        }
        for T in sizes
        for impl in IMPLS
    ]
    dense = {r["T"]: r["seconds"] for r in rows if r["impl"] == "torch-dense" and "seconds" in r}
    for r in rows:
        if "seconds" in r and r["T"] in dense:
            r["vs_dense"] = r["seconds"] / dense[r["T"]]
    slopes = {}
    for impl in IMPLS:
        ok = [r for r in rows if r["impl"] == impl and "seconds" in r]
        slopes[impl] = {
            key: common.loglog_slope([r["T"] for r in ok], [r[key] for r in ok])
            for key in ("seconds", "peak_mib")
        }
    common.print_table(rows, ("impl", "T", "seconds", "vs_dense", "peak_mib", "skipped", "error"))
    for impl, slope in slopes.items():
        print(
            f"{impl}: log-log slope vs T: time {slope['seconds']:.3g}, "
            f"peak memory {slope['peak_mib']:.3g}"
        )
    setup = {
        "B": B,
        "H": H,
        "Dh": DH,
        "reach": reach,
        "dtype": DTYPES[device],
        "device": device,
        "repeats": repeats,
        "dry_run": args.dry_run,
    }
    path = common.write_json(
        f"bench_local_{device}", {"setup": setup, "rows": rows, "slopes": slopes}, args.out
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

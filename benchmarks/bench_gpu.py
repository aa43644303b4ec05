"""GPU: the Triton band kernel against FlexAttention on the same band and dense SDPA (flash).

bfloat16, B = 4, H = 16, Dh = 128, T in {1024, 4096, 16384, 32768}, reach in {128, 512},
not causal, no padding. Times are medians of triton.testing.do_bench (CUDA events, L2
flushed between calls). TFLOP/s count the band's useful work, 4·B·H·Dh per visible (i, j)
pair, for all three, so they compare directly; SDPA's dense figure (every pair) is given as
well: it calibrates the GPU, and its time is the dense lower bound the band must beat.
"triton" is the functional entry (host plan + launch), "kernel" the launch alone.

The backward (``backward_rows``, T in {4096, 16384}): the Triton VJP (forward saving
its row statistics, then the dK/dV and dQ kernels; host plan included) against
FlexAttention's forward + backward by autograd on the same band, both giving gradients for
q, k, v and rel_bias; max_grad_diff_vs_flex is the largest difference over those four.
The dry run has no FlexAttention backward on the CPU and differentiates the torch adapter's
dense path instead (setup "backward_peer").

    python3 benchmarks/bench_gpu.py --out DIR   # on an H200: ~4 minutes (estimated), flex compiles
    python3 benchmarks/bench_gpu.py --dry-run   # CPU, TRITON_INTERPRET=1, tiny sizes, seconds

On a fresh machine the script installs this checkout (pure Python, no network) and restarts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import common

ROOT = Path(__file__).resolve().parents[1]
SIZES, REACHES, SHAPE = (1024, 4096, 16384, 32768), (128, 512), (4, 16, 128)  # B, H, Dh
DRY_SIZES, DRY_REACHES, DRY_SHAPE = (32, 64), (4, 16), (1, 1, 16)
# FlexAttention compiles its backward once per T: two lengths keep gpu_check.sh in its budget.
BWD_SIZES, DRY_BWD_SIZES = (4096, 16384), (32, 64)
# Dense bf16 matmul measured on this H200 kind (8192³ products, KINDS.md): the ceiling.
PEAK_TFLOPS = 790.0
COLUMNS = (
    "T",
    "reach",
    "triton_ms",
    "kernel_ms",
    "flex_ms",
    "sdpa_ms",
    "kernel_tflops",
    "flex_tflops",
    "sdpa_dense_tflops",
    "flex_over_triton",
    "triton_over_sdpa",
    "kernel_of_peak",
    "max_diff_vs_flex",
    "error",
)


BWD_COLUMNS = (
    "T",
    "reach",
    "triton_vjp_ms",
    "flex_fwd_bwd_ms",
    "flex_over_triton",
    "max_grad_diff_vs_flex",
    "error",
)


def ensure_installed() -> None:
    """Install this checkout editable, offline, if ``aha`` is not importable; then restart."""
    try:
        import aha.reference  # noqa: F401
    except ImportError:
        if os.environ.get("AHA_BENCH_INSTALLED"):
            raise
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--no-build-isolation",
                "-e",
                str(ROOT),
            ],
            check=True,
        )
        os.environ["AHA_BENCH_INSTALLED"] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])  # the new path hook needs a restart


def band_pairs(seq_len: int, reach: int) -> int:
    """Visible (i, j) pairs of a band |i − j| < reach over T positions (LOCAL-1)."""
    reach = min(reach, seq_len)
    return seq_len + (reach - 1) * (2 * seq_len - reach)


def timer(device: str) -> Callable[[Callable[[], Any]], float]:
    """Milliseconds per call: CUDA events on a GPU, wall clock under the interpreter."""
    if device == "cuda":
        import triton.testing

        return lambda fn: float(
            triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")
        )
    return lambda fn: 1e3 * common.time_call(fn, warmup=1, repeats=1)


def measure(
    seq_len: int,
    reach: int,
    max_rel_dist: int,
    shape: tuple[int, int, int],
    dtype: Any,
    device: str,
) -> dict[str, Any]:
    """One (T, reach) point: the three implementations, their throughput and their agreement."""
    import torch
    import torch.nn.functional as F

    from aha.adapters import torch as aha_torch
    from aha.adapters.triton import attention as tri
    from aha.reference import AHAConfig, plan

    batch, heads, head_dim = shape
    # s = 1: reach = min(W, T, R) = W. One R for every reach keeps the table's shape, so
    # FlexAttention (compiled per shape) compiles once per T.
    config = AHAConfig(window=reach, max_rel_dist=max_rel_dist)
    gen = torch.Generator(device=device).manual_seed(0)
    q, k, v = (
        torch.randn(batch, heads, seq_len, head_dim, generator=gen, device=device, dtype=dtype)
        for _ in range(3)
    )
    rel_bias = torch.randn(heads, 2 * max_rel_dist - 1, generator=gen, device=device, dtype=dtype)
    s = np.ones(batch)
    p = plan(s, seq_len, config)
    band = tri.band_plan(
        p.reach,
        p.gain * config.softmax_scale(head_dim),
        p.temperature,
        rel_bias,
        None,
        False,
        seq_len,
    )
    impls = {
        "triton": lambda: tri.local_attention(q, k, v, s, rel_bias, config),
        "kernel": lambda: tri.band_attention(q, k, v, band),
        "flex": lambda: aha_torch.local_attention(q, k, v, s, rel_bias, config, None, path="flex"),
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=False),
    }
    row: dict[str, Any] = {"T": seq_len, "reach": reach}
    errors = []
    time_ms = timer(device)
    for name, fn in impls.items():
        try:
            if name == "sdpa" and device == "cuda":
                from torch.nn.attention import SDPBackend, sdpa_kernel

                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    row["sdpa_ms"] = time_ms(fn)
            else:
                row[f"{name}_ms"] = time_ms(fn)
        except Exception as exc:  # one failing implementation must not hide the others
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    ms = {name: row[f"{name}_ms"] for name in impls if f"{name}_ms" in row}
    if {"triton", "flex"} <= ms.keys():
        diff = (impls["triton"]().float() - impls["flex"]().float()).abs().max()
        row["max_diff_vs_flex"] = float(diff)
    band_tflop = 4 * batch * heads * head_dim * band_pairs(seq_len, reach) / 1e12
    dense_tflop = 4 * batch * heads * head_dim * seq_len**2 / 1e12

    def ratio(num: float | str, den: str) -> float | None:
        """num / ms[den], num a value or a name in ms; None when a time is missing."""
        top = ms.get(num) if isinstance(num, str) else num
        return None if top is None or den not in ms else top / ms[den]

    row["kernel_tflops"] = ratio(band_tflop * 1e3, "kernel")
    row["flex_tflops"] = ratio(band_tflop * 1e3, "flex")
    row["sdpa_dense_tflops"] = ratio(dense_tflop * 1e3, "sdpa")
    row["flex_over_triton"] = ratio("flex", "triton")
    row["triton_over_sdpa"] = ratio("triton", "sdpa")
    kernel_tflops = row["kernel_tflops"]
    row["kernel_of_peak"] = None if kernel_tflops is None else kernel_tflops / PEAK_TFLOPS
    if errors:
        row["error"] = " | ".join(errors)
    return row


def measure_backward(
    seq_len: int,
    reach: int,
    max_rel_dist: int,
    shape: tuple[int, int, int],
    dtype: Any,
    device: str,
) -> dict[str, Any]:
    """One (T, reach) point of the backward: the Triton VJP against the peer's autograd."""
    import torch

    from aha.adapters import torch as aha_torch
    from aha.adapters.triton import vjp
    from aha.reference import AHAConfig

    batch, heads, head_dim = shape
    config = AHAConfig(window=reach, max_rel_dist=max_rel_dist)
    gen = torch.Generator(device=device).manual_seed(1)
    q, k, v, d_out = (
        torch.randn(batch, heads, seq_len, head_dim, generator=gen, device=device, dtype=dtype)
        for _ in range(4)
    )
    rel_bias = torch.randn(heads, 2 * max_rel_dist - 1, generator=gen, device=device, dtype=dtype)
    s = np.ones(batch)
    leaves = [x.detach().requires_grad_() for x in (q, k, v, rel_bias)]
    path = "flex" if device == "cuda" else "dense"  # FlexAttention has no CPU backward

    def triton_vjp() -> list[Any]:
        grads = vjp.local_attention_vjp(q, k, v, s, rel_bias, config, None, d_out)
        return [grads[name] for name in ("q", "k", "v", "rel_bias")]

    def peer_vjp() -> list[Any]:
        for leaf in leaves:
            leaf.grad = None
        tq, tk, tv, tb = leaves
        out = aha_torch.local_attention(tq, tk, tv, s, tb, config, None, path=path)
        out.backward(d_out)
        return [leaf.grad for leaf in leaves]

    row: dict[str, Any] = {"T": seq_len, "reach": reach}
    errors = []
    time_ms = timer(device)
    for name, fn in (("triton_vjp", triton_vjp), ("flex_fwd_bwd", peer_vjp)):
        try:
            row[f"{name}_ms"] = time_ms(fn)
        except Exception as exc:  # one failing implementation must not hide the other
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    if "triton_vjp_ms" in row and "flex_fwd_bwd_ms" in row:
        row["flex_over_triton"] = row["flex_fwd_bwd_ms"] / row["triton_vjp_ms"]
        pairs = zip(triton_vjp(), peer_vjp(), strict=True)
        diffs = [(a.float() - b.float()).abs().max() for a, b in pairs]
        row["max_grad_diff_vs_flex"] = float(max(diffs))
    if errors:
        row["error"] = " | ".join(errors)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="tiny sizes (B=1, H=1, Dh=16, T in 32, 64) on the CPU interpreter",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON result")
    args = parser.parse_args(argv)
    ensure_installed()

    import torch

    if not torch.cuda.is_available():
        if not args.dry_run:
            sys.exit("bench_gpu.py needs a CUDA GPU; use --dry-run to check it on a CPU")
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before the kernel is defined
    import triton  # noqa: F401  (common.environment records the versions imported)

    from aha.adapters.triton import attention as tri

    device = tri.kernel_device()
    # The interpreter's bfloat16 tl.dot is wrong: the CPU dry run uses float16.
    dtype = torch.bfloat16 if device == "cuda" else torch.float16
    sizes, reaches, shape = (
        (DRY_SIZES, DRY_REACHES, DRY_SHAPE) if args.dry_run else (SIZES, REACHES, SHAPE)
    )
    setup = {
        "B": shape[0],
        "H": shape[1],
        "Dh": shape[2],
        "dtype": str(dtype),
        "causal": False,
        "padding": False,
        "device": device,
        "dry_run": args.dry_run,
        "peak_tflops": PEAK_TFLOPS,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
    }
    setup["backward_peer"] = "flex" if device == "cuda" else "dense"
    bwd_sizes = DRY_BWD_SIZES if args.dry_run else BWD_SIZES
    points = [(t, r) for t in sizes for r in reaches]
    bwd_points = [(t, r) for t in bwd_sizes for r in reaches]
    rows: list[dict[str, Any]] = []
    backward_rows: list[dict[str, Any]] = []
    for seq_len, reach in points + bwd_points:
        forward = len(rows) < len(points)
        found = (measure if forward else measure_backward)(
            seq_len, reach, max(reaches), shape, dtype, device
        )
        (rows if forward else backward_rows).append(found)
        print(json.dumps(found), flush=True)
        # Written after every point, so a run stopped by a time limit keeps what it measured.
        done = len(backward_rows) == len(bwd_points)
        payload = {"setup": setup, "complete": done, "rows": rows, "backward_rows": backward_rows}
        path = common.write_json("bench_gpu", payload, args.out)
        if device == "cuda":
            torch.cuda.empty_cache()
    common.print_table(rows, COLUMNS)
    common.print_table(backward_rows, BWD_COLUMNS)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

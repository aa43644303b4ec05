"""JAX on CPU: the banded local branch against a dense masked softmax, time and peak memory vs T.

Reach 128, B = 1, H = 8, Dh = 64, float32. Each (implementation, T) point runs in a fresh
process (common.isolated), so its peak memory is its own; a point that fails, out of memory
included, is reported in the table rather than stopping the sweep. The dense baseline holds
[B, H, T, T] float32 scores: 8 GiB a buffer at T = 16384.

    python benchmarks/bench_jax_cpu.py             # the full sweep: a quiet machine, minutes
    python benchmarks/bench_jax_cpu.py --dry-run   # tiny sizes, one repeat: proves it runs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import common

SIZES = (512, 1024, 2048, 4096, 8192, 16384)
DRY_SIZES = (32, 64)
REACH, DRY_REACH = 128, 8
B, H, DH = 1, 8, 64
IMPLS = ("banded", "dense")


def dense_local(
    q: Any, k: Any, v: Any, span_scale: Any, rel_bias: Any, plan: Any, config: Any
) -> Any:
    """The local branch as one masked softmax over [B, H, T, T] scores: what banding avoids."""
    import jax.numpy as jnp

    from aha.adapters.jax import masked_softmax
    from aha.adapters.jax.attention import HIGHEST
    from aha.reference.attention import bias_index

    T = q.shape[2]
    distance = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    visible = distance < plan.reach[:, None, None, None]
    bias = rel_bias[:, bias_index(T, config.max_rel_dist)]
    scores = jnp.einsum("bhid,bhjd->bhij", q, k, precision=HIGHEST)
    z = (plan.qk_scale[:, None, None, None] * scores + bias) / plan.temperature[:, None, None, None]
    return jnp.einsum("bhij,bhjd->bhid", masked_softmax(z, visible), v, precision=HIGHEST)


def run_point(impl: str, T: int, reach: int, repeats: int) -> dict[str, Any]:
    """Time and peak memory of one implementation at one T (runs in the child process)."""
    import jax
    import jax.numpy as jnp

    from aha.adapters.jax import host_plan, local_attention
    from aha.reference import AHAConfig

    config = AHAConfig(window=reach, max_rel_dist=reach)
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.standard_normal((B, H, T, DH), np.float32)) for _ in range(3))
    rel_bias = jnp.asarray(rng.standard_normal((H, 2 * reach - 1), np.float32))
    s = np.ones(B)  # s = 1: reach = min(W, T, R)
    plan = jax.tree.map(jnp.asarray, host_plan(s, T, DH, config, np.float32))
    fn = jax.jit(local_attention if impl == "banded" else dense_local, static_argnames="config")
    common.reset_peak_memory()
    seconds = common.time_call(
        lambda: fn(q, k, v, s.astype(np.float32), rel_bias, plan, config=config),
        repeats=repeats,
        sync=jax.block_until_ready,
    )
    return {"seconds": seconds, "peak_mib": common.peak_memory_mib()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON result")
    parser.add_argument(
        "--point", nargs=4, metavar=("IMPL", "T", "REACH", "REPEATS"), help=argparse.SUPPRESS
    )  # the child process's entry
    args = parser.parse_args(argv)
    if args.point:
        impl, T, reach, repeats = args.point
        print(json.dumps(run_point(impl, int(T), int(reach), int(repeats))))
        return

    import jax  # noqa: F401  (common.environment records the version of imported frameworks)

    sizes, reach, repeats = (DRY_SIZES, DRY_REACH, 1) if args.dry_run else (SIZES, REACH, 3)
    rows = [
        {
            "impl": impl,
            "T": T,
            **common.isolated(__file__, ["--point", impl, str(T), str(reach), str(repeats)]),
        }
        for T in sizes
        for impl in IMPLS
    ]
    slopes = {}
    for impl in IMPLS:
        ok = [r for r in rows if r["impl"] == impl and "error" not in r]
        slopes[impl] = {
            key: common.loglog_slope([r["T"] for r in ok], [r[key] for r in ok])
            for key in ("seconds", "peak_mib")
        }
    common.print_table(rows, ("impl", "T", "seconds", "peak_mib", "error"))
    for impl, slope in slopes.items():
        print(
            f"{impl}: log-log slope vs T: time {slope['seconds']:.3g}, "
            f"peak memory {slope['peak_mib']:.3g}"
        )
    path = common.write_json(
        "bench_jax_cpu",
        {
            "setup": {
                "B": B,
                "H": H,
                "Dh": DH,
                "reach": reach,
                "dtype": "float32",
                "repeats": repeats,
                "dry_run": args.dry_run,
            },
            "rows": rows,
            "slopes": slopes,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

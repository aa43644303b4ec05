"""The kernel family of golden cases: shapes, masks and magnitudes where tiled kernels break.

Every case is a ``KernelCase`` record (conformance/kernel.py): its inputs are generated from
a recipe (spec/vectors.md, "Generated inputs") and its expected output is stored on sampled
rows only. Tier "default" cases (T ≤ 1100) run in every ``aha conform``: each crosses every
tile size 16 … 256 several times. Tier "kernel" cases (T up to 16384, Dh up to 256) run with
``aha conform --tier kernel``.

Why the numbers: lengths one off a power of two or odd (1025, 1000, 1100, 777, 700) leave a
partial last tile at every tile size; reach just above 256 (300) needs more than one tile of
any size; padding ends one before a multiple of 256 (767) or starts one after one (257); a
fully padded sequence beside full ones; head dims that are not powers of two (40, 59, 80, 96,
111, 160, 192); logits spread over thousands; a large common offset in k (LayerNorm outputs);
values near the float16 and bfloat16 limits in those dtypes.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..corpus import Case
from ..counter import Grid
from ..kernel import KernelCase

LOCAL = ("LOCAL-1", "LOCAL-2", "LOCAL-3", "LOCAL-4", "LOCAL-5")
GLOBAL = ("GLOBAL-1", "GLOBAL-2", "GLOBAL-4")
EXACT_64_32 = ("float64", "float32")  # grids too fine or too large for 16-bit storage

INTEGERS_64 = Grid(limit=64, exponent=0)  # q, k in [−64, 64]: logits spread in the thousands
DEEP_BIAS = Grid(limit=96, exponent=0, offset=-16384.0)  # every logit far below −1e4
OFFSET_K = Grid(limit=32, exponent=3, offset=16.0)  # 16 ± 4 in steps of 1/8: exact in bfloat16
NEAR_FLOAT16_MAX = Grid(limit=120, exponent=-9)  # |v| ≤ 61440 < 65504
NEAR_BFLOAT16_MAX = Grid(limit=127, exponent=-100)  # |v| ≈ 1.6e32: far beyond float16


def default_family() -> list[KernelCase]:
    """T ≤ 1100: part of every run."""
    return [
        KernelCase(
            id="kernel/local/T1025-H3-Dh40-reach-300-and-192",
            kind="local",
            description="reach 300 (more than one tile of any size) and 192 in one batch, "
            "T = 1025 (one past a power of two), three heads, Dh = 40",
            clauses=(*LOCAL, "PLAN-1", "PLAN-3"),
            config={"window": 512, "max_rel_dist": 300},
            B=2,
            H=3,
            T=1025,
            Dh=40,
            span_scale=(1.0, 0.375),
        ),
        KernelCase(
            id="kernel/local/T1000-Dh59-padding-at-tile-edges",
            kind="local",
            description="padding ending one before 768, left padding from one past 256, a "
            "fully padded sequence beside full ones, padding from 512; reach 64 … 256",
            clauses=(*LOCAL, "MASK-1", "MASK-2"),
            config={"window": 256, "max_rel_dist": 256},
            B=5,
            H=1,
            T=1000,
            Dh=59,
            span_scale=(1.0, 0.5, 1.0, 0.25, 0.75),
            real=((0, 1000), (0, 767), (257, 1000), (0, 0), (0, 512)),
        ),
        KernelCase(
            id="kernel/local/T1100-causal-padding-reach-300",
            kind="local",
            description="causal with a reach that crosses tiles (300, 270) and padding from "
            "513, T = 1100",
            clauses=(*LOCAL, "CAUSAL-1", "MASK-2"),
            config={"window": 300, "max_rel_dist": 300, "causal": True},
            B=2,
            H=2,
            T=1100,
            Dh=64,
            span_scale=(1.0, 0.9),
            real=((0, 1100), (0, 513)),
        ),
        KernelCase(
            id="kernel/global/T1100-Dh80-fully-padded",
            kind="global",
            description="global over 1100 keys: full, fully padded and padded from 1023 "
            "sequences side by side, distances far beyond R",
            clauses=(*GLOBAL, "MASK-2"),
            config={"max_rel_dist": 64},
            B=3,
            H=1,
            T=1100,
            Dh=80,
            real=((0, 1100), (0, 0), (0, 1023)),
        ),
        KernelCase(
            id="kernel/global/T777-Dh96-causal-left-padding",
            kind="global",
            description="causal global with left padding up to 129: early queries see no key",
            clauses=(*GLOBAL, "CAUSAL-1", "MASK-2"),
            config={"max_rel_dist": 200, "causal": True},
            B=2,
            H=1,
            T=777,
            Dh=96,
            real=((0, 777), (129, 777)),
        ),
        KernelCase(
            id="kernel/local/T700-large-logits-deep-bias",
            kind="local",
            description="logits spread over thousands, all far below −1e4 (a bias of "
            "−16384): a finite 'minus infinity' would outweigh every visible key",
            clauses=LOCAL,
            config={"window": 400, "max_rel_dist": 400},
            B=1,
            H=2,
            T=700,
            Dh=64,
            span_scale=(1.0,),
            real=((0, 650),),
            grids={"q": INTEGERS_64, "k": INTEGERS_64, "rel_bias": DEEP_BIAS},
            dtypes=EXACT_64_32,
        ),
        KernelCase(
            id="kernel/local/T600-layernorm-offset-k",
            kind="local",
            description="keys with a large common offset (16 ± 4), as LayerNorm outputs "
            "have: the softmax must not lose the small differences",
            clauses=LOCAL,
            config={"window": 320, "max_rel_dist": 320},
            B=1,
            H=2,
            T=600,
            Dh=48,
            span_scale=(0.875,),
            grids={"k": OFFSET_K},
        ),
        KernelCase(
            id="kernel/local/T300-near-float16-max",
            kind="local",
            description="values up to 61440, near the float16 limit 65504",
            clauses=(*LOCAL, "PREC-2"),
            config={"window": 128, "max_rel_dist": 128},
            B=1,
            H=1,
            T=300,
            Dh=32,
            span_scale=(1.0,),
            grids={"v": NEAR_FLOAT16_MAX},
            dtypes=("float64", "float32", "float16"),
        ),
        KernelCase(
            id="kernel/global/T300-near-bfloat16-range",
            kind="global",
            description="values near 1.6e32, representable in bfloat16 and float32 only",
            clauses=(*GLOBAL, "PREC-2"),
            config={"max_rel_dist": 32},
            B=1,
            H=1,
            T=300,
            Dh=32,
            grids={"v": NEAR_BFLOAT16_MAX},
            dtypes=("float64", "float32", "bfloat16"),
        ),
    ]


def kernel_family() -> list[KernelCase]:
    """The long shapes of ``aha conform --tier kernel`` (GPU-sized)."""
    return [
        KernelCase(
            id="kernel/local/T16384-Dh64-reach-512",
            kind="local",
            description="T = 16384 with reach 512",
            clauses=LOCAL,
            config={"window": 1024, "max_rel_dist": 600},
            B=1,
            H=2,
            T=16384,
            Dh=64,
            span_scale=(0.5,),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/local/T4224-Dh256-reach-257-255-padding",
            kind="local",
            description="Dh = 256, reach on both sides of 256, padding from 4097",
            clauses=(*LOCAL, "MASK-2"),
            config={"window": 514, "max_rel_dist": 300},
            B=2,
            H=1,
            T=4224,
            Dh=256,
            span_scale=(0.5, 0.49609375),
            real=((0, 4224), (0, 4097)),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/local/T8191-Dh111-causal-reach-1024",
            kind="local",
            description="causal, reach 1024, Dh = 111, T one below 8192",
            clauses=(*LOCAL, "CAUSAL-1"),
            config={"window": 2048, "max_rel_dist": 1100, "causal": True},
            B=1,
            H=1,
            T=8191,
            Dh=111,
            span_scale=(0.5,),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/global/T4096-Dh128-causal-padding",
            kind="global",
            description="causal global over 4096 keys with padding from 4000",
            clauses=(*GLOBAL, "CAUSAL-1", "MASK-2"),
            config={"max_rel_dist": 128, "causal": True},
            B=1,
            H=1,
            T=4096,
            Dh=128,
            real=((0, 4000),),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/global/T2049-Dh192-left-padding",
            kind="global",
            description="global, T = 2049, Dh = 192, left padding from 2",
            clauses=(*GLOBAL, "MASK-2"),
            config={"max_rel_dist": 256},
            B=2,
            H=1,
            T=2049,
            Dh=192,
            real=((0, 2049), (2, 2049)),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/local/T2047-Dh160-reach-above-T",
            kind="local",
            description="window and R above T: the reach is T (every key), Dh = 160",
            clauses=(*LOCAL, "PLAN-3"),
            config={"window": 4096, "max_rel_dist": 4096},
            B=1,
            H=1,
            T=2047,
            Dh=160,
            span_scale=(1.0,),
            tier="kernel",
        ),
    ]


def cases() -> Iterator[Case]:
    """Every kernel case as a corpus Case (inputs lazy, rows sampled), default family first."""
    for k in (*default_family(), *kernel_family()):
        yield k.case()

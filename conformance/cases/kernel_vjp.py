"""The kernel family's VJP cases: the backward where tiled kernels break (GRAD-3, GRAD-4, GRAD-6).

Every case is a ``KernelCase`` record (conformance/kernel.py) of kind local_vjp or global_vjp:
its inputs and its cotangent d_out are generated from a recipe (spec/vectors.md, "Generated
inputs"); grad.q, grad.k and grad.v are stored on the sampled rows of their T axis, the bias
table's and the span scale's gradients whole. Tier "default" cases (T ≤ 257) are cheap for
every adapter; tier "kernel" cases (T up to 4095) run with ``aha conform --tier kernel``.

Why the numbers: T on both sides of the tiles 64, 128 and 256 and odd (63, 113, 203, 255,
257, 1023, 1025, 2049, 4095) leaves a partial last tile at every tile size, or a sequence
inside one partial tile; reaches 63, 66, 100, 128, 160, 300 and 520 end just past, at and
between tile edges, and one batch holds three of them; padding ends at, one before and one
after a tile edge (48, 256, 127, 129, 97, 1023, 2047, 3841) and starts one before or one
after one (63, 65, 255), and causal left padding and a fully padded sequence leave rows with
no visible key, whose gradient must be exactly zero; head dims 12, 24, 40 and 72 are not
powers of two and fill a padded head tile of 16, 32, 64 or 128 partly. They are kept small
(none above 128, which the forward cases pin) so the corpus stays under the 5 MiB of
tests/test_vectors.py: the rows stored grow with Dh, and T is what tiles. A backward kernel
splits dq's sum over key tiles and dk's, dv's and the bias table's over query tiles: each
shape here makes a sum that a tile drops or counts twice visible on the sampled rows.

Span scales put W·s mid-piece (W·s = n + 1/2) and τ away from τmin except for the element that
pins the clamp, as the small vjp cases do (GRAD-6). The layer has no kernel-tier VJP case: its
backward beyond the two branches is dense projections with nothing to tile, the reference has
no blocked layer VJP (the dense one holds [B, H, T, T] arrays), and its inputs (x and every
parameter, with span.bias chosen for PREC-5's margin) have no recipe (spec/vectors.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..corpus import Case
from ..kernel import KernelCase

LOCAL = ("GRAD-1", "GRAD-3", "GRAD-4", "GRAD-6", "LOCAL-1", "LOCAL-2", "LOCAL-3")
GLOBAL = ("GRAD-3", "GRAD-4", "GRAD-6", "GLOBAL-1", "GLOBAL-2")
# τ = 1 + α·s (α = 1/2) crosses τmin = 1.2 at s = 0.4: s = 0.26 is clamped, 0.50 and 1.00 free.
TEMPERED = {"temp_scale": 0.5, "min_temperature": 1.2}


def default_family() -> list[KernelCase]:
    """T ≤ 257: part of every run."""
    return [
        KernelCase(
            id="kernel/local_vjp/T203-H3-Dh12-three-reaches-clamp",
            kind="local_vjp",
            description="reaches 160, 128 and 66 in one batch (tile 128 crossed, met, and 64 "
            "just crossed), padding from 127 and left padding to 65, T = 203, log gain; the "
            "third sequence's τ is clamped, so its s gets exactly zero",
            clauses=(*LOCAL, "GRAD-2", "PLAN-3", "PLAN-4", "MASK-2"),
            flags=(
                "grad-dq-first-tile",
                "grad-bias-misplaced",
                "grad-span-missing",
                "grad-through-clamp",
            ),
            config={"window": 256, "max_rel_dist": 160, "score_scale": "log", **TEMPERED},
            B=3,
            H=3,
            T=203,
            Dh=12,
            span_scale=(0.998046875, 0.501953125, 0.259765625),
            real=((0, 203), (0, 127), (65, 203)),
        ),
        KernelCase(
            id="kernel/local_vjp/T113-Dh12-causal-left-padding",
            kind="local_vjp",
            description="causal, reach 100 and 70 (more than one tile of 64), left padding to "
            "17 and padding from 97: rows 0 … 16 of the second sequence see no key and pass "
            "no gradient",
            clauses=(*LOCAL, "LOCAL-5", "CAUSAL-1", "MASK-2"),
            flags=(
                "grad-masked-rows",
                "grad-dq-first-tile",
                "grad-bias-misplaced",
                "grad-span-missing",
            ),
            config={"window": 128, "max_rel_dist": 100, "causal": True, "temp_scale": 0.25},
            B=2,
            H=2,
            T=113,
            Dh=12,
            span_scale=(0.78515625, 0.55078125),
            real=((0, 113), (17, 97)),
        ),
        KernelCase(
            id="kernel/local_vjp/T63-Dh40-one-partial-tile",
            kind="local_vjp",
            description="T = 63 (one below 64): the whole sequence is one partial tile of 64; "
            "reach 63 (every key) and 48, padding from 48, sharpen 'long'",
            clauses=(*LOCAL, "PLAN-3", "PLAN-4", "MASK-2"),
            flags=("grad-dq-first-tile", "grad-bias-misplaced", "grad-span-missing"),
            config={"window": 128, "max_rel_dist": 100, "temp_scale": 0.5, "sharpen": "long"},
            B=2,
            H=1,
            T=63,
            Dh=40,
            span_scale=(0.75390625, 0.37890625),
            real=((0, 63), (0, 48)),
        ),
        KernelCase(
            id="kernel/global_vjp/T257-Dh24-fully-padded",
            kind="global_vjp",
            description="T = 257 keys (one past 256), R = 100: padding from 256 beside a full "
            "and a fully padded sequence, whose every row passes no gradient",
            clauses=(*GLOBAL, "GLOBAL-4", "MASK-2"),
            flags=("grad-dq-first-tile", "grad-bias-misplaced", "grad-masked-rows"),
            config={"max_rel_dist": 100},
            B=3,
            H=1,
            T=257,
            Dh=24,
            real=((0, 257), (0, 256), (0, 0)),
        ),
        KernelCase(
            id="kernel/global_vjp/T255-H2-Dh12-causal-left-padding",
            kind="global_vjp",
            description="causal global, T = 255 (one below 256): left padding to 63 leaves "
            "rows 0 … 62 without a visible key; padding from 129",
            clauses=(*GLOBAL, "GLOBAL-4", "CAUSAL-1", "MASK-2"),
            flags=("grad-masked-rows", "grad-dq-first-tile", "grad-bias-misplaced"),
            config={"max_rel_dist": 64, "causal": True},
            B=2,
            H=2,
            T=255,
            Dh=12,
            real=((63, 255), (0, 129)),
        ),
    ]


def kernel_family() -> list[KernelCase]:
    """The long shapes of ``aha conform --tier kernel``."""
    return [
        KernelCase(
            id="kernel/local_vjp/T1025-Dh12-reach-300-and-192",
            kind="local_vjp",
            description="reach 300 (more than one tile of any size) and 192 in one batch, "
            "T = 1025, padding from 1023",
            clauses=(*LOCAL, "PLAN-3", "MASK-2"),
            flags=("grad-dq-first-tile", "grad-bias-misplaced", "grad-span-missing"),
            config={"window": 512, "max_rel_dist": 300, "temp_scale": 0.5},
            B=2,
            H=1,
            T=1025,
            Dh=12,
            span_scale=(0.9990234375, 0.3759765625),
            real=((0, 1025), (0, 1023)),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/local_vjp/T4095-Dh24-causal-reach-520",
            kind="local_vjp",
            description="causal, reach 520 (R clamps a window of 600), sharpen 'long', "
            "T = 4095, padding from 3841 (one past a multiple of 256)",
            clauses=(*LOCAL, "CAUSAL-1", "PLAN-3", "PLAN-4", "MASK-2"),
            flags=("grad-dq-first-tile", "grad-bias-misplaced", "grad-span-missing"),
            config={
                "window": 1024,
                "max_rel_dist": 520,
                "causal": True,
                "temp_scale": 0.5,
                "sharpen": "long",
            },
            B=1,
            H=1,
            T=4095,
            Dh=24,
            span_scale=(0.58642578125,),
            real=((0, 3841),),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/global_vjp/T1023-Dh24-causal-left-padding",
            kind="global_vjp",
            description="causal global over 1023 keys, left padding to 255 (one before 256): "
            "rows 0 … 254 pass no gradient",
            clauses=(*GLOBAL, "GLOBAL-4", "CAUSAL-1", "MASK-2"),
            flags=("grad-masked-rows", "grad-dq-first-tile", "grad-bias-misplaced"),
            config={"max_rel_dist": 200, "causal": True},
            B=1,
            H=1,
            T=1023,
            Dh=24,
            real=((255, 1023),),
            tier="kernel",
        ),
        KernelCase(
            id="kernel/global_vjp/T2049-Dh72-padding",
            kind="global_vjp",
            description="global over 2049 keys (one past 2048), Dh = 72, padding from 2047",
            clauses=(*GLOBAL, "MASK-2"),
            flags=("grad-dq-first-tile", "grad-bias-misplaced"),
            config={"max_rel_dist": 256},
            B=1,
            H=1,
            T=2049,
            Dh=72,
            real=((0, 2047),),
            tier="kernel",
        ),
    ]


def cases() -> Iterator[Case]:
    """Every kernel VJP case as a corpus Case (inputs lazy, rows sampled), default family first."""
    for k in (*default_family(), *kernel_family()):
        yield k.case()

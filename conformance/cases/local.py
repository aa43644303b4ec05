"""Golden cases of LOCAL, MASK, CAUSAL: the local branch (spec/AHA.md)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from ..corpus import Case
from .build import below, core, masks, valid


def cases() -> Iterator[Case]:
    base = {"window": 8, "max_rel_dist": 8}
    yield valid(
        id="local/degenerate-full-window",
        kind="local",
        description="window ≥ T, R ≥ T, no gain, τ = 1, zero bias: plain softmax attention",
        clauses="LOCAL-1 LOCAL-2 LOCAL-3 LOCAL-4 CFG-4",
        flags="quarter-root-scale",
        config={"window": 16, "max_rel_dist": 16},
        inputs=lambda rng: core(rng, 2, 2, 9, 16, 16, span=1.0, bias="zero"),
    )
    yield valid(
        id="local/reach-one",
        kind="local",
        description="s = 0, min_window 1: each query sees itself",
        clauses="LOCAL-1 PLAN-2",
        flags="window-off-by-one",
        config=base,
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 8, span=0.0),
    )
    for T in (1, 2, 7, 17, 33, 130):
        B, H = (1, 1) if T > 33 else (2, 2)
        yield valid(
            id=f"local/T-{T}",
            kind="local",
            description=f"T = {T}, not a multiple of any block",
            clauses="LOCAL-1 LOCAL-2 LOCAL-4",
            flags="window-off-by-one bias-sign-flipped",
            config={"window": 12, "max_rel_dist": 10},
            inputs=partial(core, B=B, H=H, T=T, Dh=4, R=10, span=[0.5, 0.9][:B]),
        )
    yield valid(
        id="local/batch-distinct-span-and-padding",
        kind="local",
        description="three sequences with different s and different padding",
        clauses="LOCAL-1 LOCAL-6 PLAN-1 MASK-1 MASK-2",
        flags="batch-averaged-span span-truncates-qkv padding-mask-inverted",
        config={"window": 10, "max_rel_dist": 10},
        inputs=lambda rng: core(
            rng,
            3,
            2,
            11,
            4,
            10,
            span=[0.1, 0.9, 0.45],
            mask=masks("11111111111", "11111110000", "00111111111"),
        ),
    )
    yield valid(
        id="local/fully-masked-rows",
        kind="local",
        description="queries whose band holds only padding: out = 0 (not NaN, not mean of V)",
        clauses="LOCAL-5 MASK-1 MASK-2",
        flags="masked-rows-nan masked-rows-mean-v padding-mask-inverted",
        config={"window": 4, "max_rel_dist": 4},
        inputs=lambda rng: core(
            rng, 2, 2, 10, 4, 4, span=[0.5, 0.75], mask=masks("1100000000", "1111100000")
        ),
    )
    yield valid(
        id="local/causal",
        kind="local",
        description="causal band: j ≤ i and |i − j| < ρ",
        clauses="LOCAL-1 CAUSAL-1",
        flags="causal-off-by-one window-off-by-one",
        config={"window": 6, "max_rel_dist": 6, "causal": True},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 6, span=[0.5, 1.0]),
    )
    yield valid(
        id="local/causal-left-padding",
        kind="local",
        description="causal with left padding: the first rows see no key and give 0",
        clauses="LOCAL-5 CAUSAL-1 MASK-2",
        flags="masked-rows-nan masked-rows-mean-v causal-off-by-one",
        config={"window": 6, "max_rel_dist": 6, "causal": True},
        inputs=lambda rng: core(
            rng, 2, 2, 8, 4, 6, span=[0.7, 1.0], mask=masks("00011111", "00000001")
        ),
    )
    for sharpen in ("short", "long"):
        yield valid(
            id=f"local/sharpen-{sharpen}",
            kind="local",
            description=f"sharpen={sharpen}, α > 0, clamp inactive: per-sequence temperature",
            clauses="LOCAL-3 PLAN-4",
            flags="temperature-inverted bias-not-divided-by-temperature",
            config={
                "window": 8,
                "max_rel_dist": 8,
                "temperature": 0.5,
                "temp_scale": 2.0,
                "sharpen": sharpen,
                "min_temperature": 0.1,
            },
            inputs=lambda rng: core(rng, 2, 2, 9, 4, 8, span=[0.25, 0.875]),
        )
        yield valid(
            id=f"local/temperature-clamp-{sharpen}",
            kind="local",
            description=f"sharpen={sharpen}: the τmin clamp is active for one sequence",
            clauses="LOCAL-3 PLAN-4",
            flags="temperature-clamp-missing temperature-inverted",
            config={
                "window": 8,
                "max_rel_dist": 8,
                "temperature": 0.25,
                "temp_scale": 1.0,
                "sharpen": sharpen,
                "min_temperature": 0.5,
            },
            inputs=lambda rng: core(rng, 2, 2, 9, 4, 8, span=[0.125, 0.875]),
        )
    for scale in ("linear", "log"):
        yield valid(
            id=f"local/gain-{scale}",
            kind="local",
            description=f"score_scale={scale}: the gain multiplies the scores, not the bias",
            clauses="LOCAL-2 LOCAL-3 PLAN-5",
            flags="post-softmax-gain bias-scaled-by-gain bias-not-added",
            config={"window": 12, "min_window": 2, "max_rel_dist": 12, "score_scale": scale},
            inputs=lambda rng: core(rng, 2, 2, 9, 4, 12, span=[0.25, 0.6]),
        )
    yield valid(
        id="local/asymmetric-bias",
        kind="local",
        description="an asymmetric bias table: the index is i − j",
        clauses="LOCAL-2",
        flags="bias-sign-flipped bias-not-added",
        config={"window": 8, "max_rel_dist": 8},
        inputs=lambda rng: core(rng, 2, 3, 9, 4, 8, span=1.0),
    )
    yield valid(
        id="local/temperature-divides-bias",
        kind="local",
        description="τ ≠ 1 with a bias table: the bias is divided by τ too",
        clauses="LOCAL-3",
        flags="bias-not-divided-by-temperature bias-scaled-by-gain",
        config={"window": 8, "max_rel_dist": 8, "temperature": 0.25, "score_scale": "log"},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 8, span=[0.5, 0.75], limit=16),
    )
    yield valid(
        id="local/large-logits",
        kind="local",
        description="|logit| ≈ 1e4: a naive softmax overflows",
        clauses="LOCAL-4",
        flags="",
        config={"window": 6, "max_rel_dist": 6},
        inputs=lambda rng: core(rng, 2, 2, 7, 4, 6, span=1.0, limit=64, step=1),
    )
    yield valid(
        id="local/floor-boundaries",
        kind="local",
        description="W=8: s = k/W exactly and the binary64 value just below it",
        clauses="PLAN-2 LOCAL-1",
        flags="window-round window-off-by-one",
        config={"window": 8, "max_rel_dist": 8},
        inputs=lambda rng: core(rng, 4, 1, 10, 4, 8, span=[0.5, below(0.5), 0.375, below(0.375)]),
    )
    yield valid(
        id="local/float32-floor-hazard",
        kind="local",
        description="W=100, s=0.29: reach 28 (float32 W·s would give 29)",
        clauses="PLAN-2 LOCAL-1",
        flags="window-float32-floor window-round",
        config={"window": 100, "max_rel_dist": 40},
        inputs=lambda rng: core(rng, 1, 1, 40, 4, 40, span=0.29),
    )
    yield valid(
        id="local/round-vs-floor",
        kind="local",
        description="W=10, s=0.76: floor 7, round 8",
        clauses="PLAN-2 LOCAL-1",
        flags="window-round",
        config={"window": 10, "max_rel_dist": 10},
        inputs=lambda rng: core(rng, 1, 2, 12, 4, 10, span=0.76),
    )
    yield valid(
        id="local/min-window-above-T",
        kind="local",
        description="min_window 12 > T = 7: reach T",
        clauses="PLAN-3 LOCAL-1",
        flags="min-window-after-clamp",
        config={"window": 16, "min_window": 12, "max_rel_dist": 16},
        inputs=lambda rng: core(rng, 2, 2, 7, 4, 16, span=[0.1, 0.5]),
    )
    yield valid(
        id="local/min-window-floor",
        kind="local",
        description="min_window floors a small request",
        clauses="PLAN-2 LOCAL-1",
        flags="min-window-after-clamp window-round",
        config={"window": 16, "min_window": 3, "max_rel_dist": 16},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 16, span=[0.0, 0.1]),
    )
    yield valid(
        id="local/R-below-window",
        kind="local",
        description="R = 3 < requested window 16: reach 3",
        clauses="PLAN-3 LOCAL-1 LOCAL-2",
        flags="reach-not-clamped-by-R",
        config={"window": 16, "max_rel_dist": 3},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 3, span=1.0),
    )
    yield valid(
        id="local/s-zero-and-one",
        kind="local",
        description="s = 0 and s = 1 in one batch",
        clauses="PLAN-2 LOCAL-1 LOCAL-6",
        flags="batch-averaged-span window-off-by-one",
        config={"window": 6, "max_rel_dist": 6},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 6, span=[0.0, 1.0]),
    )
    yield valid(
        id="local/span-truncation-trap",
        kind="local",
        description="reach 3 on T = 12: every position attends, none is dropped or shifted",
        clauses="LOCAL-1",
        flags="span-truncates-qkv",
        config={"window": 6, "max_rel_dist": 6},
        inputs=lambda rng: core(rng, 1, 2, 12, 4, 6, span=0.5),
    )
    yield valid(
        id="local/explicit-scale",
        kind="local",
        description="scale given: it replaces 1/√Dh",
        clauses="CFG-4 LOCAL-2",
        flags="quarter-root-scale",
        config={"window": 8, "max_rel_dist": 8, "scale": 0.375},
        inputs=lambda rng: core(rng, 2, 2, 9, 8, 8, span=0.75),
    )
    yield valid(
        id="local/head-dim-16",
        kind="local",
        description="Dh = 16: 1/√Dh = 0.25, not 16^−¼ = 0.5",
        clauses="CFG-4 LOCAL-2",
        flags="quarter-root-scale",
        config={"window": 8, "max_rel_dist": 8},
        inputs=lambda rng: core(rng, 1, 2, 9, 16, 8, span=1.0),
    )

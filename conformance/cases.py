"""The catalog of golden cases: what each vector pins and which bug classes it targets.

Each case is declared by its inputs' recipe; ``aha vectors generate`` evaluates the reference
on it (conformance/generate.py). Float inputs are multiples of 1/32 (or 1/256) small enough
to be exact in float16 and bfloat16, so one float64 expectation serves every dtype (PREC-4).
Seeds derive from case ids (corpus.seed_of).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

from aha.reference import param_shapes

from .corpus import Case, seed_of

FLAGS = {
    # The original research code (brief §9, spec DEC-2)
    "batch-averaged-span": "the span scale is averaged over the batch, coupling sequences",
    "span-truncates-qkv": "the span is applied by truncating q/k/v to their first positions",
    "bias-not-added": "the relative bias table is built but never added to the scores",
    "post-softmax-gain": "the gain multiplies the weights after softmax, un-renormalised",
    "global-causal": "the global branch is causal although config.causal is False",
    "quarter-root-scale": "the head-dim scale d^-1/4 is applied once instead of d^-1/2",
    "temperature-inverted": "the temperature law runs the wrong way for the sharpen mode",
    # Seen across attention libraries
    "window-off-by-one": "keys with |i - j| = reach are visible (<= instead of <)",
    "window-round": "the window is W*s rounded instead of floored",
    "window-float32-floor": "W*s is computed in float32 before the floor",
    "min-window-after-clamp": "min_window is applied after the T and R clamps",
    "reach-not-clamped-by-R": "the reach is not clamped by max_rel_dist",
    "bias-sign-flipped": "the bias index uses j - i instead of i - j",
    "bias-not-divided-by-temperature": "the temperature divides the scores but not the bias",
    "bias-scaled-by-gain": "the gain multiplies the bias as well as the scores",
    "masked-rows-nan": "a row with no visible key gives NaN",
    "masked-rows-mean-v": "a row with no visible key gives the mean of V",
    "causal-off-by-one": "a causal query does not see itself (j < i)",
    "temperature-clamp-missing": "the min_temperature clamp is not applied",
    "heads-interleaved": "heads take interleaved features instead of contiguous blocks",
    "layernorm-unbiased-variance": "LayerNorm divides the variance by D - 1",
    "layernorm-wrong-eps": "LayerNorm ignores config.ln_eps",
    "span-pools-padding": "the span predictor averages over padding positions too",
    "padding-mask-inverted": "key_padding_mask is read with True meaning padding",
    # Validation
    "accepts-bad-input": "an invalid input is accepted instead of raising the typed error",
}

Build = Callable[[np.random.Generator], dict[str, Any]]


def grid(
    rng: np.random.Generator, shape: tuple[int, ...], limit: int = 96, step: float = 1 / 32
) -> np.ndarray:
    """Random multiples of ``step`` in [-limit·step, limit·step]: exact in every float dtype."""
    return rng.integers(-limit, limit + 1, shape).astype(np.float64) * step


def masks(*rows: str) -> np.ndarray:
    """key_padding_mask from strings of 1 (real) and 0 (padding), one per batch element."""
    return np.array([[c == "1" for c in row] for row in rows])


def core(
    rng: np.random.Generator,
    B: int,
    H: int,
    T: int,
    Dh: int,
    R: int,
    *,
    span: Any = None,
    mask: np.ndarray | None = None,
    limit: int = 96,
    step: float = 1 / 32,
    bias: str = "random",
) -> dict[str, Any]:
    """Inputs of a local (with ``span``) or global case. bias: random, zero."""
    q, k, v = (grid(rng, (B, H, T, Dh), limit, step) for _ in range(3))
    table = grid(rng, (H, 2 * R - 1)) if bias == "random" else np.zeros((H, 2 * R - 1))
    inputs: dict[str, Any] = {"q": q, "k": k, "v": v, "rel_bias": table}
    if span is not None:
        inputs["span_scale"] = np.broadcast_to(np.asarray(span, dtype=np.float64), (B,)).copy()
    if mask is not None:
        inputs["key_padding_mask"] = mask
    return inputs


def layer(
    rng: np.random.Generator,
    B: int,
    T: int,
    D: int,
    H: int,
    config: dict[str, Any],
    *,
    mask: np.ndarray | None = None,
    span: Any = None,
    x_limit: int = 64,
) -> dict[str, Any]:
    """Inputs of a layer case; span.bias is fixed later by the generator (PREC-5 margin)."""
    from aha.reference import AHAConfig

    params = {}
    for name, shape in param_shapes(D, H, AHAConfig.from_dict(config)).items():
        if name.startswith("ln_") and name.endswith("weight"):
            params[name] = 1.0 + grid(rng, shape, 8)
        elif name == "span.weight":
            params[name] = grid(rng, shape, 16, step=1 / 256)
        elif name.endswith("rel_bias") or name.startswith("ln_"):
            params[name] = grid(rng, shape, 32)
        else:
            params[name] = grid(rng, shape, 8)
    inputs: dict[str, Any] = {"x": grid(rng, (B, T, D), x_limit), "params": params}
    if mask is not None:
        inputs["key_padding_mask"] = mask
    if span is not None:
        inputs["span_scale"] = np.broadcast_to(np.asarray(span, dtype=np.float64), (B,)).copy()
    return inputs


def below(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


def above(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def valid(
    case_id: str,
    kind: str,
    description: str,
    clauses: str,
    flags: str,
    config: dict[str, Any],
    build: Build,
) -> Case:
    inputs = build(np.random.default_rng(seed_of(case_id)))
    return Case(
        case_id, kind, description, tuple(clauses.split()), tuple(flags.split()), config, inputs
    )


def invalid(
    case_id: str,
    kind: str,
    description: str,
    clauses: str,
    error: str,
    argument: str,
    config: dict[str, Any],
    inputs: dict[str, Any],
) -> Case:
    return Case(
        case_id,
        kind,
        description,
        ("ERR-1", "ERR-2", *clauses.split()),
        ("accepts-bad-input",),
        config,
        inputs,
        error=error,
        argument=argument,
    )


# ---------------------------------------------------------------------------------------------
def plan_cases() -> Iterator[Case]:
    def plan_inputs(s: list[float], T: int) -> Build:
        return lambda rng: {
            "span_scale": np.array(s, dtype=np.float64),
            "seq_len": np.array(T, dtype=np.int64),
        }

    W16 = {"window": 16, "max_rel_dist": 16}
    yield valid(
        "plan/s-zero-and-one",
        "plan",
        "s = 0 floors to min_window; s = 1 gives W",
        "PLAN-1 PLAN-2 PLAN-3 PLAN-6",
        "window-round",
        W16,
        plan_inputs([0.0, 1.0], 32),
    )
    yield valid(
        "plan/float32-floor-hazard",
        "plan",
        "W=100, s=0.29: binary64 W·s = 28.999999999999996 floors to 28 (float32: 29)",
        "PLAN-2",
        "window-float32-floor window-round",
        {"window": 100, "max_rel_dist": 128},
        plan_inputs([0.29, 0.57, 0.58], 128),
    )
    w8 = [k / 8 for k in range(1, 8)]
    yield valid(
        "plan/exact-integers",
        "plan",
        "W·s exactly an integer, and the floats around it",
        "PLAN-2",
        "window-round window-off-by-one",
        {"window": 8, "max_rel_dist": 8},
        plan_inputs([v for x in w8 for v in (below(x), x, above(x))], 8),
    )
    yield valid(
        "plan/binary64-products",
        "plan",
        "W=10: 10·0.3 = 3.0000000000000004 and 10·0.7 = 7.000000000000001 floor to 3, 7",
        "PLAN-2",
        "window-round window-float32-floor",
        {"window": 10, "max_rel_dist": 10},
        plan_inputs([0.3, 0.7, 0.76, 0.35, 0.95], 10),
    )
    yield valid(
        "plan/min-window-above-T",
        "plan",
        "min_window > T: the reach is T",
        "PLAN-2 PLAN-3",
        "min-window-after-clamp",
        {"window": 16, "min_window": 12, "max_rel_dist": 16},
        plan_inputs([0.1, 0.9], 7),
    )
    yield valid(
        "plan/R-below-window",
        "plan",
        "R < requested window: the reach is R",
        "PLAN-3",
        "reach-not-clamped-by-R",
        {"window": 32, "max_rel_dist": 5},
        plan_inputs([1.0, 0.5, 0.1], 64),
    )
    yield valid(
        "plan/T-one", "plan", "T = 1: reach 1", "PLAN-3", "", W16, plan_inputs([0.0, 0.5, 1.0], 1)
    )
    for sharpen in ("short", "long"):
        yield valid(
            f"plan/temperature-{sharpen}",
            "plan",
            f"sharpen={sharpen}: τ = τ0 + α·shift, clamp inactive",
            "PLAN-4",
            "temperature-inverted",
            {
                "window": 16,
                "max_rel_dist": 16,
                "temperature": 0.5,
                "temp_scale": 1.5,
                "sharpen": sharpen,
                "min_temperature": 0.1,
            },
            plan_inputs([0.0, 0.25, 0.8, 1.0], 16),
        )
        yield valid(
            f"plan/temperature-clamp-{sharpen}",
            "plan",
            f"sharpen={sharpen}: the τmin clamp is active for some s, tied for one",
            "PLAN-4",
            "temperature-clamp-missing temperature-inverted",
            {
                "window": 16,
                "max_rel_dist": 16,
                "temperature": 0.25,
                "temp_scale": 0.5,
                "sharpen": sharpen,
                "min_temperature": 0.5,
            },
            plan_inputs([0.0, 0.1, 0.5, 0.9, 1.0], 16),
        )
    for scale in ("none", "linear", "log"):
        yield valid(
            f"plan/gain-{scale}",
            "plan",
            f"score_scale={scale}: the gain follows the requested window, not T or R",
            "PLAN-5",
            "",
            {"window": 24, "min_window": 2, "max_rel_dist": 6, "score_scale": scale},
            plan_inputs([0.0, 0.1, 0.5, 0.99, 1.0], 5),
        )
    yield valid(
        "plan/batch-distinct",
        "plan",
        "every element keeps its own s",
        "PLAN-1 PLAN-6",
        "batch-averaged-span",
        {"window": 20, "max_rel_dist": 20, "temperature": 1.0, "temp_scale": 1.0},
        plan_inputs([0.05, 0.95, 0.5, 0.3], 20),
    )


def local_cases() -> Iterator[Case]:
    base = {"window": 8, "max_rel_dist": 8}
    yield valid(
        "local/degenerate-full-window",
        "local",
        "window ≥ T, R ≥ T, no gain, τ = 1, zero bias: plain softmax attention",
        "LOCAL-1 LOCAL-2 LOCAL-3 LOCAL-4 CFG-4",
        "quarter-root-scale",
        {"window": 16, "max_rel_dist": 16},
        lambda rng: core(rng, 2, 2, 9, 16, 16, span=1.0, bias="zero"),
    )
    yield valid(
        "local/reach-one",
        "local",
        "s = 0, min_window 1: each query sees itself",
        "LOCAL-1 PLAN-2",
        "window-off-by-one",
        base,
        lambda rng: core(rng, 2, 2, 9, 4, 8, span=0.0),
    )
    for T in (1, 2, 7, 17, 33, 130):
        B, H = (1, 1) if T > 33 else (2, 2)
        yield valid(
            f"local/T-{T}",
            "local",
            f"T = {T}, not a multiple of any block",
            "LOCAL-1 LOCAL-2 LOCAL-4",
            "window-off-by-one bias-sign-flipped",
            {"window": 12, "max_rel_dist": 10},
            partial(core, B=B, H=H, T=T, Dh=4, R=10, span=[0.5, 0.9][:B]),
        )
    yield valid(
        "local/batch-distinct-span-and-padding",
        "local",
        "three sequences with different s and different padding",
        "LOCAL-1 LOCAL-6 PLAN-1 MASK-1 MASK-2",
        "batch-averaged-span span-truncates-qkv padding-mask-inverted",
        {"window": 10, "max_rel_dist": 10},
        lambda rng: core(
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
        "local/fully-masked-rows",
        "local",
        "queries whose band holds only padding: out = 0 (not NaN, not mean of V)",
        "LOCAL-5 MASK-1 MASK-2",
        "masked-rows-nan masked-rows-mean-v padding-mask-inverted",
        {"window": 4, "max_rel_dist": 4},
        lambda rng: core(
            rng, 2, 2, 10, 4, 4, span=[0.5, 0.75], mask=masks("1100000000", "1111100000")
        ),
    )
    yield valid(
        "local/causal",
        "local",
        "causal band: j ≤ i and |i − j| < ρ",
        "LOCAL-1 CAUSAL-1",
        "causal-off-by-one window-off-by-one",
        {"window": 6, "max_rel_dist": 6, "causal": True},
        lambda rng: core(rng, 2, 2, 9, 4, 6, span=[0.5, 1.0]),
    )
    yield valid(
        "local/causal-left-padding",
        "local",
        "causal with left padding: the first rows see no key and give 0",
        "LOCAL-5 CAUSAL-1 MASK-2",
        "masked-rows-nan masked-rows-mean-v causal-off-by-one",
        {"window": 6, "max_rel_dist": 6, "causal": True},
        lambda rng: core(rng, 2, 2, 8, 4, 6, span=[0.7, 1.0], mask=masks("00011111", "00000001")),
    )
    for sharpen in ("short", "long"):
        yield valid(
            f"local/sharpen-{sharpen}",
            "local",
            f"sharpen={sharpen}, α > 0, clamp inactive: per-sequence temperature",
            "LOCAL-3 PLAN-4",
            "temperature-inverted bias-not-divided-by-temperature",
            {
                "window": 8,
                "max_rel_dist": 8,
                "temperature": 0.5,
                "temp_scale": 2.0,
                "sharpen": sharpen,
                "min_temperature": 0.1,
            },
            lambda rng: core(rng, 2, 2, 9, 4, 8, span=[0.25, 0.875]),
        )
        yield valid(
            f"local/temperature-clamp-{sharpen}",
            "local",
            f"sharpen={sharpen}: the τmin clamp is active for one sequence",
            "LOCAL-3 PLAN-4",
            "temperature-clamp-missing temperature-inverted",
            {
                "window": 8,
                "max_rel_dist": 8,
                "temperature": 0.25,
                "temp_scale": 1.0,
                "sharpen": sharpen,
                "min_temperature": 0.5,
            },
            lambda rng: core(rng, 2, 2, 9, 4, 8, span=[0.125, 0.875]),
        )
    for scale in ("linear", "log"):
        yield valid(
            f"local/gain-{scale}",
            "local",
            f"score_scale={scale}: the gain multiplies the scores, not the bias",
            "LOCAL-2 LOCAL-3 PLAN-5",
            "post-softmax-gain bias-scaled-by-gain bias-not-added",
            {"window": 12, "min_window": 2, "max_rel_dist": 12, "score_scale": scale},
            lambda rng: core(rng, 2, 2, 9, 4, 12, span=[0.25, 0.6]),
        )
    yield valid(
        "local/asymmetric-bias",
        "local",
        "an asymmetric bias table: the index is i − j",
        "LOCAL-2",
        "bias-sign-flipped bias-not-added",
        {"window": 8, "max_rel_dist": 8},
        lambda rng: core(rng, 2, 3, 9, 4, 8, span=1.0),
    )
    yield valid(
        "local/temperature-divides-bias",
        "local",
        "τ ≠ 1 with a bias table: the bias is divided by τ too",
        "LOCAL-3",
        "bias-not-divided-by-temperature bias-scaled-by-gain",
        {"window": 8, "max_rel_dist": 8, "temperature": 0.25, "score_scale": "log"},
        lambda rng: core(rng, 2, 2, 9, 4, 8, span=[0.5, 0.75], limit=16),
    )
    yield valid(
        "local/large-logits",
        "local",
        "|logit| ≈ 1e4: a naive softmax overflows",
        "LOCAL-4",
        "",
        {"window": 6, "max_rel_dist": 6},
        lambda rng: core(rng, 2, 2, 7, 4, 6, span=1.0, limit=64, step=1),
    )
    yield valid(
        "local/floor-boundaries",
        "local",
        "W=8: s = k/W exactly and the binary64 value just below it",
        "PLAN-2 LOCAL-1",
        "window-round window-off-by-one",
        {"window": 8, "max_rel_dist": 8},
        lambda rng: core(rng, 4, 1, 10, 4, 8, span=[0.5, below(0.5), 0.375, below(0.375)]),
    )
    yield valid(
        "local/float32-floor-hazard",
        "local",
        "W=100, s=0.29: reach 28 (float32 W·s would give 29)",
        "PLAN-2 LOCAL-1",
        "window-float32-floor window-round",
        {"window": 100, "max_rel_dist": 40},
        lambda rng: core(rng, 1, 1, 40, 4, 40, span=0.29),
    )
    yield valid(
        "local/round-vs-floor",
        "local",
        "W=10, s=0.76: floor 7, round 8",
        "PLAN-2 LOCAL-1",
        "window-round",
        {"window": 10, "max_rel_dist": 10},
        lambda rng: core(rng, 1, 2, 12, 4, 10, span=0.76),
    )
    yield valid(
        "local/min-window-above-T",
        "local",
        "min_window 12 > T = 7: reach T",
        "PLAN-3 LOCAL-1",
        "min-window-after-clamp",
        {"window": 16, "min_window": 12, "max_rel_dist": 16},
        lambda rng: core(rng, 2, 2, 7, 4, 16, span=[0.1, 0.5]),
    )
    yield valid(
        "local/min-window-floor",
        "local",
        "min_window floors a small request",
        "PLAN-2 LOCAL-1",
        "min-window-after-clamp window-round",
        {"window": 16, "min_window": 3, "max_rel_dist": 16},
        lambda rng: core(rng, 2, 2, 9, 4, 16, span=[0.0, 0.1]),
    )
    yield valid(
        "local/R-below-window",
        "local",
        "R = 3 < requested window 16: reach 3",
        "PLAN-3 LOCAL-1 LOCAL-2",
        "reach-not-clamped-by-R",
        {"window": 16, "max_rel_dist": 3},
        lambda rng: core(rng, 2, 2, 9, 4, 3, span=1.0),
    )
    yield valid(
        "local/s-zero-and-one",
        "local",
        "s = 0 and s = 1 in one batch",
        "PLAN-2 LOCAL-1 LOCAL-6",
        "batch-averaged-span window-off-by-one",
        {"window": 6, "max_rel_dist": 6},
        lambda rng: core(rng, 2, 2, 9, 4, 6, span=[0.0, 1.0]),
    )
    yield valid(
        "local/span-truncation-trap",
        "local",
        "reach 3 on T = 12: every position attends, none is dropped or shifted",
        "LOCAL-1",
        "span-truncates-qkv",
        {"window": 6, "max_rel_dist": 6},
        lambda rng: core(rng, 1, 2, 12, 4, 6, span=0.5),
    )
    yield valid(
        "local/explicit-scale",
        "local",
        "scale given: it replaces 1/√Dh",
        "CFG-4 LOCAL-2",
        "quarter-root-scale",
        {"window": 8, "max_rel_dist": 8, "scale": 0.375},
        lambda rng: core(rng, 2, 2, 9, 8, 8, span=0.75),
    )
    yield valid(
        "local/head-dim-16",
        "local",
        "Dh = 16: 1/√Dh = 0.25, not 16^−¼ = 0.5",
        "CFG-4 LOCAL-2",
        "quarter-root-scale",
        {"window": 8, "max_rel_dist": 8},
        lambda rng: core(rng, 1, 2, 9, 16, 8, span=1.0),
    )


def global_cases() -> Iterator[Case]:
    yield valid(
        "global/plain",
        "global",
        "not causal: every key visible",
        "GLOBAL-1 GLOBAL-2 GLOBAL-3",
        "global-causal bias-not-added",
        {"window": 4, "max_rel_dist": 4},
        lambda rng: core(rng, 2, 2, 9, 4, 4),
    )
    yield valid(
        "global/clamped-distances",
        "global",
        "T = 12 > R = 3: far distances share the edge entries of an asymmetric table",
        "GLOBAL-2",
        "bias-sign-flipped bias-not-added",
        {"window": 4, "max_rel_dist": 3},
        lambda rng: core(rng, 2, 2, 12, 4, 3),
    )
    yield valid(
        "global/causal",
        "global",
        "causal global branch",
        "GLOBAL-1 CAUSAL-1",
        "causal-off-by-one",
        {"window": 4, "max_rel_dist": 4, "causal": True},
        lambda rng: core(rng, 2, 2, 9, 4, 4),
    )
    yield valid(
        "global/causal-left-padding",
        "global",
        "causal with left padding: first rows see no key and give 0",
        "GLOBAL-4 CAUSAL-1 MASK-1",
        "masked-rows-nan masked-rows-mean-v",
        {"window": 4, "max_rel_dist": 4, "causal": True},
        lambda rng: core(rng, 2, 2, 8, 4, 4, mask=masks("00011111", "00000011")),
    )
    yield valid(
        "global/padded-sequence",
        "global",
        "one sequence entirely padding: all its rows give 0",
        "GLOBAL-4 MASK-1 MASK-2",
        "masked-rows-nan masked-rows-mean-v padding-mask-inverted",
        {"window": 4, "max_rel_dist": 4},
        lambda rng: core(rng, 2, 2, 7, 4, 4, mask=masks("0000000", "1111100")),
    )
    for T in (1, 33, 130):
        yield valid(
            f"global/T-{T}",
            "global",
            f"T = {T}",
            "GLOBAL-1 GLOBAL-2",
            "bias-sign-flipped",
            {"window": 4, "max_rel_dist": 8},
            partial(core, B=1, H=2 if T < 100 else 1, T=T, Dh=4, R=8),
        )
    yield valid(
        "global/large-logits",
        "global",
        "|logit| ≈ 1e4",
        "GLOBAL-3 LOCAL-4",
        "",
        {"window": 4, "max_rel_dist": 4},
        lambda rng: core(rng, 1, 2, 7, 4, 4, limit=64, step=1),
    )


def layer_cases() -> Iterator[Case]:
    def lay(B: int, T: int, D: int, H: int, config: dict[str, Any], **kw: Any) -> Build:
        return lambda rng: layer(rng, B, T, D, H, config, **kw)

    c1 = {"window": 8, "max_rel_dist": 8, "temp_scale": 0.5}
    yield valid(
        "layer/basic",
        "layer",
        "the layer end to end, s predicted",
        "LAYER-1 LAYER-2 LAYER-3 LAYER-4 LAYER-5 LAYER-6 LAYER-7",
        "heads-interleaved",
        c1,
        lay(2, 7, 16, 4, c1),
    )
    c2 = {"window": 8, "max_rel_dist": 8, "temp_scale": 1.0, "score_scale": "log"}
    yield valid(
        "layer/padding",
        "layer",
        "padding: the span predictor pools real positions only",
        "LAYER-4 MASK-1 MASK-2",
        "span-pools-padding padding-mask-inverted",
        c2,
        lay(2, 9, 16, 4, c2, mask=masks("111111000", "111111111")),
    )
    yield valid(
        "layer/explicit-span",
        "layer",
        "span_scale given: it replaces the prediction",
        "LAYER-4 LAYER-7 PLAN-1",
        "batch-averaged-span",
        c1,
        lay(2, 9, 16, 2, c1, span=[0.25, 0.875]),
    )
    yield valid(
        "layer/padded-sequence",
        "layer",
        "a sequence with no real position pools to 0: s = sigmoid(span.bias)",
        "LAYER-4 GLOBAL-4 LOCAL-5",
        "masked-rows-nan span-pools-padding",
        c1,
        lay(2, 6, 8, 2, c1, mask=masks("000000", "111000")),
    )
    c3 = {"window": 6, "max_rel_dist": 6, "causal": True, "temp_scale": 0.5, "sharpen": "long"}
    yield valid(
        "layer/causal",
        "layer",
        "causal layer",
        "LAYER-3 LAYER-5 CAUSAL-1",
        "causal-off-by-one global-causal",
        c3,
        lay(2, 8, 16, 4, c3),
    )
    c4 = {"window": 8, "max_rel_dist": 8, "ln_eps": 0.0625}
    yield valid(
        "layer/layernorm-eps",
        "layer",
        "small feature variance and ln_eps = 1/16: eps and the biased variance matter",
        "LAYER-2",
        "layernorm-wrong-eps layernorm-unbiased-variance",
        c4,
        lay(2, 5, 8, 2, c4, x_limit=6),
    )
    c5 = {"window": 8, "max_rel_dist": 8}
    yield valid(
        "layer/heads",
        "layer",
        "H = 4, Dh = 4: heads own contiguous features",
        "LAYER-1",
        "heads-interleaved",
        c5,
        lay(1, 6, 16, 4, c5),
    )
    yield valid("layer/T-1", "layer", "T = 1", "LAYER-1 LAYER-7", "", c5, lay(2, 1, 8, 2, c5))


def invalid_cases() -> Iterator[Case]:
    cfg = {"window": 4, "max_rel_dist": 4}
    rng = np.random.default_rng(0)
    ok = core(rng, 2, 2, 5, 4, 4, span=[0.5, 1.0], mask=masks("11111", "11100"))

    def local(
        case_id: str, description: str, clauses: str, error: str, argument: str, **changes: Any
    ) -> Case:
        inputs = {**ok, **changes}
        return invalid(
            f"invalid/local/{case_id}",
            "local",
            description,
            clauses,
            error,
            argument,
            cfg,
            {k: v for k, v in inputs.items() if v is not None},
        )

    yield local("q-rank-3", "q without its head axis", "ERR-4", "ShapeError", "q", q=ok["q"][:, 0])
    yield local(
        "empty-batch",
        "B = 0",
        "ERR-4",
        "ShapeError",
        "q",
        q=ok["q"][:0],
        k=ok["k"][:0],
        v=ok["v"][:0],
    )
    yield local(
        "empty-sequence",
        "T = 0",
        "ERR-4",
        "ShapeError",
        "q",
        q=ok["q"][:, :, :0],
        k=ok["k"][:, :, :0],
        v=ok["v"][:, :, :0],
    )
    yield local("k-shape", "k shorter than q", "ERR-4", "ShapeError", "k", k=ok["k"][:, :, :4])
    yield local(
        "v-shape", "v with another head dim", "ERR-4", "ShapeError", "v", v=ok["v"][..., :2]
    )
    yield local(
        "rel-bias-width",
        "rel_bias not [H, 2R−1]",
        "ERR-4",
        "ShapeError",
        "rel_bias",
        rel_bias=ok["rel_bias"][:, :5],
    )
    yield local(
        "rel-bias-heads",
        "rel_bias with another H",
        "ERR-4",
        "ShapeError",
        "rel_bias",
        rel_bias=ok["rel_bias"][:1],
    )
    yield local("q-int", "integer q", "ERR-5", "DTypeError", "q", q=ok["q"].astype(np.int32))
    yield local(
        "k-dtype-mixed",
        "k float32 while q is float64",
        "ERR-5 PREC-4",
        "DTypeError",
        "k",
        k=ok["k"].astype(np.float32),
    )
    yield local(
        "q-nan",
        "NaN in q",
        "ERR-6",
        "DomainError",
        "q",
        q=np.where(np.arange(4) == 2, np.nan, ok["q"]),
    )
    yield local(
        "v-inf",
        "inf in v",
        "ERR-6",
        "DomainError",
        "v",
        v=np.where(np.arange(4) == 1, np.inf, ok["v"]),
    )
    yield local(
        "span-above-one",
        "span_scale[1] = 1.5",
        "ERR-6 PLAN-1",
        "DomainError",
        "span_scale[1]",
        span_scale=np.array([0.5, 1.5]),
    )
    yield local(
        "span-negative",
        "span_scale[0] = −0.25",
        "ERR-6 PLAN-1",
        "DomainError",
        "span_scale[0]",
        span_scale=np.array([-0.25, 0.5]),
    )
    yield local(
        "span-nan",
        "span_scale[0] = NaN",
        "ERR-6 PLAN-1",
        "DomainError",
        "span_scale[0]",
        span_scale=np.array([np.nan, 0.5]),
    )
    yield local(
        "span-length",
        "span_scale with 3 elements for B = 2",
        "ERR-4",
        "ShapeError",
        "span_scale",
        span_scale=np.array([0.5, 0.5, 0.5]),
    )
    yield local(
        "mask-int",
        "key_padding_mask of 0/1 integers",
        "ERR-8",
        "DTypeError",
        "key_padding_mask",
        key_padding_mask=ok["key_padding_mask"].astype(np.int64),
    )
    yield local(
        "mask-shape",
        "key_padding_mask [B, T+1]",
        "ERR-8",
        "ShapeError",
        "key_padding_mask",
        key_padding_mask=np.ones((2, 6), dtype=bool),
    )

    g = {k: v for k, v in ok.items() if k != "span_scale"}
    yield invalid(
        "invalid/global/rel-bias-nan",
        "global",
        "NaN in rel_bias",
        "ERR-6",
        "DomainError",
        "rel_bias",
        cfg,
        {**g, "rel_bias": np.where(np.arange(7) == 3, np.nan, g["rel_bias"])},
    )
    yield invalid(
        "invalid/global/mask-float",
        "global",
        "float key_padding_mask",
        "ERR-8",
        "DTypeError",
        "key_padding_mask",
        cfg,
        {**g, "key_padding_mask": g["key_padding_mask"].astype(np.float64)},
    )
    yield invalid(
        "invalid/global/q-rank-5",
        "global",
        "q with an extra axis",
        "ERR-4",
        "ShapeError",
        "q",
        cfg,
        {**g, "q": g["q"][None]},
    )

    yield invalid(
        "invalid/plan/seq-len-zero",
        "plan",
        "seq_len = 0",
        "ERR-4",
        "ShapeError",
        "seq_len",
        cfg,
        {"span_scale": np.array([0.5]), "seq_len": np.array(0)},
    )
    yield invalid(
        "invalid/plan/span-rank-2",
        "plan",
        "span_scale [B, 1]",
        "ERR-4",
        "ShapeError",
        "span_scale",
        cfg,
        {"span_scale": np.array([[0.5]]), "seq_len": np.array(4)},
    )
    yield invalid(
        "invalid/plan/span-above-one",
        "plan",
        "span_scale[0] = 1.25",
        "ERR-6 PLAN-1",
        "DomainError",
        "span_scale[0]",
        cfg,
        {"span_scale": np.array([1.25]), "seq_len": np.array(4)},
    )

    lcfg = {"window": 4, "max_rel_dist": 4}
    good = layer(np.random.default_rng(1), 2, 5, 8, 2, lcfg, mask=masks("11111", "11100"))
    P = good["params"]

    def lay(
        case_id: str, description: str, clauses: str, error: str, argument: str, **changes: Any
    ) -> Case:
        return invalid(
            f"invalid/layer/{case_id}",
            "layer",
            description,
            clauses,
            error,
            argument,
            lcfg,
            {**good, **changes},
        )

    yield lay("x-rank-2", "x without its batch axis", "ERR-4", "ShapeError", "x", x=good["x"][0])
    yield lay(
        "x-nan",
        "NaN in x",
        "ERR-6",
        "DomainError",
        "x",
        x=np.where(np.arange(8) == 5, np.nan, good["x"]),
    )
    yield lay(
        "param-missing",
        "params without local.q.weight",
        "ERR-7",
        "ParamsError",
        "local.q.weight",
        params={k: v for k, v in P.items() if k != "local.q.weight"},
    )
    yield lay(
        "param-extra",
        "params with an unknown entry",
        "ERR-7",
        "ParamsError",
        "local.q.scale",
        params={**P, "local.q.scale": np.ones(8)},
    )
    yield lay(
        "param-shape",
        "local.v.weight of shape [8, 4]",
        "ERR-7 LAYER-1",
        "ShapeError",
        "local.v.weight",
        params={**P, "local.v.weight": P["local.v.weight"][:, :4]},
    )
    yield lay(
        "param-int",
        "integer span.weight",
        "ERR-5",
        "DTypeError",
        "span.weight",
        params={**P, "span.weight": P["span.weight"].astype(np.int64)},
    )
    yield lay(
        "heads-do-not-divide",
        "D = 8 with H = 3 bias tables",
        "ERR-4 LAYER-1",
        "ShapeError",
        "local.rel_bias",
        params={**P, "local.rel_bias": np.zeros((3, 7)), "global.rel_bias": np.zeros((3, 7))},
    )
    yield lay(
        "span-out-of-range",
        "span_scale[1] = 2",
        "ERR-6 LAYER-4",
        "DomainError",
        "span_scale[1]",
        span_scale=np.array([0.5, 2.0]),
    )
    yield lay(
        "mask-shape",
        "key_padding_mask [B+1, T]",
        "ERR-8",
        "ShapeError",
        "key_padding_mask",
        key_padding_mask=np.ones((3, 5), dtype=bool),
    )

    bad_configs: list[tuple[str, dict[str, Any], str]] = [
        ("window-zero", {"window": 0}, "window"),
        ("window-bool", {"window": True}, "window"),
        ("min-window-above-window", {"window": 4, "min_window": 5}, "min_window"),
        ("min-window-zero", {"min_window": 0}, "min_window"),
        ("max-rel-dist-zero", {"max_rel_dist": 0}, "max_rel_dist"),
        ("causal-string", {"causal": "yes"}, "causal"),
        ("temperature-zero", {"temperature": 0.0}, "temperature"),
        ("temp-scale-negative", {"temp_scale": -0.5}, "temp_scale"),
        ("sharpen-unknown", {"sharpen": "medium"}, "sharpen"),
        ("min-temperature-zero", {"min_temperature": 0.0}, "min_temperature"),
        ("score-scale-unknown", {"score_scale": "exp"}, "score_scale"),
        ("scale-negative", {"scale": -1.0}, "scale"),
        ("ln-eps-zero", {"ln_eps": 0.0}, "ln_eps"),
        ("unknown-field", {"windw": 8}, "windw"),
    ]
    for case_id, config, argument in bad_configs:
        yield invalid(
            f"invalid/config/{case_id}",
            "config",
            f"AHAConfig({config})",
            "CFG-1 CFG-2 ERR-3",
            "ConfigError",
            argument,
            config,
            {},
        )


def catalog() -> list[Case]:
    """Every golden case, in manifest order."""
    return [*plan_cases(), *local_cases(), *global_cases(), *layer_cases(), *invalid_cases()]

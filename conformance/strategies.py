"""Hypothesis strategies for AHA: the one place configurations and inputs are drawn (STYLE 8).

The spec's property tests (tests/test_reference_*.py) and the conformance runner draw from
here. Draws lean on the edges where implementations go wrong: span scales on floor
boundaries (PLAN-2), reach clamps (PLAN-3), awkward lengths, padding that leaves rows with no
visible key (LOCAL-5, GLOBAL-4), asymmetric bias tables (LOCAL-2, GLOBAL-2), τmin ties
(GRAD-2) and large logits (LOCAL-4). Float inputs are multiples of 1/32 with fewer than nine
significant bits, so casting them to any dtype under test is exact (PREC-1).

Tests draw a case with ``draw_case(data, kind)``: the draw is labelled and a copy-paste
``repro`` is attached to the failure report.
"""

from __future__ import annotations

import math
from dataclasses import fields
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from aha.reference import AHAConfig, param_shapes

from . import operations

# The operations whose inputs case_inputs draws: all but `config`, whose input is the
# configuration itself (the invalid config cases check it, ERR-3).
KINDS = tuple(name for name in operations.NAMES if name != "config")
DTYPES = ("float64", "float32", "float16", "bfloat16")
CONFIG_FIELDS = frozenset(f.name for f in fields(AHAConfig))
# Lengths that are not powers of two, or sit just beside one, catch tiling and edge bugs.
AWKWARD_LENGTHS = (1, 2, 3, 5, 7, 8, 9, 16, 17, 33)
MAX_BATCH, MAX_HEADS, MAX_LEN, MAX_HEAD_DIM, MAX_MODEL_DIM = 3, 3, 40, 8, 16
# |x| ≤ 255/32 < 8 with a numerator of at most 8 bits: exact in float16 and in bfloat16.
GRID_STEP = 1.0 / 32
GRID_MAX = 255
# Layer weights stay small (|w| ≤ 1/4) so a 16-bit evaluation is not dominated by overflow.
WEIGHT_MAX = 8
PADDINGS = ("real", "random", "padded", "left", "right", "block")
BIAS_TABLES = ("zeros", "random", "ramp", "one_sided", "edges")
FILLS = ("random", "random", "small", "zeros")


def _resolve(draw: Any, overrides: dict[str, Any], name: str, default: SearchStrategy[Any]) -> Any:
    """An override (a value or a strategy) if one is given, else a draw from ``default``."""
    chosen = overrides.get(name, default)
    return draw(chosen) if isinstance(chosen, SearchStrategy) else chosen


def configs(**overrides: Any) -> SearchStrategy[AHAConfig]:
    """AHAConfig with small windows (W ≤ 24, R ≤ 20) and every field's edges (CFG-3).

    ``overrides`` fix fields by value or by strategy, e.g. ``configs(causal=False)``.
    min_temperature is inactive (0.05), tied exactly to τ0 + α·shift at shift 0, 1/2 or 1
    (GRAD-2), or active for every s.
    """
    unknown = sorted(set(overrides) - CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"configs() got unknown AHAConfig fields {unknown}")
    return _configs(overrides)


@st.composite
def _configs(draw: Any, overrides: dict[str, Any]) -> AHAConfig:
    if "min_window" in overrides:
        min_window = _resolve(draw, overrides, "min_window", st.nothing())
        window = _resolve(
            draw, overrides, "window", st.integers(max(1, min_window), max(24, min_window))
        )
    else:
        window = _resolve(draw, overrides, "window", st.integers(1, 24))
        min_window = _resolve(
            draw,
            overrides,
            "min_window",
            st.one_of(st.just(1), st.just(window), st.integers(1, window)),
        )
    temperature = _resolve(
        draw,
        overrides,
        "temperature",
        st.one_of(st.just(1.0), st.sampled_from([0.25, 0.5, 2.0]), st.floats(0.25, 4.0)),
    )
    temp_scale = _resolve(
        draw,
        overrides,
        "temp_scale",
        st.one_of(st.just(0.0), st.sampled_from([0.5, 1.0, 3.0]), st.floats(0.01, 4.0)),
    )
    # The products below are the plan's own binary64 expressions, so the ties are exact.
    min_temperature = _resolve(
        draw,
        overrides,
        "min_temperature",
        st.sampled_from(
            [
                0.05,
                temperature,
                temperature + temp_scale * 0.5,
                temperature + temp_scale * 1.0,
                2.0 * (temperature + temp_scale) + 1.0,
            ]
        ),
    )
    return AHAConfig(
        window=window,
        min_window=min_window,
        max_rel_dist=_resolve(draw, overrides, "max_rel_dist", st.integers(1, 20)),
        causal=_resolve(draw, overrides, "causal", st.booleans()),
        temperature=temperature,
        temp_scale=temp_scale,
        sharpen=_resolve(draw, overrides, "sharpen", st.sampled_from(["short", "long"])),
        min_temperature=min_temperature,
        score_scale=_resolve(
            draw, overrides, "score_scale", st.sampled_from(["none", "linear", "log"])
        ),
        scale=_resolve(
            draw,
            overrides,
            "scale",
            st.one_of(st.none(), st.sampled_from([0.125, 1.0]), st.floats(0.05, 2.0)),
        ),
        ln_eps=_resolve(
            draw,
            overrides,
            "ln_eps",
            st.one_of(st.just(1e-5), st.sampled_from([1e-3, 0.5]), st.floats(1e-6, 1.0)),
        ),
    )


@lru_cache
def floor_edges(window: int) -> tuple[float, ...]:
    """Span scales on and beside the floor boundaries of PLAN-2 for window W.

    0, 1, every k/W, their binary64 neighbours, and the float32 values nearest k/W.
    """
    edges = {0.0, 1.0, 0.5}
    for k in range(window + 1):
        exact = k / window
        near32 = np.float32(exact)
        edges.update(
            (
                exact,
                np.nextafter(exact, 0.0),
                np.nextafter(exact, 1.0),
                float(near32),
                float(np.nextafter(near32, np.float32(0))),
                float(np.nextafter(near32, np.float32(1))),
            )
        )
    return tuple(sorted(float(e) for e in edges if 0.0 <= e <= 1.0))


@lru_cache
def float32_hazards(window: int) -> tuple[float, ...]:
    """Span scales whose window differs when W·s is computed in float32 (W=100, s=0.29: 28
    in binary64, 29 in float32; PLAN-2)."""
    return tuple(
        s
        for s in floor_edges(window)
        if math.floor(window * s) != math.floor(float(np.float32(window) * np.float32(s)))
    )


def span_scales(batch: int, window: int) -> SearchStrategy[np.ndarray]:
    """float64 [B] in [0, 1], distinct per element, weighted toward the PLAN-2 edges."""
    hazards = float32_hazards(window)
    element = st.one_of(
        st.sampled_from(floor_edges(window)),
        st.sampled_from(hazards) if hazards else st.nothing(),
        st.sampled_from([0.0, 1.0]),
        st.floats(0.0, 1.0),
    )
    return st.lists(element, min_size=batch, max_size=batch, unique=True).map(
        lambda values: np.array(values, dtype=np.float64)
    )


def seq_lens(config: AHAConfig) -> SearchStrategy[int]:
    """T: awkward sizes, and sizes beside W, R and min_window so each PLAN-3 bound is active."""
    near = sorted(
        {
            t
            for base in (config.window, config.max_rel_dist, config.min_window)
            for t in (base - 1, base, base + 1)
            if 1 <= t <= MAX_LEN
        }
    )
    return st.one_of(
        st.sampled_from(AWKWARD_LENGTHS), st.sampled_from(near), st.integers(1, MAX_LEN)
    )


def _grid(fill: str, seed: int, shape: tuple[int, ...], bound: int = GRID_MAX) -> np.ndarray:
    """float64 multiples of 1/32 in [-bound/32, bound/32], from a seeded generator."""
    if fill == "zeros":
        return np.zeros(shape)
    limit = min(bound, 32) if fill == "small" else bound
    return np.random.default_rng(seed).integers(-limit, limit + 1, size=shape) * GRID_STEP


@st.composite
def grid_arrays(draw: Any, shape: tuple[int, ...], bound: int = GRID_MAX) -> np.ndarray:
    """A float64 array of multiples of 1/32, |x| ≤ bound/32, exact in every dtype under test.

    Values come from a drawn seed: whole arrays would exceed Hypothesis' draw budget.
    """
    return _grid(draw(st.sampled_from(FILLS)), draw(st.integers(0, 2**32 - 1)), shape, bound)


@st.composite
def padding_masks(draw: Any, batch: int, seq_len: int) -> np.ndarray | None:
    """None, or bool [B, T] (True = real) with one pattern per sequence: all real, random,
    all padding, left padding (causal rows with no visible key), right padding, or a padded
    block in the middle (local rows with no visible key)."""
    if draw(st.integers(0, 3)) == 0:
        return None
    mask = np.ones((batch, seq_len), dtype=bool)
    for b in range(batch):
        pattern = draw(st.sampled_from(PADDINGS))
        if pattern == "random":
            mask[b] = draw(st.lists(st.booleans(), min_size=seq_len, max_size=seq_len))
        elif pattern == "padded":
            mask[b] = False
        elif pattern in ("left", "right"):
            count = draw(st.integers(1, seq_len))
            if pattern == "left":
                mask[b, :count] = False
            else:
                mask[b, seq_len - count :] = False
        elif pattern == "block":
            start = draw(st.integers(0, seq_len - 1))
            mask[b, start : draw(st.integers(start + 1, seq_len))] = False
    return mask


@st.composite
def bias_tables(draw: Any, heads: int, max_rel_dist: int) -> np.ndarray:
    """rel_bias [H, 2R−1], mostly asymmetric so a flipped index (j − i) shows (LOCAL-2):
    random, a ramp in i − j, one-sided (i > j only), or large edge entries (GLOBAL-2 clamp)."""
    kind = draw(st.sampled_from(BIAS_TABLES))
    width = 2 * max_rel_dist - 1
    offset = np.arange(width) - (max_rel_dist - 1)  # i − j of each entry
    if kind == "zeros":
        return np.zeros((heads, width))
    if kind == "ramp":
        slopes = draw(st.lists(st.integers(-8, 8), min_size=heads, max_size=heads))
        return np.array(slopes, dtype=np.float64)[:, None] * offset * GRID_STEP
    table = draw(grid_arrays((heads, width), bound=64))
    if kind == "one_sided":
        table = np.where(offset > 0, table, 0.0)
    elif kind == "edges":
        table[:, [0, -1]] = [4.0, -4.0]
    return table


def _make_config(draw: Any, config: AHAConfig | SearchStrategy[AHAConfig] | None) -> AHAConfig:
    if config is None:
        return draw(configs())
    return draw(config) if isinstance(config, SearchStrategy) else config


def _large_logits(draw: Any, dtype: str) -> float:
    """A power-of-two factor for q: 1 mostly, 2^6..2^9 sometimes (|logit| ~ 1e3–1e4, LOCAL-4).

    Only float64 and float32 draws get it; scaled values stay exact in 16 bits regardless.
    """
    if dtype not in ("float64", "float32") or draw(st.integers(0, 5)) != 0:
        return 1.0
    return float(2 ** draw(st.integers(6, 9)))


def case_inputs(
    kind: str,
    config: AHAConfig | SearchStrategy[AHAConfig] | None = None,
    dtype: str = "float64",
) -> SearchStrategy[tuple[AHAConfig, dict[str, Any]]]:
    """(config, inputs) for ``kind`` in KINDS; inputs are named as the reference's arguments,
    so ``aha.reference.local_attention(config=config, **inputs)`` runs the case.

    plan: span_scale [B], seq_len. local: q, k, v [B, H, T, Dh], span_scale [B], rel_bias
    [H, 2R−1], key_padding_mask [B, T] (absent when None). global: local without span_scale.
    layer: x [B, T, D], params, optionally key_padding_mask and span_scale.
    Float arrays are float64 holding values exact in every dtype under test; ``dtype`` only
    decides whether large logits may be drawn.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return _case_inputs(kind, config, dtype)


@st.composite
def _case_inputs(
    draw: Any,
    kind: str,
    config: AHAConfig | SearchStrategy[AHAConfig] | None,
    dtype: str,
) -> tuple[AHAConfig, dict[str, Any]]:
    if kind.endswith("_vjp"):  # a VJP: its forward's inputs plus cotangents (GRAD-4; H3a)
        cfg, forward = draw(_case_inputs(kind.removesuffix("_vjp"), config, dtype))
        return cfg, {**forward, **draw(cotangents(forward))}
    cfg = _make_config(draw, config)
    batch = draw(st.integers(1, MAX_BATCH))
    seq_len = draw(seq_lens(cfg))
    inputs: dict[str, Any] = {}
    if kind == "plan":
        return cfg, {"span_scale": draw(span_scales(batch, cfg.window)), "seq_len": seq_len}
    if kind == "layer":
        heads = draw(st.integers(1, MAX_HEADS))
        d_model = heads * draw(st.integers(1, MAX_MODEL_DIM // heads))
        inputs["x"] = draw(grid_arrays((batch, seq_len, d_model)))
        inputs["params"] = draw(layer_params(d_model, heads, cfg, _large_logits(draw, dtype)))
    else:
        heads = draw(st.integers(1, MAX_HEADS))
        shape = (batch, heads, seq_len, draw(st.integers(1, MAX_HEAD_DIM)))
        inputs["q"] = draw(grid_arrays(shape)) * _large_logits(draw, dtype)
        inputs["k"] = draw(grid_arrays(shape))
        inputs["v"] = draw(grid_arrays(shape))
        if kind == "local":
            inputs["span_scale"] = draw(span_scales(batch, cfg.window))
        inputs["rel_bias"] = draw(bias_tables(heads, cfg.max_rel_dist))
    mask = draw(padding_masks(batch, seq_len))
    if mask is not None:
        inputs["key_padding_mask"] = mask
    if kind == "layer" and draw(st.booleans()):
        inputs["span_scale"] = draw(span_scales(batch, cfg.window))
    return cfg, inputs


@st.composite
def cotangents(draw: Any, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """The cotangents of a forward case's outputs (GRAD-4): d_out like q, or d_y like x and,
    half the time, d_s [B] (binary64, like s)."""
    if "x" in inputs:
        found = {"d_y": draw(grid_arrays(inputs["x"].shape))}
        if draw(st.booleans()):
            found["d_s"] = draw(grid_arrays((inputs["x"].shape[0],)))
        return found
    return {"d_out": draw(grid_arrays(inputs["q"].shape))}


@st.composite
def layer_params(
    draw: Any,
    d_model: int,
    heads: int,
    config: AHAConfig,
    q_factor: float = 1.0,
) -> dict[str, np.ndarray]:
    """Exactly the names and shapes of ``param_shapes`` (LAYER-1): LayerNorm weights near 1,
    small Linear weights, tables from ``bias_tables``; q weights times ``q_factor``."""
    params = {}
    for name, shape in param_shapes(d_model, heads, config).items():
        if name.endswith("rel_bias"):
            params[name] = draw(bias_tables(heads, config.max_rel_dist))
        elif name.startswith("ln_") and name.endswith("weight"):
            params[name] = 1.0 + draw(grid_arrays(shape, bound=WEIGHT_MAX))
        else:
            params[name] = draw(grid_arrays(shape, bound=WEIGHT_MAX))
    for branch in ("local", "global"):
        params[f"{branch}.q.weight"] = params[f"{branch}.q.weight"] * q_factor
    return params


def draw_case(
    data: st.DataObject,
    kind: str,
    config: AHAConfig | SearchStrategy[AHAConfig] | None = None,
    dtype: str = "float64",
) -> tuple[AHAConfig, dict[str, Any]]:
    """Draw a labelled case from ``st.data()`` and attach its repro to any failure report."""
    cfg, inputs = data.draw(case_inputs(kind, config, dtype), label=f"{kind} case")
    note(repro(cfg, inputs))
    return cfg, inputs


def kind_of(inputs: dict[str, Any]) -> str:
    """Which operation an inputs dict of ``case_inputs`` is for (the operations table)."""
    return operations.kind_of(inputs)


def repro(config: AHAConfig, inputs: dict[str, Any]) -> str:
    """A copy-paste Python snippet that rebuilds the case and runs the reference on it."""
    lines = [
        "import ml_dtypes  # noqa: F401",
        "import numpy as np",
        "",
        "from aha import reference",
        "from aha.reference import AHAConfig",
        "",
        f"config = {config!r}",
        "inputs = {",
    ]
    for name, value in inputs.items():
        if isinstance(value, dict):
            lines.append(f"    {name!r}: {{")
            lines += [f"        {key!r}: {_literal(array)}," for key, array in value.items()]
            lines.append("    },")
        else:
            lines.append(f"    {name!r}: {_literal(value)},")
    function = operations.operation(kind_of(inputs)).reference.__name__
    lines += ["}", f"result = reference.{function}(config=config, **inputs)"]
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """Python source for a value; floats print with repr, which round-trips binary64."""
    if not isinstance(value, np.ndarray):
        return repr(value)
    dtype = value.dtype.name
    source = {"bfloat16": "ml_dtypes.bfloat16", "bool": "np.bool_"}.get(dtype, f"np.{dtype}")
    plain = value.astype(np.float64) if dtype == "bfloat16" else value
    return f"np.array({plain.tolist()!r}, dtype={source})"

"""Independent checks of the evaluation dtypes (spec section 9): the low-precision baseline
(PREC-2) and inputs of any float dtype (PREC-1, PREC-4)."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance.strategies import draw_case
from aha.reference import AHAConfig
from aha.reference.gradients import recursive_sum, scatter_sum

SETTINGS = settings(max_examples=40, deadline=None)
DTYPES = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
# Unit roundoff of each storage dtype.
EPS = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
FUNCTIONS = {
    "local": ref.local_attention,
    "global": ref.global_attention,
    "layer": ref.hybrid_layer,
}


def logit_size(cfg: AHAConfig, inputs: dict[str, Any]) -> float:
    """An upper bound on |logit| over all pairs (LOCAL-2, GLOBAL-2)."""
    q, k, table = inputs["q"], inputs["k"], inputs["rel_bias"]
    scale = 1.0 / math.sqrt(q.shape[-1]) if cfg.scale is None else cfg.scale
    gain = tau = np.ones(q.shape[0])
    if "span_scale" in inputs:
        p = ref.plan(inputs["span_scale"], q.shape[2], cfg)
        gain, tau = p.gain, p.temperature
    dots = np.abs(q @ k.swapaxes(-1, -2)).max(axis=(1, 2, 3))
    return float(((gain * scale * dots + np.abs(table).max()) / tau).max())


@pytest.mark.clause("PREC-2", "PREC-1", "LOCAL-4")
@SETTINGS
@given(
    data=st.data(), kind=st.sampled_from(["local", "global"]), dtype=st.sampled_from(list(DTYPES))
)
def test_attention_baseline_is_close_and_in_the_storage_dtype(
    data: st.DataObject, kind: str, dtype: str
) -> None:
    cfg, inputs = draw_case(data, kind, dtype=dtype)
    oracle = FUNCTIONS[kind](config=cfg, **inputs)
    baseline = FUNCTIONS[kind](config=cfg, **inputs, dtype=DTYPES[dtype])
    assert oracle.dtype == np.float64 and baseline.dtype == DTYPES[dtype]
    # A logit of size L computed with unit roundoff u is off by about u·L, which moves each
    # weight by a relative u·L; the output rounding adds u. 4x covers the sums (measured
    # ratio ≤ 1.3 over 300 draws per branch and dtype).
    err = np.abs(baseline.astype(np.float64) - oracle).max()
    allowed = 4 * EPS[dtype] * (1 + logit_size(cfg, inputs)) * max(1, np.abs(inputs["v"]).max())
    assert err <= allowed
    if dtype != "float32":
        # 16-bit storage: the branch computes in float32 and rounds its result (PREC-2).
        in_float32 = FUNCTIONS[kind](config=cfg, **inputs, dtype=np.float32)
        np.testing.assert_array_equal(baseline, in_float32.astype(DTYPES[dtype]))


def layer_logit_size(cfg: AHAConfig, x: np.ndarray, P: dict[str, np.ndarray]) -> float:
    """An upper bound on |logit| in either branch of the layer, from its q and k (LAYER-2..5)."""
    B, T, D = x.shape
    H = P["local.rel_bias"].shape[0]
    scale = 1.0 / math.sqrt(D // H) if cfg.scale is None else cfg.scale
    gain = 1.0 if cfg.score_scale == "none" else cfg.window / cfg.min_window
    size = 0.0
    for branch, g in (("local", gain), ("global", 1.0)):
        centred = x - x.mean(-1, keepdims=True)
        normed = centred / np.sqrt((centred**2).mean(-1, keepdims=True) + cfg.ln_eps)
        normed = normed * P[f"ln_{branch}.weight"] + P[f"ln_{branch}.bias"]
        q, k = (
            np.abs(normed @ P[f"{branch}.{p}.weight"].T + P[f"{branch}.{p}.bias"])
            .reshape(B, T, H, D // H)
            .transpose(0, 2, 1, 3)
            for p in "qk"
        )
        dots = float((q @ k.swapaxes(-1, -2)).max())
        table = float(np.abs(P[f"{branch}.rel_bias"]).max())
        size = max(size, (g * scale * dots + table) / cfg.min_temperature)
    return size


@pytest.mark.clause("PREC-2", "PREC-5", "LAYER-7")
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(list(DTYPES)))
def test_layer_baseline_is_close_and_in_the_storage_dtype(data: st.DataObject, dtype: str) -> None:
    cfg, inputs = draw_case(data, "layer", dtype=dtype)
    oracle, s = ref.hybrid_layer(config=cfg, **inputs)
    # PREC-5: a predicted s within 0.2 of a window boundary may floor differently in the
    # baseline; give such draws their s explicitly.
    if np.any(np.abs(cfg.window * s - np.round(cfg.window * s)) < 0.2):
        inputs["span_scale"] = s
    baseline, s_low = ref.hybrid_layer(config=cfg, **inputs, dtype=DTYPES[dtype])
    assert baseline.dtype == DTYPES[dtype] and baseline.shape == oracle.shape
    np.testing.assert_allclose(s_low, s, rtol=8 * EPS[dtype], atol=0)
    if "span_scale" not in inputs:  # the span predictor stores its result in d (PREC-2)
        exact = s_low.astype(np.float64)
        np.testing.assert_array_equal(exact.astype(DTYPES[dtype]).astype(np.float64), exact)
    # About ten operations each round once to the storage dtype, and float32 logits of size L
    # carry a relative error of about u32·L: 8x their sum (measured ratio ≤ 1.8, 1000 draws
    # per dtype).
    err = np.abs(baseline.astype(np.float64) - oracle).max()
    logit = layer_logit_size(cfg, inputs["x"], inputs["params"])
    allowed = 8 * (EPS[dtype] + EPS["float32"] * (1 + logit)) * max(1.0, np.abs(oracle).max())
    assert err <= allowed


@pytest.mark.clause("PREC-2")
def test_float32_baseline_computes_in_float32() -> None:
    """A table entry of 1e4 leaves float32 logits a resolution of ~1e-3 (ulp of 1e4), far
    coarser than the oracle rounded to float32: the baseline must be a float32 evaluation,
    not a rounded float64 one."""
    rng = np.random.default_rng(21)
    q, k, v = (np.round(rng.normal(size=(1, 2, 9, 4)) * 32) / 32 for _ in range(3))
    args = (q, k, v, np.full((2, 15), 1e4), AHAConfig(window=8, max_rel_dist=8))
    oracle = ref.global_attention(*args)
    baseline = ref.global_attention(*args, dtype=np.float32)
    rounded_err = np.abs(oracle.astype(np.float32).astype(np.float64) - oracle).max()
    assert np.abs(baseline.astype(np.float64) - oracle).max() > 100 * rounded_err


@pytest.mark.clause("PREC-2", "LAYER-2", "LAYER-5")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_layer_rounds_every_operation(dtype: str) -> None:
    """Rounding each operation's result to 16 bits (LayerNorm, each Linear, each branch, the
    span predictor) is not rounding the float32 evaluation once at the end."""
    cfg = AHAConfig(window=8, max_rel_dist=4)
    params = ref.init_params(8, 2, cfg, seed=22)
    x = np.random.default_rng(23).normal(size=(2, 6, 8))
    low = {n: a.astype(DTYPES[dtype]) for n, a in params.items()}
    xd = x.astype(DTYPES[dtype])
    once = ref.hybrid_layer(xd, low, cfg, span_scale=0.5, dtype=np.float32)[0]
    each = ref.hybrid_layer(xd, low, cfg, span_scale=0.5, dtype=DTYPES[dtype])[0]
    assert each.dtype == DTYPES[dtype]
    assert not np.array_equal(each, once.astype(DTYPES[dtype]))


def cast(inputs: dict[str, Any], dtype: np.dtype) -> dict[str, Any]:
    """Float arrays (and params) to ``dtype``; span_scale and the mask stay as they are."""
    out: dict[str, Any] = {}
    for name, value in inputs.items():
        if name == "params":
            out[name] = {n: a.astype(dtype) for n, a in value.items()}
        elif name in ("span_scale", "key_padding_mask"):
            out[name] = value
        else:
            out[name] = value.astype(dtype)
    return out


@pytest.mark.clause("PREC-4", "PREC-1")
@SETTINGS
@given(
    data=st.data(),
    kind=st.sampled_from(["local", "global", "layer"]),
    dtype=st.sampled_from(list(DTYPES)),
)
def test_inputs_of_any_float_dtype_are_converted_exactly(
    data: st.DataObject, kind: str, dtype: str
) -> None:
    """The oracle of 16-bit inputs is the oracle of the same values in binary64."""
    cfg, inputs = draw_case(data, kind)
    expected = FUNCTIONS[kind](config=cfg, **inputs)
    low = cast(inputs, DTYPES[dtype])
    got = FUNCTIONS[kind](config=cfg, **low)
    if kind == "layer":
        np.testing.assert_array_equal(got[1], expected[1])
        got, expected = got[0], expected[0]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    # Evaluated in their own dtype, they come back in it (PREC-4).
    result = FUNCTIONS[kind](config=cfg, **low, dtype=DTYPES[dtype])
    assert (result[0] if kind == "layer" else result).dtype == DTYPES[dtype]


@pytest.mark.clause("PREC-4", "PLAN-1")
@pytest.mark.parametrize("span_dtype", [np.float16, np.float32, ml_dtypes.bfloat16, np.int64])
def test_span_scale_of_any_real_dtype_is_read_exactly(span_dtype: Any) -> None:
    span = np.array([0, 1], dtype=np.int64).astype(span_dtype)
    if span_dtype is not np.int64:
        span = np.array([0.29, 0.71]).astype(span_dtype)
    cfg = AHAConfig(window=100, max_rel_dist=200)
    exact = span.astype(np.float64)
    np.testing.assert_array_equal(
        ref.plan(span, 200, cfg).window, np.floor(100.0 * exact).astype(np.int64).clip(1)
    )


@pytest.mark.clause("PREC-2", "ERR-5")
@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_every_dtype_name_is_accepted_without_importing_ml_dtypes_first(name: str) -> None:
    """The names of FLOAT_DTYPES select a baseline by themselves: a caller who never imported
    ml_dtypes (which registers "bfloat16" with NumPy) must still get it."""
    script = (
        "import sys, numpy as np\n"
        "from aha import reference as ref\n"
        "q = np.ones((1, 1, 2, 2))\n"
        f"out = ref.global_attention(q, q, q, np.zeros((1, 3)), ref.AHAConfig(max_rel_dist=2),"
        f" dtype={name!r})\n"
        f"assert out.dtype.name == {name!r}, out.dtype\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- Gradient sums of the baseline (GRAD-6) ---

HALF_ULP_OF_ONE = np.float32(2.0**-24)  # 1 + this rounds back to 1 (a tie, to even)


@pytest.mark.clause("GRAD-6")
def test_a_gradient_sum_adds_one_term_at_a_time_in_float32() -> None:
    """Recursive summation: after 1, each half-ulp term is lost; summed first, they add up.
    A pairwise or binary64 sum would keep them either way."""
    terms = np.array([1.0, *[HALF_ULP_OF_ONE] * 16], dtype=np.float32)
    assert recursive_sum(terms) == np.float32(1.0)
    assert recursive_sum(terms[::-1]) == np.float32(1.0 + 2.0**-20)
    assert recursive_sum(terms[1:], start=np.float32(1.0)) == np.float32(1.0)
    columns = np.stack([terms, terms[::-1]], axis=1)  # over the first axis, column by column
    np.testing.assert_array_equal(recursive_sum(columns), np.float32([1.0, 1.0 + 2.0**-20]))


@pytest.mark.clause("GRAD-6")
def test_a_table_gradient_scatters_one_term_at_a_time_in_its_order() -> None:
    table = np.zeros((2, 2), dtype=np.float32)
    entry = np.array([[0, 0], [3, 0]])  # flat entries of table, read in C order
    terms = np.array([[1.0, HALF_ULP_OF_ONE], [5.0, HALF_ULP_OF_ONE]], dtype=np.float32)
    scatter_sum(table, entry, terms)
    np.testing.assert_array_equal(table, np.float32([[1.0, 0.0], [0.0, 5.0]]))
    scatter_sum(table, entry.T, terms.T)  # 1, 5, then both half-ulps: still lost
    np.testing.assert_array_equal(table, np.float32([[2.0, 0.0], [0.0, 10.0]]))

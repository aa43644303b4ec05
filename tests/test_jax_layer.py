"""The JAX layer against the reference, gradients through the host plan, and the adapter's
boundary: loading, capabilities and the reference's typed errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_jax_attention import DTYPES, check, inputs

from aha import reference as ref
from aha.adapters.jax import JaxAdapter, hybrid_layer
from aha.conformance.protocol import load_adapter

ADAPTER = JaxAdapter()
B, T, D, H = 3, 13, 8, 2


def layer_inputs(config: ref.AHAConfig) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """x, params and a padding mask with one all-padding sequence. span.bias = 0.9 puts the
    predicted s near 0.7, so W·s = 4.3 keeps the 0.2 from an integer that PREC-5 asks for."""
    params = ref.init_params(D, H, config, seed=1)
    params["span.bias"] = np.array([0.9])
    rng = np.random.default_rng(2)
    mask = rng.random((B, T)) > 0.3
    mask[2] = False
    return rng.standard_normal((B, T, D)), params, mask


@pytest.mark.parametrize("given", [False, True], ids=["predicted_s", "given_s"])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_layer_matches_reference(dtype: str, given: bool) -> None:
    config = ref.AHAConfig(
        window=6, max_rel_dist=5, causal=given, temp_scale=0.7, score_scale="log", min_window=2
    )
    x, params, mask = layer_inputs(config)
    x = x.astype(DTYPES[dtype])
    params = {name: a.astype(DTYPES[dtype]) for name, a in params.items()}
    # A given s keeps binary64 (PREC-4): W·(0.5 − 1e-10) floors to 2, W·float32(it) to 3.
    span = np.array([0.2, 0.5 - 1e-10, 1.0]) if given else None
    y, s = ADAPTER.hybrid_layer(x, params, config, mask, span)
    oracle, s_oracle = ref.hybrid_layer(x, params, config, mask, span)
    baseline, s_baseline = ref.hybrid_layer(x, params, config, mask, span, dtype=DTYPES[dtype])
    distance = np.abs(6 * s_oracle - np.round(6 * s_oracle))
    assert given or distance.min() >= 0.2, "inputs break PREC-5's margin; change span.bias"
    check("y", y, oracle, baseline, dtype)
    assert s.dtype == np.float64  # PREC-4: s crosses as binary64
    assert np.abs(s - s_oracle).max() <= 4 * np.abs(s_baseline - s_oracle).max() + 1e-7


def test_span_gradient_flows_through_temperature_only() -> None:
    """d y / d span.bias reaches y only through s → τ (GRAD-1, GRAD-2): jax.grad through the
    host plan callback equals a central difference of the reference."""
    config = ref.AHAConfig(window=6, max_rel_dist=5, temp_scale=0.7)
    x, params, mask = layer_inputs(config)
    r = np.random.default_rng(3).standard_normal((B, T, D))

    def reference_loss(bias: float) -> float:
        y, _ = ref.hybrid_layer(x, {**params, "span.bias": np.array([bias])}, config, mask)
        return float(np.sum(y * r))

    h = 1e-5
    expected = (reference_loss(0.9 + h) - reference_loss(0.9 - h)) / (2 * h)
    with jax.enable_x64(True):

        def loss(bias: jax.Array) -> jax.Array:
            y, _ = hybrid_layer(x, {**params, "span.bias": bias}, config, mask)
            return jnp.sum(y * r)

        grad = float(jax.jit(jax.grad(loss))(jnp.array([0.9]))[0])
    assert expected != 0.0
    assert abs(grad - expected) <= 1e-6 * abs(expected)


def test_adapters_load_with_their_claims() -> None:
    jax_adapter = load_adapter("jax")
    dpa = load_adapter("jax-dpa")
    operations = {"local", "global", "layer", "vjp", "causal", "key_padding"}
    assert jax_adapter.capabilities == operations | {"float64", "float32", "float16", "bfloat16"}
    assert "plan" not in dpa.capabilities and "layer" not in dpa.capabilities


def _bad_attention_calls() -> dict[str, Callable[[Any], Any]]:
    """Each entry calls an implementation (the reference or the adapter) on one bad input."""
    x = inputs(2, 2, 5, 4, 3)
    q, k, v, table = x["q"], x["k"], x["v"], x["rel_bias"]
    config = ref.AHAConfig(window=3, max_rel_dist=3)
    nan_v = v.copy()
    nan_v[1, 0, 2, 3] = np.nan
    return {
        "q rank 3": lambda m: m.local_attention(q[0], k[0], v[0], 0.5, table, config),
        "k dtype": lambda m: m.local_attention(q, k.astype(np.float32), v, 0.5, table, config),
        "v NaN": lambda m: m.global_attention(q, k, nan_v, table, config),
        "span_scale > 1": lambda m: m.local_attention(q, k, v, [0.5, 1.5], table, config),
        "span_scale [3]": lambda m: m.local_attention(q, k, v, [0.5] * 3, table, config),
        "rel_bias shape": lambda m: m.global_attention(q, k, v, table[:, :3], config),
        "mask dtype": lambda m: m.global_attention(q, k, v, table, config, np.ones((2, 5))),
        "mask shape": lambda m: m.local_attention(
            q, k, v, 0.5, table, config, np.ones((2, 4), bool)
        ),
        "config": lambda m: m.global_attention(q, k, v, table, {"window": 3}),
    }


def _bad_layer_calls() -> dict[str, Callable[[Any], Any]]:
    config = ref.AHAConfig(window=3, max_rel_dist=3)
    params = ref.init_params(4, 2, config, seed=0)
    x = np.ones((2, 5, 4))
    missing = {name: a for name, a in params.items() if name != "span.bias"}
    return {
        "params missing": lambda m: m.hybrid_layer(x, missing, config),
        "params unknown": lambda m: m.hybrid_layer(x, {**params, "extra": x}, config),
        "params shape": lambda m: m.hybrid_layer(x, {**params, "proj.bias": np.ones(3)}, config),
        "layer span_scale": lambda m: m.hybrid_layer(x, params, config, None, [0.5, -0.1]),
    }


BAD_CALLS = {**_bad_attention_calls(), **_bad_layer_calls()}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_the_reference_error(case: str) -> None:
    """The adapter raises the reference's own error type and message (ERR-1 .. ERR-8)."""
    with pytest.raises(ref.AHAError) as expected:
        BAD_CALLS[case](ref)
    with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
        BAD_CALLS[case](ADAPTER)

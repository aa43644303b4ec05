"""The JAX branches against the NumPy reference: values, blockwise layout, jit, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from aha import reference as ref
from aha.adapters.jax import JaxAdapter, global_attention, host_plan, local_attention
from aha.conformance.tolerance import compare

DTYPES = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
ADAPTER = JaxAdapter()


def inputs(B: int, H: int, T: int, Dh: int, R: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((B, H, T, Dh)) for _ in range(3))
    return {"q": q, "k": k, "v": v, "rel_bias": rng.standard_normal((H, 2 * R - 1))}


def check(
    name: str, actual: np.ndarray, oracle: np.ndarray, baseline: np.ndarray, dtype: str
) -> None:
    """PREC-3 against the float64 oracle, the bound set by the reference in ``dtype``."""
    assert actual.dtype == DTYPES[dtype], f"{name}: dtype {actual.dtype}, expected {dtype}"
    result = compare(
        name, actual, oracle, dtype, float(np.abs(baseline.astype(np.float64) - oracle).max())
    )
    assert result.ok, (
        f"{name} {dtype}: err {result.err:.3g} > bound {result.bound:.3g} at {result.where}"
    )


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_branches_match_reference(dtype: str, causal: bool) -> None:
    """Per-batch span (reach 1, 3, 5), gain, temperature, padding and one all-padding sequence;
    T = 17 is not a multiple of the block P = 5."""
    config = ref.AHAConfig(
        window=6, max_rel_dist=5, causal=causal, temp_scale=0.7, score_scale="linear"
    )
    x = {name: a.astype(DTYPES[dtype]) for name, a in inputs(3, 2, 17, 8, 5).items()}
    s = np.array([0.0, 0.5, 1.0])
    mask = np.random.default_rng(1).random((3, 17)) > 0.3
    mask[2] = False
    args = (x["q"], x["k"], x["v"])
    check(
        "local",
        ADAPTER.local_attention(*args, s, x["rel_bias"], config, mask),
        ref.local_attention(*args, s, x["rel_bias"], config, mask),
        ref.local_attention(*args, s, x["rel_bias"], config, mask, dtype=DTYPES[dtype]),
        dtype,
    )
    check(
        "global",
        ADAPTER.global_attention(*args, x["rel_bias"], config, mask),
        ref.global_attention(*args, x["rel_bias"], config, mask),
        ref.global_attention(*args, x["rel_bias"], config, mask, dtype=DTYPES[dtype]),
        dtype,
    )


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("T", [1, 7, 17, 33])
def test_blockwise_equals_dense_formula(T: int, causal: bool) -> None:
    """Reach 1, a reach below the block bound, and the bound itself, for T not a multiple of
    the block; W = 40 > T makes a single block of the whole sequence."""
    x = inputs(3, 2, T, 4, 4, seed=T)
    s = np.array([0.0, 0.5, 1.0])
    for window in (4, 40):
        config = ref.AHAConfig(window=window, max_rel_dist=4, causal=causal)
        actual = ADAPTER.local_attention(x["q"], x["k"], x["v"], s, x["rel_bias"], config)
        oracle = ref.local_attention(x["q"], x["k"], x["v"], s, x["rel_bias"], config)
        assert compare("local", actual, oracle, "float64").ok, (window, T)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fully_masked_rows_are_zero(dtype: str) -> None:
    x = {name: a.astype(DTYPES[dtype]) for name, a in inputs(2, 2, 9, 4, 3).items()}
    mask = np.ones((2, 9), bool)
    mask[1] = False
    config = ref.AHAConfig(window=3, max_rel_dist=3)
    args = (x["q"], x["k"], x["v"])
    for out in (
        ADAPTER.local_attention(*args, 1.0, x["rel_bias"], config, mask),
        ADAPTER.global_attention(*args, x["rel_bias"], config, mask),
    ):
        assert np.all(out[1].astype(np.float64) == 0.0)  # LOCAL-5, GLOBAL-4: not mean of V
        assert np.all(np.isfinite(out[0].astype(np.float64)))


def test_a_new_span_scale_does_not_retrace() -> None:
    """The plan is data: one trace serves every span scale, and each still gives its own
    reference output."""
    config = ref.AHAConfig(window=8, max_rel_dist=8, temp_scale=0.5, score_scale="log")
    x = inputs(2, 2, 12, 4, 8)
    traces = []

    def traced(*args: jax.Array) -> jax.Array:
        traces.append(1)
        return local_attention(*args, config=config)

    fn = jax.jit(traced)
    for s in ([0.1, 0.9], [0.5, 0.3], [1.0, 0.0]):
        s64 = np.array(s)
        out = fn(
            x["q"].astype(np.float32),
            x["k"].astype(np.float32),
            x["v"].astype(np.float32),
            s64.astype(np.float32),
            x["rel_bias"].astype(np.float32),
            host_plan(s64, 12, 4, config, np.float32),
        )
        oracle = ref.local_attention(x["q"], x["k"], x["v"], s64, x["rel_bias"], config)
        assert compare("local", np.asarray(out), oracle, "float32").ok, s
    assert len(traces) == 1


def test_local_gradient_matches_reference_vjp() -> None:
    """jax.grad through the blockwise branch, with GRAD-2's straight-through τ: s = 0.3 is
    unclamped, s = 0.5 ties τmin (clamped), s = 0.9 is clamped."""
    config = ref.AHAConfig(
        window=8,
        max_rel_dist=5,
        temp_scale=0.5,
        sharpen="long",
        min_temperature=1.25,
        score_scale="log",
    )
    x = inputs(3, 2, 11, 4, 5, seed=3)
    s = np.array([0.3, 0.5, 0.9])
    mask = np.random.default_rng(4).random((3, 11)) > 0.2
    d_out = np.random.default_rng(5).standard_normal(x["q"].shape)
    expected = ref.local_attention_vjp(
        x["q"], x["k"], x["v"], s, x["rel_bias"], config, mask, d_out
    )
    with jax.enable_x64(True):
        plan = host_plan(s, 11, 4, config, np.float64)

        def loss(
            q: jax.Array, k: jax.Array, v: jax.Array, span: jax.Array, table: jax.Array
        ) -> jax.Array:
            return jnp.sum(local_attention(q, k, v, span, table, plan, config, mask) * d_out)

        grads = jax.jit(jax.grad(loss, argnums=range(5)))(x["q"], x["k"], x["v"], s, x["rel_bias"])
    for name, grad in zip(("q", "k", "v", "span_scale", "rel_bias"), grads, strict=True):
        result = compare(name, np.asarray(grad), expected[name], "float64")
        assert result.ok, f"d{name}: err {result.err:.3g} > {result.bound:.3g}"
    assert expected["span_scale"][0] != 0.0 and expected["span_scale"][1:].tolist() == [0, 0]


def test_banded_path_has_no_T_by_T_array() -> None:
    """At T = 1024 and reach 16 no [T, T] shape appears before or after XLA's rewrites; the
    dense global branch at the same T is the positive control."""
    T = 1024
    config = ref.AHAConfig(window=16, max_rel_dist=16)
    x = {name: a.astype(np.float32) for name, a in inputs(1, 1, T, 8, 16).items()}
    s = np.ones(1)
    local = jax.jit(local_attention, static_argnames="config").lower(
        x["q"],
        x["k"],
        x["v"],
        s.astype(np.float32),
        x["rel_bias"],
        host_plan(s, T, 8, config, np.float32),
        config=config,
    )
    dense = jax.jit(global_attention, static_argnames="config").lower(
        x["q"], x["k"], x["v"], x["rel_bias"], config=config
    )
    assert f"{T}x{T}" in str(dense.as_text())
    assert f"{T}x{T}" not in str(local.as_text())
    assert f"{T},{T}" not in str(local.compile().as_text())


def test_pure_functions_check_shapes_and_dtypes_at_trace_time() -> None:
    config = ref.AHAConfig(window=4, max_rel_dist=4)
    x = {name: jnp.asarray(a, jnp.float32) for name, a in inputs(1, 2, 5, 4, 4).items()}
    plan = host_plan(np.ones(1), 5, 4, config, np.float32)
    with pytest.raises(ref.ShapeError, match="k must have the shape of q"):
        local_attention(x["q"], x["k"][:, :1], x["v"], jnp.ones(1), x["rel_bias"], plan, config)
    with pytest.raises(ref.DTypeError, match="rel_bias must have the dtype of q"):
        global_attention(x["q"], x["k"], x["v"], x["rel_bias"].astype(jnp.bfloat16), config)
    with pytest.raises(ref.ShapeError, match="rel_bias must have shape"):
        global_attention(x["q"], x["k"], x["v"], x["rel_bias"][:1], config)

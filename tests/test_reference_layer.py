"""Independent checks of the layer (spec section 7) and of its parameters (LAYER-1).

The layer is rebuilt here from the spec's wiring, around the reference's two branches (which
tests/test_reference_attention.py checks on their own); hand-built parameters pin LayerNorm,
the head split, the concat order and the span predictor to literal values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance.strategies import draw_case
from aha.reference import AHAConfig

SETTINGS = settings(max_examples=60, deadline=None)

# LAYER-1, written out from the spec text.
SPEC_PARAM_NAMES = [
    "ln_local.weight",
    "ln_local.bias",
    "ln_global.weight",
    "ln_global.bias",
    *(
        f"{branch}.{proj}.{part}"
        for branch in ("local", "global")
        for proj in ("q", "k", "v", "out")
        for part in ("weight", "bias")
    ),
    "local.rel_bias",
    "global.rel_bias",
    "span.weight",
    "span.bias",
    "proj.weight",
    "proj.bias",
]


def spec_layer(
    x: np.ndarray,
    P: dict[str, np.ndarray],
    cfg: AHAConfig,
    mask: np.ndarray | None,
    span: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(y, s) wired as LAYER-2 .. LAYER-7 say, with the reference's attention branches."""
    B, T, D = x.shape
    H = P["local.rel_bias"].shape[0]

    def norm(name: str) -> np.ndarray:
        centred = x - x.mean(axis=-1, keepdims=True)
        var = (centred**2).sum(axis=-1, keepdims=True) / D  # biased: divide by D
        return centred / np.sqrt(var + cfg.ln_eps) * P[f"{name}.weight"] + P[f"{name}.bias"]

    def linear(a: np.ndarray, name: str) -> np.ndarray:
        return a @ P[f"{name}.weight"].T + P[f"{name}.bias"]

    def heads(a: np.ndarray) -> np.ndarray:  # feature h·Dh + d → head h, position d
        return a.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)

    def merge(a: np.ndarray) -> np.ndarray:
        return a.transpose(0, 2, 1, 3).reshape(B, T, D)

    xg = norm("ln_global")
    qkv = [heads(linear(xg, f"global.{p}")) for p in "qkv"]
    G = linear(merge(ref.global_attention(*qkv, P["global.rel_bias"], cfg, mask)), "global.out")
    if span is None:
        real = np.ones((B, T), dtype=bool) if mask is None else mask
        pooled = np.stack(
            [G[b, real[b]].mean(axis=0) if real[b].any() else np.zeros(D) for b in range(B)]
        )
        span = np.array(
            [1.0 / (1.0 + math.exp(-(m @ P["span.weight"][0] + P["span.bias"][0]))) for m in pooled]
        )
    xl = norm("ln_local")
    qkv = [heads(linear(xl, f"local.{p}")) for p in "qkv"]
    L = linear(merge(ref.local_attention(*qkv, span, P["local.rel_bias"], cfg, mask)), "local.out")
    return linear(np.concatenate([L, G], axis=-1), "proj"), span


@pytest.mark.clause(
    "LAYER-1", "LAYER-2", "LAYER-3", "LAYER-4", "LAYER-5", "LAYER-6", "LAYER-7", "MASK-2"
)
@SETTINGS
@given(data=st.data())
def test_layer_matches_the_spec_wiring(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "layer")
    y, s = ref.hybrid_layer(config=cfg, **inputs)
    mask, given_span = inputs.get("key_padding_mask"), inputs.get("span_scale")
    _, expected_s = spec_layer(inputs["x"], inputs["params"], cfg, mask, given_span)
    assert s.shape == (inputs["x"].shape[0],) and s.dtype == np.float64
    np.testing.assert_allclose(s, expected_s, rtol=1e-13, atol=0)
    if given_span is not None:
        np.testing.assert_array_equal(s, given_span)
    # s may differ from ours by a rounding (PREC-5): wire the local branch with the s it used.
    expected_y, _ = spec_layer(inputs["x"], inputs["params"], cfg, mask, s)
    assert y.shape == inputs["x"].shape
    np.testing.assert_allclose(y, expected_y, rtol=0, atol=1e-11 * max(1, np.abs(y).max()))


def identity_params(D: int, H: int, cfg: AHAConfig) -> dict[str, np.ndarray]:
    """Identity projections, zero biases and tables, LayerNorms (1, 0), proj = [I, 0]."""
    P = {name: np.zeros(shape) for name, shape in ref.param_shapes(D, H, cfg).items()}
    for name in ("ln_local.weight", "ln_global.weight"):
        P[name] = np.ones(D)
    for branch in ("local", "global"):
        for proj in ("v", "out"):
            P[f"{branch}.{proj}.weight"] = np.eye(D)
    P["proj.weight"] = np.hstack([np.eye(D), np.zeros((D, D))])
    return P


@pytest.mark.clause("LAYER-2", "LAYER-5", "LAYER-6")
def test_local_path_layer_norm_has_biased_variance_and_ln_eps() -> None:
    """Reach 1 makes the local branch out = v, so y = L = LN_local(x).

    x = [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9)/4 = 3.5, + eps 0.5 = 4, root 2.
    """
    cfg = AHAConfig(window=4, ln_eps=0.5)
    P = identity_params(4, 1, cfg)
    P["ln_local.weight"] = np.array([1.0, 2.0, 1.0, 1.0])
    P["ln_local.bias"] = np.array([0.0, 0.0, 1.0, 0.0])
    x = np.array([[[1.0, 2.0, 3.0, 6.0], [6.0, 3.0, 2.0, 1.0]]])
    y, s = ref.hybrid_layer(x, P, cfg, span_scale=0.0)
    assert s.tolist() == [0.0]
    np.testing.assert_allclose(y[0], [[-1.0, -1.0, 1.0, 1.5], [1.5, 0.0, 0.5, -1.0]], atol=1e-15)


@pytest.mark.clause("LAYER-2", "LAYER-3", "LAYER-6")
def test_global_path_layer_norm_and_concat_order() -> None:
    """T = 1 makes the global branch out = v; proj = [0, I] selects G = LN_global(x)."""
    cfg = AHAConfig(window=4, ln_eps=0.5)
    P = identity_params(4, 2, cfg)
    P["proj.weight"] = np.hstack([np.zeros((4, 4)), np.eye(4)])
    P["proj.bias"] = np.array([0.0, 0.0, 0.0, 10.0])
    P["ln_global.weight"] = np.array([2.0, 2.0, 2.0, 2.0])
    x = np.array([[[1.0, 2.0, 3.0, 6.0]], [[3.0, 3.0, 3.0, 3.0]]])
    y, _ = ref.hybrid_layer(x, P, cfg, span_scale=np.array([1.0, 0.5]))
    np.testing.assert_allclose(
        y[:, 0], [[-2.0, -1.0, 0.0, 13.0], [0.0, 0.0, 0.0, 10.0]], atol=1e-15
    )


@pytest.mark.clause("LAYER-1", "LAYER-5")
def test_heads_own_contiguous_feature_blocks() -> None:
    """Head 0's table looks one key back, head 1's one key ahead (q = k = 0, so only the
    table decides). Features 0, 1 of the middle token must come from token 0, features
    2, 3 from token 2: the contiguous split. An interleaved split mixes them."""
    cfg = AHAConfig(window=8, max_rel_dist=2)
    P = identity_params(4, 2, cfg)
    P["local.rel_bias"] = np.array([[0.0, 0.0, 60.0], [60.0, 0.0, 0.0]])  # i−j = +1 | −1
    x = np.array([[[1.0, -1.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0], [2.0, 1.0, -1.0, -2.0]]])
    y, _ = ref.hybrid_layer(x, P, cfg, span_scale=1.0)
    normed = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + cfg.ln_eps)
    np.testing.assert_allclose(
        y[0, 1], np.concatenate([normed[0, 0, :2], normed[0, 2, 2:]]), atol=1e-12
    )


@pytest.mark.clause("LAYER-4", "MASK-2")
def test_span_predictor_pools_real_positions_and_all_padding_to_zero() -> None:
    cfg = AHAConfig(window=8, max_rel_dist=4)
    P = ref.init_params(6, 2, cfg, seed=3)
    P["span.bias"] = np.array([0.75])
    x = np.random.default_rng(4).normal(size=(3, 5, 6))
    mask = np.array([[True] * 5, [True, False, True, False, False], [False] * 5])
    _, s = ref.hybrid_layer(x, P, cfg, key_padding_mask=mask)
    assert s[2] == pytest.approx(1.0 / (1.0 + math.exp(-0.75)), rel=1e-15)
    _, expected = spec_layer(x, P, cfg, mask, None)
    np.testing.assert_allclose(s, expected, rtol=1e-14)
    # Pooling over the padding too would give another s for sequence 1.
    _, unmasked = ref.hybrid_layer(x[1:2], P, cfg)
    assert abs(unmasked[0] - s[1]) > 1e-6


@pytest.mark.clause("MASK-2", "LAYER-4", "LOCAL-6")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_padded_positions_never_reach_real_ones(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "layer")
    mask = inputs.get("key_padding_mask")
    if mask is None:
        mask = inputs["key_padding_mask"] = np.ones(inputs["x"].shape[:2], dtype=bool)
        mask[:, -1] = False
    y, s = ref.hybrid_layer(config=cfg, **inputs)
    changed = dict(inputs, x=np.where(mask[..., None], inputs["x"], inputs["x"] * -3.0 + 1.0))
    y2, s2 = ref.hybrid_layer(config=cfg, **changed)
    np.testing.assert_array_equal(s2, s)
    np.testing.assert_allclose(y2[mask], y[mask], rtol=0, atol=1e-12 * max(1, np.abs(y).max()))


@pytest.mark.clause("LAYER-4", "LAYER-7", "PLAN-1")
def test_explicit_span_scale_replaces_the_prediction() -> None:
    cfg = AHAConfig(window=8, max_rel_dist=8, temp_scale=1.0)
    P = ref.init_params(4, 2, cfg, seed=5)
    x = np.random.default_rng(6).normal(size=(2, 7, 4))
    given_span = np.array([0.125, 1.0])
    y, s = ref.hybrid_layer(x, P, cfg, span_scale=given_span)
    np.testing.assert_array_equal(s, given_span)
    np.testing.assert_allclose(y, spec_layer(x, P, cfg, None, given_span)[0], atol=1e-12)
    predicted_y, predicted_s = ref.hybrid_layer(x, P, cfg)
    assert not np.allclose(predicted_s, given_span)
    assert not np.allclose(predicted_y, y)


@pytest.mark.clause("LAYER-1")
@pytest.mark.parametrize(("d_model", "heads", "R"), [(4, 1, 3), (6, 2, 1), (16, 4, 20)])
def test_param_shapes_are_those_of_the_spec(d_model: int, heads: int, R: int) -> None:
    shapes = ref.param_shapes(d_model, heads, AHAConfig(max_rel_dist=R))
    assert sorted(shapes) == sorted(SPEC_PARAM_NAMES)
    D, table = d_model, (heads, 2 * R - 1)
    expected: dict[str, Any] = {
        "ln_local.weight": (D,),
        "ln_global.bias": (D,),
        "local.q.weight": (D, D),
        "global.out.bias": (D,),
        "local.rel_bias": table,
        "global.rel_bias": table,
        "span.weight": (1, D),
        "span.bias": (1,),
        "proj.weight": (D, 2 * D),
        "proj.bias": (D,),
    }
    for name, shape in expected.items():
        assert shapes[name] == shape


@pytest.mark.clause("LAYER-1")
def test_init_params_is_deterministic() -> None:
    cfg = AHAConfig(max_rel_dist=5)
    a, b, c = (ref.init_params(8, 2, cfg, seed=seed) for seed in (7, 7, 8))
    assert list(a) == list(ref.param_shapes(8, 2, cfg))
    for name, shape in ref.param_shapes(8, 2, cfg).items():
        assert a[name].shape == shape and a[name].dtype == np.float64
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[n], c[n]) for n in a if not n.startswith("ln_"))
    y, s = ref.hybrid_layer(np.ones((1, 3, 8)), a, cfg)
    assert np.isfinite(y).all() and 0.0 < s[0] < 1.0

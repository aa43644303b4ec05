"""The layer's hand-written VJP (GRAD-5) against central finite differences in float64, and
its low-precision baseline (GRAD-6).

Draws are kept away from the kinks of the layer: W·s at least MARGIN from every integer (the
floor of PLAN-2) and τ0 + α·shift at least MARGIN from τmin (the clamp of GRAD-2), so a step
of the finite difference never crosses one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance.strategies import draw_case
from aha.conformance.tolerance import GRAD_TOLERANCE
from aha.reference import AHAConfig

# Central differences at h = 1e-6 on inputs of size ~1: truncation h²·f''' against roundoff
# ε·|f|/h. Measured over 300 draws (150 predicted, 150 given s), the worst
# |fd − vjp| / max(1, |vjp|) of the VJP is 2.9e-9 (notes/H3a.md); 1e-6 leaves 300× room while
# a dropped term is off by O(1e-2) or more.
STEP, RTOL = 1e-6, 1e-6
MARGIN = 1e-3
SIGMA_MIN = 0.1
SETTINGS = settings(max_examples=25, deadline=None)


def shrink(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """q weights shrunk by 4 so logits stay small: the softmax is smooth on the step's scale."""
    return {name: a / 4 if name.endswith("q.weight") else a for name, a in params.items()}


def away_from_kinks(cfg: AHAConfig, s: np.ndarray) -> bool:
    """True when every W·s_b is MARGIN from an integer and every τ from the τmin clamp."""
    ws = cfg.window * s
    shift = s if cfg.sharpen == "short" else 1.0 - s
    tau = cfg.temperature + cfg.temp_scale * shift
    floor_ok = np.all(np.abs(ws - np.round(ws)) > MARGIN) or cfg.min_window >= cfg.window
    return bool(floor_ok and np.all(np.abs(tau - cfg.min_temperature) > MARGIN))


def objective(cfg: AHAConfig, mask: Any, d_y: np.ndarray, d_s: np.ndarray) -> Any:
    """(x, params, span) → <d_y, y> + <d_s, s>, the scalar whose gradient the VJP returns."""

    def f(x: np.ndarray, params: dict[str, np.ndarray], span: Any) -> float:
        y, s = ref.hybrid_layer(x, params, cfg, mask, span)
        return float((y * d_y).sum() + (s * d_s).sum())

    return f


def worst_relative_error(data: st.DataObject, predicted: bool) -> float:
    """Draw a layer case, check every input in one random direction; the worst error."""
    cfg, inputs = draw_case(data, "layer", dtype="float16")  # no large-logit draws
    x, params = inputs["x"], shrink(inputs["params"])
    mask = inputs.get("key_padding_mask")
    span = None
    if not predicted:  # the middle of a floor piece, so no step crosses its edge (PLAN-2)
        drawn = data.draw(st.lists(st.floats(0, 1), min_size=x.shape[0], max_size=x.shape[0]))
        span = np.minimum(np.floor(cfg.window * np.array(drawn)), cfg.window - 1) + 0.5
        span = span / cfg.window
    _, s = ref.hybrid_layer(x, params, cfg, mask, span)
    assume(away_from_kinks(cfg, s))
    # LayerNorm bends on the scale of σ = √(var + eps): a row of equal features with a tiny
    # eps would need a step far below σ, where roundoff swamps the difference.
    assume(float((x.var(axis=-1) + cfg.ln_eps).min()) >= SIGMA_MIN**2)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    d_y, d_s = rng.normal(size=x.shape), rng.normal(size=s.shape)
    grads = ref.hybrid_layer_vjp(x, params, cfg, mask, span, d_y, d_s)
    f = objective(cfg, mask, d_y, d_s)
    assert set(grads) == ({"x", "params"} | ({"span_scale"} if span is not None else set()))
    assert set(grads["params"]) == set(params)

    worst = 0.0

    def check(analytic: np.ndarray, plus: float, minus: float, u: np.ndarray, what: str) -> None:
        nonlocal worst
        fd = (plus - minus) / (2 * STEP)
        exact = float((analytic * u).sum())
        err = abs(fd - exact) / max(1.0, abs(exact))
        worst = max(worst, err)
        assert err <= RTOL, f"{what}: finite difference {fd}, VJP {exact}"

    u = rng.normal(size=x.shape)
    assert grads["x"].shape == x.shape
    check(grads["x"], f(x + STEP * u, params, span), f(x - STEP * u, params, span), u, "x")
    for name, a in params.items():
        u = rng.normal(size=a.shape)
        assert grads["params"][name].shape == a.shape, name
        plus, minus = (dict(params, **{name: a + sign * STEP * u}) for sign in (1, -1))
        check(grads["params"][name], f(x, plus, span), f(x, minus, span), u, name)
    if span is not None:
        u = rng.normal(size=span.shape)
        # Keep s inside [0, 1]: a step that leaves it is a domain error, not a kink.
        assume(np.all(span - STEP * np.abs(u) >= 0) and np.all(span + STEP * np.abs(u) <= 1))
        plus_s, minus_s = span + STEP * u, span - STEP * u
        check(grads["span_scale"], f(x, params, plus_s), f(x, params, minus_s), u, "span_scale")
    return worst


@pytest.mark.clause("GRAD-5", "GRAD-2", "LAYER-2", "LAYER-3", "LAYER-4", "LAYER-5", "LAYER-6")
@SETTINGS
@given(data=st.data())
def test_layer_vjp_with_predicted_span_matches_finite_differences(data: st.DataObject) -> None:
    worst_relative_error(data, predicted=True)


@pytest.mark.clause("GRAD-5", "GRAD-1", "GRAD-2")
@SETTINGS
@given(data=st.data())
def test_layer_vjp_with_given_span_matches_finite_differences(data: st.DataObject) -> None:
    worst_relative_error(data, predicted=False)


@pytest.mark.clause("GRAD-5", "LAYER-4")
def test_given_span_cuts_the_predictor_off() -> None:
    """With span_scale given, the predictor's parameters get exactly zero, and span_scale's
    gradient includes d_s itself (s is span_scale, LAYER-7)."""
    cfg = AHAConfig(window=8, max_rel_dist=4, temp_scale=0.0)
    params = ref.init_params(4, 2, cfg, seed=3)
    rng = np.random.default_rng(4)
    x, d_y = rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4))
    grads = ref.hybrid_layer_vjp(x, params, cfg, None, [0.3, 0.6], d_y, np.array([2.0, -1.0]))
    np.testing.assert_array_equal(grads["params"]["span.weight"], 0.0)
    np.testing.assert_array_equal(grads["params"]["span.bias"], 0.0)
    # α = 0: τ does not move with s, so span_scale's gradient is d_s exactly (GRAD-2).
    np.testing.assert_array_equal(grads["span_scale"], [2.0, -1.0])


@pytest.mark.clause("GRAD-5", "GRAD-3", "LAYER-4", "MASK-2")
def test_padding_positions_get_no_gradient_through_the_pool() -> None:
    """A padded position's x still gets gradient as a query, but a sequence of padding only
    pools to zero and sends nothing back through the predictor (LAYER-4)."""
    cfg = AHAConfig(window=8, max_rel_dist=4, temp_scale=1.0)
    params = ref.init_params(4, 2, cfg, seed=5)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 5, 4))
    mask = np.array([[True] * 5, [False] * 5])
    zero_y = np.zeros_like(x)
    grads = ref.hybrid_layer_vjp(x, params, cfg, mask, None, zero_y, np.array([0.0, 1.0]))
    # Only s_1 has a cotangent; it pooled nothing, so only span.bias feels it.
    np.testing.assert_array_equal(grads["x"], 0.0)
    np.testing.assert_array_equal(grads["params"]["span.weight"], 0.0)
    s1 = 1.0 / (1.0 + np.exp(-params["span.bias"][0]))
    assert grads["params"]["span.bias"][0] == pytest.approx(s1 * (1 - s1))


@pytest.mark.clause("GRAD-6", "PREC-2")
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_baseline_vjp_is_close_and_in_its_dtype(dtype: str) -> None:
    """The baseline VJP computes in float32 from operands in d and stores in d (PREC-2)."""
    cfg = AHAConfig(window=6, max_rel_dist=5, temp_scale=0.7, min_temperature=0.1)
    params = ref.init_params(8, 2, cfg, seed=7)
    rng = np.random.default_rng(8)
    x, d_y = rng.normal(size=(2, 7, 8)), rng.normal(size=(2, 7, 8))
    oracle = ref.hybrid_layer_vjp(x, params, cfg, None, None, d_y)
    low = ref.hybrid_layer_vjp(
        x.astype(dtype),
        {n: a.astype(dtype) for n, a in params.items()},
        cfg,
        None,
        None,
        d_y,
        dtype=dtype,
    )
    eps = float(np.finfo(np.dtype(dtype)).eps) if dtype != "bfloat16" else 2.0**-7
    assert low["x"].dtype == np.dtype(dtype)
    for name, g in low["params"].items():
        assert g.dtype == np.dtype(dtype), name
        err = np.abs(g.astype(np.float64) - oracle["params"][name]).max()
        # Not a tolerance of the suite: a sanity bound that the baseline is the same function.
        assert err <= 200 * eps * max(1.0, np.abs(oracle["params"][name]).max()), name
        if dtype == "float32":
            assert err > 0 or np.all(oracle["params"][name] == 0), name


@pytest.mark.clause("GRAD-4", "ERR-4", "ERR-6")
def test_layer_vjp_checks_its_cotangents() -> None:
    cfg = AHAConfig(window=4, max_rel_dist=4)
    params = ref.init_params(4, 2, cfg, seed=1)
    x = np.zeros((1, 3, 4))
    with pytest.raises(ref.ShapeError, match=r"^d_y"):
        ref.hybrid_layer_vjp(x, params, cfg, None, None, np.zeros((1, 3, 5)))
    with pytest.raises(ref.DomainError, match=r"^d_y"):
        ref.hybrid_layer_vjp(x, params, cfg, None, None, np.full((1, 3, 4), np.inf))
    with pytest.raises(ref.ShapeError, match=r"^d_s"):
        ref.hybrid_layer_vjp(x, params, cfg, None, None, np.zeros((1, 3, 4)), np.zeros(2))


@pytest.mark.clause("GRAD-6")
def test_gradient_tolerance_table_matches_the_spec() -> None:
    spec = (Path(__file__).resolve().parents[1] / "spec" / "AHA.md").read_text().splitlines()
    start = next(i for i, line in enumerate(spec) if line.startswith("| dtype | c_g |"))
    end = next(i for i in range(start, len(spec)) if not spec[i].startswith("|"))
    rows = [line.strip("|").split("|") for line in spec[start + 2 : end]]
    table = {r[0].strip(): (float(r[1]), float(r[2])) for r in rows}
    assert table == {d: (rule.c, rule.floor) for d, rule in GRAD_TOLERANCE.items()}

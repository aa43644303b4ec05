"""The reference's hand-written VJPs against central finite differences in float64 (spec
section 8): q, k, v, rel_bias in both branches, span_scale through the temperature only."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance.strategies import configs, draw_case
from aha.reference import AHAConfig

SETTINGS = settings(max_examples=30, deadline=None)
# Central differences: truncation h² against roundoff ε/h; at h = 1e-5 the measured relative
# disagreement of a correct VJP is ≤ 1.2e-9 (150 draws per branch), so 1e-6 leaves room while
# any missing factor (τ, g, scale) or misrouted entry is off by O(1).
STEP, RTOL = 1e-5, 1e-6


def prepare(inputs: dict[str, Any]) -> dict[str, Any]:
    """q and k shrunk by 8 so logits stay below a few hundred: finite differences need a
    neighbourhood where the softmax is smooth on the scale of the step."""
    return dict(inputs, q=inputs["q"] / 8, k=inputs["k"] / 8)


def objective(kind: str, cfg: AHAConfig, d_out: np.ndarray) -> Callable[[dict[str, Any]], float]:
    """inputs → <d_out, out>, the scalar whose gradient a VJP with d_out returns."""
    fn = ref.local_attention if kind == "local" else ref.global_attention
    return lambda inputs: float((fn(config=cfg, **inputs) * d_out).sum())


def vjp(kind: str, cfg: AHAConfig, inputs: dict[str, Any], d_out: np.ndarray) -> dict[str, Any]:
    args = dict(inputs)
    mask = args.pop("key_padding_mask", None)
    fn = ref.local_attention_vjp if kind == "local" else ref.global_attention_vjp
    return fn(config=cfg, key_padding_mask=mask, d_out=d_out, **args)


def central(
    f: Callable[[dict[str, Any]], float],
    inputs: dict[str, Any],
    name: str,
    direction: np.ndarray,
    h: float = STEP,
) -> float:
    plus = dict(inputs, **{name: inputs[name] + h * direction})
    minus = dict(inputs, **{name: inputs[name] - h * direction})
    return (f(plus) - f(minus)) / (2 * h)


@pytest.mark.clause("GRAD-3", "LOCAL-2", "LOCAL-3", "GLOBAL-2", "GLOBAL-3")
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_vjp_matches_finite_differences(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind, dtype="float16")  # no large-logit draws
    inputs = prepare(inputs)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    d_out = rng.normal(size=inputs["q"].shape)
    grads, f = vjp(kind, cfg, inputs, d_out), objective(kind, cfg, d_out)
    for name in ("q", "k", "v"):
        assert grads[name].shape == inputs[name].shape
        for _ in range(2):
            u = rng.normal(size=inputs[name].shape)
            analytic = float((grads[name] * u).sum())
            assert central(f, inputs, name, u) == pytest.approx(analytic, rel=RTOL, abs=RTOL), name
    # Entry by entry for the table: each entry collects exactly the pairs that read it.
    table = inputs["rel_bias"]
    assert grads["rel_bias"].shape == table.shape
    for index in np.ndindex(table.shape):
        unit = np.zeros(table.shape)
        unit[index] = 1.0
        assert central(f, inputs, "rel_bias", unit) == pytest.approx(
            grads["rel_bias"][index], rel=RTOL, abs=RTOL
        ), index


def mid_piece(span: np.ndarray, window: int) -> np.ndarray:
    """Each s moved to the middle of its floor piece [k/W, (k+1)/W), inside [0, 1]."""
    k = np.minimum(np.floor(window * span), window - 1)
    return (k + 0.5) / window


def temperature_slope(cfg: AHAConfig, s: float) -> float:
    """∂τ/∂s of PLAN-4: ±α where τ0 + α·shift > τmin, else 0, a tie included (GRAD-2)."""
    shift = s if cfg.sharpen == "short" else 1.0 - s
    unclamped = cfg.temperature + cfg.temp_scale * shift > cfg.min_temperature
    return (cfg.temp_scale if cfg.sharpen == "short" else -cfg.temp_scale) if unclamped else 0.0


@pytest.mark.clause("GRAD-1", "GRAD-2", "PLAN-4")
@SETTINGS
@given(data=st.data())
def test_span_gradient_flows_through_the_temperature_only(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "local", dtype="float16")
    inputs = prepare(inputs)
    inputs["span_scale"] = span = mid_piece(inputs["span_scale"], cfg.window)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    d_out = rng.normal(size=inputs["q"].shape)
    grads, f = vjp("local", cfg, inputs, d_out), objective("local", cfg, d_out)
    assert grads["span_scale"].shape == span.shape
    h = 1e-6  # far inside a piece (half-width 1/(2W) ≥ 1/48): w, ρ and g stay put
    for b in range(span.size):
        shift = span[b] if cfg.sharpen == "short" else 1.0 - span[b]
        if abs(cfg.temperature + cfg.temp_scale * shift - cfg.min_temperature) < 10 * h * (
            cfg.temp_scale + 1
        ):
            continue  # the kink of the clamp: test_span_gradient_at_the_clamp covers it
        unit = np.zeros(span.size)
        unit[b] = 1.0
        by_span = central(f, inputs, "span_scale", unit, h)
        # The same derivative through τ alone: move τ0 by ±δ with w, ρ, g untouched and count
        # element b only.
        only_b = np.zeros_like(d_out)
        only_b[b] = d_out[b]
        delta = 1e-6
        hotter, colder = (
            objective(
                "local",
                AHAConfig(
                    **dict(
                        cfg.to_dict(),
                        temperature=cfg.temperature + sign * delta,
                        min_temperature=cfg.min_temperature + sign * delta,
                    )
                ),
                only_b,
            )(inputs)
            for sign in (1, -1)
        )
        through_tau = temperature_slope(cfg, span[b]) * (hotter - colder) / (2 * delta)
        assert by_span == pytest.approx(through_tau, rel=1e-5, abs=1e-6)
        assert grads["span_scale"][b] == pytest.approx(by_span, rel=1e-5, abs=1e-6)


@pytest.mark.clause("GRAD-2", "PLAN-4")
@pytest.mark.parametrize("sharpen", ["short", "long"])
def test_span_gradient_at_the_clamp(sharpen: str) -> None:
    """τ0 = 1/2, α = 1, τmin = 7/8: shift 7/8 is free, 3/8 is the tie, 1/8 is clamped.

    Every s sits mid-piece for W = 4 and min_window = 2 keeps the reach ≥ 2, so τ matters.
    """
    cfg = AHAConfig(
        window=4,
        min_window=2,
        max_rel_dist=4,
        temperature=0.5,
        temp_scale=1.0,
        min_temperature=0.875,
        sharpen=sharpen,
    )
    rng = np.random.default_rng(11)
    q, k, v = (rng.normal(size=(3, 2, 6, 3)) for _ in range(3))
    shifts = np.array([0.875, 0.375, 0.125])
    span = shifts if sharpen == "short" else 1.0 - shifts
    table = rng.normal(size=(2, 7))
    d_out = rng.normal(size=q.shape)
    grads = ref.local_attention_vjp(q, k, v, span, table, cfg, None, d_out)["span_scale"]
    inputs = {"q": q, "k": k, "v": v, "span_scale": span, "rel_bias": table}
    by_span = central(
        objective("local", cfg, d_out), inputs, "span_scale", np.array([1.0, 0.0, 0.0]), 1e-6
    )
    assert grads[0] == pytest.approx(by_span, rel=1e-6) and abs(by_span) > 1e-3
    assert grads[1] == 0.0 and grads[2] == 0.0  # the tie counts as clamped
    # One-sided at the tie: moving toward a larger τ is free, the other way is clamped.
    f = objective("local", cfg, d_out)
    toward = np.array([0.0, 1.0 if sharpen == "short" else -1.0, 0.0])
    assert (f(dict(inputs, span_scale=span - 1e-6 * toward)) - f(inputs)) == 0.0
    assert (f(dict(inputs, span_scale=span + 1e-6 * toward)) - f(inputs)) != 0.0


@pytest.mark.clause("GRAD-2")
def test_span_gradient_is_zero_without_temp_scale() -> None:
    cfg = AHAConfig(window=8, max_rel_dist=8, score_scale="log")
    rng = np.random.default_rng(12)
    q, k, v = (rng.normal(size=(2, 1, 7, 2)) for _ in range(3))
    grads = ref.local_attention_vjp(
        q, k, v, np.array([0.3, 0.8]), rng.normal(size=(1, 15)), cfg, None, rng.normal(size=q.shape)
    )
    np.testing.assert_array_equal(grads["span_scale"], [0.0, 0.0])


@pytest.mark.clause("GRAD-3", "LOCAL-5", "GLOBAL-4", "MASK-2")
@settings(max_examples=40, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_hidden_pairs_and_dead_rows_pass_no_gradient(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind, configs(causal=True))
    T = inputs["q"].shape[2]
    mask = inputs.setdefault("key_padding_mask", np.ones((inputs["q"].shape[0], T), dtype=bool))
    mask[:, : data.draw(st.integers(1, T), label="left padding")] = False
    rng = np.random.default_rng(0)
    d_out = rng.normal(size=inputs["q"].shape)
    grads = vjp(kind, cfg, inputs, d_out)
    _, weights = (ref.local_attention if kind == "local" else ref.global_attention)(
        config=cfg, **inputs, return_weights=True
    )
    dead = weights.sum(-1) == 0  # [B, H, T]: rows that see no key
    assert np.all(grads["q"][dead] == 0.0)
    padded = ~mask[:, None, :].repeat(inputs["q"].shape[1], axis=1)  # [B, H, T]
    assert np.all(grads["k"][padded] == 0.0) and np.all(grads["v"][padded] == 0.0)
    # A table entry that no visible pair reads receives nothing.
    R = cfg.max_rel_dist
    _, _, i, j = np.nonzero(weights)
    read = np.zeros(2 * R - 1, dtype=bool)
    read[np.clip(i - j, -(R - 1), R - 1) + R - 1] = True
    assert np.all(grads["rel_bias"][:, ~read] == 0.0)


@pytest.mark.clause("GRAD-3", "LOCAL-1")
def test_local_table_gradient_lives_inside_the_reach() -> None:
    """reach = min(⌊8·0.25⌋, 9, 5) = 2: only entries i − j ∈ {−1, 0, 1} are read."""
    cfg = AHAConfig(window=8, max_rel_dist=5)
    rng = np.random.default_rng(13)
    q, k, v = (rng.normal(size=(1, 2, 9, 3)) for _ in range(3))
    grads = ref.local_attention_vjp(
        q, k, v, 0.25, rng.normal(size=(2, 9)), cfg, None, rng.normal(size=q.shape)
    )
    offsets = np.arange(9) - 4
    assert np.all(grads["rel_bias"][:, np.abs(offsets) >= 2] == 0.0)
    assert np.all(grads["rel_bias"][:, np.abs(offsets) < 2] != 0.0)
    assert math.isfinite(float(grads["span_scale"][0]))

"""Independent checks of the plan (spec section 3): PLAN-2 .. PLAN-5 written out for scalars."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance.strategies import configs, draw_case
from aha.conformance.tolerance import PLAN_RTOL
from aha.reference import AHAConfig

SETTINGS = settings(max_examples=150, deadline=None)


def expected_plan(s: float, seq_len: int, cfg: AHAConfig) -> tuple[int, int, float, float]:
    """PLAN-2 .. PLAN-5 for one span scale, with Python floats (binary64, correctly rounded)."""
    window = max(cfg.min_window, math.floor(cfg.window * s))
    reach = min(window, seq_len, cfg.max_rel_dist)
    shift = s if cfg.sharpen == "short" else 1.0 - s
    temperature = max(cfg.min_temperature, cfg.temperature + cfg.temp_scale * shift)
    if cfg.score_scale == "none":
        gain = 1.0
    elif cfg.score_scale == "linear":
        gain = cfg.window / window
    else:
        gain = 1.0 + math.log(cfg.window / window)
    return window, reach, temperature, gain


def one(s: float, seq_len: int, cfg: AHAConfig) -> tuple[int, int, float, float]:
    p = ref.plan(np.array([s]), seq_len, cfg)
    return int(p.window[0]), int(p.reach[0]), float(p.temperature[0]), float(p.gain[0])


@pytest.mark.clause("PLAN-1", "PLAN-2", "PLAN-3", "PLAN-4", "PLAN-5", "PLAN-6", "PREC-3")
@SETTINGS
@given(data=st.data())
def test_plan_matches_the_scalar_formulas(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "plan")
    s, seq_len = inputs["span_scale"], inputs["seq_len"]
    p = ref.plan(s, seq_len, cfg)
    for field in p:
        assert field.shape == s.shape
    assert p.window.dtype.kind in "iu" and p.reach.dtype.kind in "iu"
    assert p.temperature.dtype == np.float64 and p.gain.dtype == np.float64
    for b, value in enumerate(s):
        window, reach, temperature, gain = expected_plan(float(value), seq_len, cfg)
        assert (p.window[b], p.reach[b]) == (window, reach)
        assert p.reach[b] >= 1
        assert p.temperature[b] == pytest.approx(temperature, rel=PLAN_RTOL, abs=0)
        assert p.gain[b] == pytest.approx(gain, rel=PLAN_RTOL, abs=0)
        # PLAN-1: an element's plan is its own; the batch around it changes nothing.
        assert one(float(value), seq_len, cfg) == (
            p.window[b],
            p.reach[b],
            p.temperature[b],
            p.gain[b],
        )


def float32_floor(window: int, s: float) -> int:
    """What a float32 implementation computes: the non-conforming floor of PLAN-2."""
    return math.floor(float(np.float32(window) * np.float32(s)))


@pytest.mark.clause("PLAN-2")
def test_float32_floor_hazard_is_pinned() -> None:
    cfg = AHAConfig(window=100, max_rel_dist=200)
    assert float32_floor(100, 0.29) == 29  # the hazard is real ...
    assert one(0.29, 200, cfg)[:2] == (28, 28)  # ... and binary64 gives 28
    # A float32 span scale is converted exactly, then multiplied in binary64 (PLAN-1).
    s32 = np.array([0.29], dtype=np.float32)
    assert float32_floor(100, float(s32[0])) == 29
    assert ref.plan(s32, 200, cfg).window.tolist() == [28]


@pytest.mark.clause("PLAN-2")
@pytest.mark.parametrize("window", [1, 3, 7, 8, 10, 24, 100, 128])
def test_floor_on_and_beside_every_multiple(window: int) -> None:
    cfg = AHAConfig(window=window, max_rel_dist=1000)
    for k in range(window + 1):
        on = k / window
        for s in (on, float(np.nextafter(on, 0.0)), float(np.nextafter(on, 1.0))):
            if 0.0 <= s <= 1.0:
                assert one(s, 1000, cfg)[0] == max(1, math.floor(window * s)), (k, s)
        if Fraction(on) == Fraction(k, window):  # k/W exact in binary64: the floor is k
            assert one(on, 1000, cfg)[0] == max(1, k)


@pytest.mark.clause("PLAN-2")
def test_floor_of_the_rounded_product_not_the_exact_one() -> None:
    """W ⊗ s is rounded before the floor: 3 ⊗ fl(1/3) = 1 − 2⁻⁵⁴ rounds to 1 (ties to even)."""
    s = 1 / 3
    assert math.floor(Fraction(3) * Fraction(s)) == 0
    assert one(s, 10, AHAConfig(window=3))[0] == 1
    # 8 · (3/8)⁻ = 3 − 2⁻⁵¹ is exact, so the floor drops to 2.
    assert one(float(np.nextafter(0.375, 0.0)), 10, AHAConfig(window=8))[0] == 2
    assert one(0.375, 10, AHAConfig(window=8))[0] == 3


@pytest.mark.clause("PLAN-3", "PLAN-5")
def test_min_window_floors_the_request_before_the_clamps() -> None:
    cfg = AHAConfig(window=16, min_window=12, max_rel_dist=20, score_scale="linear")
    # min_window > T: the request is 12, the reach is clamped to T = 5.
    assert one(0.0, 5, cfg)[:2] == (12, 5)
    assert one(0.0, 5, cfg)[3] == 16 / 12
    # R < requested window: the reach is R, the gain still reads the request.
    cfg = AHAConfig(window=16, max_rel_dist=3, score_scale="log")
    assert one(0.75, 40, cfg)[:2] == (12, 3)
    assert one(0.75, 40, cfg)[3] == pytest.approx(1.0 + math.log(16 / 12), rel=PLAN_RTOL)


@pytest.mark.clause("PLAN-3")
@pytest.mark.parametrize("seq_len", [1, 2, 17])
def test_reach_is_never_zero(seq_len: int) -> None:
    for cfg in (AHAConfig(window=1), AHAConfig(window=24, max_rel_dist=1), AHAConfig(window=5)):
        assert one(0.0, seq_len, cfg)[:2] == (1, 1)


@pytest.mark.clause("PLAN-5", "PLAN-3")
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_gain_and_temperature_ignore_seq_len_and_max_rel_dist(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "plan")
    other_t = data.draw(st.integers(1, 200), label="other seq_len")
    other_r = data.draw(st.integers(1, 200), label="other max_rel_dist")
    other = AHAConfig(**dict(cfg.to_dict(), max_rel_dist=other_r))
    p = ref.plan(inputs["span_scale"], inputs["seq_len"], cfg)
    p2 = ref.plan(inputs["span_scale"], other_t, other)
    for field in ("window", "temperature", "gain"):
        np.testing.assert_array_equal(getattr(p, field), getattr(p2, field))
    assert np.all((p.gain >= 1.0) & (p.gain <= cfg.window / cfg.min_window * (1 + PLAN_RTOL)))


@pytest.mark.clause("PLAN-4")
@settings(max_examples=100, deadline=None)
@given(
    cfg=configs(temp_scale=st.floats(0.01, 4.0), min_temperature=0.05),
    pair=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2, unique=True).map(sorted),
)
def test_temperature_direction(cfg: AHAConfig, pair: list[float]) -> None:
    """ "short": a shorter span (smaller s) is sharper (lower τ); "long": the reverse."""
    low, high = (ref.plan(np.array([s]), 10, cfg).temperature[0] for s in pair)
    sharper, blunter = (low, high) if cfg.sharpen == "short" else (high, low)
    assert sharper <= blunter
    if cfg.temp_scale * (pair[1] - pair[0]) > 1e-9:  # beyond rounding: strictly sharper
        assert sharper < blunter


@pytest.mark.clause("PLAN-4", "GRAD-2")
@pytest.mark.parametrize("sharpen", ["short", "long"])
def test_min_temperature_clamp_with_a_tie(sharpen: str) -> None:
    cfg = AHAConfig(temperature=0.5, temp_scale=1.0, min_temperature=1.0, sharpen=sharpen)
    s = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    shift = s if sharpen == "short" else 1.0 - s
    expected = np.where(0.5 + shift > 1.0, 0.5 + shift, 1.0)  # shift 0.5 is the tie: τ = τmin
    np.testing.assert_array_equal(ref.plan(s, 4, cfg).temperature, expected)
    # Without the clamp the temperature would fall below τmin.
    assert (0.5 + shift < 1.0).any()


@pytest.mark.clause("PLAN-1", "PLAN-6")
def test_scalar_span_scale_is_one_element() -> None:
    p = ref.plan(0.5, 8, AHAConfig(window=8))
    assert p.window.tolist() == [4] and p.reach.tolist() == [4]
    assert ref.plan(1, 8, AHAConfig(window=8)).window.tolist() == [8]

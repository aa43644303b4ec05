"""The plan: what span scale s means for each batch element (PLAN-1 .. PLAN-6).

Every adapter takes its plan from here, host-side, so window, reach, temperature and gain
are decided once (spec/AHA.md section 3).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import validate
from .config import AHAConfig


class Plan(NamedTuple):
    """Per batch element: window w [B] int64, reach ρ [B] int64, temperature τ [B], gain g [B]."""

    window: np.ndarray
    reach: np.ndarray
    temperature: np.ndarray
    gain: np.ndarray


def plan(span_scale: Any, seq_len: int, config: AHAConfig) -> Plan:
    """The plan for span scales s [B] (a scalar gives B = 1) at sequence length T (PLAN-1)."""
    s = validate.span_scale(span_scale)
    return _plan(s, validate.seq_len(seq_len), validate.config(config))


def _plan(s: np.ndarray, seq_len: int, config: AHAConfig) -> Plan:
    """The plan for already-validated span scales s [B]."""
    s = np.asarray(s, dtype=np.float64)  # exact: PLAN-2 computes in binary64
    W = config.window
    # PLAN-2: one binary64 product, then floor; min_window floors the request, not the reach.
    window = np.maximum(config.min_window, np.floor(np.float64(W) * s)).astype(np.int64)
    # PLAN-3: the input length and the bias table bound the reach after the floor.
    reach = np.minimum(window, min(seq_len, config.max_rel_dist))
    # PLAN-4: "short" sharpens short spans (small s), "long" sharpens long ones.
    shift = _shift(s, config)
    temperature = np.maximum(config.min_temperature, config.temperature + config.temp_scale * shift)
    # PLAN-5: the gain depends on the requested window only, never on T or R.
    ratio = W / window
    gain = {"none": np.ones_like(s), "linear": ratio, "log": 1.0 + np.log(ratio)}
    return Plan(window, reach, temperature, gain[config.score_scale])


def temperature_slope(span_scale: Any, config: AHAConfig) -> np.ndarray:
    """∂τ_b/∂s_b [B]: +α ("short") or −α ("long") where the τmin clamp is inactive, 0 where it
    holds, a tie counting as clamped (GRAD-2). Window, reach and gain have none (GRAD-1).

    Implementations that train take the temperature's value from the plan and its slope from
    here, e.g. τ + slope · (s − stop_gradient(s)).
    """
    s, config = validate.span_scale(span_scale), validate.config(config)
    unclamped = config.temperature + config.temp_scale * _shift(s, config) > config.min_temperature
    return np.where(
        unclamped, config.temp_scale if config.sharpen == "short" else -config.temp_scale, 0.0
    )


def _shift(s: np.ndarray, config: AHAConfig) -> np.ndarray:
    """What the temperature law scales: s ("short") or 1 − s ("long") (PLAN-4)."""
    return s if config.sharpen == "short" else 1.0 - s

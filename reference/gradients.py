"""Vector-Jacobian products of the two branches, by hand (GRAD-1 .. GRAD-3).

Checked against central finite differences in float64 by tests/test_gradients.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import validate
from .attention import bias_index, logits, masked_softmax, visibility
from .config import AHAConfig
from .plan import _plan, temperature_slope


def local_attention_vjp(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any,
    d_out: Any,
) -> dict[str, np.ndarray]:
    """Gradients of <d_out, local_attention(...)> for q, k, v, span_scale and rel_bias.

    The window, reach and gain are piecewise constant in s and pass no gradient (GRAD-1);
    s receives gradient only through the temperature, and none where the τmin clamp holds,
    a tie included (GRAD-2).
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    s = validate.span_scale(span_scale, q.shape[0])
    p = _plan(s, q.shape[2], config)
    visible = visibility(q.shape[2], config.causal, mask, p.reach)
    grads, d_temperature = _attend_vjp(
        q, k, v, rel_bias, visible, config.softmax_scale(q.shape[-1]), p.gain, p.temperature, d_out
    )
    grads["span_scale"] = temperature_slope(s, config) * d_temperature
    return grads


def global_attention_vjp(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any,
    d_out: Any,
) -> dict[str, np.ndarray]:
    """Gradients of <d_out, global_attention(...)> for q, k, v and rel_bias (GRAD-3)."""
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    ones = np.ones(q.shape[0])
    visible = visibility(q.shape[2], config.causal, mask, reach=None)
    grads, _ = _attend_vjp(
        q, k, v, rel_bias, visible, config.softmax_scale(q.shape[-1]), ones, ones, d_out
    )
    return grads


def _attend_vjp(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    visible: np.ndarray,
    scale: float,
    gain: np.ndarray,
    temperature: np.ndarray,
    d_out: Any,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backward of out = softmax_visible(Z) V with Z = (g·scale·QKᵀ + bias) / τ, in float64."""
    f64 = np.dtype(np.float64)
    q, k, v, rel_bias = (a.astype(f64) for a in (q, k, v, rel_bias))
    d_out = validate.float_array("d_out", d_out, "B, H, T, Dh").astype(f64)
    validate.same_shape("d_out", d_out, "q", q)
    H, T = q.shape[1:3]
    z = logits(q, k, rel_bias, scale, gain, temperature, f64)  # [B, H, T, T]
    weights = masked_softmax(z, visible)

    d_weights = d_out @ v.swapaxes(-1, -2)  # [B, H, T, T]
    # Softmax backward; invisible entries and fully masked rows have weight 0, so dz = 0 there
    # and they pass no gradient (GRAD-3).
    dz = weights * (d_weights - (weights * d_weights).sum(axis=-1, keepdims=True))
    tau = temperature[:, None, None, None]
    d_scores = dz * ((gain * scale)[:, None, None, None] / tau)
    # The table entry of (i, j) collects the gradient of every (b, i, j) that reads it.
    index = bias_index(T, (rel_bias.shape[1] + 1) // 2).ravel()
    d_bias = (dz / tau).sum(axis=0).reshape(H, T * T)
    d_table = np.stack(
        [np.bincount(index, weights=d_bias[h], minlength=rel_bias.shape[1]) for h in range(H)]
    )
    # z = a / τ, so ∂z/∂τ = −z / τ; only visible entries count.
    d_temperature = -(dz * np.where(visible, z, 0.0)).sum(axis=(1, 2, 3)) / temperature
    grads = {
        "q": d_scores @ k,
        "k": d_scores.swapaxes(-1, -2) @ q,
        "v": weights.swapaxes(-1, -2) @ d_out,
        "rel_bias": d_table,
    }
    return grads, d_temperature

"""Vector-Jacobian products of the two branches in the second evaluation order (ORDER-1).

The same gradients as ``gradients.local_attention_vjp`` and ``global_attention_vjp``
(GRAD-1 .. GRAD-3), accumulated one query block at a time over the block's key window: dq of
a block is complete when the block is done; dk, dv and the bias table collect the
contributions of every block whose window holds them. No [T, T] array is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import validate
from .attention import masked_softmax
from .config import AHAConfig
from .plan import plan, temperature_slope
from .scalable import (
    block_size,
    key_window,
    query_groups,
    window_bias_index,
    window_logits,
    window_visibility,
)


def local_attention_vjp_blocked(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any,
    d_out: Any,
    *,
    block: int | None = None,
) -> dict[str, np.ndarray]:
    """``local_attention_vjp`` over the band only, in query blocks: gradients for q, k, v,
    span_scale and rel_bias, in binary64.

    s receives gradient only through the temperature, none where the τmin clamp holds
    (GRAD-1, GRAD-2).
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    s = validate.span_scale(span_scale, q.shape[0])
    p = plan(s, q.shape[2], config)
    size = block_size(block, q.shape[1], q.shape[2], local=True)
    grads, d_temperature = _vjp_blocked(
        q, k, v, rel_bias, config, mask, d_out, size, p.gain, p.temperature, p.reach
    )
    grads["span_scale"] = temperature_slope(s, config) * d_temperature
    return grads


def global_attention_vjp_blocked(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any,
    d_out: Any,
    *,
    block: int | None = None,
) -> dict[str, np.ndarray]:
    """``global_attention_vjp`` in query blocks: gradients for q, k, v and rel_bias (GRAD-3)."""
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    size = block_size(block, q.shape[1], q.shape[2], local=False)
    ones = np.ones(q.shape[0])  # GLOBAL-3: no gain and no temperature
    grads, _ = _vjp_blocked(q, k, v, rel_bias, config, mask, d_out, size, ones, ones, None)
    return grads


def _vjp_blocked(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    d_out: Any,
    block: int,
    gain: np.ndarray,
    temperature: np.ndarray,
    reach: np.ndarray | None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backward of out = softmax_visible(Z) V, Z = (g·scale·QKᵀ + bias) / τ, block by block."""
    f64 = np.dtype(np.float64)
    q, k, v, rel_bias = (a.astype(f64) for a in (q, k, v, rel_bias))
    d_out = validate.float_array("d_out", d_out, "B, H, T, Dh").astype(f64)
    validate.same_shape("d_out", d_out, "q", q)
    B, H, T, Dh = q.shape
    R = (rel_bias.shape[1] + 1) // 2
    g = gain * config.softmax_scale(Dh)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    d_table = np.zeros(H * rel_bias.shape[1])
    d_temperature = np.zeros(B)
    for b in range(B):
        rho = None if reach is None else int(reach[b])
        tau = temperature[b]
        for group in query_groups(np.arange(T), block, banded=reach is not None):
            lo, hi = key_window(group.start, group.stop - 1, T, rho, config.causal)
            pos = np.arange(group.start, group.stop)
            index = window_bias_index(pos, lo, hi, R)
            z = window_logits(q[b, :, group], k[b, :, lo:hi], rel_bias, index, g[b], tau)
            visible = window_visibility(
                pos, lo, hi, rho, config.causal, None if mask is None else mask[b]
            )
            weights = masked_softmax(z, visible)  # [H, n, W]
            d_weights = d_out[b, :, group] @ v[b, :, lo:hi].swapaxes(-1, -2)
            # Softmax backward; invisible entries and fully masked rows have weight 0, so
            # dz = 0 there and they pass no gradient (GRAD-3).
            dz = weights * (d_weights - (weights * d_weights).sum(axis=-1, keepdims=True))
            d_scores = dz * (g[b] / tau)
            dq[b, :, group] = d_scores @ k[b, :, lo:hi]
            dk[b, :, lo:hi] += d_scores.swapaxes(-1, -2) @ q[b, :, group]
            dv[b, :, lo:hi] += weights.swapaxes(-1, -2) @ d_out[b, :, group]
            # The table entry of (i, j) collects the gradient of every pair that reads it.
            per_head = index[None] + rel_bias.shape[1] * np.arange(H)[:, None, None]
            d_table += np.bincount(
                per_head.ravel(), weights=(dz / tau).ravel(), minlength=d_table.size
            )
            # z = a / τ, so ∂z/∂τ = −z / τ; only visible entries count.
            d_temperature[b] -= (dz * np.where(visible, z, 0.0)).sum() / tau
    grads = {"q": dq, "k": dk, "v": dv, "rel_bias": d_table.reshape(H, -1)}
    return grads, d_temperature

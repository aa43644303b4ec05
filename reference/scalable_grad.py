"""Vector-Jacobian products of the two branches in the second evaluation order (ORDER-1).

The same gradients as ``gradients.local_attention_vjp`` and ``global_attention_vjp``
(GRAD-1 .. GRAD-4), with the same validation and the same ``dtype`` baseline (GRAD-6),
accumulated one query block at a time over the block's key window: dq of a block is complete
when the block is done; dk, dv, the bias table and ∂/∂τ collect the contributions of every
block whose window holds them. No [T, T] array is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import validate
from .attention import Precision, masked_softmax, matmul, precision
from .config import AHAConfig
from .gradients import cotangent, recursive_sum, scatter_sum
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
    key_padding_mask: Any = None,
    d_out: Any = None,  # required; a default only so the mask before it can have one
    *,
    dtype: Any = np.float64,
    block: int | None = None,
) -> dict[str, np.ndarray]:
    """``local_attention_vjp`` over the band only, in query blocks: gradients for q, k, v,
    span_scale and rel_bias (GRAD-4); ``dtype`` as there (GRAD-6), ``block`` as in
    ``local_attention_blocked``.

    s receives gradient only through the temperature, none where the τmin clamp holds
    (GRAD-1, GRAD-2).
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    s = validate.span_scale(span_scale, q.shape[0])
    d_out = cotangent("d_out", d_out, q, "B, H, T, Dh")
    prec = precision(dtype)
    p = plan(s, q.shape[2], config)
    size = block_size(block, q.shape[1], q.shape[2], local=True)
    grads, d_temperature = _vjp_blocked(
        q, k, v, rel_bias, config, mask, d_out, prec, size, p.gain, p.temperature, p.reach
    )
    out = {name: g.astype(prec.storage) for name, g in grads.items()}
    out["span_scale"] = temperature_slope(s, config) * d_temperature.astype(np.float64)
    return out


def global_attention_vjp_blocked(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    d_out: Any = None,  # required; a default only so the mask before it can have one
    *,
    dtype: Any = np.float64,
    block: int | None = None,
) -> dict[str, np.ndarray]:
    """``global_attention_vjp`` in query blocks: gradients for q, k, v and rel_bias (GRAD-3,
    GRAD-4); ``dtype`` and ``block`` as in ``local_attention_vjp_blocked``."""
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    d_out = cotangent("d_out", d_out, q, "B, H, T, Dh")
    prec = precision(dtype)
    size = block_size(block, q.shape[1], q.shape[2], local=False)
    ones = np.ones(q.shape[0])  # GLOBAL-3: no gain and no temperature
    grads, _ = _vjp_blocked(q, k, v, rel_bias, config, mask, d_out, prec, size, ones, ones, None)
    return {name: g.astype(prec.storage) for name, g in grads.items()}


def _vjp_blocked(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    d_out: np.ndarray,
    prec: Precision,
    block: int,
    gain: np.ndarray,
    temperature: np.ndarray,
    reach: np.ndarray | None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backward of out = softmax_visible(Z) V, Z = (g·scale·QKᵀ + bias) / τ, block by block.

    Computes in ``prec.compute`` from operands in the storage dtype, as
    ``gradients.attend_vjp`` does, and stores each gradient in the storage dtype (PREC-2).
    """
    dt = prec.compute
    q, k, v, rel_bias, d_out = (prec.round(a) for a in (q, k, v, rel_bias, d_out))
    B, H, T, Dh = q.shape
    R = (rel_bias.shape[1] + 1) // 2
    g = (gain * config.softmax_scale(Dh)).astype(dt)
    tau = temperature.astype(dt)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    d_table = np.zeros(rel_bias.shape, dtype=dt)  # [H, 2R−1], in the compute dtype
    dz_z = np.zeros(B, dtype=dt)  # Σ dz·z over the visible pairs of each element
    for b in range(B):
        rho = None if reach is None else int(reach[b])
        for group in query_groups(np.arange(T), block, banded=reach is not None):
            lo, hi = key_window(group.start, group.stop - 1, T, rho, config.causal)
            pos = np.arange(group.start, group.stop)
            index = window_bias_index(pos, lo, hi, R)
            z = window_logits(q[b, :, group], k[b, :, lo:hi], rel_bias, index, g[b], tau[b])
            visible = window_visibility(
                pos, lo, hi, rho, config.causal, None if mask is None else mask[b]
            )
            weights = masked_softmax(z, visible)  # [H, n, W]
            d_weights = matmul(d_out[b, :, group], v[b, :, lo:hi].swapaxes(-1, -2))
            # Softmax backward; invisible entries and fully masked rows have weight 0, so
            # dz = 0 there and they pass no gradient (GRAD-3).
            dz = weights * (d_weights - (weights * d_weights).sum(axis=-1, keepdims=True))
            d_scores = dz * (g[b] / tau[b])
            dq[b, :, group] = matmul(d_scores, k[b, :, lo:hi])
            # dk and dv sum over queries on from the previous blocks, as the dense VJP does.
            matmul(d_scores.swapaxes(-1, -2), q[b, :, group], into=dk[b, :, lo:hi])
            matmul(weights.swapaxes(-1, -2), d_out[b, :, group], into=dv[b, :, lo:hi])
            # The bias table and dL/dτ add their terms as the dense VJP does (GRAD-6): block
            # by block, and in a block key by key, for each key query by query.
            entry = np.arange(H)[:, None, None] * rel_bias.shape[1] + index.T  # [H, W, n]
            scatter_sum(d_table, entry, (dz / tau[b]).swapaxes(1, 2))
            terms = (dz * np.where(visible, z, 0.0)).transpose(2, 0, 1)  # [W, H, n]
            dz_z[b] = recursive_sum(terms.ravel(), start=dz_z[b])
    grads = {"q": dq, "k": dk, "v": dv, "rel_bias": d_table}
    return {name: prec.round(a) for name, a in grads.items()}, -dz_z / tau

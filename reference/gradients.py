"""Vector-Jacobian products of the two branches, by hand (GRAD-1 .. GRAD-3).

Checked against central finite differences in float64 by tests/test_gradients.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import validate
from .attention import (
    Precision,
    bias_index,
    logits,
    masked_softmax,
    matmul,
    precision,
    visibility,
)
from .config import AHAConfig
from .errors import ShapeError
from .plan import _plan, temperature_slope


def local_attention_vjp(
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
) -> dict[str, np.ndarray]:
    """Gradients of <d_out, local_attention(...)> for q, k, v, span_scale and rel_bias (GRAD-4).

    The window, reach and gain are piecewise constant in s and pass no gradient (GRAD-1);
    s receives gradient only through the temperature, and none where the τmin clamp holds,
    a tie included (GRAD-2). ``dtype`` other than float64 gives the low-precision baseline of
    the gradients (GRAD-6); span_scale's gradient is binary64 values, as s is (PREC-4).
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    s = validate.span_scale(span_scale, q.shape[0])
    d_out = cotangent("d_out", d_out, q, "B, H, T, Dh")
    prec = precision(dtype)
    p = _plan(s, q.shape[2], config)
    visible = visibility(q.shape[2], config.causal, mask, p.reach)
    grads, d_temperature = attend_vjp(
        q,
        k,
        v,
        rel_bias,
        visible,
        config.softmax_scale(q.shape[-1]),
        p.gain,
        p.temperature,
        d_out,
        prec,
    )
    out = {name: g.astype(prec.storage) for name, g in grads.items()}
    out["span_scale"] = temperature_slope(s, config) * d_temperature.astype(np.float64)
    return out


def global_attention_vjp(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    d_out: Any = None,  # required; a default only so the mask before it can have one
    *,
    dtype: Any = np.float64,
) -> dict[str, np.ndarray]:
    """Gradients of <d_out, global_attention(...)> for q, k, v and rel_bias (GRAD-3, GRAD-4)."""
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    d_out = cotangent("d_out", d_out, q, "B, H, T, Dh")
    prec = precision(dtype)
    ones = np.ones(q.shape[0])
    visible = visibility(q.shape[2], config.causal, mask, reach=None)
    grads, _ = attend_vjp(
        q, k, v, rel_bias, visible, config.softmax_scale(q.shape[-1]), ones, ones, d_out, prec
    )
    return {name: g.astype(prec.storage) for name, g in grads.items()}


def cotangent(name: str, d: Any, like: np.ndarray, axes: str) -> np.ndarray:
    """A cotangent has the shape of the output it belongs to and finite values (GRAD-4); any
    float dtype, since it is rounded to the dtype under test like every operand."""
    if d is None:
        raise ShapeError(f"{name} is required: the cotangent [{axes}] of the output")
    arr = validate.float_array(name, d, axes)
    if arr.shape != like.shape:
        raise ShapeError(f"{name} must have the shape of the output {like.shape}, got {arr.shape}")
    return arr


def recursive_sum(terms: np.ndarray, start: Any = 0) -> np.ndarray:
    """start + terms[0] + terms[1] + … over the first axis, one term at a time in the dtype of
    ``terms``: how the reference sums a gradient over positions (GRAD-6)."""
    first = np.asarray(start, dtype=terms.dtype) + terms[:1]
    return np.add.accumulate(np.concatenate([first, terms[1:]]), axis=0)[-1]


def scatter_sum(table: np.ndarray, entry: np.ndarray, terms: np.ndarray) -> None:
    """table.flat[entry[n]] += terms[n] for n = 0, 1, … in C order, one term at a time in the
    table's dtype (GRAD-6); ``table`` is C-contiguous and updated in place."""
    np.add.at(table.reshape(-1), np.ravel(entry), np.ravel(terms))


def attend_vjp(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    visible: np.ndarray,
    scale: float,
    gain: np.ndarray,
    temperature: np.ndarray,
    d_out: np.ndarray,
    prec: Precision,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backward of out = softmax_visible(Z) V with Z = (g·scale·QKᵀ + bias) / τ (GRAD-3).

    Computes in ``prec.compute`` from operands in the storage dtype and stores each gradient
    in the storage dtype (PREC-2); returns them in the compute dtype, with dL/dτ [B].
    """
    dt = prec.compute
    q, k, v, rel_bias, d_out = (prec.round(a) for a in (q, k, v, rel_bias, d_out))
    H, T = q.shape[1:3]
    z = logits(q, k, rel_bias, scale, gain, temperature, dt)  # [B, H, T, T]
    weights = masked_softmax(z, visible)

    d_weights = matmul(d_out, v.swapaxes(-1, -2))  # [B, H, T, T]
    # Softmax backward; invisible entries and fully masked rows have weight 0, so dz = 0 there
    # and they pass no gradient (GRAD-3).
    dz = weights * (d_weights - (weights * d_weights).sum(axis=-1, keepdims=True))
    tau = temperature.astype(dt)[:, None, None, None]
    d_scores = dz * ((gain * scale).astype(dt)[:, None, None, None] / tau)
    # The table entry of (i, j) collects the gradient of every (b, i, j) that reads it, and
    # dL/dτ every visible pair's (z = a / τ, so ∂z/∂τ = −z / τ). Both add their terms one at a
    # time in the compute dtype, key by key and for each key query by query (GRAD-6).
    width = rel_bias.shape[1]
    entry = np.arange(H)[:, None, None] * width + bias_index(T, (width + 1) // 2).T  # [H, j, i]
    d_table = np.zeros(rel_bias.shape, dtype=dt)  # [H, 2R-1]
    scatter_sum(d_table, np.broadcast_to(entry, dz.shape), (dz / tau).swapaxes(-1, -2))
    terms = (dz * np.where(visible, z, 0.0)).transpose(0, 3, 1, 2)  # [B, j, H, i]
    d_temperature = -recursive_sum(terms.reshape(len(tau), -1).T) / tau[:, 0, 0, 0]
    grads = {
        "q": matmul(d_scores, k),
        "k": matmul(d_scores.swapaxes(-1, -2), q),
        "v": matmul(weights.swapaxes(-1, -2), d_out),
        "rel_bias": d_table,
    }
    return {name: prec.round(g) for name, g in grads.items()}, d_temperature

"""The layer's vector-Jacobian product by hand (GRAD-5), read beside reference/layer.py.

The forward is replayed step by step, keeping what the backward needs; the backward walks the
same steps in reverse: output projection, local branch (with dτ to reach s), span predictor,
global branch, the two LayerNorms. Checked against central finite differences in float64 by
tests/test_gradients_layer.py.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import validate
from .attention import Precision, logits, masked_softmax, matmul, precision, visibility
from .config import AHAConfig
from .errors import ShapeError
from .gradients import attend_vjp, cotangent, recursive_sum
from .layer import Params, layer_norm, linear, merge_heads, span_predictor, split_heads
from .plan import Plan, _plan, temperature_slope


def hybrid_layer_vjp(
    x: Any,
    params: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    span_scale: Any = None,
    d_y: Any = None,  # required; a default only so the arguments before it can have one
    d_s: Any = None,
    *,
    dtype: Any = np.float64,
) -> dict[str, Any]:
    """Gradients of <d_y, y> + <d_s, s> for (y, s) = hybrid_layer(...) (GRAD-5).

    d_y [B, T, D] is y's cotangent, d_s [B] (binary64, or None for zero) that of s. Returns
    {"x": [B, T, D], "params": {name: array of that parameter's shape}} in the storage dtype,
    plus "span_scale" [B] binary64 when span_scale is given. When s is predicted, its
    gradient (d_s plus the temperature's path, GRAD-2) flows on through the sigmoid, the
    pooling and the global branch. ``dtype`` other than float64 gives the baseline (GRAD-6).
    """
    x, params, mask, config, heads = validate.layer_inputs(x, params, config, key_padding_mask)
    prec = precision(dtype)
    given = None if span_scale is None else validate.span_scale(span_scale, x.shape[0])
    d_y = prec.round(cotangent("d_y", d_y, x, "B, T, D"))
    d_s = np.zeros(x.shape[0]) if d_s is None else span_cotangent(d_s, x.shape[0])
    x = prec.round(x)
    P = {name: prec.round(a) for name, a in params.items()}
    grads: Params = {}

    # Forward, keeping each branch's tape (LAYER-2 .. LAYER-6).
    x_global = prec.round(layer_norm(x, P, "ln_global", config.ln_eps))
    ones = np.ones(x.shape[0])
    glob = _branch(x_global, P, "global", heads, prec, mask, config, None, Plan(*[ones] * 4))
    s = span_predictor(glob.out, P, mask, prec) if given is None else given
    x_local = prec.round(layer_norm(x, P, "ln_local", config.ln_eps))
    plan = _plan(s, x.shape[1], config)
    local = _branch(x_local, P, "local", heads, prec, mask, config, plan.reach, plan)

    # Backward: y = proj(concat(L, G)), L first (LAYER-6).
    d_cat = _linear_vjp(np.concatenate([local.out, glob.out], axis=-1), P, "proj", d_y, prec, grads)
    D = x.shape[-1]
    d_L, d_G = d_cat[..., :D], d_cat[..., D:]

    # Local branch; s receives gradient through τ only (GRAD-1, GRAD-2).
    d_x_local, d_temperature = _branch_vjp(local, P, "local", d_L, prec, grads)
    d_span = d_s + temperature_slope(s, config) * d_temperature.astype(np.float64)

    # Span predictor (LAYER-4): s = sigmoid(<mean of G over real positions, w> + b).
    if given is None:
        d_G = d_G + _span_predictor_vjp(glob.out, P, mask, s, d_span, prec, grads)

    d_x_global, _ = _branch_vjp(glob, P, "global", d_G, prec, grads)
    d_x = _layer_norm_vjp(x, P, "ln_local", config.ln_eps, d_x_local, prec, grads)
    d_x = d_x + _layer_norm_vjp(x, P, "ln_global", config.ln_eps, d_x_global, prec, grads)

    # A given span_scale cuts the predictor off: its parameters get zero (LAYER-4).
    result: dict[str, Any] = {
        "x": prec.round(d_x).astype(prec.storage),
        "params": {
            name: grads.get(name, np.zeros_like(P[name])).astype(prec.storage) for name in params
        },
    }
    if given is not None:
        result["span_scale"] = d_span
    return result


class _Tape(NamedTuple):
    """What one branch's backward needs from its forward."""

    x: np.ndarray  # the LayerNorm's output [B, T, D]
    q: np.ndarray  # [B, H, T, Dh], likewise k, v
    k: np.ndarray
    v: np.ndarray
    merged: np.ndarray  # attention output, heads merged [B, T, D]
    out: np.ndarray  # the branch's out projection: L or G [B, T, D]
    visible: np.ndarray
    scale: float
    plan: Plan


def _branch(
    x: np.ndarray,
    P: Params,
    name: str,
    heads: int,
    prec: Precision,
    mask: np.ndarray | None,
    config: AHAConfig,
    reach: np.ndarray | None,
    plan: Plan,
) -> _Tape:
    """Project to heads, attend, merge, project out (LAYER-3, LAYER-5), as layer._branch."""
    q, k, v = (split_heads(prec.round(linear(x, P, f"{name}.{p}")), heads) for p in "qkv")
    visible = visibility(x.shape[1], config.causal, mask, reach)
    scale = config.softmax_scale(q.shape[-1])
    z = logits(q, k, P[f"{name}.rel_bias"], scale, plan.gain, plan.temperature, prec.compute)
    merged = merge_heads(prec.round(matmul(masked_softmax(z, visible), v)))
    out = prec.round(linear(merged, P, f"{name}.out"))
    return _Tape(x, q, k, v, merged, out, visible, scale, plan)


def _branch_vjp(
    tape: _Tape, P: Params, name: str, d_out: np.ndarray, prec: Precision, grads: Params
) -> tuple[np.ndarray, np.ndarray]:
    """Backward of _branch: returns d(LayerNorm output) [B, T, D] and dL/dτ [B]."""
    heads = tape.q.shape[1]
    d_merged = _linear_vjp(tape.merged, P, f"{name}.out", d_out, prec, grads)
    attention, d_temperature = attend_vjp(
        tape.q,
        tape.k,
        tape.v,
        P[f"{name}.rel_bias"],
        tape.visible,
        tape.scale,
        tape.plan.gain,
        tape.plan.temperature,
        split_heads(d_merged, heads),
        prec,
    )
    grads[f"{name}.rel_bias"] = attention["rel_bias"]
    d_x = sum(
        _linear_vjp(tape.x, P, f"{name}.{p}", merge_heads(attention[p]), prec, grads) for p in "qkv"
    )
    return prec.round(np.asarray(d_x)), d_temperature


def _linear_vjp(
    x: np.ndarray, P: Params, name: str, d_y: np.ndarray, prec: Precision, grads: Params
) -> np.ndarray:
    """y = x·Wᵀ + b: dW = d_yᵀ·x and db = Σ d_y over every leading axis, both summed over the
    positions one at a time (GRAD-6); returns dx = d_y·W."""
    per_position = d_y.reshape(-1, d_y.shape[-1])  # [N, out]
    outer = per_position[:, :, None] * x.reshape(len(per_position), 1, -1)  # [N, out, in]
    grads[f"{name}.weight"] = prec.round(recursive_sum(outer))
    grads[f"{name}.bias"] = prec.round(recursive_sum(per_position))
    return prec.round(matmul(d_y, P[f"{name}.weight"]))


def _layer_norm_vjp(
    x: np.ndarray, P: Params, name: str, eps: float, d_y: np.ndarray, prec: Precision, grads: Params
) -> np.ndarray:
    """Backward of LayerNorm with the biased variance (LAYER-2); returns dx [B, T, D].

    With x̂ = (x − mean)/σ: dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ, the mean and the
    variance each passing their share back.
    """
    mean = x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + x.dtype.type(eps))
    x_hat = (x - mean) / sigma
    D = x.shape[-1]  # both sum over the positions one at a time (GRAD-6)
    grads[f"{name}.weight"] = prec.round(recursive_sum((d_y * x_hat).reshape(-1, D)))
    grads[f"{name}.bias"] = prec.round(recursive_sum(d_y.reshape(-1, D)))
    d_hat = d_y * P[f"{name}.weight"]
    centred = d_hat - d_hat.mean(axis=-1, keepdims=True)
    return prec.round((centred - x_hat * (d_hat * x_hat).mean(axis=-1, keepdims=True)) / sigma)


def _span_predictor_vjp(
    G: np.ndarray,
    P: Params,
    mask: np.ndarray | None,
    s: np.ndarray,
    d_s: np.ndarray,
    prec: Precision,
    grads: Params,
) -> np.ndarray:
    """Backward of s = sigmoid(<pooled G, w> + b) (LAYER-4); returns dG [B, T, D].

    Padding positions were not pooled, so they receive nothing; a sequence with no real
    position pooled to zero and passes nothing to G.
    """
    valid = np.ones(G.shape[:2], dtype=bool) if mask is None else mask  # [B, T]
    count = np.maximum(valid.sum(axis=1, keepdims=True), 1).astype(G.dtype)  # [B, 1]
    pooled = (G * valid[..., None]).sum(axis=1) / count  # [B, D]
    d_z = (d_s * s * (1.0 - s)).astype(G.dtype)  # sigmoid' = s(1 − s)  [B]
    grads["span.weight"] = prec.round(recursive_sum(d_z[:, None] * pooled)[None, :])
    grads["span.bias"] = prec.round(recursive_sum(d_z)[None])
    d_pooled = d_z[:, None] * P["span.weight"][0]  # [B, D]
    return prec.round(d_pooled[:, None, :] * (valid[..., None] / count[..., None]))


def span_cotangent(d_s: Any, batch: int) -> np.ndarray:
    """d_s: finite reals [B], taken as binary64 like s (GRAD-4, PREC-4)."""
    arr = validate.float_array("d_s", d_s, "B")
    if arr.shape != (batch,):
        raise ShapeError(f"d_s must have the shape of s ({batch},), got {arr.shape}")
    return arr.astype(np.float64)

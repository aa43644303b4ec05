"""The AHA layer: two LayerNorms, a global branch, a span predictor, a local branch and the
output projection (LAYER-1 .. LAYER-7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import validate
from .attention import Precision, _global, _local, exp, matmul, precision
from .config import AHAConfig

Params = dict[str, np.ndarray]


def hybrid_layer(
    x: Any,
    params: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    span_scale: Any = None,
    *,
    dtype: Any = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """y [B, T, D] and the span scales s [B] of AdaptiveHybridAttention (LAYER-1 .. LAYER-7).

    params holds exactly the names of ``param_shapes``; H is read from the rel_bias tables.
    s is predicted from the global branch unless ``span_scale`` is given (LAYER-4).
    """
    x, params, mask, config, heads = validate.layer_inputs(x, params, config, key_padding_mask)
    prec = precision(dtype)
    given = None if span_scale is None else validate.span_scale(span_scale, x.shape[0])
    with validate.binary64_range("x and params", prec.compute):  # ERR-9
        return _layer(x, params, config, mask, given, heads, prec)


def _layer(
    x: np.ndarray,
    params: Params,
    config: AHAConfig,
    mask: np.ndarray | None,
    given: np.ndarray | None,
    heads: int,
    prec: Precision,
) -> tuple[np.ndarray, np.ndarray]:
    """hybrid_layer on validated inputs."""
    x = prec.round(x)  # operands in the storage dtype: PREC-2
    P = {name: prec.round(a) for name, a in params.items()}

    x_global = prec.round(layer_norm(x, P, "ln_global", config.ln_eps))
    G = _branch(
        x_global,
        P,
        "global",
        heads,
        prec,
        lambda q, k, v, table: _global(q, k, v, table, config, mask, prec)[0],
    )
    s = span_predictor(G, P, mask, prec) if given is None else given
    x_local = prec.round(layer_norm(x, P, "ln_local", config.ln_eps))
    L = _branch(
        x_local,
        P,
        "local",
        heads,
        prec,
        lambda q, k, v, table: _local(q, k, v, s, table, config, mask, prec)[0],
    )
    y = linear(np.concatenate([L, G], axis=-1), P, "proj")  # LAYER-6: local first
    return y.astype(prec.storage), s.astype(np.float64)  # s as the plan reads it: PLAN-1


def layer_norm(x: np.ndarray, P: Params, name: str, eps: float) -> np.ndarray:
    """LayerNorm over D with the biased variance and eps inside the root (LAYER-2)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + x.dtype.type(eps)) * P[f"{name}.weight"] + P[f"{name}.bias"]


def linear(x: np.ndarray, P: Params, name: str) -> np.ndarray:
    """y = x·Wᵀ + b with W [out, in] (LAYER-1)."""
    return matmul(x, P[f"{name}.weight"].T) + P[f"{name}.bias"]


def split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """[B, T, D] → [B, H, T, Dh]; head h owns features h·Dh … (h+1)·Dh − 1 (LAYER-1)."""
    B, T, D = x.shape
    return x.reshape(B, T, heads, D // heads).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """[B, H, T, Dh] → [B, T, D], the inverse of split_heads."""
    B, H, T, Dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * Dh)


def span_predictor(
    G: np.ndarray, P: Params, mask: np.ndarray | None, prec: Precision
) -> np.ndarray:
    """s_b = sigmoid(<mean of G_b over real positions, w_span> + b_span) [B] (LAYER-4).

    A sequence with no real position pools to zero, so its s is sigmoid(b_span).
    """
    valid = np.ones(G.shape[:2], dtype=bool) if mask is None else mask  # [B, T]
    count = valid.sum(axis=1, keepdims=True)  # [B, 1]
    pooled = (G * valid[..., None]).sum(axis=1) / np.maximum(count, 1).astype(G.dtype)  # [B, D]
    z = linear(pooled, P, "span")[:, 0]
    return prec.round(exp(-np.logaddexp(0.0, -z)))  # sigmoid that cannot overflow


def _branch(
    x: np.ndarray,
    P: Params,
    name: str,
    heads: int,
    prec: Precision,
    attend: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Project to heads, attend, merge, project out (LAYER-3, LAYER-5).

    Each operation's result is stored in the storage dtype (PREC-2).
    """
    q, k, v = (split_heads(prec.round(linear(x, P, f"{name}.{p}")), heads) for p in "qkv")
    out = merge_heads(attend(q, k, v, P[f"{name}.rel_bias"]).astype(prec.compute))
    return prec.round(linear(out, P, f"{name}.out"))

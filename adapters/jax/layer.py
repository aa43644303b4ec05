"""The AHA layer in JAX (LAYER-1 .. LAYER-7): one pure, jit-friendly function.

The span scale s is predicted on the device, but the plan must come from the reference's
host code in binary64 (PLAN-6). Without a ``plan``, ``jax.pure_callback`` brings s to the host
and the plan back inside the traced function, so the layer stays one function that jit and
grad accept. The adapter instead predicts s first (``span_scale``), plans on the host and
passes the plan in: then the predicted and the given s share one compiled layer.

What the compiled code would otherwise read from static shapes and config travels in
``Padding`` as data, so that the adapter's shape buckets (buckets.py) can serve many shapes
and dtypes with one compile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from aha.reference import AHAConfig

from .attention import HIGHEST, DevicePlan, global_attention, host_plan, local_attention

Params = Mapping[str, jax.Array]

# The storage dtypes a compiled layer can round its stores to, by code (PREC-2); 0 keeps the
# compute dtype.
ROUNDING = {np.dtype(jnp.float16): 1, np.dtype(jnp.bfloat16): 2}


class Padding(NamedTuple):
    """What the layer reads as data rather than from shapes and config (buckets.py)."""

    features: Any  # [D] 1 at the caller's features, 0 at padded ones: LayerNorm reads the 1s
    scale: Any  # the global branch's softmax scale for the caller's Dh (CFG-4)
    ln_eps: Any  # LayerNorm's eps (LAYER-2)
    rounding: Any  # int: the storage dtype stores round to (ROUNDING), 0 for none (PREC-2)


def hybrid_layer(
    x: Any,
    params: Params,
    config: AHAConfig,
    key_padding_mask: Any = None,
    span_scale: Any = None,
    plan: DevicePlan | None = None,
    padding: Padding | None = None,
    predict: Any = None,
) -> tuple[jax.Array, jax.Array]:
    """y [B, T, D] in x's dtype and the span scales s [B] used (LAYER-1 .. LAYER-7).

    params holds the names of ``aha.reference.param_shapes``; H is read from the rel_bias
    tables. For 16-bit x each operation computes in float32 and stores its result in x's
    dtype, as PREC-2 describes. s is predicted unless ``span_scale`` is given (LAYER-4); it is
    returned in the compute dtype, and its gradient flows through τ only (GRAD-2).

    ``plan`` is the host plan of s: without x64 the device holds a given s in float32 only,
    and the floor of PLAN-2 must see the binary64 value (PREC-4). Without it, the plan of s is
    computed on the host during the call. ``padding`` defaults to x's own shapes and dtype.
    ``predict``, a bool [B] beside a given span_scale, predicts s where it is True all the
    same: then one compiled VJP serves the given and the predicted s (vjp.py).
    """
    x, P, padding, storage = _prepare(x, params, config, padding)
    T, D = x.shape[1:]
    store = partial(_store, rounding=padding.rounding)
    G = _global_branch(x, P, config, key_padding_mask, padding, store)
    if span_scale is None:
        s = _span(G, P, key_padding_mask, store)
    else:
        s = jnp.asarray(span_scale).astype(x.dtype)
        if predict is not None:
            s = jnp.where(predict, _span(G, P, key_padding_mask, store), s)
    heads = P["local.rel_bias"].shape[0]
    plan = _plan_on_host(s, T, D // heads, config) if plan is None else plan
    x_local = store(_layer_norm(x, P, "ln_local", padding))
    L = _branch(
        x_local,
        P,
        "local",
        store,
        lambda q, k, v, table: local_attention(q, k, v, s, table, plan, config, key_padding_mask),
    )
    y = _linear(jnp.concatenate([L, G], axis=-1), P, "proj")  # LAYER-6: local first
    return y.astype(storage), s


def span_scale(
    x: Any,
    params: Params,
    config: AHAConfig,
    key_padding_mask: Any = None,
    padding: Padding | None = None,
) -> jax.Array:
    """The span scales s [B] the layer predicts (LAYER-4): its global branch, pooled."""
    x, P, padding, _ = _prepare(x, params, config, padding)
    store = partial(_store, rounding=padding.rounding)
    G = _global_branch(x, P, config, key_padding_mask, padding, store)
    return _span(G, P, key_padding_mask, store)


def _prepare(
    x: Any, params: Params, config: AHAConfig, padding: Padding | None
) -> tuple[jax.Array, dict[str, jax.Array], Padding, Any]:
    """x and the parameters in the compute dtype, the padding, and x's storage dtype."""
    x = jnp.asarray(x)
    storage, dt = x.dtype, jnp.promote_types(x.dtype, jnp.float32)
    P = {name: jnp.asarray(a).astype(dt) for name, a in params.items()}
    if padding is None:
        D, heads = x.shape[2], P["global.rel_bias"].shape[0]
        padding = Padding(
            jnp.ones(D, dt),
            config.softmax_scale(D // heads),
            config.ln_eps,
            ROUNDING.get(np.dtype(storage), 0),
        )
    return x.astype(dt), P, padding, storage


def _global_branch(
    x: jax.Array,
    P: Params,
    config: AHAConfig,
    mask: Any,
    padding: Padding,
    store: Callable[[jax.Array], jax.Array],
) -> jax.Array:
    """G [B, T, D]: the global branch of LayerNorm(x) (LAYER-3, GLOBAL-1 .. GLOBAL-4)."""
    scale = jnp.asarray(padding.scale, x.dtype)
    return _branch(
        store(_layer_norm(x, P, "ln_global", padding)),
        P,
        "global",
        store,
        lambda q, k, v, table: global_attention(q, k, v, table, config, mask, scale),
    )


def _store(a: jax.Array, rounding: Any) -> jax.Array:
    """a rounded to the storage dtype ``rounding`` names and kept in a's dtype (PREC-2).

    The code is data, so one compiled layer serves every 16-bit storage dtype; the gradient
    of each rounding is the cotangent rounded the same way, as jax's own casts give it.
    """
    rounding = jnp.asarray(rounding)
    to_half, to_bfloat = (a.astype(t).astype(a.dtype) for t in (jnp.float16, jnp.bfloat16))
    return jnp.select([rounding == 1, rounding == 2], [to_half, to_bfloat], a)


def _plan_on_host(s: jax.Array, seq_len: int, head_dim: int, config: AHAConfig) -> DevicePlan:
    """The reference plan of s, computed on the host during the traced call (PLAN-6).

    The plan is piecewise constant in s (GRAD-1), so the callback sees stop_gradient(s);
    GRAD-2's path through τ is added by local_attention.
    """
    shapes = DevicePlan(
        jax.ShapeDtypeStruct(s.shape, jnp.int32), *[jax.ShapeDtypeStruct(s.shape, s.dtype)] * 3
    )
    fn = partial(host_plan, seq_len=seq_len, head_dim=head_dim, config=config, dtype=s.dtype)
    return jax.pure_callback(fn, shapes, jax.lax.stop_gradient(s))


def _layer_norm(x: jax.Array, P: Params, name: str, padding: Padding) -> jax.Array:
    """LayerNorm over the caller's D features with the biased variance and eps inside the
    root (LAYER-2); padded features carry weight and bias 0, so they stay 0."""
    features = jnp.asarray(padding.features, x.dtype)
    count = features.sum()
    mean = (x * features).sum(axis=-1, keepdims=True) / count
    var = (((x - mean) * features) ** 2).sum(axis=-1, keepdims=True) / count
    eps = jnp.asarray(padding.ln_eps, x.dtype)
    return (x - mean) / jnp.sqrt(var + eps) * P[f"{name}.weight"] + P[f"{name}.bias"]


def _linear(x: jax.Array, P: Params, name: str) -> jax.Array:
    """y = x·Wᵀ + b with W [out, in] (LAYER-1)."""
    return (
        jnp.einsum("...i,oi->...o", x, P[f"{name}.weight"], precision=HIGHEST) + P[f"{name}.bias"]
    )


def _span(G: jax.Array, P: Params, mask: Any, store: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """s_b = sigmoid(<mean of G_b over real positions, w_span> + b_span) [B] (LAYER-4)."""
    real = jnp.ones(G.shape[:2], G.dtype) if mask is None else jnp.asarray(mask).astype(G.dtype)
    count = jnp.maximum(real.sum(axis=1, keepdims=True), 1.0)  # no real position pools to 0
    pooled = (G * real[..., None]).sum(axis=1) / count  # [B, D]
    return store(jax.nn.sigmoid(_linear(pooled, P, "span")[:, 0]))


def _branch(
    x: jax.Array,
    P: Params,
    name: str,
    store: Callable[[jax.Array], jax.Array],
    attend: Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array],
) -> jax.Array:
    """Project to heads, attend, merge, project out (LAYER-3, LAYER-5).

    H is read from the branch's rel_bias table; head h owns the contiguous features
    h·Dh … (h + 1)·Dh − 1 (LAYER-1).
    """
    B, T, D = x.shape
    table = P[f"{name}.rel_bias"]
    split = (B, T, table.shape[0], D // table.shape[0])
    q, k, v = (
        store(_linear(x, P, f"{name}.{p}")).reshape(split).transpose(0, 2, 1, 3) for p in "qkv"
    )
    out = store(attend(q, k, v, table)).transpose(0, 2, 1, 3).reshape(B, T, D)
    return store(_linear(out, P, f"{name}.out"))

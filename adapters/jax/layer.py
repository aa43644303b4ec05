"""The AHA layer in JAX (LAYER-1 .. LAYER-7): one pure, jit-friendly function.

The span scale s is predicted on the device, but the plan must come from the reference's
host code in binary64 (PLAN-6). ``jax.pure_callback`` brings s to the host and the plan back
inside the traced function, so the layer stays one function that jit and grad accept, rather
than a global half, a host step and a local half that every caller must sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from aha.reference import AHAConfig

from .attention import HIGHEST, DevicePlan, global_attention, host_plan, local_attention

Params = Mapping[str, jax.Array]


def hybrid_layer(
    x: Any,
    params: Params,
    config: AHAConfig,
    key_padding_mask: Any = None,
    span_scale: Any = None,
    plan: DevicePlan | None = None,
) -> tuple[jax.Array, jax.Array]:
    """y [B, T, D] in x's dtype and the span scales s [B] used (LAYER-1 .. LAYER-7).

    params holds the names of ``aha.reference.param_shapes``; H is read from the rel_bias
    tables. For 16-bit x each operation computes in float32 and stores its result in x's
    dtype, as PREC-2 describes. s is predicted unless ``span_scale`` is given (LAYER-4); it is
    returned in the compute dtype, and its gradient flows through τ only (GRAD-2).

    ``plan`` is the host plan of a given span_scale: without x64 the device holds s in
    float32 only, and the floor of PLAN-2 must see the binary64 value (PREC-4). Without it,
    the plan of s is computed on the host during the call.
    """
    x = jnp.asarray(x)
    storage, dt = x.dtype, jnp.promote_types(x.dtype, jnp.float32)
    T, D = x.shape[1:]
    P = {name: jnp.asarray(a).astype(dt) for name, a in params.items()}
    x, mask = x.astype(dt), key_padding_mask

    def store(a: jax.Array) -> jax.Array:
        return a.astype(storage).astype(dt)

    x_global = store(_layer_norm(x, P, "ln_global", config.ln_eps))
    G = _branch(
        x_global,
        P,
        "global",
        store,
        lambda q, k, v, table: global_attention(q, k, v, table, config, mask),
    )
    s = _span(G, P, mask, store) if span_scale is None else jnp.asarray(span_scale).astype(dt)
    heads = P["local.rel_bias"].shape[0]
    plan = _plan_on_host(s, T, D // heads, config) if plan is None else plan
    x_local = store(_layer_norm(x, P, "ln_local", config.ln_eps))
    L = _branch(
        x_local,
        P,
        "local",
        store,
        lambda q, k, v, table: local_attention(q, k, v, s, table, plan, config, mask),
    )
    y = _linear(jnp.concatenate([L, G], axis=-1), P, "proj")  # LAYER-6: local first
    return y.astype(storage), s


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


def _layer_norm(x: jax.Array, P: Params, name: str, eps: float) -> jax.Array:
    """LayerNorm over D with the biased variance and eps inside the root (LAYER-2)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
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

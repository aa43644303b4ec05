"""Vector-Jacobian products of the jax adapter: ``jax.vjp`` of its own pure functions, under
jit (GRAD-1 .. GRAD-5).

The plan stays the host's (PLAN-6); s carries only τ's slope (GRAD-2), which the forward
functions already build with stop_gradient. Each VJP is one jitted function of the inputs and
the cotangents, so a backward costs one compiled call per shape.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from aha.reference import AHAConfig

from .attention import DevicePlan, global_attention, local_attention
from .layer import hybrid_layer

# A conformance run meets a new shape in nearly every call, and XLA's CPU backend spends
# seconds optimising a backward that then runs in milliseconds: the cheap pipeline halves the
# compile (6.7 s → 3.4 s for a small layer VJP) and keeps a call inside the harness's limit.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
jit = partial(jax.jit, static_argnames="config", compiler_options=FAST_COMPILE)


@jit
def local_vjp(
    q: Any,
    k: Any,
    v: Any,
    s: Any,
    rel_bias: Any,
    plan: DevicePlan,
    config: AHAConfig,
    mask: Any,
    d_out: Any,
) -> tuple[jax.Array, ...]:
    """(dq, dk, dv, ds, d rel_bias) of <d_out, local_attention(...)>."""

    def forward(q: Any, k: Any, v: Any, s: Any, table: Any) -> jax.Array:
        return local_attention(q, k, v, s, table, plan, config, mask)

    out, pullback = jax.vjp(forward, q, k, v, s, rel_bias)
    return tuple(pullback(jnp.asarray(d_out).astype(out.dtype)))


@jit
def global_vjp(
    q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, mask: Any, d_out: Any
) -> tuple[jax.Array, ...]:
    """(dq, dk, dv, d rel_bias) of <d_out, global_attention(...)>."""

    def forward(q: Any, k: Any, v: Any, table: Any) -> jax.Array:
        return global_attention(q, k, v, table, config, mask)

    out, pullback = jax.vjp(forward, q, k, v, rel_bias)
    return tuple(pullback(jnp.asarray(d_out).astype(out.dtype)))


@jit
def layer_vjp(
    x: Any,
    params: dict[str, Any],
    config: AHAConfig,
    mask: Any,
    span_scale: Any,
    plan: DevicePlan | None,
    d_y: Any,
    d_s: Any,
) -> tuple[Any, ...]:
    """(dx, {name: d param}, d span_scale or None) of <d_y, y> + <d_s, s> (GRAD-5)."""
    if span_scale is None:

        def predicted(x: Any, params: dict[str, Any]) -> tuple[jax.Array, jax.Array]:
            return hybrid_layer(x, params, config, mask, None, plan)

        (y, s), pullback = jax.vjp(predicted, x, params)
        return (*pullback(_cotangents(y, s, d_y, d_s)), None)

    def given(x: Any, params: dict[str, Any], span: Any) -> tuple[jax.Array, jax.Array]:
        return hybrid_layer(x, params, config, mask, span, plan)

    (y, s), pullback = jax.vjp(given, x, params, span_scale)
    return tuple(pullback(_cotangents(y, s, d_y, d_s)))


@jit
def predicted_span(x: Any, params: dict[str, Any], config: AHAConfig, mask: Any) -> jax.Array:
    """s of the layer's forward (LAYER-4), whose host plan the VJP then holds fixed (GRAD-1)."""
    return hybrid_layer(x, params, config, mask)[1]


def _cotangents(y: jax.Array, s: jax.Array, d_y: Any, d_s: Any) -> tuple[jax.Array, jax.Array]:
    """The cotangents in the outputs' dtypes; an absent d_s is zero."""
    d_s = jnp.zeros_like(s) if d_s is None else jnp.asarray(d_s).astype(s.dtype)
    return jnp.asarray(d_y).astype(y.dtype), d_s


def to_numpy(grads: Any) -> Any:
    """Device arrays (nested in dicts) as NumPy arrays."""
    if isinstance(grads, dict):
        return {name: np.asarray(g) for name, g in grads.items()}
    return np.asarray(grads)

"""Vector-Jacobian products of the jax adapter: ``jax.vjp`` of its own pure functions, under
jit (GRAD-1 .. GRAD-5).

The plan stays the host's (PLAN-6); s carries only τ's slope (GRAD-2), which the forward
functions already build with stop_gradient. Each VJP is one jitted function of the inputs and
the cotangents, so a backward costs one compiled call per shape bucket (buckets.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from aha.reference import AHAConfig

from .attention import DevicePlan, global_attention, local_attention
from .layer import Padding, hybrid_layer

# XLA's CPU backend spends seconds optimising a small call that then runs in milliseconds: the
# cheap pipeline cuts the compile 2 to 4 times (0.66 s → 0.23 s for a small local branch,
# 6.7 s → 3.4 s for a small layer VJP) and runs a long call 1.5 times slower.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


class Compiled:
    """A function under jit twice, ``config`` static: the cheap pipeline for small shape
    buckets, XLA's full optimisation for long ones (buckets.Bucket.small)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.cheap = jax.jit(fn, static_argnames="config", compiler_options=FAST_COMPILE)
        self.full = jax.jit(fn, static_argnames="config")

    def __call__(self, small: bool) -> Any:
        return self.cheap if small else self.full

    def cache_size(self) -> int:
        """Compiled versions held: one per bucket, dtype family and static config."""
        return sum(f._cache_size() for f in (self.cheap, self.full))  # type: ignore[attr-defined]


def _local_vjp(
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


def _global_vjp(
    q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, mask: Any, scale: Any, d_out: Any
) -> tuple[jax.Array, ...]:
    """(dq, dk, dv, d rel_bias) of <d_out, global_attention(...)>."""

    def forward(q: Any, k: Any, v: Any, table: Any) -> jax.Array:
        return global_attention(q, k, v, table, config, mask, scale)

    out, pullback = jax.vjp(forward, q, k, v, rel_bias)
    return tuple(pullback(jnp.asarray(d_out).astype(out.dtype)))


def _layer_vjp(
    x: Any,
    params: dict[str, Any],
    config: AHAConfig,
    mask: Any,
    span_scale: Any,
    predict: Any,
    plan: DevicePlan,
    padding: Padding,
    d_y: Any,
    d_s: Any,
) -> tuple[Any, ...]:
    """(dx, {name: d param}, d span_scale) of <d_y, y> + <d_s, s> (GRAD-5). s is predicted
    where the bool [B] ``predict`` is True, its plan held fixed (GRAD-1), and its gradient
    reaches x and the parameters through the prediction; elsewhere s is span_scale's."""

    def layer(x: Any, params: dict[str, Any], span: Any) -> tuple[jax.Array, jax.Array]:
        return hybrid_layer(x, params, config, mask, span, plan, padding, predict)

    (y, s), pullback = jax.vjp(layer, x, params, span_scale)
    return tuple(pullback(_cotangents(y, s, d_y, d_s)))


def _cotangents(y: jax.Array, s: jax.Array, d_y: Any, d_s: Any) -> tuple[jax.Array, jax.Array]:
    """The cotangents in the outputs' dtypes."""
    return jnp.asarray(d_y).astype(y.dtype), jnp.asarray(d_s).astype(s.dtype)


local_vjp = Compiled(_local_vjp)
global_vjp = Compiled(_global_vjp)
layer_vjp = Compiled(_layer_vjp)


def to_numpy(grads: Any) -> Any:
    """Device arrays (nested in dicts) as NumPy arrays."""
    if isinstance(grads, dict):
        return {name: np.asarray(g) for name, g in grads.items()}
    return np.asarray(grads)

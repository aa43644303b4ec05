"""The two attention branches in JAX (LOCAL-1 .. LOCAL-6, GLOBAL-1 .. GLOBAL-4, GRAD-1, GRAD-2).

Pure, jit-friendly functions: ``config`` and every shape are static; the per-batch plan
(reach, gain·scale, temperature) is data, so a new span scale never retraces. The local branch
is blockwise and holds O(B·H·T·P) scores with P = min(W, R, T); only the global branch, which
sees every key, is dense. Values (finiteness, span range) are checked where arrays enter from
the host (the adapter calls aha.reference.validate); under jit only shapes and dtypes are
known, and those are checked here at trace time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from aha.reference import AHAConfig, temperature_slope, validate
from aha.reference import plan as reference_plan
from aha.reference.attention import bias_entry, bias_index

# The default matmul precision may drop float32 operands to TF32 or bfloat16 on accelerators,
# which is far outside PREC-3; HIGHEST keeps float32 a float32 product.
HIGHEST = jax.lax.Precision.HIGHEST


class DevicePlan(NamedTuple):
    """The host plan of the local branch as device data, each [B] (PLAN-6, GRAD-2)."""

    reach: Any  # ρ_b, int32
    qk_scale: Any  # g_b · scale: one binary64 product on the host, then rounded (LOCAL-2)
    temperature: Any  # τ_b
    temp_slope: Any  # ∂τ_b/∂s_b: ±α where the τmin clamp is inactive, 0 where it holds (GRAD-2)


def host_plan(
    span_scale: Any, seq_len: int, head_dim: int, config: AHAConfig, dtype: Any
) -> DevicePlan:
    """The reference plan (binary64, host-side) as NumPy arrays of ``dtype`` (PLAN-6, GRAD-2).

    Nothing of the plan is re-derived on the device: reach, gain and temperature come from
    aha.reference.plan, the slope of τ in s from aha.reference.temperature_slope.
    """
    p = reference_plan(span_scale, seq_len, config)
    return DevicePlan(
        p.reach.astype(np.int32),
        (p.gain * config.softmax_scale(head_dim)).astype(dtype),
        p.temperature.astype(dtype),
        temperature_slope(span_scale, config).astype(dtype),
    )


def local_attention(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    plan: DevicePlan,
    config: AHAConfig,
    key_padding_mask: Any = None,
) -> jax.Array:
    """Local branch, blockwise (LOCAL-1 .. LOCAL-6, GRAD-1, GRAD-2).

    q, k, v [B, H, T, Dh]; span_scale [B] carries only the gradient of τ (its value is in
    ``plan``, from ``host_plan``); rel_bias [H, 2R-1]; key_padding_mask bool [B, T] or None.
    Returns out [B, H, T, Dh] in q's dtype; 16-bit inputs compute in float32.

    Layout: query blocks of P = min(W, R, T) rows. A visible key is within P − 1 of its query
    (PLAN-3), so query block m needs only key blocks m − 1, m, m + 1 (m − 1, m when causal): a
    key window of static size 3P (2P), inside which each element's own reach masks.
    """
    validate.attention_shapes(q, k, v, rel_bias, config)  # at trace time: ERR-3 .. ERR-5
    B, H, T, Dh = q.shape
    storage, dt = q.dtype, jnp.promote_types(q.dtype, jnp.float32)
    q, k, v, rel_bias = (jnp.asarray(a).astype(dt) for a in (q, k, v, rel_bias))
    n = min(config.window, config.max_rel_dist, T)  # P: the static bound on every reach
    blocks = -(-T // n)
    side = 0 if n == 1 or blocks == 1 else 1  # neighbour blocks that can hold a visible key
    left, right = side, (0 if config.causal else side)

    qb = jnp.pad(q, ((0, 0), (0, 0), (0, blocks * n - T), (0, 0))).reshape(B, H, blocks, n, Dh)
    kw, vw = (_key_windows(a, n, blocks, left, right) for a in (k, v))  # [B, H, blocks, Lk, Dh]
    real = jnp.ones((B, T), bool) if key_padding_mask is None else jnp.asarray(key_padding_mask)
    # Windows pad with False, so keys outside [0, T) are invisible like padding (LOCAL-1).
    real = _key_windows(real[..., None], n, blocks, left, right)[..., 0]  # [B, blocks, Lk]

    # i − j for row a of a block and entry e of its window; the same for every block.
    offset = np.arange(n)[:, None] - (np.arange((left + 1 + right) * n)[None, :] - left * n)
    R = config.max_rel_dist
    bias = rel_bias[:, bias_entry(offset, R)]  # [H, n, Lk]; i − j: LOCAL-2
    reach = jnp.asarray(plan.reach)[:, None, None, None]
    visible = (np.abs(offset) < reach) & real[:, :, None, :]  # strict <: LOCAL-1
    if config.causal:
        visible = visible & (offset >= 0)  # CAUSAL-1
    # GRAD-2: τ has the host value; s − stop_gradient(s) = 0 adds only ∂τ/∂s to the gradient.
    s = jnp.asarray(span_scale).astype(dt)
    tau = plan.temperature + plan.temp_slope * (s - jax.lax.stop_gradient(s))
    out = _attend(
        qb,
        kw,
        vw,
        bias[None, :, None],
        visible[:, None],
        _per_batch(plan.qk_scale, dt, 5),
        _per_batch(tau, dt, 5),
    )
    return out.reshape(B, H, blocks * n, Dh)[:, :, :T].astype(storage)


def global_attention(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    scale: Any = None,
) -> jax.Array:
    """Global branch, dense [B, H, T, T] (GLOBAL-1 .. GLOBAL-4).

    Same shapes as ``local_attention``, without span_scale and plan. ``scale``: the softmax
    scale as data (the adapter's shape buckets pad Dh); None takes config's for q's Dh (CFG-4).
    """
    validate.attention_shapes(q, k, v, rel_bias, config)  # at trace time: ERR-3 .. ERR-5
    T, Dh = q.shape[2:]
    storage, dt = q.dtype, jnp.promote_types(q.dtype, jnp.float32)
    q, k, v, rel_bias = (jnp.asarray(a).astype(dt) for a in (q, k, v, rel_bias))
    bias = rel_bias[:, bias_index(T, config.max_rel_dist)]  # [H, T, T], clamped: GLOBAL-2
    visible = jnp.ones((1, 1, T, T), bool)
    if config.causal:
        visible = visible & np.tril(np.ones((T, T), bool))  # CAUSAL-1
    if key_padding_mask is not None:
        visible = visible & jnp.asarray(key_padding_mask)[:, None, None, :]  # MASK-2
    # GLOBAL-3: no gain and no temperature.
    qk_scale = jnp.asarray(config.softmax_scale(Dh) if scale is None else scale, dt)
    out = _attend(q, k, v, bias, visible, qk_scale, jnp.ones((), dt))
    return out.astype(storage)


def masked_softmax(z: jax.Array, visible: Any) -> jax.Array:
    """Softmax over visible keys (last axis); rows with none are 0 (LOCAL-4, LOCAL-5, GLOBAL-4).

    The row maximum is subtracted, so logits of any size are safe. It carries no gradient (the
    softmax does not depend on it), and invisible entries are exactly 0 with a zero gradient
    (GRAD-3), not a large negative number's leftover.
    """
    z = jnp.where(visible, z, -jnp.inf)
    peak = jax.lax.stop_gradient(z.max(axis=-1, keepdims=True))
    e = jnp.exp(z - jnp.where(jnp.isfinite(peak), peak, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    return e / jnp.where(total > 0, total, 1.0)


def _attend(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    bias: Any,
    visible: Any,
    qk_scale: jax.Array,
    temperature: jax.Array,
) -> jax.Array:
    """softmax_visible((qk_scale·<q, k> + bias) / τ) · v over the last two axes (LOCAL-2 .. 4)."""
    scores = jnp.einsum("...qd,...kd->...qk", q, k, precision=HIGHEST)
    # The temperature divides the whole logit, bias included; the gain multiplies the dot
    # product only: LOCAL-3.
    weights = masked_softmax((qk_scale * scores + bias) / temperature, visible)
    return jnp.einsum("...qk,...kd->...qd", weights, v, precision=HIGHEST)


def _key_windows(x: jax.Array, n: int, blocks: int, left: int, right: int) -> jax.Array:
    """x [..., T, E] → [..., blocks, (left + 1 + right)·n, E]: for each query block m of n rows,
    the keys of blocks m − left … m + right, zero (False) beyond the sequence."""
    T, E = x.shape[-2:]
    pad = [(0, 0)] * (x.ndim - 2) + [(left * n, (blocks + right) * n - T), (0, 0)]
    padded = jnp.pad(x, pad).reshape(*x.shape[:-2], blocks + left + right, n, E)
    windows = [padded[..., o : o + blocks, :, :] for o in range(left + 1 + right)]
    return jnp.stack(windows, axis=-3).reshape(*x.shape[:-2], blocks, -1, E)


def _per_batch(a: Any, dt: Any, rank: int) -> jax.Array:
    """A [B] array as [B, 1, …] of ``rank`` axes in dtype dt, to scale per batch element."""
    a = jnp.asarray(a).astype(dt)
    return a.reshape(a.shape + (1,) * (rank - 1))

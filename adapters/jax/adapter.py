"""The ``jax`` adapter: NumPy in, the pure functions of this package under jit, NumPy out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from aha.adapters.base import CheckedAdapter
from aha.reference import AHAConfig

from . import buckets, vjp
from .attention import global_attention, host_plan, local_attention
from .layer import hybrid_layer, span_scale

# Arrays go to these as NumPy arrays: jit transfers them, where jnp.asarray would compile a
# staging function for each new shape (709 compiles in a default run).
_local = vjp.Compiled(local_attention)
_global = vjp.Compiled(global_attention)
_layer = vjp.Compiled(hybrid_layer)
_span = vjp.Compiled(span_scale)


@contextlib.contextmanager
def x64_for(dtype: Any) -> Iterator[None]:
    """float64 needs jax_enable_x64; switch it on for this call only, so importing the adapter
    leaves JAX's defaults (32-bit) unchanged for everyone else in the process."""
    if np.dtype(dtype) == np.float64:
        with jax.enable_x64(True):
            yield
    else:
        yield


def to_jax(a: Any) -> Any:
    """A NumPy array (bfloat16 as ml_dtypes.bfloat16, which JAX reads natively) on the
    device, or None."""
    return None if a is None else jax.device_put(a)


def compute_dtype(dtype: Any) -> np.dtype:
    """float32 for 16-bit storage, else the dtype itself (PREC-2)."""
    return np.promote_types(np.dtype(dtype), np.float32)


def attention_grads(
    b: buckets.Bucket, d_qkv: tuple[np.ndarray, ...], d_table: np.ndarray, dtype: np.dtype
) -> dict[str, np.ndarray]:
    """A bucketed VJP's gradients for the caller's q, k, v and rel_bias, in ``dtype``: each
    computed in float32 or float64 and rounded once (PREC-2, GRAD-4)."""
    found = {name: b.crop(g).astype(dtype) for name, g in zip("qkv", d_qkv, strict=True)}
    return found | {"rel_bias": b.fold(d_table).astype(dtype)}


class JaxAdapter(CheckedAdapter):
    """AHA in JAX: a blockwise local branch, a dense global branch, the plan from the reference."""

    name = "jax"
    version = jax.__version__
    capabilities = frozenset(
        {"local", "global", "layer", "causal", "key_padding"}
        | {"float64", "float32", "float16", "bfloat16"}
        | {"vjp"}
    )

    def local(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        s: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        dt, b = compute_dtype(q.dtype), buckets.bucket(q.shape, config)
        span = b.batch(s, 1.0)  # padded sequences get a plan of their own
        plan = host_plan(span, q.shape[2], q.shape[3], config, dt)  # the true T and Dh: PLAN-3
        with x64_for(dt):
            q2, k2, v2 = (b.heads(a.astype(dt)) for a in (q, k, v))
            table = b.bias(rel_bias.astype(dt))
            out = _local(b.small)(q2, k2, v2, span.astype(dt), table, plan, b.config, b.mask(mask))
        return b.crop(np.asarray(out)).astype(q.dtype)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        dt, b = compute_dtype(q.dtype), buckets.bucket(q.shape, config)
        scale = np.asarray(config.softmax_scale(q.shape[3]), dt)  # of the true Dh: CFG-4
        with x64_for(dt):
            q2, k2, v2 = (b.heads(a.astype(dt)) for a in (q, k, v))
            table = b.bias(rel_bias.astype(dt))
            out = _global(b.small)(q2, k2, v2, table, b.config, b.mask(mask), scale)
        return b.crop(np.asarray(out)).astype(q.dtype)

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        call = LayerCall(x, params, config, mask, s, heads)
        with x64_for(call.dtype):
            span = call.span.astype(call.dtype)  # predicted or given: one compiled layer
            y, _ = _layer(call.bucket.heads.small)(*call.inputs(), span, call.plan, call.padding)
        return call.bucket.crop(np.asarray(y)).astype(x.dtype), call.span_used()

    # VJPs: jax.vjp of the same functions, under jit (GRAD-4; adapters/jax/vjp.py)
    def local_vjp(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        s: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
        d_out: np.ndarray,
    ) -> dict[str, np.ndarray]:
        dt, b = compute_dtype(q.dtype), buckets.bucket(q.shape, config)
        span = b.batch(s, 1.0)
        plan = host_plan(span, q.shape[2], q.shape[3], config, dt)
        with x64_for(dt):
            q2, k2, v2, d2 = (b.heads(a.astype(dt)) for a in (q, k, v, d_out))
            table = b.bias(rel_bias.astype(dt))
            mask2, span2 = b.mask(mask), span.astype(dt)
            grads = vjp.local_vjp(b.small)(q2, k2, v2, span2, table, plan, b.config, mask2, d2)
            dq, dk, dv, ds, d_table = map(np.asarray, grads)
        found = attention_grads(b, (dq, dk, dv), d_table, q.dtype)
        return found | {"span_scale": ds[: q.shape[0]].astype(np.float64)}

    def global_vjp(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
        d_out: np.ndarray,
    ) -> dict[str, np.ndarray]:
        dt, b = compute_dtype(q.dtype), buckets.bucket(q.shape, config)
        scale = np.asarray(config.softmax_scale(q.shape[3]), dt)
        with x64_for(dt):
            q2, k2, v2, d2 = (b.heads(a.astype(dt)) for a in (q, k, v, d_out))
            table = b.bias(rel_bias.astype(dt))
            grads = vjp.global_vjp(b.small)(q2, k2, v2, table, b.config, b.mask(mask), scale, d2)
            dq, dk, dv, d_table = map(np.asarray, grads)
        return attention_grads(b, (dq, dk, dv), d_table, q.dtype)

    def layer_vjp(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
        d_y: np.ndarray,
        d_s: np.ndarray | None,
    ) -> dict[str, Any]:
        call = LayerCall(x, params, config, mask, s, heads)
        b = call.bucket
        d_s = np.zeros(x.shape[0]) if d_s is None else d_s
        with x64_for(call.dtype):
            dx, d_params, d_span = vjp.layer_vjp(b.heads.small)(
                *call.inputs(),
                call.span.astype(call.dtype),
                np.full(call.span.shape, s is None),  # predicted or given: one compiled VJP
                call.plan,
                call.padding,
                b.x(d_y.astype(call.dtype)),
                b.heads.batch(d_s, 0.0).astype(call.dtype),
            )
            grads = b.crop_params(vjp.to_numpy(d_params))
            found: dict[str, Any] = {
                "x": b.crop(np.asarray(dx)).astype(x.dtype),
                "params": {name: g.astype(params[name].dtype) for name, g in grads.items()},
            }
        if s is not None:
            found["span_scale"] = np.asarray(d_span)[: x.shape[0]].astype(np.float64)
        return found


class LayerCall:
    """One layer call in its bucket (buckets.LayerBucket): the padded inputs, and the plan of
    the given s or of the s the layer predicts, computed once on the host (PLAN-6).

    A predicted s is predicted first, by the layer's own global branch (layer.span_scale),
    and then given with its plan: the layer then computes that s again, the same function of
    the same inputs, and the predicted and the given s share one compiled layer. Its gradient
    still flows through the prediction (vjp.layer_vjp, where ``predict``), the plan held
    fixed (GRAD-1).
    """

    def __init__(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> None:
        self.dtype = dt = compute_dtype(x.dtype)
        self.bucket = b = buckets.layer_bucket(x.shape, heads, config)
        self.given, self.B = s, x.shape[0]
        self.x = b.x(x.astype(dt))
        self.params = {name: a.astype(dt) for name, a in b.params(params).items()}
        self.mask = b.heads.mask(mask)
        self.padding = b.padding(x.dtype, config)
        if s is None:
            with x64_for(dt):
                predict = _span(b.heads.small)
                predicted = predict(self.x, self.params, b.heads.config, self.mask, self.padding)
                self.span = np.asarray(predicted).astype(np.float64)
        else:
            self.span = b.heads.batch(s, 1.0)  # binary64 for the plan: PREC-4
        T, Dh = x.shape[1], x.shape[2] // heads
        self.plan = host_plan(self.span, T, Dh, config, dt)

    def inputs(self) -> tuple[Any, ...]:
        """x, params, the static config and the mask, as the jitted functions take them."""
        return self.x, self.params, self.bucket.heads.config, self.mask

    def span_used(self) -> np.ndarray:
        """s [B] as the layer returns it: the given one, or the prediction in binary64."""
        return self.span[: self.B] if self.given is None else self.given

"""The ``jax`` adapter: NumPy in, the pure functions of this package under jit, NumPy out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from aha.adapters.base import CheckedAdapter
from aha.reference import AHAConfig

from . import buckets, vjp
from .attention import DevicePlan, global_attention, host_plan, local_attention
from .layer import hybrid_layer

_local = jax.jit(local_attention, static_argnames="config")
_global = jax.jit(global_attention, static_argnames="config")
_layer = jax.jit(hybrid_layer, static_argnames="config")


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
    """A NumPy array (bfloat16 as ml_dtypes.bfloat16, which JAX reads natively) or None."""
    return None if a is None else jnp.asarray(a)


def compute_dtype(dtype: Any) -> np.dtype:
    """float32 for 16-bit storage, else the dtype itself (PREC-2)."""
    return np.promote_types(np.dtype(dtype), np.float32)


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
        dt = compute_dtype(q.dtype)
        plan = host_plan(s, q.shape[2], q.shape[3], config, dt)  # the true T and Dh: PLAN-3
        # Padded to shape buckets so one compiled kernel serves many shapes (buckets.py).
        b = buckets.pad(q, k, v, rel_bias, config, mask)
        batch = b.q.shape[0]
        plan = DevicePlan(
            *(
                buckets.pad_batch(a, batch, 0 if name == "temp_slope" else 1)
                for name, a in zip(DevicePlan._fields, plan, strict=True)
            )
        )
        span = buckets.pad_batch(s.astype(dt), batch, 1.0)
        with x64_for(q.dtype):
            arrays = map(to_jax, (b.q, b.k, b.v, span, b.rel_bias))
            out = np.asarray(_local(*arrays, plan, b.config, to_jax(b.mask)))
        return buckets.crop(out, b.shape)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        b = buckets.pad(q, k, v, rel_bias, config, mask)  # shape buckets (buckets.py)
        scale = np.asarray(config.softmax_scale(q.shape[-1]), compute_dtype(q.dtype))
        with x64_for(q.dtype):
            arrays = map(to_jax, (b.q, b.k, b.v, b.rel_bias))
            out = np.asarray(_global(*arrays, b.config, to_jax(b.mask), to_jax(scale)))
        return buckets.crop(out, b.shape)

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        T, D = x.shape[1:]
        dt = compute_dtype(x.dtype)
        # A given s keeps its binary64 value for the plan (PREC-4); see layer.hybrid_layer.
        plan = None if s is None else host_plan(s, T, D // heads, config, dt)
        with x64_for(x.dtype):
            y, s_used = _layer(
                to_jax(x),
                {name: to_jax(a) for name, a in params.items()},
                config,
                to_jax(mask),
                None if s is None else to_jax(s.astype(dt)),
                plan,
            )
            return np.asarray(y), (np.asarray(s_used, np.float64) if s is None else s)

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
        dt = compute_dtype(q.dtype)
        plan = host_plan(s, q.shape[2], q.shape[3], config, dt)
        with x64_for(q.dtype):
            arrays = map(to_jax, (q, k, v, s.astype(dt), rel_bias))
            grads = vjp.local_vjp(*arrays, plan, config, to_jax(mask), to_jax(d_out))
            dq, dk, dv, ds, d_table = map(np.asarray, grads)
        return {"q": dq, "k": dk, "v": dv, "rel_bias": d_table, "span_scale": ds.astype(np.float64)}

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
        with x64_for(q.dtype):
            arrays = map(to_jax, (q, k, v, rel_bias))
            grads = vjp.global_vjp(*arrays, config, to_jax(mask), to_jax(d_out))
            return dict(zip(("q", "k", "v", "rel_bias"), map(np.asarray, grads), strict=True))

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
        T, D = x.shape[1:]
        dt = compute_dtype(x.dtype)
        if s is None:
            # The plan of the predicted s, fixed before differentiating: it is piecewise
            # constant in s (GRAD-1), and a host callback inside jax.vjp under x64 was seen to
            # receive s in the wrong dtype.
            with x64_for(x.dtype):
                jx, jp = to_jax(x), {name: to_jax(a) for name, a in params.items()}
                s_used = np.asarray(vjp.predicted_span(jx, jp, config, to_jax(mask)), np.float64)
            plan = host_plan(s_used, T, D // heads, config, dt)
        else:
            plan = host_plan(s, T, D // heads, config, dt)
        with x64_for(x.dtype):
            dx, d_params, d_span = vjp.layer_vjp(
                to_jax(x),
                {name: to_jax(a) for name, a in params.items()},
                config,
                to_jax(mask),
                None if s is None else to_jax(s.astype(dt)),
                plan,
                to_jax(d_y),
                None if d_s is None else to_jax(d_s.astype(dt)),
            )
            found: dict[str, Any] = {"x": np.asarray(dx), "params": vjp.to_numpy(d_params)}
            if s is not None:
                found["span_scale"] = np.asarray(d_span).astype(np.float64)
        return found

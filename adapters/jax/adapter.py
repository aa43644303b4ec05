"""The ``jax`` adapter: NumPy in, the pure functions of this package under jit, NumPy out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from aha.reference import AHAConfig, validate

from .attention import global_attention, host_plan, local_attention
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


class JaxAdapter:
    """AHA in JAX: a blockwise local branch, a dense global branch, the plan from the reference."""

    name = "jax"
    version = jax.__version__
    capabilities = frozenset(
        {"local", "global", "layer", "causal", "key_padding"}
        | {"float64", "float32", "float16", "bfloat16"}
    )

    def local_attention(
        self,
        q: Any,
        k: Any,
        v: Any,
        span_scale: Any,
        rel_bias: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
    ) -> np.ndarray:
        q, k, v, rel_bias, mask, config = validate.attention_inputs(
            q, k, v, rel_bias, config, key_padding_mask
        )
        s = validate.span_scale(span_scale, q.shape[0])
        T, Dh = q.shape[2:]
        plan = host_plan(s, T, Dh, config, compute_dtype(q.dtype))
        with x64_for(q.dtype):
            out = _local(
                *map(to_jax, (q, k, v, s.astype(compute_dtype(q.dtype)), rel_bias)),
                plan,
                config,
                to_jax(mask),
            )
            return np.asarray(out)

    def global_attention(
        self, q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, key_padding_mask: Any = None
    ) -> np.ndarray:
        q, k, v, rel_bias, mask, config = validate.attention_inputs(
            q, k, v, rel_bias, config, key_padding_mask
        )
        with x64_for(q.dtype):
            return np.asarray(_global(*map(to_jax, (q, k, v, rel_bias)), config, to_jax(mask)))

    def hybrid_layer(
        self,
        x: Any,
        params: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
        span_scale: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        x, params, mask, config, heads = validate.layer_inputs(x, params, config, key_padding_mask)
        B, T, D = x.shape
        given = None if span_scale is None else validate.span_scale(span_scale, B)
        # A given s keeps its binary64 value for the plan (PREC-4); see layer.hybrid_layer.
        plan = (
            None
            if given is None
            else host_plan(given, T, D // heads, config, compute_dtype(x.dtype))
        )
        with x64_for(x.dtype):
            y, s = _layer(
                to_jax(x),
                {name: to_jax(a) for name, a in params.items()},
                config,
                to_jax(mask),
                None if given is None else to_jax(given.astype(compute_dtype(x.dtype))),
                plan,
            )
            return np.asarray(y), (np.asarray(s, np.float64) if given is None else given)

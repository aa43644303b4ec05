"""The ``jax-dpa`` peer adapter: ``jax.nn.dot_product_attention`` called as a third party would
call it for AHA (MAP-3), so the harness can report which clauses the framework meets.

It keeps every convention of the framework (a fully masked row is the mean of V; the softmax
runs in float32 whatever the input dtype) and declines what one call cannot express.
"""

from __future__ import annotations

import jax
import numpy as np

from aha.adapters.base import CheckedAdapter, uniform_plan
from aha.reference import AHAConfig
from aha.reference import plan as reference_plan
from aha.reference.attention import bias_index

from .adapter import to_jax, x64_for


class JaxDPAAdapter(CheckedAdapter):
    """One ``jax.nn.dot_product_attention`` call per branch: the reach as local_window_size,
    the relative bias (divided by τ) as bias, padding as mask, causality as is_causal, and
    g·scale/τ as the scalar scale."""

    name = "jax-dpa"
    version = jax.__version__
    capabilities = frozenset(
        {"local", "global", "causal", "key_padding", "float64", "float32", "float16", "bfloat16"}
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
        reach, gain, tau = uniform_plan(reference_plan(s, q.shape[2], config))
        window = (reach - 1, 0 if config.causal else reach - 1)
        scale = gain * config.softmax_scale(q.shape[-1]) / tau
        return _call(q, k, v, rel_bias, config, mask, scale, tau, window)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        return _call(q, k, v, rel_bias, config, mask, config.softmax_scale(q.shape[-1]), 1.0, None)


def _call(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    scale: float,
    tau: float,
    window: tuple[int, int] | None,
) -> np.ndarray:
    """dot_product_attention in its [B, T, H, Dh] layout; the bias table lookup is the
    reference's (i − j, clamped), divided by τ in the inputs' dtype (MAP-3)."""
    with x64_for(q.dtype):
        table = to_jax(rel_bias)[:, bias_index(q.shape[2], config.max_rel_dist)]
        query, key, value = (to_jax(a.transpose(0, 2, 1, 3)) for a in (q, k, v))
        out = jax.nn.dot_product_attention(
            query,
            key,
            value,
            bias=(table / tau)[None],
            mask=None if mask is None else to_jax(mask)[:, None, None],
            scale=scale,
            is_causal=config.causal,
            local_window_size=window,
        )
        return np.asarray(out).transpose(0, 2, 1, 3)

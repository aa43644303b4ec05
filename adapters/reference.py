"""The ``numpy`` adapter: the reference itself, as an adapter (spec/conformance.md).

It evaluates in the reference's second order (query blocks over key windows, ORDER-1), so it
runs at kernel-tier lengths without a [T, T] array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aha import reference as ref
from aha.reference import AHAConfig

from .base import CheckedAdapter


class ReferenceAdapter(CheckedAdapter):
    """Evaluates in float64 and rounds the result to the dtype of its inputs (gradients too)."""

    name = "numpy"
    version = ref.SPEC_VERSION
    capabilities = frozenset(
        {
            "plan",
            "local",
            "global",
            "layer",
            "causal",
            "key_padding",
            "float64",
            "float32",
            "float16",
            "bfloat16",
            "vjp",
            "config",
        }
    )

    def make_config(self, fields: dict[str, Any]) -> AHAConfig:
        """Its own configuration object is AHAConfig (spec/conformance.md, ERR-3)."""
        return AHAConfig.from_dict(fields)

    def plan(self, span_scale: Any, seq_len: int, config: AHAConfig) -> ref.Plan:
        return ref.plan(span_scale, seq_len, config)

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
        return ref.local_attention_blocked(q, k, v, s, rel_bias, config, mask).astype(q.dtype)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        return ref.global_attention_blocked(q, k, v, rel_bias, config, mask).astype(q.dtype)

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        y, s = ref.hybrid_layer_blocked(x, params, config, mask, s)
        return y.astype(x.dtype), s

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
        grads = ref.local_attention_vjp_blocked(q, k, v, s, rel_bias, config, mask, d_out)
        return _in_dtype_of(grads, q)

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
        grads = ref.global_attention_vjp_blocked(q, k, v, rel_bias, config, mask, d_out)
        return _in_dtype_of(grads, q)

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
        grads = ref.hybrid_layer_vjp(x, params, config, mask, s, d_y, d_s)
        out: dict[str, Any] = {"x": grads["x"].astype(x.dtype)}
        out["params"] = {n: g.astype(x.dtype) for n, g in grads["params"].items()}
        if "span_scale" in grads:
            out["span_scale"] = grads["span_scale"]
        return out


def _in_dtype_of(grads: dict[str, np.ndarray], like: np.ndarray) -> dict[str, np.ndarray]:
    """Array gradients in the dtype under test; span_scale's stays binary64 (GRAD-4)."""
    return {n: g if n == "span_scale" else g.astype(like.dtype) for n, g in grads.items()}

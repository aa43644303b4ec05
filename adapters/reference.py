"""The ``numpy`` adapter: the reference itself, as an adapter (spec/conformance.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aha import reference as ref
from aha.reference import AHAConfig

from .base import CheckedAdapter


class ReferenceAdapter(CheckedAdapter):
    """Evaluates in float64 and rounds the result to the dtype of its inputs."""

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
        }
    )

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
        return ref.local_attention(q, k, v, s, rel_bias, config, mask).astype(q.dtype)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        return ref.global_attention(q, k, v, rel_bias, config, mask).astype(q.dtype)

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        y, s = ref.hybrid_layer(x, params, config, mask, s)
        return y.astype(x.dtype), s

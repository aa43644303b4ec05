"""The ``numpy`` adapter: the reference itself, as an adapter (spec/conformance.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
from aha import reference as ref
from aha.reference import AHAConfig


class ReferenceAdapter:
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
        out = ref.local_attention(q, k, v, span_scale, rel_bias, config, key_padding_mask)
        return out.astype(np.asarray(q).dtype)

    def global_attention(
        self, q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, key_padding_mask: Any = None
    ) -> np.ndarray:
        out = ref.global_attention(q, k, v, rel_bias, config, key_padding_mask)
        return out.astype(np.asarray(q).dtype)

    def hybrid_layer(
        self,
        x: Any,
        params: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
        span_scale: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        y, s = ref.hybrid_layer(x, params, config, key_padding_mask, span_scale)
        return y.astype(np.asarray(x).dtype), s

"""The NumPy boundary every adapter shares (spec/conformance.md section 1; STYLE 11).

``CheckedAdapter`` runs the reference's checks once on the harness's arrays, then hands the
checked arrays to the subclass: ``local(q, k, v, s, rel_bias, config, mask)``,
``global_(q, k, v, rel_bias, config, mask)`` and ``layer(x, params, config, mask, s, heads)``,
with span scales as validated binary64 [B] (PLAN-1). A subclass implements what it claims.

The public methods (``local_attention``, ``global_attention``, ``hybrid_layer``, the VJPs)
are the adapter protocol, named by the operations table (conformance/operations.py); the
hooks ``local``, ``global_`` and ``layer`` are this class's subclass interface only: the
harness never calls them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aha.reference import AHAConfig, Plan, validate
from aha.reference.gradients import cotangent
from aha.reference.layer_vjp import span_cotangent


class CheckedAdapter:
    name: str
    capabilities: frozenset[str]

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
        return self.local(q, k, v, s, rel_bias, config, mask)

    def global_attention(
        self, q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, key_padding_mask: Any = None
    ) -> np.ndarray:
        q, k, v, rel_bias, mask, config = validate.attention_inputs(
            q, k, v, rel_bias, config, key_padding_mask
        )
        return self.global_(q, k, v, rel_bias, config, mask)

    def hybrid_layer(
        self,
        x: Any,
        params: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
        span_scale: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        x, params, mask, config, heads = validate.layer_inputs(x, params, config, key_padding_mask)
        s = None if span_scale is None else validate.span_scale(span_scale, x.shape[0])
        return self.layer(x, params, config, mask, s, heads)

    # --- VJPs (GRAD-4; owner H3a): the same checks, plus the cotangents' ---------------------
    def local_attention_vjp(
        self,
        q: Any,
        k: Any,
        v: Any,
        span_scale: Any,
        rel_bias: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
        d_out: Any = None,
    ) -> dict[str, np.ndarray]:
        q, k, v, rel_bias, mask, config = validate.attention_inputs(
            q, k, v, rel_bias, config, key_padding_mask
        )
        s = validate.span_scale(span_scale, q.shape[0])
        d_out = cotangent("d_out", d_out, q, "B, H, T, Dh")
        return self.local_vjp(q, k, v, s, rel_bias, config, mask, d_out)

    def global_attention_vjp(
        self,
        q: Any,
        k: Any,
        v: Any,
        rel_bias: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
        d_out: Any = None,
    ) -> dict[str, np.ndarray]:
        q, k, v, rel_bias, mask, config = validate.attention_inputs(
            q, k, v, rel_bias, config, key_padding_mask
        )
        d_out = cotangent("d_out", d_out, q, "B, H, T, Dh")
        return self.global_vjp(q, k, v, rel_bias, config, mask, d_out)

    def hybrid_layer_vjp(
        self,
        x: Any,
        params: Any,
        config: AHAConfig,
        key_padding_mask: Any = None,
        span_scale: Any = None,
        d_y: Any = None,
        d_s: Any = None,
    ) -> dict[str, Any]:
        x, params, mask, config, heads = validate.layer_inputs(x, params, config, key_padding_mask)
        s = None if span_scale is None else validate.span_scale(span_scale, x.shape[0])
        d_y = cotangent("d_y", d_y, x, "B, T, D")
        d_s = None if d_s is None else span_cotangent(d_s, x.shape[0])
        return self.layer_vjp(x, params, config, mask, s, heads, d_y, d_s)

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
        raise TypeError(f"{type(self).__name__} does not implement local_vjp()")

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
        raise TypeError(f"{type(self).__name__} does not implement global_vjp()")

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
        raise TypeError(f"{type(self).__name__} does not implement layer_vjp()")

    # --- end of VJPs ---

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
        raise TypeError(f"{type(self).__name__} does not implement local()")

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} does not implement global_()")

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        raise TypeError(f"{type(self).__name__} does not implement layer()")


def uniform_plan(p: Plan) -> tuple[int, float, float]:
    """(reach, gain, temperature) shared by the whole batch, for a peer library whose one
    call takes one window and one scale; NotImplementedError (declined) otherwise."""
    if len(set(zip(p.reach.tolist(), p.gain.tolist(), p.temperature.tolist(), strict=True))) > 1:
        raise NotImplementedError(
            "one call takes one window and one scale, and the plan "
            "differs across the batch (PLAN-1)"
        )
    return int(p.reach[0]), float(p.gain[0]), float(p.temperature[0])

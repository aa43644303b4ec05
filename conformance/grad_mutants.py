"""Planted gradient bugs: the reference with one wrong backward each (GRAD-1 .. GRAD-5).

Each ``GradientBug`` is an adapter whose forward is the reference's and whose VJPs are the
reference's with one deviation, planted where a backward kernel goes wrong: the span's path
through τ dropped, taken through an active clamp, the bias gradient scattered to j − i, rows
with no visible key passing gradient, dq accumulated over the first key tile only. The
branch backward below is the reference's ``attend_vjp`` with knobs; the layer's VJP is the
reference's own, run with this backward and this slope of τ, so a bug shows in every VJP.
Each bug's name is its corpus flag: tests/test_vjp_mutants.py requires a vector of that flag
to reject it. ``aha zoo`` (conformance/mutants.py) can list ``GRADIENT_BUGS``.

Select one as ``aha conform --adapter aha.conformance.grad_mutants:grad_span_missing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np

from aha import reference as ref
from aha.adapters.base import CheckedAdapter
from aha.reference import AHAConfig, gradients, layer_vjp
from aha.reference.attention import Precision, bias_index, logits, masked_softmax

# A key tile of a flash-style backward: the dq-first-tile bug sums over keys 0 .. TILE − 1.
TILE = 16


@dataclass(frozen=True)
class GradientBug:
    """One planted gradient bug: its flag, what it does and the clauses it breaks."""

    name: str
    description: str
    clauses: tuple[str, ...]

    def adapter(self) -> GradientDeviant:
        return GradientDeviant(self)


GRADIENT_BUGS = (
    GradientBug(
        "grad-span-missing",
        "span_scale gets no gradient: τ is treated as a constant",
        ("GRAD-2", "GRAD-5"),
    ),
    GradientBug(
        "grad-through-clamp",
        "s gets gradient through τ while the τmin clamp is active",
        ("GRAD-2",),
    ),
    GradientBug(
        "grad-bias-misplaced",
        "the bias gradient is scattered to distance j − i instead of i − j",
        ("GRAD-3", "LOCAL-2", "GLOBAL-2"),
    ),
    GradientBug(
        "grad-masked-rows",
        "rows with no visible key pass gradient, as if their weights were uniform",
        ("GRAD-3", "LOCAL-5", "GLOBAL-4"),
    ),
    GradientBug(
        "grad-dq-first-tile",
        f"dq accumulates over the first key tile ({TILE} keys) only",
        ("GRAD-3",),
    ),
)
BY_NAME = {bug.name: bug for bug in GRADIENT_BUGS}


class GradientDeviant(CheckedAdapter):
    """The reference forward; VJPs with one planted bug."""

    capabilities = frozenset(
        {"local", "global", "layer", "causal", "key_padding", "float64", "float32", "vjp"}
    )

    def __init__(self, bug: GradientBug) -> None:
        self.bug = bug
        self.name = f"mutant:{bug.name}"

    def local(
        self, q: Any, k: Any, v: Any, s: Any, rel_bias: Any, config: AHAConfig, mask: Any
    ) -> Any:
        return ref.local_attention(q, k, v, s, rel_bias, config, mask).astype(q.dtype)

    def global_(self, q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, mask: Any) -> Any:
        return ref.global_attention(q, k, v, rel_bias, config, mask).astype(q.dtype)

    def layer(
        self, x: Any, params: Any, config: AHAConfig, mask: Any, s: Any, heads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        y, s_used = ref.hybrid_layer(x, params, config, mask, s)
        return y.astype(x.dtype), s_used

    def local_vjp(self, q: Any, *args: Any) -> dict[str, np.ndarray]:
        with self.planted():
            grads = ref.local_attention_vjp(q, *args)
        return {n: g if n == "span_scale" else g.astype(q.dtype) for n, g in grads.items()}

    def global_vjp(self, q: Any, *args: Any) -> dict[str, np.ndarray]:
        with self.planted():
            grads = ref.global_attention_vjp(q, *args)
        return {n: g.astype(q.dtype) for n, g in grads.items()}

    def layer_vjp(
        self,
        x: Any,
        params: Any,
        config: AHAConfig,
        mask: Any,
        s: Any,
        heads: int,
        d_y: Any,
        d_s: Any,
    ) -> dict[str, Any]:
        with self.planted():
            grads = ref.hybrid_layer_vjp(x, params, config, mask, s, d_y, d_s)
        grads["x"] = grads["x"].astype(x.dtype)
        grads["params"] = {n: g.astype(x.dtype) for n, g in grads["params"].items()}
        return grads

    @contextmanager
    def planted(self) -> Iterator[None]:
        """The reference's VJPs, with this bug's backward and slope of τ in their modules."""

        def attend(*args: Any) -> Any:
            return buggy_attend_vjp(self.bug.name, *args)

        def slope(span_scale: Any, config: AHAConfig) -> np.ndarray:
            return buggy_slope(self.bug.name, span_scale, config)

        with (
            mock.patch.object(gradients, "attend_vjp", attend),
            mock.patch.object(layer_vjp, "attend_vjp", attend),
            mock.patch.object(gradients, "temperature_slope", slope),
            mock.patch.object(layer_vjp, "temperature_slope", slope),
        ):
            yield


def buggy_slope(bug: str, span_scale: Any, config: AHAConfig) -> np.ndarray:
    """∂τ/∂s: zero (span missing), ±α even where clamped (through clamp), else GRAD-2's."""
    s = np.asarray(span_scale, dtype=np.float64)
    if bug == "grad-span-missing":
        return np.zeros_like(s)
    if bug == "grad-through-clamp":
        sign = 1.0 if config.sharpen == "short" else -1.0
        return np.full_like(s, sign * config.temp_scale)
    return ref.temperature_slope(s, config)


def buggy_attend_vjp(
    bug: str,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    visible: np.ndarray,
    scale: float,
    gain: np.ndarray,
    temperature: np.ndarray,
    d_out: np.ndarray,
    prec: Precision,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """reference.gradients.attend_vjp with the branch-level bugs planted."""
    dt = prec.compute
    q, k, v, rel_bias, d_out = (prec.round(a) for a in (q, k, v, rel_bias, d_out))
    H, T = q.shape[1:3]
    z = logits(q, k, rel_bias, scale, gain, temperature, dt)  # [B, H, T, T]
    weights = masked_softmax(z, visible)
    if bug == "grad-masked-rows":  # a dead row backpropagates as a uniform row
        dead = ~np.broadcast_to(visible, weights.shape).any(axis=-1, keepdims=True)
        weights = np.where(dead, 1.0 / T, weights)
    d_weights = d_out @ v.swapaxes(-1, -2)
    dz = weights * (d_weights - (weights * d_weights).sum(axis=-1, keepdims=True))
    tau = temperature.astype(dt)[:, None, None, None]
    d_scores = dz * ((gain * scale).astype(dt)[:, None, None, None] / tau)
    index = bias_index(T, (rel_bias.shape[1] + 1) // 2).ravel()
    if bug == "grad-bias-misplaced":  # j − i: the mirror image of i − j
        index = rel_bias.shape[1] - 1 - index
    d_table = np.zeros(rel_bias.shape, dtype=dt)
    np.add.at(
        d_table, (np.arange(H)[:, None], index[None, :]), (dz / tau).sum(axis=0).reshape(H, -1)
    )
    d_temperature = -(dz * np.where(visible, z, 0.0)).sum(axis=(1, 2, 3)) / tau[:, 0, 0, 0]
    dq_keys = slice(0, TILE) if bug == "grad-dq-first-tile" else slice(None)
    grads = {
        "q": d_scores[..., dq_keys] @ k[..., dq_keys, :],
        "k": d_scores.swapaxes(-1, -2) @ q,
        "v": weights.swapaxes(-1, -2) @ d_out,
        "rel_bias": d_table,
    }
    return {name: prec.round(g) for name, g in grads.items()}, d_temperature


def _factory(name: str) -> Any:
    return lambda: BY_NAME[name].adapter()


# aha conform --adapter aha.conformance.grad_mutants:<name with underscores>
grad_span_missing = _factory("grad-span-missing")
grad_through_clamp = _factory("grad-through-clamp")
grad_bias_misplaced = _factory("grad-bias-misplaced")
grad_masked_rows = _factory("grad-masked-rows")
grad_dq_first_tile = _factory("grad-dq-first-tile")

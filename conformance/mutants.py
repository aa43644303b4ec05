"""Planted-bug adapters: the reference with one bug class of spec DEC-2 each.

The suite is only as good as what it rejects: tests/test_mutants.py runs the golden vectors
against every mutant and requires each to be rejected by a case carrying its flag. Select one
on the command line as ``aha.conformance.mutants:<flag with underscores>``, e.g.
``aha conform --adapter aha.conformance.mutants:window_off_by_one``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from aha import reference as ref
from aha.adapters.reference import ReferenceAdapter
from aha.reference import AHAConfig, validate
from aha.reference.attention import _global, masked_softmax, precision
from aha.reference.layer import _branch, layer_norm, span_predictor
from aha.reference.plan import Plan, _plan

from .cases import FLAGS

CORE = frozenset({"plan", "local", "global", "causal", "key_padding", "float64"})
LAYER = frozenset({"layer", "causal", "key_padding", "float64"})
LAYER_BUGS = (
    "heads-interleaved",
    "layernorm-unbiased-variance",
    "layernorm-wrong-eps",
    "span-pools-padding",
)


class Mutant(ReferenceAdapter):
    """The reference adapter with the bug ``flag`` planted (float64 only)."""

    def __init__(self, flag: str) -> None:
        if flag not in FLAGS:
            raise ValueError(f"no bug class {flag!r}; known: {sorted(FLAGS)}")
        self.flag = flag
        self.name = f"mutant:{flag}"
        self.capabilities = LAYER if flag in LAYER_BUGS else CORE

    def plan(self, span_scale: Any, seq_len: int, config: AHAConfig) -> Plan:
        return self._plan(validate.span_scale(span_scale), validate.seq_len(seq_len), config)

    def _plan(self, s: np.ndarray, T: int, config: AHAConfig) -> Plan:
        bug, W = self.flag, config.window
        if bug == "batch-averaged-span":
            s = np.full_like(s, s.mean())
        if bug == "temperature-inverted":
            config = dataclasses.replace(
                config, sharpen="long" if config.sharpen == "short" else "short"
            )
        p = _plan(s, T, config)
        window = {
            "window-round": np.round(W * s),
            "window-float32-floor": np.floor(np.float32(W) * s.astype(np.float32)),
        }.get(bug)
        if window is not None:
            window = np.maximum(config.min_window, window).astype(np.int64)
            p = p._replace(window=window, reach=np.minimum(window, min(T, config.max_rel_dist)))
        if bug == "min-window-after-clamp":
            clamped = np.minimum(np.floor(W * s), min(T, config.max_rel_dist))
            p = p._replace(reach=np.maximum(config.min_window, clamped).astype(np.int64))
        if bug == "reach-not-clamped-by-R":
            p = p._replace(reach=np.minimum(p.window, T))
        if bug == "temperature-clamp-missing":
            shift = s if config.sharpen == "short" else 1 - s
            p = p._replace(temperature=config.temperature + config.temp_scale * shift)
        return p

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
        return self._attend(q, k, v, rel_bias, config, mask, self._plan(s, q.shape[2], config))

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        return self._attend(q, k, v, rel_bias, config, mask, None)

    def _attend(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        table: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
        p: Plan | None,
        truncate: bool = True,
    ) -> np.ndarray:
        """AHA written out with the knobs the bugs turn; p is None for the global branch."""
        bug, (B, _, T, Dh) = self.flag, q.shape
        if bug == "span-truncates-qkv" and p is not None and truncate:
            n = int(p.reach.max())
            out = np.zeros_like(q)
            full = Plan(p.window, np.full(B, n), p.temperature, p.gain)
            out[:, :, :n] = self._attend(
                q[:, :, :n],
                k[:, :, :n],
                v[:, :, :n],
                table,
                config,
                None if mask is None else mask[:, :n],
                full,
                False,
            )
            return out
        scale = (
            Dh**-0.25
            if bug == "quarter-root-scale" and config.scale is None
            else config.softmax_scale(Dh)
        )
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        visible = np.ones((1, 1, T, T), dtype=bool)
        if p is not None:
            extra = 1 if bug == "window-off-by-one" else 0
            visible = visible & (np.abs(i - j) < p.reach[:, None, None, None] + extra)
        if config.causal or (p is None and bug == "global-causal"):
            visible = visible & ((j < i) if bug == "causal-off-by-one" else (j <= i))
        if mask is not None:
            visible = visible & (~mask if bug == "padding-mask-inverted" else mask)[:, None, None]
        R = config.max_rel_dist
        distance = (j - i) if bug == "bias-sign-flipped" else (i - j)
        bias = table[:, np.clip(distance, 1 - R, R - 1) + R - 1]
        if bug == "bias-not-added":
            bias = np.zeros_like(bias)
        ones = np.ones(B)
        gain = (p.gain if p is not None else ones)[:, None, None, None]
        tau = (p.temperature if p is not None else ones)[:, None, None, None]
        scores = scale * (q @ k.swapaxes(-1, -2))
        logits = {
            "bias-not-divided-by-temperature": gain * scores / tau + bias,
            "bias-scaled-by-gain": gain * (scores + bias) / tau,
            "post-softmax-gain": (scores + bias) / tau,
        }.get(bug, (gain * scores + bias) / tau)
        weights = masked_softmax(logits, visible)
        if bug == "post-softmax-gain":
            weights = weights * gain
        out = weights @ v
        empty = np.logical_not(visible.any(axis=-1))  # [B or 1, 1, T]
        if bug == "masked-rows-nan":
            out = np.where(empty[..., None], np.nan, out)
        if bug == "masked-rows-mean-v":
            out = np.where(empty[..., None], v.mean(axis=2, keepdims=True), out)
        return out

    def layer(
        self,
        x: np.ndarray,
        P: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        span_scale: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        D = x.shape[-1]
        if self.flag == "heads-interleaved":
            # Interleaved split and merge equal the contiguous ones on permuted features.
            perm = np.arange(D).reshape(D // heads, heads).T.ravel()
            for branch in ("local", "global"):
                for proj in "qkv":
                    P[f"{branch}.{proj}.weight"] = P[f"{branch}.{proj}.weight"][perm]
                    P[f"{branch}.{proj}.bias"] = P[f"{branch}.{proj}.bias"][perm]
                P[f"{branch}.out.weight"] = P[f"{branch}.out.weight"][:, perm]
        if self.flag == "layernorm-unbiased-variance":
            # var·D/(D−1) + eps = (var + eps') · D/(D−1) with eps' = eps·(D−1)/D.
            for ln in ("ln_local", "ln_global"):
                P[f"{ln}.weight"] = P[f"{ln}.weight"] * np.sqrt((D - 1) / D)
            config = dataclasses.replace(config, ln_eps=config.ln_eps * (D - 1) / D)
        if self.flag == "layernorm-wrong-eps":
            config = dataclasses.replace(config, ln_eps=1e-5)
        if self.flag == "span-pools-padding" and span_scale is None:
            span_scale = self._span_over_padding(x, P, config, mask, heads)
        return ref.hybrid_layer(x, P, config, mask, span_scale)

    @staticmethod
    def _span_over_padding(
        x: np.ndarray,
        P: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        heads: int,
    ) -> np.ndarray:
        prec = precision(np.float64)
        x_g = layer_norm(x, P, "ln_global", config.ln_eps)
        G = _branch(
            x_g,
            P,
            "global",
            heads,
            prec,
            lambda q, k, v, t: _global(q, k, v, t, config, mask, prec)[0],
        )
        return span_predictor(G, P, None, prec)  # mask None: every position pooled


class _Swallower(ReferenceAdapter):
    """accepts-bad-input: errors are swallowed and zeros returned."""

    name = "mutant:accepts-bad-input"
    capabilities = CORE | LAYER

    def local_attention(self, *args: Any, **kwargs: Any) -> np.ndarray:
        try:
            return super().local_attention(*args, **kwargs)
        except ref.AHAError:
            return np.zeros(1)

    def global_attention(self, *args: Any, **kwargs: Any) -> np.ndarray:
        try:
            return super().global_attention(*args, **kwargs)
        except ref.AHAError:
            return np.zeros(1)


def mutant(flag: str) -> ReferenceAdapter:
    return _Swallower() if flag == "accepts-bad-input" else Mutant(flag)


def __getattr__(name: str) -> Any:
    """``mutants.window_off_by_one`` is a factory of the mutant of flag window-off-by-one."""
    flag = name.replace("_", "-")
    if flag in FLAGS:
        return lambda: mutant(flag)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

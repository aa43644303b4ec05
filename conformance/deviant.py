"""The reference written out with knobs: each planted bug of the zoo and each deviation the
diagnosis replays is one setting of ``Knobs`` (spec DEC-2; issue 15).

With the default ``Knobs()`` the ``DeviantAdapter`` computes what the reference computes (the
tests check it passes every vector), so a deviation is exactly the knobs it turns. It evaluates
in binary64 (or the dtype a precision knob names) and casts its outputs to the dtype of its
inputs, as the reference adapter does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from aha.adapters.reference import ReferenceAdapter
from aha.reference import AHAConfig, Plan, validate
from aha.reference.layer import layer_norm, linear, merge_heads, split_heads

BRANCHES = frozenset({"local", "global"})
NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Knobs:
    """What a deviant turns; each default is the reference. The clause a knob breaks is named
    beside it."""

    # The plan
    span: str = "own"  # "batch-mean": s averaged over the batch (PLAN-1)
    window_rule: str = "floor"  # "round", "ceil", "float32-floor" (PLAN-2)
    window_delta: int = 0  # the requested window ± n (PLAN-2)
    min_window_after_clamp: bool = False  # PLAN-3
    reach_clamp_R: bool = True  # PLAN-3
    reach_clamp_T: bool = True  # PLAN-3
    reach_delta: int = 0  # the reach ± n (PLAN-3)
    sharpen_inverted: bool = False  # PLAN-4
    temperature_clamp: bool = True  # PLAN-4
    gain_from_reach: bool = False  # PLAN-5
    gain_log2: bool = False  # PLAN-5
    plan_float_integers: bool = False  # PLAN-6
    # The softmax scale (CFG-4): "config", "quarter-root", "model-dim", "ignore-config", "one"
    scale: str = "config"
    # What is visible
    window_extra: int = 0  # |i − j| < ρ + n (LOCAL-1)
    truncate: bool = False  # the span truncates q, k, v (LOCAL-1)
    causal_offset: int = 0  # j ≤ i + n (CAUSAL-1)
    causal_in: frozenset[str] = BRANCHES  # branches honouring config.causal (CAUSAL-1)
    always_causal: frozenset[str] = NONE  # branches causal whatever the config (GLOBAL-1)
    mask_in: frozenset[str] = BRANCHES  # branches reading key_padding_mask (MASK-1)
    mask_inverted: frozenset[str] = NONE  # branches reading True as padding (MASK-1)
    padded_queries_zeroed: bool = False  # MASK-2
    # The logits
    bias_in: frozenset[str] = BRANCHES  # branches adding the bias (LOCAL-2, GLOBAL-2)
    bias_sign: int = 1  # −1: the index uses j − i (LOCAL-2)
    bias_shift: int = 0  # the table entry of distance d + n (LOCAL-2, GLOBAL-2)
    bias_clamped: bool = True  # False: far distances wrap around the table (GLOBAL-2)
    bias_over_temperature: bool = True  # LOCAL-3
    bias_times_gain: bool = False  # LOCAL-3
    gain_times: int = 1  # LOCAL-2
    gain_after_softmax: bool = False  # LOCAL-3
    temperature_times: int = 1  # LOCAL-3
    max_subtraction: bool = True  # LOCAL-4
    empty_rows: str = "zero"  # "nan", "mean-v", "uniform" (LOCAL-5, GLOBAL-4)
    # Precision
    compute: str = "float64"  # "float32", "float16": every operation in that dtype (PREC-1)
    cast_output: bool = True  # False: outputs stay binary64 (PREC-4)
    scales_q_in_place: bool = False  # q is scaled in the caller's array (PREC-6)
    # The layer
    heads_interleaved: bool = False  # LAYER-1
    ln_unbiased: bool = False  # LAYER-2
    ln_eps: float | None = None  # a fixed eps instead of config.ln_eps (LAYER-2)
    ln_swapped: bool = False  # weight and bias swapped (LAYER-2)
    ln_shared: bool = False  # both branches normalised by ln_global (LAYER-2)
    span_pools_padding: bool = False  # LAYER-4
    span_sigmoid: bool = True  # False: s = clip(z, 0, 1) (LAYER-4)
    span_given_ignored: bool = False  # LAYER-4
    concat_global_first: bool = False  # LAYER-6
    residual: bool = False  # y + x (LAYER-6)


class DeviantAdapter(ReferenceAdapter):
    """The reference adapter, recomputed with ``knobs`` (float64 in, cast to the input dtype)."""

    def __init__(self, knobs: Knobs, name: str = "deviant") -> None:
        self.knobs, self.name = knobs, name

    # The plan (PLAN-1 .. PLAN-6)

    def plan(self, span_scale: Any, seq_len: int, config: AHAConfig) -> Any:
        p = self.plan_of(validate.span_scale(span_scale), validate.seq_len(seq_len), config)
        if self.knobs.plan_float_integers:
            return p._replace(window=p.window.astype(np.float64), reach=p.reach.astype(np.float64))
        return p

    def plan_of(self, s: np.ndarray, T: int, config: AHAConfig) -> Plan:
        with np.errstate(all="ignore"):  # a deviant may feed NaN on: that is its output
            return self._plan_of(s, T, config)

    def _plan_of(self, s: np.ndarray, T: int, config: AHAConfig) -> Plan:
        kn, W = self.knobs, config.window
        s = np.asarray(s, dtype=np.float64)
        if kn.span == "batch-mean":
            s = np.full_like(s, s.mean())
        product = {
            "floor": lambda: np.floor(W * s),
            "round": lambda: np.round(W * s),
            "ceil": lambda: np.ceil(W * s),
            "float32-floor": lambda: np.floor(np.float32(W) * s.astype(np.float32)),
        }[kn.window_rule]().astype(np.float64)
        bound = min(
            T if kn.reach_clamp_T else np.inf, config.max_rel_dist if kn.reach_clamp_R else np.inf
        )
        if kn.min_window_after_clamp:
            window = np.maximum(1, product + kn.window_delta)
            reach = np.maximum(config.min_window, np.minimum(window, bound))
        else:
            window = np.maximum(1, np.maximum(config.min_window, product) + kn.window_delta)
            reach = np.minimum(window, bound)
        reach = np.maximum(0, reach + kn.reach_delta)
        sharpen = config.sharpen
        if kn.sharpen_inverted:
            sharpen = "long" if sharpen == "short" else "short"
        tau = config.temperature + config.temp_scale * (s if sharpen == "short" else 1 - s)
        if kn.temperature_clamp:
            tau = np.maximum(config.min_temperature, tau)
        ratio = W / (reach if kn.gain_from_reach else window)
        log = np.log2 if kn.gain_log2 else np.log
        gain = {"none": np.ones_like(s), "linear": ratio, "log": 1.0 + log(ratio)}
        return Plan(window.astype(np.int64), reach.astype(np.int64), tau, gain[config.score_scale])

    # The branches (LOCAL-1 .. LOCAL-6, GLOBAL-1 .. GLOBAL-4)

    def local(self, q: Any, k: Any, v: Any, s: Any, rel_bias: Any, config: Any, mask: Any) -> Any:
        out = self._cast(self.branch("local", q, k, v, rel_bias, config, mask, s), q.dtype)
        self._scribble(q, config)
        return out

    def global_(self, q: Any, k: Any, v: Any, rel_bias: Any, config: Any, mask: Any) -> Any:
        out = self._cast(self.branch("global", q, k, v, rel_bias, config, mask, None), q.dtype)
        self._scribble(q, config)
        return out

    def _scribble(self, q: np.ndarray, config: AHAConfig) -> None:
        """The in-place pre-scaling of q some kernels do, left in the caller's array."""
        if self.knobs.scales_q_in_place:
            q *= q.dtype.type(config.softmax_scale(q.shape[-1]))

    def _cast(self, out: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return out.astype(dtype) if self.knobs.cast_output else out.astype(np.float64)

    def branch(
        self,
        name: str,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        table: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
    ) -> np.ndarray:
        """out [B, H, T, Dh] of branch ``name`` in the compute dtype of the knobs."""
        with np.errstate(all="ignore"):  # overflow and NaN are what some deviants output
            return self._branch(name, q, k, v, table, config, mask, s)

    def _branch(
        self,
        name: str,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        table: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
    ) -> np.ndarray:
        kn, (B, _, T, Dh) = self.knobs, q.shape
        dt = np.dtype(kn.compute)
        q, k, v, table = (np.asarray(a).astype(np.float64).astype(dt) for a in (q, k, v, table))
        p = None if s is None else self.plan_of(s, T, config)
        if p is not None and kn.truncate:
            n = int(p.reach.max())
            out = np.zeros_like(q)
            # Within the first n positions every key is visible, as in the research code.
            plain = dataclasses.replace(kn, truncate=False, window_extra=n)
            cut = None if mask is None else mask[:, :n]
            inner = DeviantAdapter(plain).branch(
                name, q[:, :, :n], k[:, :, :n], v[:, :, :n], table, config, cut, s
            )
            out[:, :, :n] = inner
            return out
        visible = self._visible(name, T, config, mask, p)
        R = config.max_rel_dist
        distance = kn.bias_sign * (np.arange(T)[:, None] - np.arange(T)[None, :]) + kn.bias_shift
        if kn.bias_clamped:
            index = np.clip(distance, 1 - R, R - 1) + R - 1
        else:
            index = np.mod(distance + R - 1, 2 * R - 1)
        bias = table[:, index] if name in kn.bias_in else np.zeros((1, T, T), dt)
        gain = np.ones(B) if p is None else p.gain
        tau = np.ones(B) if p is None else p.temperature
        pre = np.ones(B) if kn.gain_after_softmax else gain**kn.gain_times
        g = (pre * self._scale(config, Dh, q.shape[1])).astype(dt)[:, None, None, None]
        t = (tau**kn.temperature_times).astype(dt)[:, None, None, None]
        scores = g * (q @ k.swapaxes(-1, -2))
        if kn.bias_times_gain:
            bias = gain.astype(dt)[:, None, None, None] * bias
        z = (scores + bias) / t if kn.bias_over_temperature else scores / t + bias
        weights = self._softmax(z, visible)
        if kn.gain_after_softmax:
            weights = weights * gain.astype(dt)[:, None, None, None]
        out = weights @ v
        empty = ~np.any(visible, axis=-1, keepdims=True)  # [B or 1, 1, T, 1]
        if kn.empty_rows == "nan":
            out = np.where(empty, np.nan, out)
        elif kn.empty_rows == "mean-v":
            out = np.where(empty, v.mean(axis=2, keepdims=True), out)
        elif kn.empty_rows == "uniform":
            out = np.where(empty, self._softmax(z, np.ones_like(visible)) @ v, out)
        if kn.padded_queries_zeroed and mask is not None and name in kn.mask_in:
            out = out * mask[:, None, :, None]
        return out

    def _scale(self, config: AHAConfig, Dh: int, H: int) -> float:
        rule = self.knobs.scale
        if rule == "config" or (config.scale is not None and rule != "ignore-config"):
            return config.softmax_scale(Dh)
        return {
            "quarter-root": Dh**-0.25,
            "model-dim": (H * Dh) ** -0.5,
            "ignore-config": Dh**-0.5,
            "one": 1.0,
        }[rule]

    def _visible(
        self, name: str, T: int, config: AHAConfig, mask: np.ndarray | None, p: Plan | None
    ) -> np.ndarray:
        kn = self.knobs
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        visible = np.ones((1, 1, T, T), dtype=bool)
        if p is not None:
            visible = visible & (np.abs(i - j) < p.reach[:, None, None, None] + kn.window_extra)
        if (config.causal and name in kn.causal_in) or name in kn.always_causal:
            visible = visible & (j <= i + kn.causal_offset)
        if mask is not None and name in kn.mask_in:
            real = ~mask if name in kn.mask_inverted else mask
            visible = visible & real[:, None, None, :]
        return visible

    def _softmax(self, z: np.ndarray, visible: np.ndarray) -> np.ndarray:
        z = np.where(visible, z, -np.inf)
        if self.knobs.max_subtraction:
            peak = z.max(axis=-1, keepdims=True)
            z = z - np.where(np.isfinite(peak), peak, 0.0)
        e = np.exp(z)
        total = e.sum(axis=-1, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total > 0)

    # The layer (LAYER-1 .. LAYER-7)

    def layer(
        self,
        x: np.ndarray,
        P: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):  # float16 accumulation may overflow: its output
            return self._layer(x, P, config, mask, s, heads)

    def _layer(
        self,
        x: np.ndarray,
        P: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        kn, dtype = self.knobs, x.dtype
        dt = np.dtype(kn.compute)
        x = x.astype(np.float64).astype(dt)
        P = {name: a.astype(np.float64).astype(dt) for name, a in P.items()}
        D = x.shape[-1]
        if kn.heads_interleaved:
            P = _interleave(P, D, heads)
        G = self._path("global", self._norm(x, P, "ln_global", config), P, heads, config, mask)
        if s is None or kn.span_given_ignored:
            s = self._span(G, P, mask)
        norm = "ln_global" if kn.ln_shared else "ln_local"
        L = self._path("local", self._norm(x, P, norm, config), P, heads, config, mask, s)
        y = linear(np.concatenate([G, L] if kn.concat_global_first else [L, G], axis=-1), P, "proj")
        if kn.residual:
            y = y + x
        return self._cast(y, dtype), np.asarray(s, dtype=np.float64)

    def _norm(self, x: np.ndarray, P: dict[str, np.ndarray], name: str, config: AHAConfig) -> Any:
        kn, D = self.knobs, x.shape[-1]
        eps = config.ln_eps if kn.ln_eps is None else kn.ln_eps
        weight, bias = P[f"{name}.weight"], P[f"{name}.bias"]
        if kn.ln_swapped:
            weight, bias = bias, weight
        if kn.ln_unbiased:
            # var·D/(D−1): the unbiased estimator.
            mean = x.mean(axis=-1, keepdims=True)
            var = ((x - mean) ** 2).sum(axis=-1, keepdims=True) / (D - 1)
            return (x - mean) / np.sqrt(var + eps) * weight + bias
        return layer_norm(x, {"n.weight": weight, "n.bias": bias}, "n", eps)

    def _path(
        self,
        name: str,
        x: np.ndarray,
        P: dict[str, np.ndarray],
        heads: int,
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None = None,
    ) -> np.ndarray:
        q, k, v = (split_heads(linear(x, P, f"{name}.{p}"), heads) for p in "qkv")
        out = self.branch(name, q, k, v, P[f"{name}.rel_bias"], config, mask, s)
        return linear(merge_heads(out), P, f"{name}.out")

    def _span(self, G: np.ndarray, P: dict[str, np.ndarray], mask: np.ndarray | None) -> Any:
        kn = self.knobs
        valid = np.ones(G.shape[:2], dtype=bool)
        if mask is not None and not kn.span_pools_padding:
            valid = mask
        count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
        pooled = (G * valid[..., None]).sum(axis=1) / count
        z = linear(pooled, P, "span")[:, 0].astype(np.float64)
        if not kn.span_sigmoid:
            return np.clip(z, 0.0, 1.0)
        return np.exp(-np.logaddexp(0.0, -z))


def _interleave(P: dict[str, np.ndarray], D: int, heads: int) -> dict[str, np.ndarray]:
    """Interleaved split and merge equal the contiguous ones on permuted features (LAYER-1)."""
    P = dict(P)
    perm = np.arange(D).reshape(D // heads, heads).T.ravel()
    for branch in ("local", "global"):
        for proj in "qkv":
            P[f"{branch}.{proj}.weight"] = P[f"{branch}.{proj}.weight"][perm]
            P[f"{branch}.{proj}.bias"] = P[f"{branch}.{proj}.bias"][perm]
        P[f"{branch}.out.weight"] = P[f"{branch}.out.weight"][:, perm]
    return P

"""Property checks run against an adapter (spec/conformance.md, section 3).

Two families: ``matches-reference`` compares the adapter to the oracle on generated inputs
(conformance/strategies.py weights them toward edges), and metamorphic properties relate the
adapter's own outputs: batch independence, the degenerate case equals plain attention, causal
outputs ignore the future, heads permute. Each check raises ``CheckFailed`` with comparisons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from aha.reference import AHAConfig

from . import oracle, strategies, tolerance
from .calls import CheckFailed, call_adapter, describe, expect
from .protocol import Adapter

Draw = tuple[AHAConfig, dict[str, Any]]


@dataclass(frozen=True)
class Property:
    name: str
    kind: str  # the operation it calls: plan, local, global or layer
    clauses: tuple[str, ...]
    requires: frozenset[str]  # capabilities beyond the kind and the dtype
    strategy: Callable[[str], st.SearchStrategy[Draw]]  # dtype -> draws
    check: Callable[[Adapter, AHAConfig, dict[str, Any], str], None]
    dtypes: tuple[str, ...] | None = None  # run in these dtypes only (None: every one); H3a


def _bounds(
    kind: str, config: AHAConfig, inputs: dict[str, Any], dtype: str
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    want = oracle.evaluate(kind, config, inputs)
    return want, oracle.baseline_errors(kind, config, inputs, want, dtype)


def matches_reference(kind: str) -> Callable[[Adapter, AHAConfig, dict[str, Any], str], None]:
    def check(adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str) -> None:
        if kind == "layer" and "span_scale" not in inputs:
            s = oracle.evaluate(kind, config, inputs)["s"]
            assume(oracle.span_margin(config, s) >= tolerance.SPAN_MARGIN)  # PREC-5
        # The implementation first: a declined call then costs no reference evaluation.
        got = call_adapter(adapter, kind, config, oracle.cast(inputs, dtype))
        want, base = _bounds(kind, config, inputs, dtype)
        expect(kind, got, want, dtype, base)

    return check


def batch_independence(
    adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str
) -> None:
    """Element b of a batch equals element b run alone (LOCAL-6, PLAN-1)."""
    want, base = _bounds("local", config, inputs, dtype)
    x = oracle.cast(inputs, dtype)
    whole = call_adapter(adapter, "local", config, x)["out"]
    for b in range(whole.shape[0]):
        alone = call_adapter(adapter, "local", config, _element(x, b))["out"]
        _close(
            f"out[{b}] alone vs in the batch",
            alone[0],
            whole[b],
            want["out"][b],
            dtype,
            base["out"],
        )


def plain_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, visible: np.ndarray
) -> np.ndarray:
    """Softmax attention written independently of the reference; empty rows give 0."""
    z = np.where(visible, scale * np.einsum("bhid,bhjd->bhij", q, k), -np.inf)
    z = z - np.where(visible.any(-1, keepdims=True), z.max(-1, keepdims=True), 0.0)
    e = np.exp(z)
    total = np.maximum(e.sum(-1, keepdims=True), np.finfo(np.float64).tiny)
    return np.einsum("bhij,bhjd->bhid", e / total, v)


def degenerate_plain(kind: str) -> Callable[[Adapter, AHAConfig, dict[str, Any], str], None]:
    """window ≥ T, R ≥ T, no gain, τ = 1, zero bias: AHA is plain attention
    (LOCAL-1 .. LOCAL-4, GLOBAL-1 .. GLOBAL-3)."""

    def check(adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str) -> None:
        T = inputs["q"].shape[2]
        config = dataclasses.replace(
            config,
            window=T + 3,
            min_window=1,
            max_rel_dist=T + 1,
            temp_scale=0.0,
            temperature=1.0,
            score_scale="none",
            min_temperature=min(config.min_temperature, 1.0),
        )
        inputs = {**inputs, "rel_bias": np.zeros((inputs["q"].shape[1], 2 * T + 1))}
        if kind == "local":
            inputs["span_scale"] = np.ones(inputs["q"].shape[0])
        x = oracle.cast(inputs, dtype)
        visible = np.ones((1, 1, T, T), dtype=bool)
        if config.causal:
            visible = visible & np.tri(T, dtype=bool)
        if "key_padding_mask" in inputs:
            visible = visible & inputs["key_padding_mask"][:, None, None, :]
        q, k, v = (x[n].astype(np.float64) for n in "qkv")
        plain = plain_attention(q, k, v, config.softmax_scale(q.shape[-1]), visible)
        _, base = _bounds(kind, config, inputs, dtype)
        got = call_adapter(adapter, kind, config, x)["out"]
        _close("out vs plain attention", got, plain, plain, dtype, base["out"])

    return check


def causal_no_future(kind: str) -> Callable[[Adapter, AHAConfig, dict[str, Any], str], None]:
    """Changing tokens after position c leaves outputs up to c unchanged (CAUSAL-1)."""

    def check(adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str) -> None:
        T = inputs["q"].shape[2]
        assume(T >= 2)
        cut = T // 2
        changed = dict(inputs)
        for name in "qkv":
            later = -inputs[name][..., ::-1]  # other values, still exact in every dtype
            changed[name] = np.concatenate([inputs[name][:, :, :cut], later[:, :, cut:]], axis=2)
        want, base = _bounds(kind, config, inputs, dtype)
        a = call_adapter(adapter, kind, config, oracle.cast(inputs, dtype))["out"]
        b = call_adapter(adapter, kind, config, oracle.cast(changed, dtype))["out"]
        _close(
            f"out[:, :, :{cut}] after changing later tokens",
            b[:, :, :cut],
            a[:, :, :cut],
            want["out"][:, :, :cut],
            dtype,
            base["out"],
        )

    return check


def head_permutation(kind: str) -> Callable[[Adapter, AHAConfig, dict[str, Any], str], None]:
    """Permuting heads (q, k, v and bias rows together) permutes the output (LOCAL-2, GLOBAL-2)."""

    def check(adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str) -> None:
        H = inputs["q"].shape[1]
        assume(H >= 2)
        perm = np.roll(np.arange(H), 1)
        permuted = {**inputs, "rel_bias": inputs["rel_bias"][perm]}
        for name in "qkv":
            permuted[name] = inputs[name][:, perm]
        want, base = _bounds(kind, config, inputs, dtype)
        a = call_adapter(adapter, kind, config, oracle.cast(inputs, dtype))["out"]
        b = call_adapter(adapter, kind, config, oracle.cast(permuted, dtype))["out"]
        _close("out with heads permuted", b, a[:, perm], want["out"][:, perm], dtype, base["out"])

    return check


BATCHED = ("q", "k", "v", "x", "span_scale", "key_padding_mask")


def _element(inputs: dict[str, Any], b: int) -> dict[str, Any]:
    """Batch element b alone, as a batch of one."""
    return {name: value[b : b + 1] if name in BATCHED else value for name, value in inputs.items()}


def _close(
    what: str, got: Any, other: np.ndarray, oracle_out: np.ndarray, dtype: str, baseline_err: float
) -> None:
    """Two outputs agree within twice the PREC-3 bound of the oracle's output."""
    err, where = tolerance.max_error(got, np.asarray(other).astype(np.float64))
    allowed = tolerance.METAMORPHIC_FACTOR * tolerance.bound(dtype, baseline_err, oracle_out)
    comparison = tolerance.Comparison(
        "out", err, err / tolerance.scale_of(oracle_out), allowed, where
    )
    if not comparison.ok:
        raise CheckFailed(f"{what}: {describe(comparison)}", [comparison])


def _draws(kind: str, **config: Any) -> Callable[[str], st.SearchStrategy[Draw]]:
    def strategy(dtype: str) -> st.SearchStrategy[Draw]:
        cfg = strategies.configs(**config) if config else None
        return strategies.case_inputs(kind, config=cfg, dtype=dtype)

    return strategy


CORE_CLAUSES = {
    "plan": ("PLAN-1", "PLAN-2", "PLAN-3", "PLAN-4", "PLAN-5", "PLAN-6"),
    "local": (
        "LOCAL-1",
        "LOCAL-2",
        "LOCAL-3",
        "LOCAL-4",
        "LOCAL-5",
        "MASK-1",
        "MASK-2",
        "CAUSAL-1",
        "PREC-3",
        "PREC-4",
    ),
    "global": ("GLOBAL-1", "GLOBAL-2", "GLOBAL-3", "GLOBAL-4", "MASK-1", "CAUSAL-1", "PREC-3"),
    "layer": (
        "LAYER-1",
        "LAYER-2",
        "LAYER-3",
        "LAYER-4",
        "LAYER-5",
        "LAYER-6",
        "LAYER-7",
        "PREC-3",
        "PREC-5",
    ),
}
NONE: frozenset[str] = frozenset()
CAUSAL = frozenset({"causal"})

PROPERTIES = [
    *(
        Property(
            f"matches-reference/{kind}", kind, clauses, NONE, _draws(kind), matches_reference(kind)
        )
        for kind, clauses in CORE_CLAUSES.items()
    ),
    Property(
        "batch-independence/local",
        "local",
        ("LOCAL-6", "PLAN-1"),
        NONE,
        _draws("local"),
        batch_independence,
    ),
    *(
        Property(
            f"degenerate-is-plain-attention/{kind}",
            kind,
            ("LOCAL-1", "LOCAL-2", "LOCAL-3", "LOCAL-4", "CFG-4")
            if kind == "local"
            else ("GLOBAL-1", "GLOBAL-2", "GLOBAL-3", "CFG-4"),
            NONE,
            _draws(kind),
            degenerate_plain(kind),
        )
        for kind in ("local", "global")
    ),
    *(
        Property(
            f"causal-ignores-future/{kind}",
            kind,
            ("CAUSAL-1",),
            CAUSAL,
            _draws(kind, causal=True),
            causal_no_future(kind),
        )
        for kind in ("local", "global")
    ),
    *(
        Property(
            f"head-permutation/{kind}",
            kind,
            ("LOCAL-2",) if kind == "local" else ("GLOBAL-2",),
            NONE,
            _draws(kind),
            head_permutation(kind),
        )
        for kind in ("local", "global")
    ),
]

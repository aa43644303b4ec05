"""Calling an adapter on a case's inputs and judging what comes back (PREC-3, PREC-4).

Whatever the adapter does (raise, return the wrong shape or dtype, NaN) becomes a
``CheckFailed`` with a message; nothing it does can crash the harness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aha.reference import AHAConfig

from . import tolerance
from .corpus import OUTPUTS
from .protocol import Adapter, plan_fields
from .tolerance import Comparison

AXES = {
    "out": ("b", "h", "i", "d"),
    "y": ("b", "i", "feature"),
    "s": ("b",),
    "window": ("b",),
    "reach": ("b",),
    "temperature": ("b",),
    "gain": ("b",),
}


class CheckFailed(Exception):
    """A check failed; ``comparisons`` holds the measured errors, if any were measured."""

    def __init__(self, message: str, comparisons: list[Comparison] | None = None) -> None:
        super().__init__(message)
        self.comparisons = comparisons or []


def call_adapter(
    adapter: Adapter, kind: str, config: AHAConfig, inputs: dict[str, Any]
) -> dict[str, Any]:
    """The adapter's outputs for ``inputs`` as {output name: value}; its exceptions propagate."""
    x, mask = inputs, inputs.get("key_padding_mask")
    a: Any = adapter
    if kind == "plan":
        fields = plan_fields(a.plan(x["span_scale"], int(x["seq_len"]), config))
        return {name: fields[name] for name in OUTPUTS["plan"]}
    if kind == "local":
        return {
            "out": a.local_attention(
                x["q"], x["k"], x["v"], x["span_scale"], x["rel_bias"], config, mask
            )
        }
    if kind == "global":
        return {"out": a.global_attention(x["q"], x["k"], x["v"], x["rel_bias"], config, mask)}
    if kind == "layer":
        result = a.hybrid_layer(x["x"], x["params"], config, mask, x.get("span_scale"))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise CheckFailed(f"hybrid_layer must return (y, s), got {type(result).__name__}")
        return {"y": result[0], "s": result[1]}
    raise ValueError(f"kind {kind!r} calls no adapter method")


def expect(
    kind: str,
    got: dict[str, Any],
    want: dict[str, np.ndarray],
    dtype: str,
    baseline: dict[str, float],
) -> list[Comparison]:
    """Every output has the oracle's shape, the right dtype, and lies within its bound."""
    comparisons = []
    for name, oracle_value in want.items():
        actual = _array(name, got[name])
        if actual.shape != oracle_value.shape:
            raise CheckFailed(f"{name} has shape {actual.shape}, expected {oracle_value.shape}")
        if kind == "plan":
            integral = name in ("window", "reach")
            if integral != (actual.dtype.kind in "iu"):
                raise CheckFailed(
                    f"{name} must be {'integer' if integral else 'float'}, got {actual.dtype}"
                )
            comparisons.append(tolerance.compare_plan(name, actual, oracle_value))
        else:
            if name != "s" and actual.dtype.name != dtype:
                raise CheckFailed(
                    f"{name} has dtype {actual.dtype.name}, expected {dtype} "
                    f"(PREC-4: outputs have the dtype of the inputs)"
                )
            comparisons.append(
                tolerance.compare(name, actual, oracle_value, dtype, baseline.get(name, 0.0))
            )
    failed = [c for c in comparisons if not c.ok]
    if failed:
        raise CheckFailed("; ".join(describe(c) for c in failed), comparisons)
    return comparisons


def _array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # anything the adapter returned that NumPy cannot hold
        raise CheckFailed(f"{name} is not an array: {type(value).__name__} ({exc})") from None
    if arr.dtype.kind not in "fiuV" or (arr.dtype.kind == "V" and arr.dtype.name != "bfloat16"):
        raise CheckFailed(f"{name} has non-numeric dtype {arr.dtype}")
    return arr


def where(name: str, index: tuple[int, ...]) -> str:
    """'b=0 h=1 i=3 d=2' for an index into output ``name``."""
    axes = AXES.get(name, tuple(f"axis{n}" for n in range(len(index))))
    return " ".join(f"{a}={i}" for a, i in zip(axes, index, strict=False))


def describe(c: Comparison) -> str:
    if not np.isfinite(c.err):
        return f"{c.name}: non-finite value at {where(c.name, c.where)}"
    return (
        f"{c.name}: max abs error {c.err:.3g} (rel {c.rel_err:.3g}) at "
        f"{where(c.name, c.where)} exceeds the bound {c.bound:.3g} ({c.ratio:.3g}× the bound)"
    )

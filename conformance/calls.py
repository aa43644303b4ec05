"""Calling an adapter on a case's inputs and judging what comes back (PREC-3, PREC-4).

Whatever the adapter does (raise, return the wrong shape or dtype, NaN) becomes a
``CheckFailed`` with a message; nothing it does can crash the harness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aha.reference import AHAConfig

from . import tolerance
from .errormap import error_map
from .isolation import NotAnArray
from .operations import GRAD, WrongReturn, operation
from .protocol import Adapter
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


# Outputs that are binary64 values whatever the dtype under test: s and its gradient
# (PREC-4, GRAD-4; H3a).
BINARY64 = ("s", f"{GRAD}span_scale")


class CheckFailed(Exception):
    """A check failed; ``comparisons`` holds the measured errors, if any were measured."""

    def __init__(
        self,
        message: str,
        comparisons: list[Comparison] | None = None,
        error_maps: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__(message)
        self.comparisons = comparisons or []
        self.error_maps = error_maps or {}  # output -> |impl − ref| map (errormap.py)


def call_adapter(
    adapter: Adapter, kind: str, config: AHAConfig, inputs: dict[str, Any]
) -> dict[str, Any]:
    """The adapter's outputs for ``inputs`` as {output name: value}; its exceptions propagate
    (the operations table says which method and which arguments)."""
    try:
        return operation(kind).call(adapter, config, inputs)
    except WrongReturn as exc:
        raise CheckFailed(str(exc)) from None


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
        if operation(kind).dtype_free:
            integral = name in ("window", "reach")
            if integral != (actual.dtype.kind in "iu"):
                raise CheckFailed(
                    f"{name} must be {'integer' if integral else 'float'}, got {actual.dtype}"
                )
            comparisons.append(tolerance.compare_plan(name, actual, oracle_value))
        else:
            if name not in BINARY64 and actual.dtype.name != dtype:
                raise CheckFailed(
                    f"{name} has dtype {actual.dtype.name}, expected {dtype} "
                    f"(PREC-4: outputs have the dtype of the inputs)"
                )
            # Gradients have their own table (GRAD-6); H3a.
            compare = tolerance.compare_gradient if name.startswith(GRAD) else tolerance.compare
            comparisons.append(compare(name, actual, oracle_value, dtype, baseline.get(name, 0.0)))
    failed = [c for c in comparisons if not c.ok]
    if failed:
        maps = {c.name: error_map(got[c.name], want[c.name]) for c in failed}
        raise CheckFailed("; ".join(describe(c) for c in failed), comparisons, maps)
    return comparisons


def _array(name: str, value: Any) -> np.ndarray:
    """``value`` itself when it is a NumPy array (spec/conformance.md section 1: outputs
    cross as NumPy arrays; a list or a framework tensor is a failure, not converted)."""
    if isinstance(value, NotAnArray):  # what a worker process sends back for it
        raise CheckFailed(f"{name} is not a NumPy array: {value.type}")
    if not isinstance(value, np.ndarray):
        raise CheckFailed(
            f"{name} is not a NumPy array: {type(value).__module__}.{type(value).__qualname__}"
        )
    arr = value
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

"""The reference as the suite uses it: the oracle, the low-precision baseline, and inputs cast
to a dtype under test (PREC-1 .. PREC-4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aha.reference import AHAConfig

from .operations import OPERATIONS, operation

# PREC-4: these keep their dtype whatever the dtype under test
NOT_CAST = tuple(sorted({n for op in OPERATIONS.values() for n in op.not_cast}))


def cast(inputs: dict[str, Any], dtype: str) -> dict[str, Any]:
    """The inputs in the dtype under test; span_scale stays binary64 (PREC-4).

    Only float64 arrays are cast: an invalid case's deliberately wrong dtype survives.
    """

    def to(a: Any) -> Any:
        a = np.asarray(a)
        return a.astype(dtype) if a.dtype == np.float64 else a

    out: dict[str, Any] = {}
    for name, value in inputs.items():
        if name == "params":
            out[name] = {k: to(v) for k, v in value.items()}
        else:
            out[name] = value if name in NOT_CAST else to(value)
    return out


def exactly_representable(inputs: dict[str, Any], dtype: str) -> bool:
    """Does casting to ``dtype`` leave every float input unchanged?"""

    def same(a: Any) -> bool:
        a = np.asarray(a)
        return a.dtype.kind != "f" or bool(np.array_equal(a.astype(dtype).astype(a.dtype), a))

    return all(
        same(v)
        for name, value in inputs.items()
        if name not in NOT_CAST
        for v in (value.values() if name == "params" else [value])
    )


def evaluate(
    kind: str, config: AHAConfig, inputs: dict[str, Any], dtype: str = "float64"
) -> dict[str, np.ndarray]:
    """The reference's outputs for ``inputs``: the oracle at float64, else the baseline of
    ``dtype`` on the inputs cast to it (PREC-2)."""
    op = operation(kind)
    x = cast(inputs, dtype) if dtype != "float64" else inputs
    return op.evaluate(config, x, **({} if op.dtype_free else {"dtype": dtype}))


def baseline_errors(
    kind: str, config: AHAConfig, inputs: dict[str, Any], oracle: dict[str, np.ndarray], dtype: str
) -> dict[str, float]:
    """max |baseline − oracle| per output (PREC-3); 0 for float64, which has no baseline."""
    if dtype == "float64":
        return {name: 0.0 for name in oracle}
    base = evaluate(kind, config, inputs, dtype)
    return {
        name: float(np.max(np.abs(base[name].astype(np.float64) - oracle[name]), initial=0))
        for name in oracle
    }


def span_margin(config: AHAConfig, s: np.ndarray) -> float:
    """min over b of the distance of W·s_b to the nearest integer (PREC-5)."""
    ws = config.window * np.asarray(s, dtype=np.float64)
    return float(np.min(np.abs(ws - np.round(ws))))

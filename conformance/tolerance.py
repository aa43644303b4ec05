"""The tolerance policy of PREC-3: one table per dtype, the bound, and the comparison.

The table mirrors spec/AHA.md section 9; tests/test_spec_links.py fails if they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Rule:
    """bound = c · baseline error + floor · max(1, max|oracle|) (PREC-3)."""

    c: float
    floor: float


TOLERANCE = {
    "float64": Rule(c=0.0, floor=1e-10),
    "float32": Rule(c=4.0, floor=2.4e-7),
    "float16": Rule(c=4.0, floor=9.8e-4),
    "bfloat16": Rule(c=4.0, floor=7.8e-3),
}
PLAN_RTOL = 2.0**-50  # 4 ulp of binary64 for temperature and gain (PREC-3)
# A metamorphic property compares the implementation with itself: each side may be off by
# one PREC-3 bound of the oracle's output, so their difference is allowed twice that.
METAMORPHIC_FACTOR = 2.0
# PREC-5: layer draws and vectors keep W·s at least this far from every integer.
SPAN_MARGIN = 0.2


@dataclass(frozen=True)
class Comparison:
    """How far ``actual`` is from the oracle, and what was allowed."""

    name: str
    err: float  # max |actual − oracle|; inf when actual holds NaN or inf
    rel_err: float  # err / max(1, max|oracle|)
    bound: float
    where: tuple[int, ...]  # index of the largest error (or of the first non-finite value)

    @property
    def ok(self) -> bool:
        return self.err <= self.bound

    @property
    def ratio(self) -> float:
        """err / bound; a check passes when it is at most 1."""
        return self.err / self.bound if self.bound > 0 else (0.0 if self.err == 0 else np.inf)


def bound(dtype: str, baseline_err: float, oracle: np.ndarray) -> float:
    rule = TOLERANCE[dtype]
    return rule.c * baseline_err + rule.floor * scale_of(oracle)


def scale_of(oracle: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(oracle)))) if oracle.size else 1.0


def max_error(actual: Any, oracle: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """max |actual − oracle| and where; a non-finite value in ``actual`` counts as inf."""
    a = np.asarray(actual).astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        return float("inf"), tuple(int(i) for i in np.argwhere(bad)[0])
    diff = np.abs(a - oracle)
    if diff.size == 0:
        return 0.0, ()
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return float(diff[where]), tuple(int(i) for i in where)


def compare(
    name: str, actual: Any, oracle: np.ndarray, dtype: str, baseline_err: float = 0.0
) -> Comparison:
    """Compare ``actual`` to the float64 oracle under the rule of ``dtype`` (PREC-3)."""
    err, where = max_error(actual, oracle)
    return Comparison(name, err, err / scale_of(oracle), bound(dtype, baseline_err, oracle), where)


def compare_plan(name: str, actual: Any, expected: np.ndarray) -> Comparison:
    """window and reach must be equal; temperature and gain within PLAN_RTOL (PREC-3)."""
    err, where = max_error(actual, expected)
    exact = expected.dtype.kind in "iu"
    allowed = 0.0 if exact else PLAN_RTOL * scale_of(expected)
    return Comparison(name, err, err / scale_of(expected), allowed, where)


# --- Gradients (GRAD-6; owner H3a) ---------------------------------------------------------
# The rule of PREC-3 applied to each gradient, with the baseline from the reference's VJP
# evaluated in the dtype under test; its own table so the two can part when measured apart.
GRAD_TOLERANCE = {
    "float64": Rule(c=0.0, floor=1e-10),
    "float32": Rule(c=16.0, floor=9.5e-7),
    "float16": Rule(c=4.0, floor=9.8e-4),
    "bfloat16": Rule(c=4.0, floor=7.8e-3),
}


def compare_gradient(
    name: str, actual: Any, oracle: np.ndarray, dtype: str, baseline_err: float = 0.0
) -> Comparison:
    """Compare a gradient to the oracle's VJP under the gradient rule of ``dtype`` (GRAD-6)."""
    err, where = max_error(actual, oracle)
    rule = GRAD_TOLERANCE[dtype]
    allowed = rule.c * baseline_err + rule.floor * scale_of(oracle)
    return Comparison(name, err, err / scale_of(oracle), allowed, where)

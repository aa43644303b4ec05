"""Error maps: |implementation − reference| as a small 2-D picture of where a check failed
(spec/conformance.md, reports; PREC-3 decides pass or fail, this only shows where).

The last axis of an output becomes the columns and every leading axis is flattened, in order,
into the rows:

- attention outputs [B, H, T, Dh]: rows (b, h, i) query positions, columns features d;
- attention weights [B, H, T, T]: rows (b, h, i), columns keys j (a band edge is a diagonal);
- layer outputs [B, T, D]: rows (b, t), columns features; the span scale s [B]: one row.

Maps larger than ``MAX_SIDE`` on a side are max-pooled in blocks, so one bad element still
shows in the summary: large outputs are summarised, never dropped.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

MAX_SIDE = 256  # the largest side of a map kept on a result (TEAM interface: ≤ 256×256)


class Layout(NamedTuple):
    """How an output of ``shape`` was laid out as a map: what rows and columns index, and
    the block of elements that each pixel max-pools."""

    rows: str
    cols: str
    block: tuple[int, int]


def error_map(actual: Any, oracle: Any) -> np.ndarray:
    """|actual − oracle| as a 2-D float64 map of at most MAX_SIDE × MAX_SIDE (see module doc).

    Elements equal in both (NaN against NaN, +inf against +inf included) are 0; a non-finite
    value on one side only, or a different infinity, is +inf.
    """
    got = np.asarray(actual, dtype=np.float64)
    want = np.asarray(oracle, dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(
            f"actual must have the oracle's shape {want.shape}, got {got.shape}; "
            "a shape mismatch has no error map"
        )
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    diff = np.where(same, 0.0, np.where(np.isfinite(diff), diff, np.inf))
    return max_pool(_as_matrix(diff), MAX_SIDE)


def layout(shape: tuple[int, ...]) -> Layout:
    """What the rows and columns of the error map of an output of ``shape`` index."""
    names = {
        0: ("scalar", "scalar"),
        1: ("one row", "element (e.g. batch b)"),
        2: ("first axis", "second axis"),
        3: ("positions (b, t)", "features"),
        4: ("positions (b, h, i)", "features d (outputs) or keys j (weights)"),
    }
    rows, cols = names.get(len(shape), ("leading axes, flattened", "last axis"))
    n_rows, n_cols = _as_matrix(np.empty(shape, dtype=np.float64)).shape
    return Layout(rows, cols, (_block(n_rows, MAX_SIDE), _block(n_cols, MAX_SIDE)))


def _as_matrix(a: np.ndarray) -> np.ndarray:
    """Leading axes flattened into rows, the last axis as columns; scalars are 1×1."""
    if a.ndim == 0:
        return a.reshape(1, 1)
    return a.reshape(-1, a.shape[-1]) if a.shape[-1] else a.reshape(-1, 0)


def _block(n: int, side: int) -> int:
    return max(1, math.ceil(n / side))


def max_pool(m: np.ndarray, side: int) -> np.ndarray:
    """Max-pool the 2-D ``m`` in blocks so that neither side exceeds ``side``; for values ≥ 0
    (errors, attention weights) the zero padding of a ragged last block never wins."""
    if m.size == 0:
        return np.zeros((1, 1))  # an empty output has nothing to differ in
    br, bc = _block(m.shape[0], side), _block(m.shape[1], side)
    if br == bc == 1:
        return m
    rows, cols = math.ceil(m.shape[0] / br), math.ceil(m.shape[1] / bc)
    padded = np.zeros((rows * br, cols * bc))
    padded[: m.shape[0], : m.shape[1]] = m
    return padded.reshape(rows, br, cols, bc).max(axis=(1, 3))

"""Kernel-tier vectors: generated inputs, sampled rows, and their expected values
(spec/vectors.md, "Generated inputs" and "Sampled rows"; spec/conformance.md, "Tiers").

A kernel case stores a recipe for its inputs (conformance/counter.py) and the expected output
on a sample of query rows only: every row at and beside a tile edge of tiles 16 … 256, the
first and last rows, the rows at and beside every padding boundary, and a few random rows.
Expected values come from the reference's second evaluation order, asked for those rows only
(reference/scalable.py, ORDER-1), so a T = 16384 case costs little to build, store and judge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np

from aha.reference import AHAConfig
from aha.reference.validate import FLOAT_DTYPES

from . import counter
from .corpus import Case, seed_of
from .counter import Grid

GENERATOR = "counter-1"
TIERS = ("default", "kernel")
EDGE = 16  # every tile edge of tiles 16, 32, …, 256 is a multiple of 16
DENSE_EDGES_UP_TO = 2048  # longer sequences: edges of 256 everywhere, of 16 near both ends
END_ZONE = 256  # positions from either end where every edge of 16 is sampled in long inputs
RANDOM_ROWS = 16
DEFAULT_GRID = Grid(limit=96, exponent=5)  # multiples of 1/32 in [−3, 3]: exact in bfloat16


@dataclass(frozen=True, kw_only=True)
class KernelCase:
    """A kernel case as the catalog declares it (STYLE 15: keywords, not positions)."""

    id: str
    kind: str  # "local" or "global"
    description: str
    clauses: tuple[str, ...]
    config: dict[str, Any]
    B: int
    H: int
    T: int
    Dh: int
    span_scale: tuple[float, ...] | None = None  # local cases: one per batch element
    real: tuple[tuple[int, int], ...] | None = None  # [start, end) of real tokens, per b
    grids: Mapping[str, Grid] = field(default_factory=dict)  # q, k, v, rel_bias; else default
    flags: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = FLOAT_DTYPES
    tier: str = "default"

    def recipe(self) -> dict[str, Any]:
        """The manifest's ``generated`` field (spec/vectors.md)."""
        R = AHAConfig.from_dict(self.config).max_rel_dist
        return {
            "generator": GENERATOR,
            "shape": {"B": self.B, "H": self.H, "T": self.T, "Dh": self.Dh, "R": R},
            "grids": {
                name: self.grids.get(name, DEFAULT_GRID).to_dict()
                for name in ("q", "k", "v", "rel_bias")
            },
            "span_scale": None if self.span_scale is None else list(self.span_scale),
            "real": None if self.real is None else [list(r) for r in self.real],
        }

    def case(self) -> Case:
        """The corpus Case: inputs built lazily from the recipe, rows sampled."""
        assert self.kind in ("local", "global") and self.tier in TIERS, self.id
        assert (self.span_scale is not None) == (self.kind == "local"), self.id
        recipe = self.recipe()
        seed = seed_of(self.id)
        return Case(
            id=self.id,
            kind=self.kind,
            description=self.description,
            clauses=self.clauses,
            flags=self.flags,
            config=self.config,
            inputs=counter.inputs(recipe, seed),  # type: ignore[arg-type]
            dtypes=self.dtypes,
            tier=self.tier,
            generated=recipe,
            rows=tuple(sample_rows(self.T, self.real, seed).tolist()),
        )


def sample_rows(seq_len: int, real: Any, seed: int) -> np.ndarray:
    """The query rows a kernel case stores, sorted and unique (spec/vectors.md, "Sampled rows")."""
    T = seq_len
    if T <= DENSE_EDGES_UP_TO:
        edges = np.arange(EDGE, T, EDGE)
    else:
        near = np.r_[np.arange(EDGE, END_ZONE + 1, EDGE), np.arange(T - END_ZONE, T, EDGE)]
        edges = np.r_[np.arange(256, T, 256), near - near % EDGE]
    rows = [edges - 1, edges, np.array([0, 1, T - 2, T - 1])]
    for start, end in [] if real is None else real:
        if end > start:  # a fully padded sequence has no boundary of its own
            rows.append(np.array([start - 1, start, start + 1, end - 2, end - 1, end]))
    u = counter.stream(seed, "rows", RANDOM_ROWS) >> np.uint64(11)
    rows.append((u % np.uint64(T)).astype(np.int64))
    every = np.concatenate(rows).astype(np.int64)
    return np.unique(every[(every >= 0) & (every < T)])


def reference_rows(
    kind: str, config: AHAConfig, inputs: Mapping[str, Any], rows: np.ndarray, dtype: str
) -> np.ndarray:
    """The reference's out[:, :, rows] at ``dtype`` (the oracle at float64, else the
    baseline of PREC-2 on inputs cast to dtype), evaluated on those rows only (ORDER-1)."""
    from aha.reference import scalable

    x = {n: inputs[n] for n in inputs}
    for name in ("q", "k", "v", "rel_bias"):
        x[name] = np.asarray(x[name]).astype(dtype)
    mask = x.get("key_padding_mask")
    if kind == "local":
        return scalable.local_attention_blocked(
            x["q"], x["k"], x["v"], x["span_scale"], x["rel_bias"], config, mask,
            dtype=dtype, rows=rows,
        )  # fmt: skip
    return scalable.global_attention_blocked(
        x["q"], x["k"], x["v"], x["rel_bias"], config, mask, dtype=dtype, rows=rows
    )


def build(case: Case) -> Case:
    """The case with its expected rows and each dtype's baseline error on those rows."""
    assert case.rows is not None, case.id
    config, rows = case.aha_config(), np.asarray(case.rows, dtype=np.int64)
    for name in ("q", "k", "v", "rel_bias"):
        a = case.inputs[name]
        for dtype in case.dtypes:
            if not np.array_equal(a.astype(dtype).astype(np.float64), a):
                raise AssertionError(f"{case.id}: input {name} is not exact in {dtype}")
    oracle = reference_rows(case.kind, config, case.inputs, rows, "float64")
    baseline = {
        dtype: {
            "out": 0.0
            if dtype == "float64"
            else float(
                np.max(
                    np.abs(
                        reference_rows(case.kind, config, case.inputs, rows, dtype).astype(
                            np.float64
                        )
                        - oracle
                    ),
                    initial=0,
                )
            )
        }
        for dtype in case.dtypes
    }
    return dataclasses.replace(case, expected={"out": oracle}, baseline_error=baseline)


def rederive(case: Case, rtol: float, ulps: float) -> list[tuple[str, str]]:
    """``aha vectors verify``: (field, problem) where the stored rows differ from the
    reference's by more than ``rtol`` at the output's scale, or a baseline error by more than
    ``ulps`` units in the last place of its dtype."""
    found = []
    rows = np.asarray(case.rows, dtype=np.int64)
    if case.rows is None or not np.array_equal(rows, sample_rows_of(case)):
        found.append(("rows", "are not the sampled rows of spec/vectors.md"))
    fresh = build(case)
    want, got = case.expected.get("out"), fresh.expected["out"]
    scale = max(1.0, float(np.max(np.abs(got), initial=0)))
    if (
        want is None
        or got.shape != want.shape
        or np.max(np.abs(got - want), initial=0) > rtol * scale
    ):
        found.append(("tensors/expected.out", "no longer matches the reference"))
    if set(case.baseline_error) != set(case.dtypes):
        found.append(("baseline_error", f"must have one entry per dtype of {list(case.dtypes)}"))
        return found
    for dtype in case.dtypes:
        stored = case.baseline_error[dtype].get("out", -1.0)
        derived = fresh.baseline_error[dtype]["out"]
        slack = ulps * float(ml_dtypes.finfo(dtype).eps) / 2 * scale
        if abs(stored - derived) > slack:
            found.append((f"baseline_error/{dtype}/out", f"{stored:.6g}, re-derived {derived:.6g}"))
    return found


def sample_rows_of(case: Case) -> np.ndarray:
    """The sampled rows of a generated case, from its recipe and seed."""
    assert case.generated is not None, case.id
    return sample_rows(int(case.generated["shape"]["T"]), case.generated.get("real"), case.seed)


def sampled(case: Case, got: dict[str, Any]) -> dict[str, Any]:
    """The adapter's outputs on the case's sampled rows; anything that is not an array of
    the full [B, H, T, Dh] shape is passed through for the comparison to reject."""
    if case.rows is None:
        return got
    out = got.get("out")
    T = int(case.generated["shape"]["T"]) if case.generated else -1
    if isinstance(out, np.ndarray) and out.ndim == 4 and out.shape[2] == T:
        return {**got, "out": out[:, :, np.asarray(case.rows, dtype=np.int64)]}
    return got


def in_tier(case: Case, tier: str) -> bool:
    """Does a run of ``tier`` include the case? The kernel tier includes the default one."""
    return tier == "kernel" or case.tier == "default"


KERNEL_TIME_LIMIT = 120.0  # seconds per call in a kernel-tier run: T = 16384 on a CPU


def time_limit(tier: str, given: float, default: float) -> float:
    """The per-call time limit of a run: a kernel-tier run raises the default one."""
    return KERNEL_TIME_LIMIT if tier == "kernel" and given == default else given

"""Kernel-tier vectors: generated inputs, sampled rows, and their expected values
(spec/vectors.md, "Generated inputs" and "Sampled rows"; spec/conformance.md, "Tiers").

A kernel case stores a recipe for its inputs (conformance/counter.py) and the expected output
on a sample of query rows only: every row at and beside a tile edge of tiles 16 … 256, the
first and last rows, the rows at and beside every padding boundary, and a few random rows.
Expected values come from the reference's second evaluation order, asked for those rows only
(reference/scalable.py, ORDER-1), so a T = 16384 case costs little to build, store and judge.

A VJP case (local_vjp, global_vjp) generates its cotangent d_out like the other inputs and
stores grad.q, grad.k and grad.v on the same rows of the T axis, and the small gradients
(grad.rel_bias, grad.span_scale) whole. dk and dv collect every query's contribution, so they
are evaluated whole, in the blocked order (reference/scalable_grad.py), and then sampled.
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
from .operations import GRAD

GENERATOR = "counter-1"
TIERS = ("default", "kernel")
KINDS = ("local", "global", "local_vjp", "global_vjp")
# Outputs of shape [B, H, T, Dh]: stored, and judged, on the sampled rows of their T axis.
ON_ROWS = ("out", f"{GRAD}q", f"{GRAD}k", f"{GRAD}v")
EDGE = 16  # every tile edge of tiles 16, 32, …, 256 is a multiple of 16
DENSE_EDGES_UP_TO = 2048  # longer sequences: edges of 256 everywhere, of 16 near both ends
END_ZONE = 256  # positions from either end where every edge of 16 is sampled in long inputs
RANDOM_ROWS = 16
DEFAULT_GRID = Grid(limit=96, exponent=5)  # multiples of 1/32 in [−3, 3]: exact in bfloat16


@dataclass(frozen=True, kw_only=True)
class KernelCase:
    """A kernel case as the catalog declares it (STYLE 15: keywords, not positions)."""

    id: str
    kind: str  # one of KINDS
    description: str
    clauses: tuple[str, ...]
    config: dict[str, Any]
    B: int
    H: int
    T: int
    Dh: int
    span_scale: tuple[float, ...] | None = None  # local(_vjp) cases: one per batch element
    real: tuple[tuple[int, int], ...] | None = None  # [start, end) of real tokens, per b
    grids: Mapping[str, Grid] = field(default_factory=dict)  # by tensor name; else default
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
                for name in generated_names(self.kind)
            },
            "span_scale": None if self.span_scale is None else list(self.span_scale),
            "real": None if self.real is None else [list(r) for r in self.real],
        }

    def case(self) -> Case:
        """The corpus Case: inputs built lazily from the recipe, rows sampled."""
        assert self.kind in KINDS and self.tier in TIERS, self.id
        assert (self.span_scale is not None) == self.kind.startswith("local"), self.id
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


def generated_names(kind: str) -> tuple[str, ...]:
    """The tensors a kernel case of ``kind`` generates: a VJP's cotangent d_out too."""
    return ("q", "k", "v", "rel_bias", *(("d_out",) if kind.endswith("_vjp") else ()))


def sample_rows(seq_len: int, real: Any, seed: int) -> np.ndarray:
    """The rows of the T axis a kernel case stores, sorted and unique (spec/vectors.md,
    "Sampled rows"): the query rows of out and dq, the key rows of dk and dv."""
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


def reference_outputs(
    kind: str, config: AHAConfig, inputs: Mapping[str, Any], rows: np.ndarray, dtype: str
) -> dict[str, np.ndarray]:
    """The reference's outputs as a case of ``kind`` stores them, at ``dtype`` (the oracle at
    float64, else the baseline of PREC-2 and GRAD-6 on inputs cast to dtype): out[:, :, rows]
    evaluated on those rows only (ORDER-1); every gradient evaluated whole, then grad.q,
    grad.k and grad.v cut to ``rows`` (their T axis)."""
    from aha.reference import scalable, scalable_grad

    x = {n: inputs[n] for n in inputs}
    for name in generated_names(kind):
        x[name] = np.asarray(x[name]).astype(dtype)
    mask = x.get("key_padding_mask")
    if kind == "local":
        out = scalable.local_attention_blocked(
            x["q"], x["k"], x["v"], x["span_scale"], x["rel_bias"], config, mask,
            dtype=dtype, rows=rows,
        )  # fmt: skip
        return {"out": out}
    if kind == "global":
        out = scalable.global_attention_blocked(
            x["q"], x["k"], x["v"], x["rel_bias"], config, mask, dtype=dtype, rows=rows
        )
        return {"out": out}
    if kind == "local_vjp":
        grads = scalable_grad.local_attention_vjp_blocked(
            x["q"], x["k"], x["v"], x["span_scale"], x["rel_bias"], config, mask, x["d_out"],
            dtype=dtype,
        )  # fmt: skip
    else:
        grads = scalable_grad.global_attention_vjp_blocked(
            x["q"], x["k"], x["v"], x["rel_bias"], config, mask, x["d_out"], dtype=dtype
        )
    T = x["q"].shape[2]
    return on_rows({f"{GRAD}{name}": g for name, g in grads.items()}, rows, T)


def on_rows(outputs: dict[str, Any], rows: np.ndarray, seq_len: int) -> dict[str, Any]:
    """``outputs`` with each of ON_ROWS that is an array [B, H, T, ·] cut to ``rows`` of its
    T axis; everything else (small gradients, wrong shapes, non-arrays) as it is."""

    def cut(name: str, value: Any) -> Any:
        if name in ON_ROWS and isinstance(value, np.ndarray):
            if value.ndim == 4 and value.shape[2] == seq_len:
                return value[:, :, rows]
        return value

    return {name: cut(name, value) for name, value in outputs.items()}


def build(case: Case) -> Case:
    """The case with its expected outputs (sampled rows, whole small gradients) and each
    dtype's baseline error on them."""
    assert case.rows is not None, case.id
    config, rows = case.aha_config(), np.asarray(case.rows, dtype=np.int64)
    for name in generated_names(case.kind):
        a = case.inputs[name]
        for dtype in case.dtypes:
            if not np.array_equal(a.astype(dtype).astype(np.float64), a):
                raise AssertionError(f"{case.id}: input {name} is not exact in {dtype}")
    oracle = reference_outputs(case.kind, config, case.inputs, rows, "float64")
    baseline = {
        dtype: baseline_errors(case.kind, config, case.inputs, rows, oracle, dtype)
        for dtype in case.dtypes
    }
    return dataclasses.replace(case, expected=oracle, baseline_error=baseline)


def baseline_errors(
    kind: str,
    config: AHAConfig,
    inputs: Mapping[str, Any],
    rows: np.ndarray,
    oracle: dict[str, np.ndarray],
    dtype: str,
) -> dict[str, float]:
    """max |baseline − oracle| per stored output, on what is stored (PREC-3, GRAD-6); 0 for
    float64, which has no baseline."""
    if dtype == "float64":
        return {name: 0.0 for name in oracle}
    base = reference_outputs(kind, config, inputs, rows, dtype)
    return {
        name: float(np.max(np.abs(base[name].astype(np.float64) - want), initial=0))
        for name, want in oracle.items()
    }


def rederive(case: Case, rtol: float, ulps: float) -> list[tuple[str, str]]:
    """``aha vectors verify``: (field, problem) where the recipe's tensors are not the kind's,
    the rows are not the sampled ones, a stored output differs from the reference's by more
    than ``rtol`` at its scale, or a baseline error differs from the re-derived one by more
    than ``ulps`` units in the last place of its dtype at the output's scale."""
    found = []
    if case.kind not in KINDS:
        return [("kind", f"a generated case must be one of {list(KINDS)}")]
    names = generated_names(case.kind)
    if case.generated is None or sorted(case.generated["grids"]) != sorted(names):
        found.append(("generated/grids", f"must name exactly {', '.join(names)}"))
        return found
    if case.rows is None or not np.array_equal(np.asarray(case.rows), sample_rows_of(case)):
        found.append(("rows", "are not the sampled rows of spec/vectors.md"))
    fresh = build(case)
    if set(case.expected) != set(fresh.expected):
        found.append(
            ("tensors", f"expected outputs {sorted(case.expected)}, not {sorted(fresh.expected)}")
        )
    for name in sorted(set(fresh.expected) & set(case.expected)):
        want, got = case.expected[name], fresh.expected[name]
        if (
            got.shape != want.shape
            or got.dtype != want.dtype
            or np.max(np.abs(got - want), initial=0) > rtol * _scale(got)
        ):
            found.append((f"tensors/expected.{name}", "no longer matches the reference"))
    if set(case.baseline_error) != set(case.dtypes):
        found.append(("baseline_error", f"must have one entry per dtype of {list(case.dtypes)}"))
        return found
    for dtype in case.dtypes:
        stored, derived = case.baseline_error[dtype], fresh.baseline_error[dtype]
        if set(stored) != set(derived):
            found.append((f"baseline_error/{dtype}", f"must name the outputs {sorted(derived)}"))
            continue
        for name, e in derived.items():
            slack = ulps * float(ml_dtypes.finfo(dtype).eps) / 2 * _scale(fresh.expected[name])
            if abs(stored[name] - e) > slack:
                found.append(
                    (f"baseline_error/{dtype}/{name}", f"{stored[name]:.6g}, re-derived {e:.6g}")
                )
    return found


def _scale(a: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(a), initial=0)))


def sample_rows_of(case: Case) -> np.ndarray:
    """The sampled rows of a generated case, from its recipe and seed."""
    assert case.generated is not None, case.id
    return sample_rows(int(case.generated["shape"]["T"]), case.generated.get("real"), case.seed)


def sampled(case: Case, got: dict[str, Any]) -> dict[str, Any]:
    """The adapter's outputs as the case stores them: out, grad.q, grad.k and grad.v on the
    case's sampled rows; anything that is not an array of the full [B, H, T, ·] shape is
    passed through for the comparison to reject."""
    if case.rows is None:
        return got
    T = int(case.generated["shape"]["T"]) if case.generated else -1
    return on_rows(got, np.asarray(case.rows, dtype=np.int64), T)


def in_tier(case: Case, tier: str) -> bool:
    """Does a run of ``tier`` include the case? The kernel tier includes the default one."""
    return tier == "kernel" or case.tier == "default"


KERNEL_TIME_LIMIT = 120.0  # seconds per call in a kernel-tier run: T = 16384 on a CPU


def time_limit(tier: str, given: float, default: float) -> float:
    """The per-call time limit of a run: a kernel-tier run raises the default one."""
    return KERNEL_TIME_LIMIT if tier == "kernel" and given == default else given

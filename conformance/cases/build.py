"""Builders shared by the case modules: exact input grids, masks, and the keyword records
``valid`` and ``invalid`` (STYLE 15).

Float inputs are multiples of 1/32 (or 1/256) small enough to be exact in float16 and bfloat16,
so one float64 expectation serves every dtype (PREC-4). Seeds derive from case ids
(corpus.seed_of), so adding a case never changes another's data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aha.reference import param_shapes

from ..corpus import Case, seed_of

Build = Callable[[np.random.Generator], dict[str, Any]]


def grid(
    rng: np.random.Generator, shape: tuple[int, ...], limit: int = 96, step: float = 1 / 32
) -> np.ndarray:
    """Random multiples of ``step`` in [-limit·step, limit·step]: exact in every float dtype."""
    return rng.integers(-limit, limit + 1, shape).astype(np.float64) * step


def masks(*rows: str) -> np.ndarray:
    """key_padding_mask from strings of 1 (real) and 0 (padding), one per batch element."""
    return np.array([[c == "1" for c in row] for row in rows])


def core(
    rng: np.random.Generator,
    B: int,
    H: int,
    T: int,
    Dh: int,
    R: int,
    *,
    span: Any = None,
    mask: np.ndarray | None = None,
    limit: int = 96,
    step: float = 1 / 32,
    bias: str = "random",
) -> dict[str, Any]:
    """Inputs of a local (with ``span``) or global case. bias: random, zero."""
    q, k, v = (grid(rng, (B, H, T, Dh), limit, step) for _ in range(3))
    table = grid(rng, (H, 2 * R - 1)) if bias == "random" else np.zeros((H, 2 * R - 1))
    inputs: dict[str, Any] = {"q": q, "k": k, "v": v, "rel_bias": table}
    if span is not None:
        inputs["span_scale"] = np.broadcast_to(np.asarray(span, dtype=np.float64), (B,)).copy()
    if mask is not None:
        inputs["key_padding_mask"] = mask
    return inputs


def layer(
    rng: np.random.Generator,
    B: int,
    T: int,
    D: int,
    H: int,
    config: dict[str, Any],
    *,
    mask: np.ndarray | None = None,
    span: Any = None,
    x_limit: int = 64,
) -> dict[str, Any]:
    """Inputs of a layer case; span.bias is fixed later by the generator (PREC-5 margin)."""
    from aha.reference import AHAConfig

    params = {}
    for name, shape in param_shapes(D, H, AHAConfig.from_dict(config)).items():
        if name.startswith("ln_") and name.endswith("weight"):
            params[name] = 1.0 + grid(rng, shape, 8)
        elif name == "span.weight":
            params[name] = grid(rng, shape, 16, step=1 / 256)
        elif name.endswith("rel_bias") or name.startswith("ln_"):
            params[name] = grid(rng, shape, 32)
        else:
            params[name] = grid(rng, shape, 8)
    inputs: dict[str, Any] = {"x": grid(rng, (B, T, D), x_limit), "params": params}
    if mask is not None:
        inputs["key_padding_mask"] = mask
    if span is not None:
        inputs["span_scale"] = np.broadcast_to(np.asarray(span, dtype=np.float64), (B,)).copy()
    return inputs


def below(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


def above(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def valid(
    *,
    id: str,
    kind: str,
    description: str,
    clauses: str,
    flags: str,
    config: dict[str, Any],
    inputs: Build,
) -> Case:
    """A valid case: ``inputs`` is a recipe called with the generator seeded by the id
    (corpus.seed_of); clauses and flags are space-separated ids."""
    return Case(
        id=id,
        kind=kind,
        description=description,
        clauses=tuple(clauses.split()),
        flags=tuple(flags.split()),
        config=config,
        inputs=inputs(np.random.default_rng(seed_of(id))),
    )


def invalid(
    *,
    id: str,
    kind: str,
    description: str,
    clauses: str,
    error: str,
    argument: str,
    config: dict[str, Any],
    inputs: dict[str, Any],
) -> Case:
    """An invalid case (ERR-1, ERR-2): the reference's ``error`` naming ``argument``."""
    return Case(
        id=id,
        kind=kind,
        description=description,
        clauses=("ERR-1", "ERR-2", *clauses.split()),
        flags=("accepts-bad-input",),
        config=config,
        inputs=inputs,
        error=error,
        argument=argument,
    )

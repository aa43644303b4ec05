"""The counter-based input generator of kernel-tier vectors (spec/vectors.md, "Generated inputs").

A value is a pure function of (seed, tensor name, flat index), so a vector stores a few
numbers instead of its tensors, and any language rebuilds them in a few lines:

    key  = mix(seed + fnv1a64(name))                    all arithmetic mod 2^64
    u    = mix(key + (n + 1) · 0x9E3779B97F4A7C15)      n: flat index, C order
    m    = (u >> 11) mod (2·limit + 1) − limit          an integer in [−limit, limit]
    x    = offset + m · 2^−exponent                     a point of a dyadic grid

``mix`` is SplitMix64's output function, so ``u`` for n = 0, 1, 2 … is the SplitMix64 stream
seeded with ``key``. Grids are chosen so every value is exact in the dtypes a case is defined
in (checked when the corpus is generated), and one float64 expectation serves them all (PREC-4).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment: the odd integer nearest 2^64/φ
MIX_1, MIX_2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # SplitMix64's multipliers
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3  # FNV-1a, 64 bits
MASK64 = (1 << 64) - 1


@dataclass(frozen=True, kw_only=True)
class Grid:
    """Values offset + m · 2^−exponent with m an integer in [−limit, limit]."""

    limit: int = 96
    exponent: int = 5
    offset: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "exponent": self.exponent, "offset": self.offset}


def fnv1a64(name: str) -> int:
    """FNV-1a (64 bits) of the UTF-8 bytes of ``name``."""
    h = FNV_OFFSET
    for byte in name.encode():
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 (wrap-around is the point)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX_1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX_2)
    return z ^ (z >> np.uint64(31))


def stream(seed: int, name: str, count: int) -> np.ndarray:
    """u for flat indices 0 .. count − 1: uint64 [count]."""
    with np.errstate(over="ignore"):
        key = _mix(np.array([(seed + fnv1a64(name)) & MASK64], dtype=np.uint64))[0]
        n = np.arange(1, count + 1, dtype=np.uint64)
        return _mix(key + n * np.uint64(GAMMA))


def integers(seed: int, name: str, count: int, limit: int) -> np.ndarray:
    """m = (u >> 11) mod (2·limit + 1) − limit: int64 [count]."""
    u = stream(seed, name, count) >> np.uint64(11)
    return (u % np.uint64(2 * limit + 1)).astype(np.int64) - limit


def tensor(seed: int, name: str, shape: tuple[int, ...], grid: Grid) -> np.ndarray:
    """The float64 tensor ``name`` of the given shape on ``grid``."""
    count = int(np.prod(shape, dtype=np.int64))
    m = integers(seed, name, count, grid.limit).astype(np.float64)
    return (grid.offset + m * 2.0**-grid.exponent).reshape(shape)


class LazyInputs(Mapping[str, Any]):
    """A case's inputs, each built on first use: loading a corpus with T = 16384 cases costs
    nothing until one of them runs."""

    def __init__(self, build: dict[str, Any]) -> None:
        self._build = build
        self._made: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._made:
            maker = self._build[name]
            self._made[name] = maker() if callable(maker) else maker
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build)

    def __len__(self) -> int:
        return len(self._build)


def inputs(recipe: Mapping[str, Any], seed: int) -> LazyInputs:
    """The inputs of a generated case from its recipe (the manifest's ``generated`` field).

    q, k, v [B, H, T, Dh] and rel_bias [H, 2R − 1] on their grids, and d_out [B, H, T, Dh]
    when the recipe has its grid (VJP cases: the cotangent of out); span_scale [B] as listed
    (binary64); key_padding_mask [B, T] from ``real``: sequence b's real tokens are the
    positions start_b ≤ j < end_b, every other position is padding.
    """
    shape = recipe["shape"]
    B, H, T, Dh, R = (int(shape[n]) for n in ("B", "H", "T", "Dh", "R"))
    sizes = {"q": (B, H, T, Dh), "k": (B, H, T, Dh), "v": (B, H, T, Dh), "rel_bias": (H, 2 * R - 1)}
    if "d_out" in recipe["grids"]:
        sizes["d_out"] = (B, H, T, Dh)
    build: dict[str, Any] = {}
    for name, size in sizes.items():
        grid = Grid(**recipe["grids"][name])
        build[name] = lambda name=name, size=size, grid=grid: tensor(seed, name, size, grid)
    if recipe.get("span_scale") is not None:
        build["span_scale"] = np.array(recipe["span_scale"], dtype=np.float64)
    if recipe.get("real") is not None:
        build["key_padding_mask"] = lambda: padding_mask(recipe["real"], T)
    return LazyInputs(build)


def padding_mask(real: Any, seq_len: int) -> np.ndarray:
    """bool [B, T]: True where start_b ≤ j < end_b."""
    j = np.arange(seq_len)[None, :]
    bounds = np.asarray(real, dtype=np.int64).reshape(-1, 2)
    return (bounds[:, :1] <= j) & (j < bounds[:, 1:])

"""Shape buckets for the ``jax`` adapter: one compiled kernel serves many shapes.

``jax.jit`` compiles once per shape and per static ``config``, and a conformance run draws
hundreds of shapes; compiling for each cost 153 s of a default run on 2 cores. So the adapter
pads every call up to T = 128 (the properties' and most vectors' sizes) to a bucket and crops
the result, and hands jit a config that keeps only
what the compiled code reads. Nothing padded can change a real output:

- batch B and heads H to multiples of 4: padded sequences are all padding (their rows are 0
  and dropped), padded heads have zero q, k, v and bias (dropped);
- T to the ladder 64, 96, 128, 192, 256, 384, … (a power of two or 1.5 times one): padded keys
  are padding for every query (MASK-2), padded queries are dropped;
- Dh to a power of two ≥ 8: zero features add nothing to ⟨q, k⟩ and give output features
  that are dropped; the softmax scale of the true Dh goes in as data (CFG-4);
- the bias table to R' = a power of two ≥ 16, its edge entries repeated outward, so the
  clamped lookup of GLOBAL-2 reads what it read before (the local branch never reads past
  its reach, LOCAL-2);
- the config passed to jit: window and max_rel_dist bucketed, causal kept, scale None; gain,
  temperature and reach come from the host plan as data (PLAN-6), which uses the true T.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from aha.reference import AHAConfig

BATCH_STEP = HEAD_STEP = 4
T_MIN, DH_MIN, R_MIN, WINDOW_MIN = 64, 8, 16, 16
SMALL_T = 128  # calls up to this length are bucketed; longer ones compile for their shape


def ladder(n: int, minimum: int) -> int:
    """The smallest of minimum·{1, 1.5, 2, 3, 4, 6, …} (powers of two and 1.5 times them) ≥ n."""
    size = minimum
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 and size >= 4 else size * 4 // 3
        size = max(size, minimum)
    return size


def power_of_two(n: int, minimum: int) -> int:
    return max(minimum, 1 << (n - 1).bit_length())


def step(n: int, size: int) -> int:
    return -(-n // size) * size


class Bucket(NamedTuple):
    """Padded arrays for one call and what to crop the output back to."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    rel_bias: np.ndarray
    mask: np.ndarray  # bool [B', T']: padding everywhere the caller's input had none
    config: AHAConfig  # what the compiled code reads, bucketed
    shape: tuple[int, int, int, int]  # the caller's B, H, T, Dh


def pad(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
) -> Bucket:
    """q, k, v [B, H, T, Dh], rel_bias [H, 2R − 1], mask [B, T] or None, padded to buckets."""
    B, H, T, Dh = q.shape
    if T > SMALL_T:  # few such shapes, each costing more to run than to compile: as they are
        real = np.ones((B, T), dtype=bool) if mask is None else mask
        return Bucket(q, k, v, rel_bias, real, config, (B, H, T, Dh))
    B2, H2 = step(B, BATCH_STEP), step(H, HEAD_STEP)
    T2, D2 = ladder(T, T_MIN), power_of_two(Dh, DH_MIN)
    widths = ((0, B2 - B), (0, H2 - H), (0, T2 - T), (0, D2 - Dh))
    q, k, v = (np.pad(a, widths) for a in (q, k, v))
    R = config.max_rel_dist
    R2 = power_of_two(R, R_MIN)
    table = np.pad(rel_bias, ((0, 0), (R2 - R, R2 - R)), mode="edge")  # edges repeated
    table = np.pad(table, ((0, H2 - H), (0, 0)))
    real = np.ones((B, T), dtype=bool) if mask is None else mask
    real = np.pad(real, ((0, B2 - B), (0, T2 - T)))  # padded positions are not real
    window = power_of_two(min(config.window, R, T), WINDOW_MIN)
    bucketed = AHAConfig(window=window, max_rel_dist=R2, causal=config.causal)
    return Bucket(q, k, v, table, real, bucketed, (B, H, T, Dh))


def crop(out: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """The caller's [B, H, T, Dh] corner of a bucketed output."""
    B, H, T, Dh = shape
    return out[:B, :H, :T, :Dh]


def pad_batch(a: np.ndarray, batch: int, value: float) -> np.ndarray:
    """A [B] array padded to ``batch`` (a bucket's B) with ``value``."""
    return np.pad(a, (0, batch - a.shape[0]), constant_values=value)

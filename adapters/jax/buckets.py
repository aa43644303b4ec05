"""Shape buckets for the ``jax`` adapter: one compiled function serves many calls.

``jax.jit`` compiles once per shape, dtype and static config, and a conformance run meets
hundreds of them: compiling for each cost 293 s of a 2-core default run (1144 compiles). So
every call is padded to a bucket, and what differs inside a bucket goes in as data. Nothing
padded can change a real output, nor a real gradient:

- dtype: 16-bit inputs are widened to float32 on the host (exactly) and results rounded back
  once, as PREC-2 computes them; the layer, which also rounds between its operations, gets
  its storage dtype as data (layer.Padding). float64 and float32 are the compiled families.
- small buckets (T' ≤ 256) are many and each runs in milliseconds: B and H go to multiples of
  4 and T to the ladder 64, 96, 128, 192, 256, and they compile with XLA's cheap pipeline.
  Longer calls are few and cost more to run than to compile: they keep B and H, T goes to a
  multiple of 256, and XLA optimises fully. Padded sequences are all padding and padded
  heads all zero, both dropped; padded keys are padding for every query (MASK-2), padded
  queries are dropped.
- Dh to a power of two ≥ 16: zero features add nothing to ⟨q, k⟩; the softmax scale of the
  true Dh goes in as data (CFG-4). In the layer, head h's features move to h·Dh', the
  weights with them, and LayerNorm reads only the caller's features (layer.Padding).
- the bias table to R' = T' (2T' − 1 entries), each entry a copy of the caller's entry for
  its clamped distance (GLOBAL-2): every lookup reads what it read before, and a gradient is
  summed back over the copies.
- the static config keeps the block layout only: causal, R' and a window (T' up to 128: one
  block of T'; longer: min(W, R, T) to a power of two ≥ 16, a bound on every reach, PLAN-3).
  Reach, gain and temperature come from the host plan of the true T and Dh (PLAN-6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aha.reference import AHAConfig, param_shapes
from aha.reference.attention import bias_entry

from .layer import ROUNDING, Padding

BATCH_STEP = HEAD_STEP = 4
T_MIN, DH_MIN, WINDOW_MIN = 64, 16, 16
ONE_BLOCK_UP_TO = 128  # the local branch of a bucket this short attends in one block
SMALL_T = 256  # buckets up to this length cost more to compile than to run (see below)
LONG_T_STEP = 256


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


@dataclass(frozen=True)
class Bucket:
    """Where a call's [B, H, T, Dh] arrays sit in their bucket [B', H', T', Dh']."""

    shape: tuple[int, int, int, int]  # the caller's B, H, T, Dh
    padded: tuple[int, int, int, int]  # the bucket's B', H', T', Dh'
    rel_dist: int  # the caller's R
    table: np.ndarray  # [2T' − 1]: which of the caller's 2R − 1 bias entries each copies
    config: AHAConfig  # what the compiled code reads: the block layout only

    @property
    def small(self) -> bool:
        """Whether the bucket compiles with the cheap pipeline (vjp.Compiled)."""
        return self.padded[2] <= SMALL_T

    def heads(self, a: np.ndarray) -> np.ndarray:
        """[B, H, T, Dh] → [B', H', T', Dh'], zero-padded."""
        return np.pad(a, [(0, n2 - n) for n, n2 in zip(self.shape, self.padded, strict=True)])

    def crop(self, a: np.ndarray) -> np.ndarray:
        """The caller's [B, H, T, Dh] corner of a bucket's array."""
        B, H, T, Dh = self.shape
        return a[:B, :H, :T, :Dh]

    def bias(self, rel_bias: np.ndarray) -> np.ndarray:
        """[H, 2R − 1] → [H', 2T' − 1]: every entry the caller's for its clamped distance."""
        return np.pad(rel_bias[:, self.table], ((0, self.padded[1] - self.shape[1]), (0, 0)))

    def fold(self, d_bias: np.ndarray) -> np.ndarray:
        """The gradient of ``bias``: each copy's gradient summed into its caller's entry."""
        H, R = self.shape[1], self.rel_dist
        out = np.zeros((H, 2 * R - 1), d_bias.dtype)
        np.add.at(out.T, self.table, d_bias[:H].T)  # out.T is a view: sums into out
        return out

    def mask(self, mask: np.ndarray | None) -> np.ndarray:
        """bool [B', T']: the caller's key padding, every padded position padding (MASK-2)."""
        B, _, T, _ = self.shape
        real = np.ones((B, T), dtype=bool) if mask is None else mask
        return np.pad(real, ((0, self.padded[0] - B), (0, self.padded[2] - T)))

    def batch(self, a: np.ndarray, value: float) -> np.ndarray:
        """A [B] array padded to B' with ``value``."""
        return np.pad(a, (0, self.padded[0] - self.shape[0]), constant_values=value)


def bucket(shape: tuple[int, ...], config: AHAConfig) -> Bucket:
    """The bucket of a call with q [B, H, T, Dh] and ``config``."""
    B, H, T, Dh = shape
    caller = (B, H, T, Dh)
    T2 = ladder(T, T_MIN) if T <= SMALL_T else step(T, LONG_T_STEP)
    if T2 <= SMALL_T:
        B, H = step(B, BATCH_STEP), step(H, HEAD_STEP)
    R = config.max_rel_dist
    table = bias_entry(np.arange(-(T2 - 1), T2), R)
    window = T2 if T2 <= ONE_BLOCK_UP_TO else power_of_two(min(config.window, R, T), WINDOW_MIN)
    static = AHAConfig(window=window, max_rel_dist=T2, causal=config.causal)
    return Bucket(caller, (B, H, T2, power_of_two(Dh, DH_MIN)), R, table, static)


@dataclass(frozen=True)
class LayerBucket:
    """Where a layer call's x [B, T, D] and parameters sit in their bucket: the heads'
    bucket, with head h's Dh features at h·Dh' … h·Dh' + Dh − 1 of D' = H'·Dh' (LAYER-1)."""

    heads: Bucket
    features: np.ndarray  # [D]: each of the caller's features' place in D'

    def x(self, x: np.ndarray) -> np.ndarray:
        """[B, T, D] → [B', T', D'], zero-padded."""
        B, _, T, _ = self.heads.shape
        B2, H2, T2, Dh2 = self.heads.padded
        out = np.zeros((B2, T2, H2 * Dh2), x.dtype)
        out[:B, :T, self.features] = x
        return out

    def crop(self, y: np.ndarray) -> np.ndarray:
        """The caller's [B, T, D] of a bucket's [B', T', D']."""
        B, _, T, _ = self.heads.shape
        return y[:B, :T][..., self.features]

    def params(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each parameter at its bucket's shape: zero where padded, the tables copied out."""
        padded = {}
        for name, shape in self._shapes().items():
            if name.endswith("rel_bias"):
                padded[name] = self.heads.bias(params[name])
            else:
                padded[name] = np.zeros(shape, params[name].dtype)
                padded[name][np.ix_(*self._axes(shape))] = params[name]
        return padded

    def crop_params(self, d_params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The gradient of ``params``: the caller's entries, the tables' copies summed."""
        return {
            name: self.heads.fold(d_params[name])
            if name.endswith("rel_bias")
            else d_params[name][np.ix_(*self._axes(shape))]
            for name, shape in self._shapes().items()
        }

    def padding(self, dtype: np.dtype, config: AHAConfig) -> Padding:
        """What the layer reads as data: the caller's features, scale, eps and storage."""
        D2 = self.heads.padded[1] * self.heads.padded[3]
        features = np.zeros(D2, np.promote_types(dtype, np.float32))
        features[self.features] = 1
        scale = config.softmax_scale(self.heads.shape[3])
        return Padding(features, scale, config.ln_eps, ROUNDING.get(np.dtype(dtype), 0))

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        _, H2, _, Dh2 = self.heads.padded
        return param_shapes(H2 * Dh2, H2, self.heads.config)

    def _axes(self, shape: tuple[int, ...]) -> list[np.ndarray]:
        """For each axis of a bucket's parameter, where the caller's entries go: features on
        a D' axis, both halves' features on the 2D' axis of proj.weight, else as they are."""
        D2 = self.heads.padded[1] * self.heads.padded[3]
        f = self.features
        where = {D2: f, 2 * D2: np.concatenate([f, D2 + f])}
        return [where.get(n, np.arange(n)) for n in shape]


def layer_bucket(x_shape: tuple[int, ...], heads: int, config: AHAConfig) -> LayerBucket:
    """The bucket of a layer call with x [B, T, D] and ``heads`` heads."""
    B, T, D = x_shape
    Dh = D // heads
    shape = bucket((B, heads, T, Dh), config)
    Dh2 = shape.padded[3]
    features = (np.arange(heads)[:, None] * Dh2 + np.arange(Dh)[None, :]).ravel()
    return LayerBucket(shape, features)

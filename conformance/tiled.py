"""A tiled kernel written out in NumPy, and the bugs tiled kernels are known for.

``Tiled(tile)`` evaluates both branches the way a FlashAttention-style kernel does: query
tiles × key tiles of ``tile`` positions, an online softmax that keeps a running maximum and
sum per row and rescales its accumulator whenever the maximum grows, and only the key tiles
a query tile's band can reach (LOCAL-1 .. LOCAL-6, GLOBAL-1 .. GLOBAL-4). ``Tiled(tile, bug)``
plants one of ``TILE_BUGS``. tests/test_tiled_mutants.py requires the default run to reject
every bug at tiles 16, 64, 128 and 256 and to accept the correct kernel at all of them.

On the command line: ``aha conform --adapter aha.conformance.tiled:tiled_64`` (correct) or
``aha.conformance.tiled:last_key_tile_skipped_64`` (bug, tile 64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aha.adapters.base import CheckedAdapter
from aha.reference import AHAConfig, Plan, plan

TILE_BUGS = {
    "bias-tile-local-index": "the bias distance i − j is taken from tile-local indices",
    "padding-tile-local-index": "the padding mask is read at the tile-local key index",
    "causal-tile-local-index": "the causal test compares tile-local indices",
    "max-not-rescaled": "the accumulator is not rescaled when a later key tile raises the max",
    "last-key-tile-skipped": "a last, partial key tile is never loaded",
    "last-query-tile-skipped": "a last, partial query tile is never computed",
    "band-start-tile-skipped": "the first key tile of a band that begins inside it is skipped",
    "finite-minus-infinity": "masked logits are set to −1e4, not −inf",
    "window-truncated-to-tile": "a reach longer than one tile is cut to one tile",
    "head-dim-padded-unmasked": "Dh is padded to a power of two and the pad lanes are not zeroed",
}
FINITE_NEG_INF = -1e4  # what the finite-minus-infinity bug writes for a hidden logit
TILES = (16, 32, 64, 128, 256)


class Tiled(CheckedAdapter):
    """The blockwise kernel at tile size ``tile``, with ``bug`` planted when given."""

    capabilities = frozenset({"local", "global", "causal", "key_padding", "float64", "float32"})

    def __init__(self, tile: int = 64, bug: str | None = None) -> None:
        if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
            raise ValueError(f"tile must be an int >= 1, got {tile!r}")
        if bug is not None and bug not in TILE_BUGS:
            raise ValueError(f"bug must be one of {sorted(TILE_BUGS)}, got {bug!r}")
        self.tile, self.bug = tile, bug
        self.name = f"tiled:{bug or 'correct'}@{tile}"

    def local(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        s: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        p = plan(s, q.shape[2], config)  # the plan is decided host-side, once (STYLE 11)
        return self._attend(q, k, v, rel_bias, config, mask, p)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        return self._attend(q, k, v, rel_bias, config, mask, None)

    def _attend(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        table: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
        p: Plan | None,
    ) -> np.ndarray:
        """Both branches; ``p`` is None for the global one (no reach, gain or temperature)."""
        B, H, T, Dh = q.shape
        dt = q.dtype
        scale = config.softmax_scale(Dh)
        if self.bug == "head-dim-padded-unmasked":
            q, k = _pad_lanes(q), _pad_lanes(k)
        ones = np.ones(B)
        reach = None if p is None else p.reach
        if reach is not None and self.bug == "window-truncated-to-tile":
            reach = np.minimum(reach, self.tile)
        g = ((ones if p is None else p.gain) * scale).astype(dt)[:, None, None, None]
        tau = (ones if p is None else p.temperature).astype(dt)[:, None, None, None]
        out = np.zeros_like(v)
        tile = self.tile
        q_end = (T // tile) * tile if self.bug == "last-query-tile-skipped" else T
        for i0 in range(0, q_end, tile):
            i1 = min(i0 + tile, T)
            m = np.full((B, H, i1 - i0, 1), -np.inf, dtype=dt)  # running max per row
            total = np.zeros((B, H, i1 - i0, 1), dtype=dt)  # running sum of exp
            acc = np.zeros((B, H, i1 - i0, Dh), dtype=dt)
            for j0 in self._key_tiles(i0, i1, T, reach, config.causal):
                j1 = min(j0 + tile, T)
                z = g * (q[:, :, i0:i1] @ k[:, :, j0:j1].swapaxes(-1, -2))
                z = (z + self._bias(table, i0, i1, j0, j1, config.max_rel_dist)) / tau
                visible = self._visible(i0, i1, j0, j1, reach, config.causal, mask)
                hidden = FINITE_NEG_INF if self.bug == "finite-minus-infinity" else -np.inf
                z = np.where(visible, z, hidden)
                m_new = np.maximum(m, z.max(axis=-1, keepdims=True))
                safe = np.where(np.isfinite(m_new), m_new, 0.0)  # rows nothing visible yet
                e = np.exp(z - safe)
                if self.bug == "max-not-rescaled":
                    rescale = np.ones_like(m)
                else:
                    rescale = np.where(np.isfinite(m), np.exp(m - safe), 0.0)
                total = total * rescale + e.sum(axis=-1, keepdims=True)
                acc = acc * rescale + e @ v[:, :, j0:j1]
                m = m_new
            # A row with no visible key keeps total 0 and gives 0 (LOCAL-5, GLOBAL-4).
            out[:, :, i0:i1] = np.divide(acc, total, out=np.zeros_like(acc), where=total > 0)
        return out

    def _key_tiles(self, i0: int, i1: int, T: int, reach: np.ndarray | None, causal: bool) -> range:
        """Starts of the key tiles a query tile [i0, i1) can see, over the whole batch."""
        tile = self.tile
        first, last = 0, T - 1  # key positions
        if reach is not None:
            rho = int(reach.max())
            first, last = max(0, i0 - rho + 1), min(T - 1, i1 - 1 + rho - 1)
        if causal:
            last = min(last, i1 - 1)
        start = (first // tile) * tile
        if self.bug == "band-start-tile-skipped" and first % tile:
            start += tile
        stop = last + 1
        if self.bug == "last-key-tile-skipped":
            stop = min(stop, (T // tile) * tile)
        return range(start, stop, tile)

    def _bias(self, table: np.ndarray, i0: int, i1: int, j0: int, j1: int, R: int) -> np.ndarray:
        """bias[h, i, j] for the tile, from the global distance i − j (LOCAL-2, GLOBAL-2)."""
        i, j = np.arange(i0, i1)[:, None], np.arange(j0, j1)[None, :]
        if self.bug == "bias-tile-local-index":
            i, j = i - i0, j - j0
        return table[:, np.clip(i - j, 1 - R, R - 1) + R - 1]  # [H, tq, tk]

    def _visible(
        self,
        i0: int,
        i1: int,
        j0: int,
        j1: int,
        reach: np.ndarray | None,
        causal: bool,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        """May query i see key j, for the tile: [B or 1, 1, tq, tk] (LOCAL-1, GLOBAL-1)."""
        i, j = np.arange(i0, i1)[:, None], np.arange(j0, j1)[None, :]
        visible = np.ones((1, 1, i1 - i0, j1 - j0), dtype=bool)
        if reach is not None:
            visible = visible & (np.abs(i - j) < reach[:, None, None, None])
        if causal:
            local = self.bug == "causal-tile-local-index"
            visible = visible & ((j - j0 <= i - i0) if local else (j <= i))
        if mask is not None:
            if self.bug == "padding-tile-local-index":
                keys = mask[:, : j1 - j0]
            else:
                keys = mask[:, j0:j1]
            visible = visible & keys[:, None, None, :]
        return visible


def _pad_lanes(a: np.ndarray) -> np.ndarray:
    """Dh padded to the next power of two; the pad lanes hold what lies past the row's end
    (here: the row's first lanes again) instead of zeros."""
    Dh = a.shape[-1]
    width = 1 << (Dh - 1).bit_length()
    extra = width - Dh
    return np.concatenate([a, a[..., :extra]], axis=-1) if extra else a


def mutants(tiles: tuple[int, ...] = TILES) -> list[Tiled]:
    """Every planted bug at every tile size."""
    return [Tiled(t, bug) for bug in TILE_BUGS for t in tiles]


def __getattr__(name: str) -> Any:
    """``tiled_64`` builds the correct kernel at tile 64; ``max_not_rescaled_64`` a bug."""
    stem, _, size = name.rpartition("_")
    if size.isdigit():
        bug = stem.replace("_", "-")
        if bug == "tiled":
            return lambda: Tiled(int(size))
        if bug in TILE_BUGS:
            return lambda: Tiled(int(size), bug)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

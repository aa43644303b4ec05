"""The Triton kernel's loop bounds: the key blocks a query tile visits are exactly those that
hold a visible pair, and the blocks it runs unmasked are visible throughout (LOCAL-1).

``key_blocks`` is the function the kernel itself calls (under triton.jit), so these are tests
of the kernel's bounds; the band is rebuilt here by brute force from LOCAL-1 and CAUSAL-1.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("triton")

from aha.adapters.triton import kernel, kernel_bwd

TILES = [(16, 16), (32, 16), (16, 32), (64, 32), (128, 64)]
LENGTHS = [1, 17, 40, 130]


def visible_pairs(
    rows: np.ndarray, keys: np.ndarray, reach: int, kv_len: int, causal: bool
) -> np.ndarray:
    """visible[i, j] for query rows and key positions: LOCAL-1, CAUSAL-1 and the length."""
    dist = rows[:, None] - keys[None, :]
    visible = (np.abs(dist) < reach) & (keys[None, :] < kv_len)
    return visible & (dist >= 0) if causal else visible


def cases() -> list[tuple[int, int, int, int, int, int, bool]]:
    """(BLOCK_M, BLOCK_N, T, start_m, reach, kv_len, causal) over awkward edges."""
    out = []
    for (block_m, block_n), seq_len, causal in itertools.product(TILES, LENGTHS, (False, True)):
        reaches = {1, 2, block_n - 1, block_n, block_n + 1, block_m + block_n, seq_len}
        lengths = {0, 1, seq_len // 2, seq_len - 1, seq_len}
        for start_m, reach, kv_len in itertools.product(
            range(0, seq_len, block_m), reaches, lengths
        ):
            if 1 <= reach <= seq_len:
                out.append((block_m, block_n, seq_len, start_m, reach, kv_len, causal))
    return out


def test_visits_exactly_the_blocks_that_hold_a_visible_pair() -> None:
    for block_m, block_n, seq_len, start_m, reach, kv_len, causal in cases():
        lo, full_lo, full_hi, hi = kernel.key_blocks(
            start_m, reach, kv_len, causal, block_m, block_n
        )
        where = (
            f"tile {block_m}x{block_n} T={seq_len} start_m={start_m} reach={reach} "
            f"kv_len={kv_len} causal={causal}: {(lo, full_lo, full_hi, hi)}"
        )
        rows = np.arange(start_m, min(start_m + block_m, seq_len))  # rows past T are not real
        wanted = {
            n
            for n in range(0, seq_len, block_n)
            if visible_pairs(rows, np.arange(n, n + block_n), reach, kv_len, causal).any()
        }
        visited = (
            list(range(lo, full_lo, block_n))
            + list(range(full_lo, full_hi, block_n))
            + list(range(full_hi, hi, block_n))
        )
        assert lo <= full_lo <= full_hi, where
        assert len(visited) == len(set(visited)), where
        assert set(visited) == wanted, where


def test_unmasked_blocks_are_visible_throughout() -> None:
    """Every row of the tile, even rows past T, sees every key of a block run unmasked."""
    interior_seen = 0
    for block_m, block_n, _, start_m, reach, kv_len, causal in cases():
        _, full_lo, full_hi, _ = kernel.key_blocks(start_m, reach, kv_len, causal, block_m, block_n)
        rows = np.arange(start_m, start_m + block_m)
        for n in range(full_lo, full_hi, block_n):
            interior_seen += 1
            assert visible_pairs(rows, np.arange(n, n + block_n), reach, kv_len, causal).all(), (
                f"block {n} of tile {start_m} ({block_m}x{block_n}, reach {reach}, "
                f"kv_len {kv_len}, causal {causal}) is not visible throughout"
            )
    assert interior_seen > 100  # the sweep reaches the unmasked path, not just the edges


def test_work_grows_with_reach_not_with_length() -> None:
    """At T = 4096 the tiles visit about T·(2·reach + BLOCK_M) keys, not T² (LOCAL-1)."""
    seq_len, block_m, block_n = 4096, 128, 64
    for reach in (64, 512):
        keys = 0
        for start_m in range(0, seq_len, block_m):
            lo, _, _, hi = kernel.key_blocks(start_m, reach, seq_len, False, block_m, block_n)
            keys += hi - lo
        assert keys <= seq_len * (2 * reach + block_m + 2 * block_n)


def test_backward_visits_exactly_the_query_blocks_that_see_a_key_tile() -> None:
    """The transposed walk of the dK, dV kernel: for a key tile, the query blocks holding a
    visible pair; none for a tile of padding only (LOCAL-1, CAUSAL-1)."""
    for block_n, block_m, seq_len, start_n, reach, kv_len, causal in cases():
        lo, hi = kernel_bwd.query_blocks(start_n, reach, kv_len, seq_len, causal, block_m, block_n)
        keys = np.arange(start_n, min(start_n + block_n, seq_len))
        wanted = {
            m
            for m in range(0, seq_len, block_m)
            if visible_pairs(
                np.arange(m, min(m + block_m, seq_len)), keys, reach, kv_len, causal
            ).any()
        }
        where = f"tile {block_m}x{block_n} T={seq_len} start_n={start_n} reach={reach} " + (
            f"kv_len={kv_len} causal={causal}: {(lo, hi)}"
        )
        assert set(range(lo, hi, block_m)) == wanted, where


def test_kernel_runs_the_same_function() -> None:
    assert kernel._key_blocks.fn is kernel.key_blocks
    assert kernel_bwd._query_blocks.fn is kernel_bwd.query_blocks
    assert kernel_bwd._key_blocks.fn is kernel.key_blocks

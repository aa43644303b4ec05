"""The jax adapter's shape buckets (adapters/jax/buckets.py): padding never changes a real
output, and shapes that differ only inside a bucket share one compiled kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from aha import reference as ref
from aha.adapters.jax import buckets
from aha.adapters.jax.adapter import JaxAdapter, _global, _local


def test_ladder_and_powers() -> None:
    assert [buckets.ladder(n, 64) for n in (1, 64, 65, 96, 97, 129, 200, 1100)] == [
        64, 64, 96, 96, 128, 192, 256, 1536,
    ]  # fmt: skip
    assert [buckets.power_of_two(n, 8) for n in (1, 8, 9, 59)] == [8, 8, 16, 64]


@pytest.mark.clause("LOCAL-1", "LOCAL-2", "GLOBAL-2", "MASK-2", "CFG-4")
@pytest.mark.parametrize(
    "B, H, T, Dh, R, causal",
    [(1, 1, 5, 3, 2, False), (3, 2, 37, 7, 20, True), (2, 3, 130, 9, 9, False)],
)
def test_bucketed_calls_match_the_reference(
    B: int, H: int, T: int, Dh: int, R: int, causal: bool
) -> None:
    rng = np.random.default_rng(T)
    q, k, v = (rng.integers(-64, 65, (B, H, T, Dh)) / 32 for _ in range(3))
    table = rng.integers(-64, 65, (H, 2 * R - 1)) / 32
    mask = rng.random((B, T)) < 0.8
    mask[0, 0] = False
    config = ref.AHAConfig(window=12, max_rel_dist=R, causal=causal)
    s = np.linspace(0.3, 1.0, B)
    adapter = JaxAdapter()
    local = adapter.local_attention(q, k, v, s, table, config, mask)
    glob = adapter.global_attention(q, k, v, table, config, mask)
    assert local.shape == glob.shape == (B, H, T, Dh)
    want_local = ref.local_attention(q, k, v, s, table, config, mask)
    want_global = ref.global_attention(q, k, v, table, config, mask)
    assert np.max(np.abs(local - want_local)) < 1e-12
    assert np.max(np.abs(glob - want_global)) < 1e-12


def test_shapes_inside_one_bucket_share_a_kernel() -> None:
    adapter = JaxAdapter()
    config = ref.AHAConfig(window=8, max_rel_dist=8)
    rng = np.random.default_rng(0)
    before = (_local._cache_size(), _global._cache_size())
    for T, Dh in ((20, 5), (33, 7), (40, 8)):
        q = rng.integers(-8, 9, (2, 1, T, Dh)) / 8
        table = np.zeros((1, 15))
        adapter.local_attention(q, q, q, np.array([1.0, 0.5]), table, config)
        adapter.global_attention(q, q, q, table, config)
    grown = (_local._cache_size() - before[0], _global._cache_size() - before[1])
    assert grown[0] <= 1 and grown[1] <= 1

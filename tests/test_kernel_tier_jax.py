"""The jax adapter's shape buckets (adapters/jax/buckets.py): padding never changes a real
output, and shapes that differ only inside a bucket share one compiled kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from aha import reference as ref
from aha.adapters.jax import buckets
from aha.adapters.jax.adapter import JaxAdapter, _global, _layer, _local


def test_ladder_and_powers() -> None:
    assert [buckets.ladder(n, 64) for n in (1, 64, 65, 96, 97, 129, 200, 1100)] == [
        64, 64, 96, 96, 128, 192, 256, 1536,
    ]  # fmt: skip
    assert [buckets.power_of_two(n, 16) for n in (1, 16, 17, 59)] == [16, 16, 32, 64]


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
    before = (_local.cache_size(), _global.cache_size())
    for T, Dh in ((20, 5), (33, 7), (40, 8)):
        q = rng.integers(-8, 9, (2, 1, T, Dh)) / 8
        table = np.zeros((1, 15))
        adapter.local_attention(q, q, q, np.array([1.0, 0.5]), table, config)
        adapter.global_attention(q, q, q, table, config)
    grown = (_local.cache_size() - before[0], _global.cache_size() - before[1])
    assert grown[0] <= 1 and grown[1] <= 1


@pytest.mark.parametrize("R, T", [(3, 5), (200, 70), (9, 300)])
def test_the_table_fold_is_the_gradient_of_the_copy(R: int, T: int) -> None:
    """<bias(t), u> = <t, fold(u)>: fold is the adjoint of the copies (R below and above T')."""
    b = buckets.bucket((1, 2, T, 4), ref.AHAConfig(window=8, max_rel_dist=R))
    rng = np.random.default_rng(R)
    table = rng.standard_normal((2, 2 * R - 1))
    u = rng.standard_normal((b.padded[1], 2 * b.padded[2] - 1))
    assert np.isclose(np.sum(b.bias(table) * u), np.sum(table * b.fold(u)), rtol=1e-12)


def layer_inputs(B: int, T: int, H: int, Dh: int, seed: int) -> dict:
    config = ref.AHAConfig(window=6, max_rel_dist=5, causal=seed % 2 == 1, ln_eps=1e-3)
    rng = np.random.default_rng(seed)
    mask = rng.random((B, T)) < 0.8
    mask[:, 0] = True
    return {
        "x": rng.standard_normal((B, T, H * Dh)) + 3.0,  # a common offset: LayerNorm's mean
        "params": ref.init_params(H * Dh, H, config, seed),
        "config": config,
        "mask": mask,
        "heads": H,
    }


@pytest.mark.clause("LAYER-1", "LAYER-2", "LAYER-4", "GRAD-5", "CFG-4")
@pytest.mark.parametrize("B, T, H, Dh", [(1, 5, 3, 2), (2, 9, 2, 5), (3, 70, 1, 9)])
@pytest.mark.parametrize("given", [False, True])
def test_bucketed_layer_matches_the_reference(B: int, T: int, H: int, Dh: int, given: bool) -> None:
    """Head h's features move to h·Dh' and LayerNorm reads only the caller's: y, s and every
    gradient equal the reference's in float64, the span scale given or predicted."""
    case = layer_inputs(B, T, H, Dh, seed=B + T)
    x, params, config, mask = case["x"], case["params"], case["config"], case["mask"]
    s = np.linspace(0.35, 0.9, B) if given else None
    adapter = JaxAdapter()
    y, s_used = adapter.layer(x, params, config, mask, s, H)
    want_y, want_s = ref.hybrid_layer(x, params, config, mask, s)
    assert np.max(np.abs(y - want_y)) < 1e-12 and np.max(np.abs(s_used - want_s)) < 1e-12
    rng = np.random.default_rng(0)
    d_y, d_s = rng.standard_normal(x.shape), rng.standard_normal(B)
    got = adapter.layer_vjp(x, params, config, mask, s, H, d_y, d_s)
    want = ref.hybrid_layer_vjp(x, params, config, mask, s, d_y, d_s)
    assert np.max(np.abs(got["x"] - want["x"])) < 1e-10
    for name, g in want["params"].items():
        assert got["params"][name].shape == g.shape
        assert np.max(np.abs(got["params"][name] - g)) < 1e-10, name
    if given:
        assert np.max(np.abs(got["span_scale"] - want["span_scale"])) < 1e-10


def test_layers_inside_one_bucket_share_a_kernel() -> None:
    """Heads, head dims, lengths and configs that differ only inside a bucket add no compile."""
    adapter, before = JaxAdapter(), _layer.cache_size()
    for B, T, H, Dh in ((1, 5, 1, 8), (2, 30, 3, 5), (3, 64, 4, 1)):
        case = layer_inputs(B, T, H, Dh, seed=2 * T)  # even seeds: none causal
        x, config = case["x"].astype(np.float32), case["config"]
        params = {name: a.astype(np.float32) for name, a in case["params"].items()}
        adapter.layer(x, params, config, case["mask"], None, H)
    assert _layer.cache_size() - before <= 1

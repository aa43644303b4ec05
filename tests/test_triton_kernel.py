"""The Triton adapter against the reference within PREC-3 (LOCAL-1 .. LOCAL-6, GLOBAL-1 .. 4).

On the CPU the kernel runs under TRITON_INTERPRET=1 (tests/conftest.py) with 16×16 tiles, so
lengths 17 and 33 cross tile edges and long reaches reach the unmasked whole-block path;
with AHA_GPU=1 the same tests run the compiled kernel, bfloat16 included. The oracle is the
reference in float64 on the inputs as given, the baseline the reference in the dtype under
test (PREC-1, PREC-2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("triton")

from hypothesis import given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.adapters.triton import TritonAdapter
from aha.conformance import strategies
from aha.conformance.oracle import cast
from aha.conformance.tolerance import compare
from aha.reference import AHAConfig

ADAPTER = TritonAdapter()
DTYPES = ["float32", "float16"] + (["bfloat16"] if "bfloat16" in ADAPTER.capabilities else [])
RNG_SEED = 7


def inputs(
    batch: int, heads: int, seq_len: int, head_dim: int, max_rel_dist: int, seed: int = RNG_SEED
) -> dict[str, np.ndarray]:
    """q, k, v [B, H, T, Dh] and rel_bias [H, 2R − 1] on a 1/32 grid (exact in 16 bits)."""
    rng = np.random.default_rng(seed)
    shape = (batch, heads, seq_len, head_dim)
    q, k, v = (rng.integers(-64, 65, shape) / 32 for _ in range(3))
    bias = rng.integers(-64, 65, (heads, 2 * max_rel_dist - 1)) / 32
    return {"q": q, "k": k, "v": v, "rel_bias": bias}


def check(kind: str, dtype: str, config: AHAConfig, case: dict[str, Any]) -> np.ndarray:
    """Run the adapter on ``case`` in ``dtype``; assert PREC-3 and PREC-4; return its output."""
    x = cast(case, dtype)
    call = ADAPTER.local_attention if kind == "local" else ADAPTER.global_attention
    fn = ref.local_attention if kind == "local" else ref.global_attention
    args = [
        x["q"],
        x["k"],
        x["v"],
        *([x["span_scale"]] if kind == "local" else []),
        x["rel_bias"],
        config,
        x.get("key_padding_mask"),
    ]
    out = call(*args)
    assert out.dtype == x["q"].dtype and out.shape == x["q"].shape  # PREC-4
    oracle = fn(*args)
    baseline = fn(*args, dtype=dtype)
    result = compare(kind, out, oracle, dtype, float(np.max(np.abs(baseline - oracle))))
    assert result.ok, (
        f"{kind} {dtype}: err {result.err:.3g} > bound {result.bound:.3g} at {result.where}"
    )
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq_len", [1, 7, 17, 33])
def test_lengths_off_the_tile_with_a_span_per_sequence(
    dtype: str, causal: bool, seq_len: int
) -> None:
    # Reaches 2, 12 and min(24, T, 20): three sequences, three bands (PLAN-1, LOCAL-6).
    config = AHAConfig(window=24, max_rel_dist=20, causal=causal, temp_scale=0.5)
    case = inputs(3, 2, seq_len, 8, 20) | {"span_scale": np.array([0.1, 0.5, 1.0])}
    check("local", dtype, config, case)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reach_one_sees_only_the_diagonal(dtype: str) -> None:
    config = AHAConfig(window=16, max_rel_dist=8)
    case = inputs(2, 2, 17, 8, 8) | {"span_scale": np.array([0.0, 0.05])}
    assert list(ref.plan(case["span_scale"], 17, config).reach) == [1, 1]
    out = check("local", dtype, config, case)
    # With only itself visible, a query's output is its own value row (LOCAL-1, LOCAL-3).
    np.testing.assert_array_equal(
        out.astype(np.float64), case["v"].astype(dtype).astype(np.float64)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_padding_and_rows_with_no_visible_key_are_zero(dtype: str, causal: bool) -> None:
    seq_len = 20
    mask = np.ones((3, seq_len), dtype=bool)
    mask[0] = False  # every row of sequence 0 sees nothing
    mask[1, :5] = False  # causal: rows 0..4 of sequence 1 see nothing
    mask[2, 3:17:2] = False  # holes inside the band
    config = AHAConfig(window=8, max_rel_dist=8, causal=causal)
    case = inputs(3, 2, seq_len, 8, 8) | {
        "span_scale": np.array([1.0, 0.5, 1.0]),
        "key_padding_mask": mask,
    }
    out = check("local", dtype, config, case)
    assert not np.any(out[0].astype(np.float64))  # LOCAL-5: 0, not NaN, not the mean of V
    if causal:
        assert not np.any(out[1, :, :5].astype(np.float64))
    assert np.isfinite(out.astype(np.float64)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_logits_stay_finite(dtype: str) -> None:
    # scale 1 and q·k of up to 8·32·2 = 512, gain up to 8 and τ = 0.25: |logit| ~ 1e4 (LOCAL-4).
    config = AHAConfig(
        window=16, min_window=2, max_rel_dist=16, scale=1.0, temperature=0.25, score_scale="linear"
    )
    case = inputs(2, 2, 33, 8, 16) | {"span_scale": np.array([0.125, 1.0])}
    case["q"] = case["q"] * 16
    p = ref.plan(case["span_scale"], 33, config)
    z = ref.attention.logits(
        case["q"], case["k"], case["rel_bias"], 1.0, p.gain, p.temperature, np.dtype(np.float64)
    )
    assert np.abs(z).max() > 5e3
    check("local", dtype, config, case)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_index_is_query_minus_key(dtype: str) -> None:
    """A one-sided ramp table: only i − j, never j − i, matches the reference (LOCAL-2)."""
    config = AHAConfig(window=16, max_rel_dist=12)
    case = inputs(1, 2, 33, 8, 12) | {"span_scale": np.array([0.75])}
    case["q"] = np.zeros_like(case["q"])  # the bias alone decides the weights
    ramp = np.arange(23, dtype=np.float64) / 4
    case["rel_bias"] = np.stack([np.where(ramp > 2.75, ramp, 0.0), ramp[::-1]])
    out = check("local", dtype, config, case)
    mirrored = dict(case, rel_bias=case["rel_bias"][:, ::-1].copy())
    flipped = ref.local_attention(
        case["q"], case["k"], case["v"], case["span_scale"], mirrored["rel_bias"], config
    )
    assert np.abs(out.astype(np.float64) - flipped).max() > 0.1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("score_scale", ["none", "linear", "log"])
@pytest.mark.parametrize("sharpen", ["short", "long"])
def test_gain_and_temperature(dtype: str, score_scale: str, sharpen: str) -> None:
    config = AHAConfig(
        window=20,
        min_window=3,
        max_rel_dist=16,
        temperature=0.75,
        temp_scale=1.5,
        sharpen=sharpen,
        min_temperature=0.3,
        score_scale=score_scale,
    )
    case = inputs(3, 2, 33, 8, 16) | {"span_scale": np.array([0.0, 0.3, 0.95])}
    check("local", dtype, config, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq_len", [7, 33])
def test_global_reuses_the_kernel_with_the_clamped_bias(
    dtype: str, causal: bool, seq_len: int
) -> None:
    # R = 4 < T: distances past 3 share the edge entries of the table (GLOBAL-2).
    mask = np.ones((2, seq_len), dtype=bool)
    mask[1, :3] = False
    config = AHAConfig(window=2, max_rel_dist=4, causal=causal, temp_scale=2.0, score_scale="log")
    case = inputs(2, 3, seq_len, 8, 4) | {"key_padding_mask": mask}
    check("global", dtype, config, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head_dim", [1, 12, 40, 59, 80, 96, 111, 160, 192, 256])
def test_head_dims_padded_to_a_tile(dtype: str, head_dim: int) -> None:
    """Head dims off a power of two run in the next power-of-two tile, the extra columns
    masked on load and store (LOCAL-3); 256 fills its tile exactly."""
    config = AHAConfig(window=12, max_rel_dist=12, causal=head_dim % 2 == 1)
    case = inputs(2, 1, 17, head_dim, 12) | {"span_scale": np.array([0.5, 1.0])}
    case["q"] = case["q"] / np.sqrt(head_dim / 8)  # logits of the same spread at every Dh
    check("local", dtype, config, case)


def test_head_dims_past_the_largest_tile_are_declined() -> None:
    config = AHAConfig(window=12, max_rel_dist=12)
    case = cast(inputs(1, 1, 3, 257, 12), "float32")
    with pytest.raises(NotImplementedError, match="head dim 257"):
        ADAPTER.local_attention(*(case[n] for n in ("q", "k", "v")), 1.0, case["rel_bias"], config)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), kind=st.sampled_from(["local", "global"]))
def test_drawn_cases(data: st.DataObject, dtype: str, kind: str) -> None:
    config, case = strategies.draw_case(data, kind, dtype=dtype)
    check(kind, dtype, config, case)

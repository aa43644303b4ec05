"""The Triton backward kernels against the reference's VJPs (GRAD-1 .. GRAD-3).

On the CPU the kernels run under TRITON_INTERPRET=1 with 16×16 tiles, so lengths 17 and 33
cross tile edges. The oracle is ``aha.reference.local_attention_vjp`` /
``global_attention_vjp`` in float64 on the inputs as given. The bound is GRAD-6's: PREC-3's rule
with the error of the reference's VJP evaluated in the dtype under test as the baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from aha import reference as ref  # noqa: E402
from aha.adapters.triton import TritonAdapter  # noqa: E402
from aha.conformance import strategies  # noqa: E402
from aha.conformance.oracle import cast  # noqa: E402
from aha.conformance.tolerance import compare_gradient  # noqa: E402
from aha.reference import AHAConfig, DTypeError, ShapeError  # noqa: E402

ADAPTER = TritonAdapter()
RNG_SEED = 11
# float16 runs under the interpreter; bfloat16 needs a GPU (its interpreted tl.dot is wrong).
DTYPES = ["float32", "float16"] + (["bfloat16"] if "bfloat16" in ADAPTER.capabilities else [])
NAMES = {"local": ("q", "k", "v", "rel_bias", "span_scale"), "global": ("q", "k", "v", "rel_bias")}


def inputs(
    batch: int, heads: int, seq_len: int, head_dim: int, max_rel_dist: int, seed: int = RNG_SEED
) -> dict[str, np.ndarray]:
    """q, k, v, d_out [B, H, T, Dh] and rel_bias [H, 2R − 1] on a 1/32 grid."""
    rng = np.random.default_rng(seed)
    shape = (batch, heads, seq_len, head_dim)
    q, k, v, d_out = (rng.integers(-64, 65, shape) / 32 for _ in range(4))
    bias = rng.integers(-64, 65, (heads, 2 * max_rel_dist - 1)) / 32
    return {"q": q, "k": k, "v": v, "d_out": d_out, "rel_bias": bias}


def check(
    kind: str, config: AHAConfig, case: dict[str, Any], dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """The adapter's VJP in ``dtype`` against the float64 reference; every gradient within
    GRAD-6's bound, whose baseline is the reference's VJP evaluated in ``dtype``."""
    x = cast(case, dtype)
    mask = x.get("key_padding_mask")
    args: tuple[Any, ...]
    if kind == "local":
        args = (x["q"], x["k"], x["v"], x["span_scale"], x["rel_bias"], config, mask, x["d_out"])
        got = ADAPTER.local_attention_vjp(*args)
        oracle = ref.local_attention_vjp(*args)
        baseline = ref.local_attention_vjp(*args, dtype=dtype)
    else:
        args = (x["q"], x["k"], x["v"], x["rel_bias"], config, mask, x["d_out"])
        got = ADAPTER.global_attention_vjp(*args)
        oracle = ref.global_attention_vjp(*args)
        baseline = ref.global_attention_vjp(*args, dtype=dtype)
    assert set(got) == set(NAMES[kind])
    for name in NAMES[kind]:
        assert got[name].shape == oracle[name].shape, name
        want = np.float64 if name == "span_scale" else np.dtype(x["q"].dtype)
        assert got[name].dtype == want, name  # PREC-4
        err = float(np.max(np.abs(baseline[name].astype(np.float64) - oracle[name]), initial=0))
        result = compare_gradient(name, got[name], oracle[name], dtype, err)
        assert result.ok, (
            f"{kind} {dtype} grad.{name}: err {result.err:.3g} > bound {result.bound:.3g} "
            f"at {result.where}"
        )
    return got


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq_len", [17, 33])
def test_local_across_tiles_with_a_span_per_sequence(
    dtype: str, causal: bool, seq_len: int
) -> None:
    """Reaches 2, 12 and min(20, T) in one batch: dq over key tiles, dk, dv over query tiles, the
    bias gradient scattered to distances and dτ per sequence (GRAD-1, GRAD-2)."""
    config = AHAConfig(window=24, max_rel_dist=20, causal=causal, temp_scale=0.5)
    case = inputs(3, 2, seq_len, 8, 20) | {"span_scale": np.array([0.1, 0.5, 1.0])}
    assert list(ref.plan(case["span_scale"], seq_len, config).reach) == [2, 12, min(20, seq_len)]
    check("local", config, case, dtype)


@pytest.mark.parametrize("causal", [False, True])
def test_padding_at_tile_edges_and_a_fully_padded_sequence(causal: bool) -> None:
    """Padding from 15, 16 and 17 (around the tile edge), a hole inside the band, and a
    sequence with no real key: the masked rows pass no gradient (GRAD-3, LOCAL-5)."""
    seq_len = 33
    mask = np.ones((4, seq_len), dtype=bool)
    mask[0, 4:7] = False  # before the last real key: kv_len does not hide it
    mask[0, 15:] = False
    mask[1, 16:] = False
    mask[2, 17:] = False
    mask[3] = False
    config = AHAConfig(window=16, max_rel_dist=16, causal=causal, sharpen="long")
    case = inputs(4, 2, seq_len, 8, 16) | {
        "span_scale": np.array([1.0, 0.75, 0.5, 1.0]),
        "key_padding_mask": mask,
    }
    got = check("local", config, case)
    for name in ("q", "k", "v"):
        assert not np.any(got[name][3]), name  # nothing visible, nothing passes
    for name in ("k", "v"):
        assert not np.any(got[name][1, :, 16:]), name  # padding keys are read by no query
    assert got["span_scale"][3] == 0.0


def test_reach_one_and_reach_past_the_length() -> None:
    """Reach 1 (the diagonal only: dz = 0 everywhere, v alone gets gradient) beside a window
    longer than T (reach = T: every pair of the sequence)."""
    config = AHAConfig(window=64, min_window=1, max_rel_dist=40, causal=False)
    case = inputs(2, 2, 33, 8, 40) | {"span_scale": np.array([0.01, 1.0])}
    assert list(ref.plan(case["span_scale"], 33, config).reach) == [1, 33]
    got = check("local", config, case)
    assert not np.any(got["q"][0]) and not np.any(got["k"][0])
    np.testing.assert_array_equal(got["v"][0], case["d_out"][0].astype(np.float32))


def test_the_temperature_clamp_passes_no_gradient_to_span_scale() -> None:
    """Where τ = τmin holds, s gets 0 though τ itself has a gradient (a wide band, so dZ ≠ 0);
    beside it, an unclamped sequence gets its dτ (GRAD-2)."""
    config = AHAConfig(
        window=16,
        max_rel_dist=16,
        temperature=0.5,
        temp_scale=1.0,
        min_temperature=0.6,
        sharpen="long",  # τ = 0.5 + (1 − s): clamped at s = 0.95, where the band is wide
    )
    case = inputs(2, 2, 17, 8, 16) | {"span_scale": np.array([0.95, 0.3])}
    p = ref.plan(case["span_scale"], 17, config)
    assert list(p.reach) == [15, 4] and p.temperature[0] == 0.6
    got = check("local", config, case)
    assert got["span_scale"][0] == 0.0 and got["span_scale"][1] != 0.0


@pytest.mark.parametrize("head_dim", [40, 59])
def test_head_dims_off_a_power_of_two(head_dim: int) -> None:
    config = AHAConfig(window=12, max_rel_dist=12, causal=head_dim % 2 == 1)
    case = inputs(2, 1, 17, head_dim, 12) | {"span_scale": np.array([0.5, 1.0])}
    case["q"] = case["q"] / np.sqrt(head_dim / 8)
    check("local", config, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_global_clamps_the_bias_gradient_past_the_table(dtype: str, causal: bool) -> None:
    """R = 4 < T: every distance past 3 adds into the table's edge entries (GLOBAL-2, GRAD-3)."""
    mask = np.ones((2, 33), dtype=bool)
    mask[1, :3] = False
    config = AHAConfig(window=2, max_rel_dist=4, causal=causal)
    check("global", config, inputs(2, 3, 33, 8, 4) | {"key_padding_mask": mask}, dtype)


def test_cotangent_is_checked_like_an_input() -> None:
    config = AHAConfig(window=8, max_rel_dist=8)
    x = cast(inputs(1, 1, 5, 4, 8), "float32")
    args = (x["q"], x["k"], x["v"], 1.0, x["rel_bias"], config, None)
    with pytest.raises(ShapeError, match="d_out"):
        ADAPTER.local_attention_vjp(*args, x["d_out"][..., :3])
    with pytest.raises(DTypeError, match="d_out"):
        ADAPTER.local_attention_vjp(*args, x["d_out"].astype(np.int32))


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["local", "global"]), dtype=st.sampled_from(DTYPES))
def test_drawn_cases(data: st.DataObject, kind: str, dtype: str) -> None:
    config, case = strategies.draw_case(data, kind, dtype=dtype)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="d_out seed"))
    case["d_out"] = rng.integers(-64, 65, np.shape(case["q"])) / 32
    check(kind, config, case, dtype)

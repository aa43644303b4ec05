"""The jax-dpa peer adapter: what one jax.nn.dot_product_attention call meets, what it keeps of
the framework's conventions, and what it declines. These pin the verdict table of
docs/adapters/jax.md."""

from __future__ import annotations

import numpy as np
import pytest
from test_jax_attention import DTYPES, check, inputs

from aha import reference as ref
from aha.adapters.jax import JaxDPAAdapter
from aha.conformance.tolerance import compare

DPA = JaxDPAAdapter()
CONFIG = ref.AHAConfig(window=8, max_rel_dist=6, temp_scale=0.5, score_scale="log")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_uniform_span_conforms_below_float64(dtype: str, causal: bool) -> None:
    """One reach, gain and temperature for the batch, with padding (no all-padding row)."""
    config = ref.AHAConfig(**{**CONFIG.to_dict(), "causal": causal})
    x = {name: a.astype(DTYPES[dtype]) for name, a in inputs(2, 2, 19, 4, 6).items()}
    s = np.array([0.5, 0.5])
    mask = np.random.default_rng(1).random((2, 19)) > 0.3
    mask[:, 0] = True  # causal: every row keeps a visible key
    args = (x["q"], x["k"], x["v"])
    check(
        "local",
        DPA.local_attention(*args, s, x["rel_bias"], config, mask),
        ref.local_attention(*args, s, x["rel_bias"], config, mask),
        ref.local_attention(*args, s, x["rel_bias"], config, mask, dtype=DTYPES[dtype]),
        dtype,
    )
    check(
        "global",
        DPA.global_attention(*args, x["rel_bias"], config, mask),
        ref.global_attention(*args, x["rel_bias"], config, mask),
        ref.global_attention(*args, x["rel_bias"], config, mask, dtype=DTYPES[dtype]),
        dtype,
    )


def test_float64_misses_its_bound() -> None:
    """The framework's softmax runs in float32 whatever the input dtype (PREC-3 float64)."""
    x = inputs(2, 2, 19, 4, 6)
    out = DPA.global_attention(x["q"], x["k"], x["v"], x["rel_bias"], CONFIG)
    result = compare(
        "global",
        out,
        ref.global_attention(x["q"], x["k"], x["v"], x["rel_bias"], CONFIG),
        "float64",
    )
    assert out.dtype == np.float64
    assert not result.ok and 1e-9 < result.err < 1e-5


def test_fully_masked_rows_keep_the_framework_convention() -> None:
    """A row with no visible key is the mean of every V row, not 0 (LOCAL-5, GLOBAL-4 fail)."""
    x = {name: a.astype(np.float32) for name, a in inputs(2, 2, 9, 4, 6).items()}
    mask = np.ones((2, 9), bool)
    mask[1] = False
    out = DPA.global_attention(x["q"], x["k"], x["v"], x["rel_bias"], CONFIG, mask)
    np.testing.assert_allclose(
        out[1], np.broadcast_to(x["v"][1].mean(axis=1, keepdims=True), out[1].shape), atol=1e-6
    )


@pytest.mark.parametrize("span", [[0.5, 1.0], [0.5, 0.55]], ids=["reach", "temperature"])
def test_per_batch_plans_are_declined(span: list[float]) -> None:
    """Reach 4 vs 6, then one reach (4) with temperatures 1.25 vs 1.275 (PLAN-1)."""
    x = inputs(2, 2, 9, 4, 6)
    with pytest.raises(NotImplementedError, match="differs across the batch"):
        DPA.local_attention(x["q"], x["k"], x["v"], np.array(span), x["rel_bias"], CONFIG)

"""The torch-flex adapter's long-sequence buckets (adapters/torch/adapters.py): the kernel
family's lengths share a few compiled kernels, and padding is never real."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from aha.adapters.torch.adapters import LONG, TorchFlexAdapter, long_bucket, real


@pytest.mark.parametrize(
    "T, padded", [(7, 7), (256, 256), (300, 384), (600, 768), (777, 1024), (1025, 1536)]
)
def test_long_sequences_go_to_the_ladder(T: int, padded: int) -> None:
    a = np.ones((1, 1, T, 3))
    out = long_bucket(a, 2)
    assert out.shape == (1, 1, padded, 3)
    assert out[:, :, :T].all() and not out[:, :, T:].any()
    assert T <= LONG or padded > T


@pytest.mark.clause("MASK-2")
def test_padded_keys_are_padding() -> None:
    mask = long_bucket(real(None, 2, 300), 1, False)
    assert mask.shape == (2, 384) and mask[:, :300].all() and not mask[:, 300:].any()


def test_16_bit_runs_the_float32_kernel_on_cpu() -> None:
    adapter = TorchFlexAdapter("cpu")
    q = np.zeros((1, 1, 4, 2), dtype=np.float16)
    (got,) = adapter.compute(q)
    assert got.dtype == np.float32

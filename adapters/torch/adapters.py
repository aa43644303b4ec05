"""The ``torch`` and ``torch-flex`` adapters: this package's code under the harness."""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import torch

from aha.adapters.base import CheckedAdapter
from aha.reference import AHAConfig

from . import attention, vjp
from ._convert import to_numpy, to_torch
from .module import AdaptiveHybridAttention

# Batch and heads of the flex adapter's calls are padded to multiples of this (see below).
BUCKET = 4


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchAdapter(CheckedAdapter):
    """The dense path: masked attention with autograd, every dtype, CPU or CUDA.

    The plan is the reference's shared code, so it is not claimed here.
    """

    name = "torch"
    path = "dense"
    capabilities = frozenset(
        "local global layer causal key_padding float64 float32 float16 bfloat16 vjp".split()
    )

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device or default_device())
        self.version = f"torch {torch.__version__} ({self.path}, {self.device})"

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
        qt, kt, vt, table = (self.tensor(a) for a in (q, k, v, rel_bias))
        with torch.no_grad():
            out = attention.local_attention(
                qt, kt, vt, s, table, config, self.mask(mask), path=self.path
            )
        return to_numpy(out)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        qt, kt, vt, table = (self.tensor(a) for a in (q, k, v, rel_bias))
        with torch.no_grad():
            out = attention.global_attention(
                qt, kt, vt, table, config, self.mask(mask), path=self.path
            )
        return to_numpy(out)

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        module = AdaptiveHybridAttention(x.shape[-1], heads, config, path=self.path)
        # assign=True keeps each parameter in the dtype under test (PREC-4).
        module.load_state_dict({k: self.tensor(a) for k, a in params.items()}, assign=True)
        with torch.no_grad():
            y, s_used = module(self.tensor(x), self.mask(mask), s)
        return to_numpy(y), to_numpy(s_used).astype(np.float64)

    # VJPs by autograd through the same forward (GRAD-4; adapters/torch/vjp.py)
    def local_vjp(self, *args: Any) -> dict[str, np.ndarray]:
        return vjp.local_vjp(*args, device=self.device, path=self.path)

    def global_vjp(self, *args: Any) -> dict[str, np.ndarray]:
        return vjp.global_vjp(*args, device=self.device, path=self.path)

    def layer_vjp(self, *args: Any) -> dict[str, Any]:
        return vjp.layer_vjp(*args, device=self.device, path=self.path)

    def tensor(self, a: np.ndarray) -> torch.Tensor:
        return to_torch(a, self.device)

    def mask(self, mask: np.ndarray | None) -> torch.Tensor | None:
        return None if mask is None else self.tensor(mask)


class TorchFlexAdapter(TorchAdapter):
    """The flex path: compiled FlexAttention, forward only. Its kernels exist for float32,
    float16 and bfloat16 on CPU and CUDA; float64 is not claimed.

    A conformance run meets hundreds of tiny shapes and each compiled kernel costs seconds, so
    batch and heads are padded with zeros to multiples of BUCKET and dropped after: with the
    buckets of attention.flex, a whole run compiles a few dozen kernels.
    """

    name = "torch-flex"
    path = "flex"
    capabilities = TorchAdapter.capabilities - {"float64"}

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
        (B, H, T, _), storage = q.shape, q.dtype
        q, k, v, rel_bias = self.compute(q, k, v, rel_bias)
        q, k, v = (long_bucket(bucket(a, (0, 1)), 2) for a in (q, k, v))
        mask = long_bucket(bucket(real(mask, B, T), (0,), True), 1, False)
        out = super().local(q, k, v, bucket(s, (0,), 1.0), bucket(rel_bias, (0,)), config, mask)
        return out[:B, :H, :T].astype(storage)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        (B, H, T, _), storage = q.shape, q.dtype
        q, k, v, rel_bias = self.compute(q, k, v, rel_bias)
        q, k, v = (long_bucket(bucket(a, (0, 1)), 2) for a in (q, k, v))
        mask = long_bucket(bucket(real(mask, B, T), (0,), True), 1, False)
        out = super().global_(q, k, v, bucket(rel_bias, (0,)), config, mask)
        return out[:B, :H, :T].astype(storage)

    def compute(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """On CPU, 16-bit inputs run the float32 kernel and the output is rounded once, the
        baseline's convention (PREC-2): one compiled kernel per shape instead of three, each
        13 to 25 s on a 2-core CPU. On CUDA the 16-bit kernels themselves run."""
        if self.device.type == "cuda":
            return list(arrays)
        return [a.astype(np.float32) if a.dtype.itemsize < 4 else a for a in arrays]

    def layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        mask: np.ndarray | None,
        s: np.ndarray | None,
        heads: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        B = x.shape[0]
        y, s_used = super().layer(
            bucket(x, (0,)), params, config, bucket(mask, (0,), True), bucket(s, (0,), 1.0), heads
        )
        return y[:B], s_used[:B]


# Sequences longer than this are padded to the ladder 384, 512, 768, 1024, 1536, … (a power
# of two or 1.5 times one) on top of attention.flex's multiple of 128: the kernel tier's
# lengths then share a handful of compiled kernels. Padded keys are padding (MASK-2), padded
# queries are dropped.
LONG = 256


def long_bucket(a: np.ndarray, axis: int, value: float = 0) -> np.ndarray:
    """``a`` padded along ``axis`` (T) to the ladder when T > LONG."""
    T = a.shape[axis]
    if T <= LONG:
        return a
    size = LONG
    while size < T:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    widths = [(0, size - T if n == axis else 0) for n in range(a.ndim)]
    return np.pad(a, widths, constant_values=value)


def real(mask: np.ndarray | None, batch: int, seq_len: int) -> np.ndarray:
    """The key padding mask, all real when None (padding to buckets needs one)."""
    return np.ones((batch, seq_len), dtype=bool) if mask is None else mask


@overload
def bucket(a: np.ndarray, axes: tuple[int, ...], value: float = 0) -> np.ndarray: ...
@overload
def bucket(a: None, axes: tuple[int, ...], value: float = 0) -> None: ...
def bucket(a: np.ndarray | None, axes: tuple[int, ...], value: float = 0) -> np.ndarray | None:
    """``a`` padded with ``value`` along ``axes`` to multiples of BUCKET (None stays None).

    Padded sequences and heads are valid inputs of their own, independent of the real ones
    (LOCAL-6), and dropped from the output.
    """
    if a is None:
        return None
    widths = [(0, -n % BUCKET if axis in axes else 0) for axis, n in enumerate(a.shape)]
    return np.pad(a, widths, constant_values=value)

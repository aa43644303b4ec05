"""The ``torch`` and ``torch-flex`` adapters: this package's code under the harness."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aha.adapters.base import CheckedAdapter
from aha.reference import AHAConfig

from . import attention, vjp
from ._convert import to_numpy, to_torch
from .module import AdaptiveHybridAttention


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

    A conformance run meets hundreds of small shapes and each compiled kernel costs seconds,
    so attention.flex runs every call in one of a few kernel shapes (attention.kernel_shape):
    a default run compiles two kernels, both in its first call (``warm_up``).
    """

    name = "torch-flex"
    path = "flex"
    capabilities = TorchAdapter.capabilities - {"float64"}

    def __init__(self, device: str | torch.device | None = None) -> None:
        super().__init__(device)
        self.warm: set[torch.dtype] = set()  # dtypes whose kernels are compiled

    def local(self, q: np.ndarray, *args: Any) -> np.ndarray:
        self.warm_up(q)
        return super().local(q, *args)

    def global_(self, q: np.ndarray, *args: Any) -> np.ndarray:
        self.warm_up(q)
        return super().global_(q, *args)

    def layer(self, x: np.ndarray, *args: Any) -> tuple[np.ndarray, np.ndarray]:
        self.warm_up(x)
        return super().layer(x, *args)

    def warm_up(self, a: np.ndarray) -> None:
        """Compile the default run's kernels at the first call in a's dtype, which the harness
        gives its first-call allowance (spec/conformance.md section 3): compiled later, the
        large kernel (a few seconds, more on a loaded CPU) would meet the per-call limit."""
        dtype = self.tensor(a[:0]).dtype
        if dtype not in self.warm:
            self.warm.add(dtype)
            attention.warm_up(dtype, self.device)

"""The ``torch-sdpa`` peer adapter: ``torch.nn.functional.scaled_dot_product_attention``
wrapped as a third party would wrap it (MAP-4), so the harness reports which clauses SDPA
itself meets. It keeps SDPA's conventions (fully masked rows, its kernels' precision): it
never patches its output."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aha.adapters.base import CheckedAdapter, uniform_plan
from aha.reference import AHAConfig, plan

from ._convert import to_numpy, to_torch
from .adapters import default_device


def banded_sdpa(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rel_bias: Tensor,
    *,
    reach: int,
    scale: float,
    tau: float = 1.0,
    causal: bool = False,
    key_padding_mask: Tensor | None = None,
) -> Tensor:
    """One SDPA call [B, H, T, Dh] whose float attn_mask [B or 1, H, T, T] holds
    rel_bias[h, clamp(i − j)] / τ where |i − j| < reach (and j ≤ i, and j is real), −inf
    elsewhere; g·scale/τ goes in ``scale``."""
    T, R = q.shape[2], (rel_bias.shape[1] + 1) // 2
    i = torch.arange(T, device=q.device)[:, None]
    j = torch.arange(T, device=q.device)[None, :]
    bias = rel_bias[:, torch.clamp(i - j, -(R - 1), R - 1) + R - 1] / tau  # [H, T, T]
    visible = (i - j).abs() < reach
    if causal:
        visible = visible & (j <= i)
    if key_padding_mask is not None:
        visible = visible & key_padding_mask[:, None, None, :]
    attn_mask = torch.where(visible, bias, -torch.inf)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)


class SDPAAdapter(CheckedAdapter):
    """Global branch: one band as wide as T. Local branch: one band for the whole batch, which
    is exact only when every element has the same plan (reach, gain, temperature); a
    batch-varying plan is declined with NotImplementedError."""

    name = "torch-sdpa"
    capabilities = frozenset(
        {"local", "global", "causal", "key_padding", "float64", "float32", "float16", "bfloat16"}
    )

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device or default_device())
        self.version = f"torch {torch.__version__} (scaled_dot_product_attention, {self.device})"

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
        reach, gain, tau = uniform_plan(plan(s, q.shape[2], config))
        scale = gain * config.softmax_scale(q.shape[-1]) / tau
        return self.call(q, k, v, rel_bias, mask, reach, scale, tau, config.causal)

    def global_(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        mask: np.ndarray | None,
    ) -> np.ndarray:
        scale = config.softmax_scale(q.shape[-1])
        return self.call(q, k, v, rel_bias, mask, q.shape[2], scale, 1.0, config.causal)

    def call(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        mask: np.ndarray | None,
        reach: int,
        scale: float,
        tau: float,
        causal: bool,
    ) -> np.ndarray:
        qt, kt, vt, table = (to_torch(a, self.device) for a in (q, k, v, rel_bias))
        real = None if mask is None else to_torch(mask, self.device)
        with torch.no_grad():
            out = banded_sdpa(
                qt,
                kt,
                vt,
                table,
                reach=reach,
                scale=scale,
                tau=tau,
                causal=causal,
                key_padding_mask=real,
            )
        return to_numpy(out)

"""AdaptiveHybridAttention as a torch.nn.Module (LAYER-1 .. LAYER-7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from aha.reference import AHAConfig, init_params, validate
from aha.reference.errors import DTypeError, ShapeError

from .attention import (
    PATHS,
    check_finite,
    check_mask,
    global_,
    local,
    real_keys,
    span_host,
)

Attend = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


class AdaptiveHybridAttention(nn.Module):
    """y, s = AHA(x) for x [B, T, D]: a global branch, a span predictor fed by it, a local
    branch whose reach follows the span, and a projection of both (LAYER-1 .. LAYER-7).

    ``state_dict()`` holds exactly the names and shapes of
    ``aha.reference.param_shapes(d_model, n_heads, config)``, so the reference's params load
    with ``load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})``. The
    parameters start as ``aha.reference.init_params(d_model, n_heads, config, seed)``.
    ``path`` ("dense", "flex" or "auto") runs both attention branches (see attention.py).
    """

    def __init__(
        self, d_model: int, n_heads: int, config: AHAConfig, *, path: str = "auto", seed: int = 0
    ) -> None:
        super().__init__()
        self.config = validate.config(config)
        if n_heads < 1 or d_model < 1 or d_model % n_heads:
            raise ShapeError(
                f"d_model must be a positive multiple of n_heads, got "
                f"d_model={d_model}, n_heads={n_heads}"
            )
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self.d_model, self.n_heads, self.path = d_model, n_heads, path
        self.ln_local = nn.LayerNorm(d_model, eps=config.ln_eps)
        self.ln_global = nn.LayerNorm(d_model, eps=config.ln_eps)
        self.local = Branch(d_model, n_heads, config.max_rel_dist)
        self.add_module("global", Branch(d_model, n_heads, config.max_rel_dist))  # a keyword
        self.span = nn.Linear(d_model, 1)
        self.proj = nn.Linear(2 * d_model, d_model)
        params = init_params(d_model, n_heads, config, seed)
        self.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, span_scale: Any = None
    ) -> tuple[Tensor, Tensor]:
        """y [B, T, D] and the span scales s [B] it used: predicted (LAYER-4), or
        ``span_scale`` as given, [B] (a tensor keeps its dtype and gradient; anything else
        becomes float64)."""
        self.check(x, key_padding_mask)
        B = x.shape[0]
        given = None if span_scale is None else span_host(span_scale, B)
        cfg, path = self.config, self.path
        G = getattr(self, "global")(
            self.ln_global(x),
            self.n_heads,
            lambda q, k, v, table: global_(q, k, v, table, cfg, key_padding_mask, path),
        )
        if given is None:
            s = self.predict_span(G, key_padding_mask)
            s_host = span_host(s, B)
        else:
            s_host = given
            s = span_scale if isinstance(span_scale, Tensor) else torch.from_numpy(given)
            s = s.to(x.device).expand(B)
        L = self.local(
            self.ln_local(x),
            self.n_heads,
            lambda q, k, v, table: local(q, k, v, s, s_host, table, cfg, key_padding_mask, path),
        )
        return self.proj(torch.cat([L, G], dim=-1)), s  # LAYER-6: local first

    def predict_span(self, G: Tensor, mask: Tensor | None) -> Tensor:
        """s_b = sigmoid(<mean of G_b over real positions, w> + b) [B]; a sequence with no
        real position pools to 0 (LAYER-4)."""
        real = real_keys(mask, G.shape[0], G.shape[1], G.device)  # [B, T]
        count = real.sum(dim=1, keepdim=True).clamp(min=1).to(G.dtype)  # [B, 1]
        pooled = (G * real[..., None]).sum(dim=1) / count  # [B, D]
        return torch.sigmoid(self.span(pooled))[:, 0]

    def check(self, x: Tensor, mask: Tensor | None) -> None:
        """The reference's checks of the layer's inputs (ERR-2 .. ERR-8, PREC-4)."""
        validate.check_array("x", tuple(x.shape), validate.dtype_name(x), "B, T, D")
        if x.shape[-1] != self.d_model:
            raise ShapeError(
                f"x must have shape [B, T, D] with D = d_model = {self.d_model}, "
                f"got {tuple(x.shape)}"
            )
        for name, p in self.named_parameters():
            if p.dtype != x.dtype:
                raise DTypeError(
                    f"params[{name!r}] must have the dtype of x ({validate.dtype_name(x)}), "
                    f"got {validate.dtype_name(p)}; convert with module.to(x.dtype)"
                )
        check_finite(x=x)
        check_mask(mask, x.shape[0], x.shape[1])


class Branch(nn.Module):
    """q, k, v and out projections and the relative-bias table [H, 2R − 1] of one branch."""

    def __init__(self, d_model: int, n_heads: int, max_rel_dist: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(d_model, d_model) for _ in range(4))
        self.rel_bias = nn.Parameter(torch.zeros(n_heads, 2 * max_rel_dist - 1))

    def forward(self, x: Tensor, heads: int, attend: Attend) -> Tensor:
        """Project to heads, attend, merge, project out (LAYER-3, LAYER-5)."""
        B, T, D = x.shape
        # Head h owns the contiguous features h·Dh … (h + 1)·Dh − 1 (LAYER-1).
        q, k, v = (
            p(x).view(B, T, heads, D // heads).transpose(1, 2) for p in (self.q, self.k, self.v)
        )
        out = attend(q, k, v, self.rel_bias)  # [B, H, T, Dh]
        return self.out(out.transpose(1, 2).reshape(B, T, D))

"""Torch tensors in and out: the VJPs of the two branches on the backward kernels (GRAD-1 .. 3).

``local_attention_vjp`` and ``global_attention_vjp`` take what the forward entries take plus
the cotangent d_out [B, H, T, Dh], and return a mapping of gradients by input name (the
adapter's contract, spec/conformance.md): q, k, v in q's dtype on q's device, rel_bias
float32 [H, 2R − 1] and, for the local branch, span_scale float64 [B] on the host.
kernel_bwd.py derives the backward; the host here finishes what depends on τ in binary64.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import triton
from triton.runtime.interpreter import InterpretedFunction

from aha.reference import AHAConfig, temperature_slope, validate

from .attention import (
    BandPlan,
    Tiles,
    band_forward,
    check_tensors,
    global_band,
    head_tile,
    interpreter_tiles,
    local_band,
    single_blas_thread,
    span_host,
)
from .kernel_bwd import band_attention_bwd_kv, band_attention_bwd_q


class BandGrads(NamedTuple):
    """What the kernels return for one band: dq, dk, dv like q; d_table float32 [B, H, 2R − 1],
    the gradient of the τ-divided table β_b; zdz float64 [B], Σ over h, i, j of dZ·z."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    d_table: torch.Tensor
    zdz: np.ndarray


class BackwardTiles(NamedTuple):
    """Tiles of the two backward launches: BLOCK_M query rows × BLOCK_N keys in each."""

    kv: Tiles  # band_attention_bwd_kv: one program per key tile of BLOCK_N
    q: Tiles  # band_attention_bwd_q: one program per query tile of BLOCK_M


def backward_tiles(
    head_dim: int, dtype: torch.dtype, interpreted: bool, seq_len: int = 1
) -> BackwardTiles:
    """A backward program keeps two [BLOCK, BLOCK_D] operands and two float32 accumulators
    on chip, and the dK, dV one a [BLOCK_M, BLOCK_N] tile of bias-table pointers for its
    atomics: smaller key tiles than the forward's. Compiled for sm_90 these spill no
    registers at Dh ≤ 128 (tests/test_triton_compile.py); at Dh = 256 they spill ~100 bytes
    per thread. Not tuned on a GPU."""
    if interpreted:  # as the forward's (attention.interpreter_tiles)
        return BackwardTiles(interpreter_tiles(seq_len), interpreter_tiles(seq_len))
    if dtype == torch.float32:  # the "ieee" dot runs on CUDA cores: the correctness path
        tile = Tiles(32, 32, 4, 1) if head_dim <= 128 else Tiles(16, 16, 8, 1)
        return BackwardTiles(tile, tile)
    if head_dim <= 128:  # wgmma on 128 query rows; 64 × 64 for the dQ walk
        return BackwardTiles(Tiles(128, 32, 8, 2), Tiles(64, 64, 4, 2))
    return BackwardTiles(Tiles(64, 16, 8, 1), Tiles(64, 16, 8, 1))


def local_attention_vjp(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    span_scale: Any,
    rel_bias: torch.Tensor,
    config: AHAConfig,
    key_padding_mask: torch.Tensor | None,
    d_out: torch.Tensor,
) -> dict[str, Any]:
    """Gradients of <d_out, local_attention(...)> for q, k, v, rel_bias and span_scale.

    s reaches the output through τ only (GRAD-2): dτ_b = −Σ dZ·z/τ_b, times the reference's
    temperature_slope, which is 0 where the τmin clamp holds; window, reach and gain pass
    nothing (GRAD-1).
    """
    check_tensors(q, k, v, rel_bias, config, key_padding_mask)
    check_cotangent(d_out, q)
    s = span_host(span_scale, q.shape[0])
    band = local_band(q, s, rel_bias, config, key_padding_mask)
    grads = band_vjp(q, k, v, band, d_out)
    d_temperature = -grads.zdz / band.temperature
    return {
        "q": grads.q,
        "k": grads.k,
        "v": grads.v,
        "rel_bias": table_grad(grads.d_table, band.temperature, rel_bias),
        "span_scale": temperature_slope(s, config) * d_temperature,
    }


def global_attention_vjp(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_bias: torch.Tensor,
    config: AHAConfig,
    key_padding_mask: torch.Tensor | None,
    d_out: torch.Tensor,
) -> dict[str, Any]:
    """Gradients of <d_out, global_attention(...)> for q, k, v and rel_bias (GRAD-3): the local
    backward with reach T, gain 1 and temperature 1, as the forward."""
    check_tensors(q, k, v, rel_bias, config, key_padding_mask)
    check_cotangent(d_out, q)
    band = global_band(q, rel_bias, config, key_padding_mask)
    grads = band_vjp(q, k, v, band, d_out)
    return {
        "q": grads.q,
        "k": grads.k,
        "v": grads.v,
        "rel_bias": table_grad(grads.d_table, band.temperature, rel_bias),
    }


def check_cotangent(d_out: torch.Tensor, q: torch.Tensor) -> None:
    """d_out: q's shape and dtype (ERR-3, ERR-4) and device."""
    validate.same_shape("d_out", d_out, "q", q)
    if d_out.device != q.device:
        raise ValueError(f"d_out must be on q's device {q.device}, got {d_out.device}")


def table_grad(d_table: torch.Tensor, temperature: np.ndarray, rel_bias: torch.Tensor) -> Any:
    """d rel_bias [H, 2R − 1] = Σ_b dβ_b / τ_b: β_b = rel_bias/τ_b (LOCAL-3), in binary64."""
    tau = torch.as_tensor(temperature, dtype=torch.float64, device=d_table.device)
    return (d_table.double() / tau[:, None, None]).sum(0).to(rel_bias.dtype)


def band_vjp(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: BandPlan, d_out: torch.Tensor
) -> BandGrads:
    """The forward (saving its row statistics), D = rowsum(dO∘O), then both backward kernels."""
    batch, heads, seq_len, head_dim = q.shape
    q, k, v, d_out = (x.contiguous() for x in (q, k, v, d_out))
    # O in float32, not rounded to q's dtype: D_i = <dO_i, O_i> = Σ_j P_ij·dP_ij enters every
    # dZ_ij, and a 16-bit O would put its rounding (~1e-3) into all of them, dτ included.
    fwd = band_forward(q, k, v, band, save_stats=True, out_dtype=torch.float32)
    delta = (d_out.float() * fwd.out).sum(-1).contiguous()  # one reduction, in float32
    block_d = head_tile(head_dim)
    interpreted = isinstance(band_attention_bwd_kv, InterpretedFunction)
    t = backward_tiles(block_d, q.dtype, interpreted, seq_len)
    dq, dk, dv = (torch.empty_like(x) for x in (q, k, v))
    d_table = torch.zeros_like(band.bias)  # atomics add into it
    key_tiles = triton.cdiv(seq_len, t.kv.block_n)
    zdz = torch.empty((batch, heads, key_tiles), dtype=torch.float32, device=q.device)
    keep = band.reach if band.keep is None else band.keep  # never read without padding
    plan_args = (band.bias, keep, band.reach, band.kv_len, band.qk_coef, seq_len)
    table_width = (band.bias.shape[2] + 1) // 2
    stats = (fwd.row_max, fwd.row_sum, delta)
    with single_blas_thread(interpreted):
        band_attention_bwd_kv[(key_tiles, heads, batch)](
            q, k, v, d_out, *stats, dk, dv, d_table, zdz, *plan_args, table_width,
            **launch(t.kv, head_dim, block_d, band),
        )  # fmt: skip
        band_attention_bwd_q[(triton.cdiv(seq_len, t.q.block_m), heads, batch)](
            q, k, v, d_out, *stats, dq, *plan_args, table_width,
            **launch(t.q, head_dim, block_d, band),
        )  # fmt: skip
    return BandGrads(dq, dk, dv, d_table, zdz.double().sum((1, 2)).cpu().numpy())


def launch(t: Tiles, head_dim: int, block_d: int, band: BandPlan) -> dict[str, Any]:
    """The constexprs and launch options of one backward kernel."""
    return {
        "HEAD_DIM": head_dim,
        "BLOCK_D": block_d,
        "BLOCK_M": t.block_m,
        "BLOCK_N": t.block_n,
        "CAUSAL": band.causal,
        "HAS_PADDING": band.keep is not None,
        "num_warps": t.num_warps,
        "num_stages": t.num_stages,
    }

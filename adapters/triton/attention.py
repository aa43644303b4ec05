"""Torch tensors in and out: the plan on the host in binary64, the kernel on the device.

``local_attention`` and ``global_attention`` take and return torch tensors [B, H, T, Dh] on
the kernel's device (CUDA, or the CPU under TRITON_INTERPRET=1). They check shapes and dtypes
only; values are the caller's (the ``triton`` adapter checks them on the NumPy side).
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import numpy as np
import torch
import triton
from triton.runtime.interpreter import InterpretedFunction

from aha.reference import AHAConfig, plan, validate

from .kernel import MIN_TILE, band_attention_fwd

MAX_HEAD_DIM = 256  # beyond it the Hopper tiles below no longer fit in shared memory
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class Tiles(NamedTuple):
    block_m: int
    block_n: int
    num_warps: int
    num_stages: int


def kernel_device() -> str:
    """ "cuda" for compiled kernels, "cpu" when TRITON_INTERPRET=1 was set before the import."""
    if isinstance(band_attention_fwd, InterpretedFunction):
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    raise RuntimeError(
        "the Triton backend needs a CUDA GPU, or TRITON_INTERPRET=1 in the "
        "environment before aha.adapters.triton is imported to run its kernels "
        "on the CPU (slowly), e.g. `TRITON_INTERPRET=1 aha conform --adapter "
        "triton`"
    )


# Under the interpreter every (program, key block) step costs milliseconds of Python whatever
# the tile holds, so the tile grows with T: about INTERPRETER_TILES_PER_SEQ query tiles per
# sequence, 16 (the smallest legal, so short tests cross several) up to 256. A T ≈ 1000
# kernel-family case then runs in seconds, not minutes, and still crosses tiles (measured
# here for T = 1025, H = 3, reach 300: 21 s at 16 × 16 tiles, 8.9 s at 128, 5.2 s at 256).
INTERPRETER_TILES_PER_SEQ = 4


def interpreter_tiles(seq_len: int) -> Tiles:
    """Square tiles under TRITON_INTERPRET: next_power_of_2(T / 4), within [16, 256]."""
    size = triton.next_power_of_2(max(1, seq_len // INTERPRETER_TILES_PER_SEQ))
    size = min(max(size, int(MIN_TILE)), 256)
    return Tiles(size, size, 4, 1)


def single_blas_thread(interpreted: bool) -> contextlib.AbstractContextManager[Any]:
    """Under the interpreter every tl.dot is a small NumPy matmul (≤ 256 × 256): OpenBLAS's
    thread hand-off costs more than it saves, and on a busy machine a hand-off can stall for
    milliseconds (measured here at load 12 on 2 cores: a T = 1025 case 21 s with the default
    threads, 8.5 s with one). A GPU launch is left alone."""
    if not interpreted:
        return contextlib.nullcontext()
    # Imported here: a GPU machine (installed --no-deps by gpu_check.sh) may lack it.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def tiles(head_dim: int, dtype: torch.dtype, interpreted: bool, seq_len: int = 1) -> Tiles:
    """Tile sizes, warps and pipeline depth of one launch. The 16-bit entries compile for
    sm_90 to wgmma without register spills; float32 is the correctness path
    (docs/adapters/triton.md)."""
    if interpreted:
        return interpreter_tiles(seq_len)
    if dtype == torch.float32:  # an "ieee" dot runs on CUDA cores: small 4-byte tiles
        return Tiles(32, 32, 4, 2)
    if head_dim <= 128:  # two warpgroups of wgmma share the 128-row tile; 192 KiB of SMEM
        return Tiles(128, 64, 8, 3)
    return Tiles(64, 32, 4, 2)


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    span_scale: Any,
    rel_bias: torch.Tensor,
    config: AHAConfig,
    key_padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Local branch, out [B, H, T, Dh] in q's dtype (LOCAL-1 .. LOCAL-6).

    span_scale [B] or a scalar (a tensor, array or number); the plan (reach, τ, g) is the
    reference's, computed on the host in binary64 (PLAN-1 .. PLAN-6).
    """
    check_tensors(q, k, v, rel_bias, config, key_padding_mask)
    s = span_host(span_scale, q.shape[0])
    return band_attention(q, k, v, local_band(q, s, rel_bias, config, key_padding_mask))


def global_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_bias: torch.Tensor,
    config: AHAConfig,
    key_padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Global branch: the local kernel with reach T, gain 1 and temperature 1 (GLOBAL-1 .. 4).

    With reach = T the band holds every pair, and the kernel's clamped bias index is
    GLOBAL-2's.
    """
    check_tensors(q, k, v, rel_bias, config, key_padding_mask)
    return band_attention(q, k, v, global_band(q, rel_bias, config, key_padding_mask))


def span_host(span_scale: Any, batch: int) -> np.ndarray:
    """span_scale (a tensor, array or number) validated as binary64 [B] (PLAN-1)."""
    if isinstance(span_scale, torch.Tensor):
        span_scale = span_scale.detach().cpu().numpy()
    return validate.span_scale(span_scale, batch)


def local_band(
    q: torch.Tensor,
    s: np.ndarray,
    rel_bias: torch.Tensor,
    config: AHAConfig,
    mask: torch.Tensor | None,
) -> BandPlan:
    """The local branch's band for validated span scales s [B] (PLAN-1 .. PLAN-6)."""
    p = plan(s, q.shape[2], config)
    qk_scale = p.gain * config.softmax_scale(q.shape[-1])
    return band_plan(p.reach, qk_scale, p.temperature, rel_bias, mask, config.causal, q.shape[2])


def global_band(
    q: torch.Tensor, rel_bias: torch.Tensor, config: AHAConfig, mask: torch.Tensor | None
) -> BandPlan:
    """The global branch as a band: reach T, gain 1, temperature 1 (GLOBAL-1, GLOBAL-3)."""
    batch, seq_len = q.shape[0], q.shape[2]
    ones = np.ones(batch)
    qk_scale = ones * config.softmax_scale(q.shape[-1])
    return band_plan(
        np.full(batch, seq_len), qk_scale, ones, rel_bias, mask, config.causal, seq_len
    )


class BandPlan(NamedTuple):
    """The plan as the kernel reads it, on the device of q."""

    reach: torch.Tensor  # int32 [B]
    temperature: np.ndarray  # float64 [B] τ, on the host: the backward divides by it
    kv_len: torch.Tensor  # int32 [B]: one past the last real key
    qk_coef: torch.Tensor  # float32 [B]: g·scale/τ
    bias: torch.Tensor  # float32 [B, H, 2R − 1]: rel_bias/τ
    keep: torch.Tensor | None  # uint8 [B, T], 1 = real key; None without padding
    causal: bool
    clamp_bias: bool  # some reach exceeds R: the global branch at T > R (GLOBAL-2)


def band_plan(
    reach: np.ndarray,
    qk_scale: np.ndarray,
    temperature: np.ndarray,
    rel_bias: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool,
    seq_len: int,
) -> BandPlan:
    """Host values [B] in binary64 (qk_scale = g·scale) to device tensors; each division by τ
    is one binary64 operation, rounded once to float32 (LOCAL-3: τ divides the bias too)."""
    device = rel_bias.device
    temperature = np.asarray(temperature, dtype=np.float64)
    tau = torch.tensor(temperature, dtype=torch.float64, device=device)
    bias = (rel_bias.to(torch.float64)[None] / tau[:, None, None]).to(torch.float32)
    qk_coef = torch.tensor(qk_scale / temperature, dtype=torch.float32, device=device)
    reach_t = torch.tensor(reach, dtype=torch.int32, device=device)
    clamp = bool(np.max(reach) > (rel_bias.shape[1] + 1) // 2)
    if mask is None:
        kv_len = torch.full_like(reach_t, seq_len)
        return BandPlan(
            reach_t, temperature, kv_len, qk_coef, bias.contiguous(), None, causal, clamp
        )
    # The kernel skips the key blocks after the last real key.
    position = torch.arange(1, seq_len + 1, dtype=torch.int32, device=device)
    kv_len = (mask * position).amax(dim=1).to(torch.int32)
    keep = mask.contiguous().view(torch.uint8)
    return BandPlan(reach_t, temperature, kv_len, qk_coef, bias.contiguous(), keep, causal, clamp)


class Forward(NamedTuple):
    """The kernel's outputs: out [B, H, T, Dh]; per row, when asked for, the softmax maximum
    and sum, float32 [B, H, T] (the backward recomputes the weights from them)."""

    out: torch.Tensor
    row_max: torch.Tensor | None
    row_sum: torch.Tensor | None


def head_tile(head_dim: int) -> int:
    """BLOCK_D: the head-dim tile, the next power of two ≥ 16; the kernel masks the rest."""
    width = max(int(MIN_TILE), triton.next_power_of_2(head_dim))
    if width > MAX_HEAD_DIM:
        raise NotImplementedError(f"head dim {head_dim} > {MAX_HEAD_DIM} has no tiles here")
    return width


def band_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: BandPlan
) -> torch.Tensor:
    """One launch of the kernel on checked q, k, v [B, H, T, Dh]; out in q's dtype."""
    return band_forward(q, k, v, band, save_stats=False).out


def band_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    band: BandPlan,
    save_stats: bool,
    out_dtype: torch.dtype | None = None,
) -> Forward:
    """One launch of the forward kernel; with ``save_stats`` the row statistics too. out is
    in q's dtype, or ``out_dtype`` (the backward reads a float32 out: D = rowsum(dO∘O))."""
    batch, heads, seq_len, head_dim = q.shape
    block_d = head_tile(head_dim)
    q, k, v = (x.contiguous() for x in (q, k, v))
    interpreted = isinstance(band_attention_fwd, InterpretedFunction)
    t = tiles(block_d, q.dtype, interpreted, seq_len)
    out = torch.empty_like(q, dtype=out_dtype or q.dtype)
    stats = (
        [q.new_empty((batch, heads, seq_len), dtype=torch.float32) for _ in range(2)]
        if save_stats
        else [out, out]  # never written
    )
    grid = (triton.cdiv(seq_len, t.block_m), heads, batch)
    with single_blas_thread(interpreted):
        band_attention_fwd[grid](
            q,
            k,
            v,
            out,
            *stats,
            band.bias,
            band.reach if band.keep is None else band.keep,  # never read without padding
            band.reach,
            band.kv_len,
            band.qk_coef,
            seq_len,
            (band.bias.shape[2] + 1) // 2,
            HEAD_DIM=head_dim,
            BLOCK_D=block_d,
            BLOCK_M=t.block_m,
            BLOCK_N=t.block_n,
            CAUSAL=band.causal,
            HAS_PADDING=band.keep is not None,
            CLAMP_BIAS=band.clamp_bias,
            SAVE_STATS=save_stats,
            num_warps=t.num_warps,
            num_stages=t.num_stages,
        )
    return Forward(out, *stats) if save_stats else Forward(out, None, None)


def check_tensors(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_bias: torch.Tensor,
    config: AHAConfig,
    mask: torch.Tensor | None,
) -> None:
    """Shapes, dtypes and device, with the reference's error types (ERR-3 .. ERR-5, ERR-8)."""
    validate.attention_shapes(q, k, v, rel_bias, config)
    if mask is not None:
        validate.check_mask(mask, q.shape[0], q.shape[2])
    interpreted = isinstance(band_attention_fwd, InterpretedFunction)
    if q.dtype not in DTYPES or (interpreted and q.dtype == torch.bfloat16):
        # The interpreter's bfloat16 tl.dot is wrong, so bfloat16 needs a GPU.
        raise NotImplementedError(
            f"the Triton kernel has no {validate.dtype_name(q)} path"
            + (" under TRITON_INTERPRET" if interpreted else "")
        )
    devices = {x.device for x in (q, k, v, rel_bias, *(() if mask is None else (mask,)))}
    if len(devices) > 1 or (not interpreted and q.device.type != "cuda"):
        raise ValueError(
            f"q, k, v, rel_bias and key_padding_mask must all be on one CUDA "
            f"device, got {sorted(map(str, devices))}"
        )

"""The two attention branches of AHA on torch tensors [B, H, T, Dh] (LOCAL-1 .. GLOBAL-4).

One definition of the logit (``score_mod``) and of visibility (``mask_mod``), two executions:

- ``dense``: the masked [B, H, T, T] scores, with autograd; any float dtype, any device.
- ``flex``: ``torch.nn.attention.flex_attention`` compiled with torch.compile; a BlockMask
  built from the band skips every key block outside it (MAP-2). It has kernels for float32,
  float16 and bfloat16, and no backward on CPU.
- ``auto``: flex where it can run (``flex_unavailable`` is None), dense elsewhere.

The plan (reach, temperature, gain) is the reference's, computed host-side in binary64.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from aha.reference import AHAConfig, plan, temperature_slope, validate

from ._convert import to_numpy

PATHS = ("dense", "flex", "auto")
FLEX_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# FlexAttention's sparse block size: the band is decided per (query block, key block) pair.
BLOCK = 128
# Compiled flex kernels kept per process, one per (shape, dtype, device); dynamo's default is 8.
RECOMPILE_LIMIT = 256


def local_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    span_scale: Any,
    rel_bias: Tensor,
    config: AHAConfig,
    key_padding_mask: Tensor | None = None,
    *,
    path: str = "dense",
) -> Tensor:
    """Local branch: out [B, H, T, Dh] (LOCAL-1 .. LOCAL-6, GRAD-1, GRAD-2).

    span_scale is a scalar, a float64 array [B] or a tensor [B]; a tensor that requires grad
    receives it through the temperature only (GRAD-2).
    """
    config = check_inputs(q, k, v, rel_bias, config, key_padding_mask)
    s_host = span_host(span_scale, q.shape[0])
    return local(q, k, v, span_scale, s_host, rel_bias, config, key_padding_mask, path)


def global_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rel_bias: Tensor,
    config: AHAConfig,
    key_padding_mask: Tensor | None = None,
    *,
    path: str = "dense",
) -> Tensor:
    """Global branch: out [B, H, T, Dh] (GLOBAL-1 .. GLOBAL-4)."""
    config = check_inputs(q, k, v, rel_bias, config, key_padding_mask)
    return global_(q, k, v, rel_bias, config, key_padding_mask, path)


def local(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    s: Any,
    s_host: np.ndarray,
    rel_bias: Tensor,
    config: AHAConfig,
    mask: Tensor | None,
    path: str,
) -> Tensor:
    """The local branch on checked inputs; s_host is s validated as binary64 [B] (PLAN-1)."""
    B, _, T, Dh = q.shape
    p = plan(s_host, T, config)
    reach = torch.as_tensor(p.reach, device=q.device)
    # The band is lo < i − j < reach: |i − j| < ρ (LOCAL-1), and j ≤ i when causal (CAUSAL-1).
    lo = torch.full_like(reach, -1) if config.causal else -reach
    tau = temperature(s, s_host, p.temperature, config, q.device)
    gain = torch.as_tensor(p.gain * config.softmax_scale(Dh), device=q.device)
    real = real_keys(mask, B, T, q.device)
    return attend(q, k, v, Mods(lo, reach, gain, tau, rel_bias, real), path)


def global_(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rel_bias: Tensor,
    config: AHAConfig,
    mask: Tensor | None,
    path: str,
) -> Tensor:
    """The global branch on checked inputs: every key within causality and padding, no gain
    and no temperature (GLOBAL-1, GLOBAL-3)."""
    B, _, T, Dh = q.shape
    hi = torch.full((B,), T, device=q.device)
    lo = torch.full_like(hi, -1 if config.causal else -T)
    scale = torch.full((B,), config.softmax_scale(Dh), dtype=torch.float64, device=q.device)
    real = real_keys(mask, B, T, q.device)
    return attend(q, k, v, Mods(lo, hi, scale, torch.ones_like(scale), rel_bias, real), path)


def temperature(
    s: Any, s_host: np.ndarray, tau_host: np.ndarray, config: AHAConfig, device: torch.device
) -> Tensor:
    """τ [B] from the host plan; s receives gradient through it where the τmin clamp is
    inactive, a tie counting as clamped (GRAD-2): the straight-through term is 0 in value."""
    tau = torch.as_tensor(tau_host, device=device)
    if not (isinstance(s, Tensor) and s.requires_grad):
        return tau
    d_tau = torch.as_tensor(temperature_slope(s_host, config), device=device)
    s = s.to(device=device, dtype=torch.float64).expand(tau.shape)
    return tau + d_tau * (s - s.detach())


class Mods(NamedTuple):
    """What the logit and the visibility of (b, h, i, j) read, on q's device (MAP-2)."""

    lo: Tensor  # [B] int: key j is visible from query i iff lo < i − j < hi ...
    hi: Tensor  # [B] int
    gain: Tensor  # [B] g·scale
    tau: Tensor  # [B] τ
    table: Tensor  # [H, 2R − 1]
    real: Tensor  # [B, T] bool: ... and key j is a real token (MASK-1)

    def score_mod(self, score: Tensor, b: Tensor, h: Tensor, i: Tensor, j: Tensor) -> Tensor:
        """(g·scale·<q_i, k_j> + bias[h, i − j]) / τ for score = <q_i, k_j> (LOCAL-2, LOCAL-3,
        GLOBAL-2). The index is clamped for the global branch's shared edges, and because
        flex evaluates invisible pairs of a computed block too."""
        r = (self.table.shape[1] + 1) // 2
        index = torch.clamp(i - j, -(r - 1), r - 1) + r - 1
        # The temperature divides the bias too; the gain multiplies the dot product only.
        return (score * self.gain[b] + self.table[h, index]) / self.tau[b]

    def mask_mod(self, b: Tensor, h: Tensor, i: Tensor, j: Tensor) -> Tensor:
        """May query i see key j? (LOCAL-1, GLOBAL-1, CAUSAL-1, MASK-2)"""
        d = i - j
        return (d > self.lo[b]) & (d < self.hi[b]) & self.real[b, j]

    def to(self, dtype: torch.dtype) -> Mods:
        return self._replace(
            gain=self.gain.to(dtype), tau=self.tau.to(dtype), table=self.table.to(dtype)
        )


def real_keys(mask: Any, batch: int, seq_len: int, device: torch.device) -> Tensor:
    """The key padding mask [B, T] on ``device``; all True when None (MASK-1)."""
    if mask is None:
        return torch.ones(batch, seq_len, dtype=torch.bool, device=device)
    return torch.as_tensor(mask, device=device)


def attend(q: Tensor, k: Tensor, v: Tensor, mods: Mods, path: str) -> Tensor:
    """Run ``path``; "auto" falls back to dense where flex cannot run."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if path == "dense":
        return dense(q, k, v, mods)
    grad = needs_grad(q, k, v, mods.table, mods.tau)
    if flex_unavailable(q, grad) is None:
        return flex(q, k, v, mods)
    if path == "flex":
        require_flex(q, grad)
    return dense(q, k, v, mods)


def require_flex(q: Tensor, grad: bool) -> None:
    """NotImplementedError with the reason where path='flex' cannot run for q (and a
    backward when ``grad``)."""
    why_not = flex_unavailable(q, grad)
    if why_not is not None:
        raise NotImplementedError(
            f"path='flex' cannot run here: {why_not}; use path='dense' or path='auto'"
        )


def needs_grad(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def flex_unavailable(q: Tensor, grad: bool) -> str | None:
    """Why the flex path cannot run for q (and a backward when ``grad``), or None."""
    if q.dtype not in FLEX_DTYPES:
        return f"FlexAttention has kernels for float32, float16 and bfloat16 only, not {q.dtype}"
    if q.device.type not in ("cpu", "cuda"):
        return f"this adapter compiles FlexAttention for cpu and cuda only, not {q.device.type}"
    if q.device.type == "cpu" and grad:
        return "FlexAttention has no backward on CPU, and an input requires grad"
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this platform"
    return None


def dense(q: Tensor, k: Tensor, v: Tensor, mods: Mods) -> Tensor:
    """Masked attention over all [B, H, T, T] pairs (LOCAL-3 .. LOCAL-5, GLOBAL-3, GLOBAL-4).

    16-bit inputs compute in float32 and round the output, as the baseline does (PREC-2).
    """
    B, H, T, _ = q.shape
    dt = torch.float64 if q.dtype == torch.float64 else torch.float32
    b = torch.arange(B, device=q.device)[:, None, None, None]
    h = torch.arange(H, device=q.device)[None, :, None, None]
    i = torch.arange(T, device=q.device)[:, None]
    j = torch.arange(T, device=q.device)[None, :]
    mods = mods.to(dt)
    visible = mods.mask_mod(b, h, i, j)  # [B, 1, T, T]
    scores = q.to(dt) @ k.to(dt).transpose(-1, -2)  # [B, H, T, T]
    z = mods.score_mod(scores, b, h, i, j).masked_fill(~visible, -torch.inf)
    # A row with no visible key is NaN after softmax; it must be 0 (LOCAL-5, GLOBAL-4).
    weights = torch.softmax(z, dim=-1).masked_fill(~visible, 0.0)
    return (weights @ v.to(dt)).to(q.dtype)


def flex(q: Tensor, k: Tensor, v: Tensor, mods: Mods) -> Tensor:
    """FlexAttention with the band's BlockMask; it gives rows with no visible key 0 (MAP-2).

    Each compiled kernel serves one shape, and on a CPU each costs seconds to compile, so a
    call runs in the kernel of ``kernel_shape``: q, k, v, the plan and the bias table are
    padded to it and the output is cut back. No padding reaches a real output:

    - padded sequences (B) and heads (H) get no block at all (``band_blocks``), so their rows
      are 0, and they are dropped; a real row never reads another sequence or head (LOCAL-6);
    - padded positions (T) are keys that are not real, which mask_mod hides from every query
      (MASK-1, MASK-2), and queries whose rows are dropped; no block past the last real
      position is computed;
    - padded features (Dh) are 0 in q and k, adding 0 to <q_i, k_j>, and 0 in v, giving
      output features that are dropped;
    - the table's edge entries are repeated outward (``repeat_edges``): every clamped lookup
      reads the value it read before (GLOBAL-2's clamp; LOCAL-2 never reaches the edge).

    On CPU, 16-bit inputs run the float32 kernel and the output is rounded once, as the dense
    path and the baseline do (PREC-2): one kernel serves three dtypes.
    """
    B, H, T, Dh = q.shape
    shape, storage = kernel_shape(q), q.dtype
    dtype = torch.float32 if q.device.type == "cpu" else storage
    q, k, v = (pad(t.to(dtype), shape) for t in (q, k, v))  # also makes them contiguous
    mods = pad_mods(mods, shape).to(torch.float32)
    # The compiled kernel is specialised on tensor types (a Parameter is not a Tensor) and on
    # the scale's value: detached buffers in a forward-only call and scale=1 (the softmax
    # scale rides in the gain tensor) give one kernel a shape.
    if not torch.is_grad_enabled():
        mods = Mods(*(t.detach() for t in mods))
    # Past dynamo's default of 8 kernels a function, a new shape would silently run the
    # unfused flex_attention, which materialises [B, H, T, T]; allow more, scoped to this call.
    with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
        out = compiled_flex()(
            q, k, v, score_mod=mods.score_mod, block_mask=band_blocks(mods, B, H, T), scale=1.0
        )
    assert isinstance(out, Tensor)
    return out[:B, :H, :T, :Dh].to(storage)


# The kernels a call can run in (flex). Nearly every call of a conformance run fits SMALL
# (B, H ≤ 4, T ≤ 128, Dh ≤ 16) and pays no padding there; every other call runs in the large
# class, whose least shape holds the default tier's kernel family (B ≤ 8, T ≤ 1536, Dh ≤ 128):
# a default run compiles two kernels. Larger calls climb ladders (powers of two; T also 1.5
# times one). On CUDA the head dim goes to its power of two only: padded features cost the
# GPU work in every computed block, while padded blocks cost nothing.
SMALL = (4, 4, BLOCK, 16)  # B, H, T, Dh
LARGE = (8, 4, 12 * BLOCK, 128)  # the least B, H, T, Dh of the large class
TABLE_R = 512  # the least R of the padded bias table [H, 2R − 1]: the default tier's largest


def kernel_shape(q: Tensor) -> tuple[int, int, int, int]:
    """[B, H, T, Dh] of the kernel that runs a call on q [B, H, T, Dh]."""
    if all(n <= m for n, m in zip(q.shape, SMALL, strict=True)):
        return SMALL
    B, H, T, Dh = q.shape
    least_dh = LARGE[3] if q.device.type == "cpu" else 16
    return rung(B, LARGE[0]), rung(H, LARGE[1]), seq_rung(T), rung(Dh, least_dh)


def warm_up(dtype: torch.dtype, device: torch.device) -> None:
    """Compile now, for ``dtype`` on ``device``, the kernels of SMALL and of the large class's
    least shape (those of a default conformance run), by running flex once on zeros in each:
    a caller with a deadline on its first call compiles there, not in a later call."""
    for B, H, T, Dh in (SMALL, LARGE):
        q = torch.zeros(B, H, T, Dh, dtype=dtype, device=device)
        if flex_unavailable(q, grad=False) is not None:
            return
        band = torch.ones(B, dtype=torch.int64, device=device)
        scale = torch.ones(B, dtype=torch.float64, device=device)
        table = torch.zeros(H, 1, dtype=dtype, device=device)
        real = torch.ones(B, T, dtype=torch.bool, device=device)
        with torch.no_grad():
            flex(q, q, q, Mods(-band, band, scale, scale, table, real))


def rung(n: int, least: int) -> int:
    """The smallest least·2^k ≥ n."""
    size = least
    while size < n:
        size *= 2
    return size


def seq_rung(T: int) -> int:
    """The smallest of 1536, 2048, 3072, 4096, … (2^k and 1.5·2^k: multiples of BLOCK) ≥ T."""
    size = LARGE[2]
    while size < T:
        size = size * 4 // 3 if size & (size - 1) else size * 3 // 2
    return size


def pad(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """t with zeros after its end along every axis, to ``shape``."""
    ends = zip(reversed(t.shape), reversed(shape), strict=True)
    return F.pad(t, [w for n, m in ends for w in (0, m - n)])


def pad_mods(mods: Mods, shape: tuple[int, int, int, int]) -> Mods:
    """The plan of the padded call: padded sequences see nothing (lo = hi = 0, no real key)
    and divide by τ = 1; padded heads read a zero table row; the table to R' (repeat_edges)."""
    B, H, T, _ = shape
    extra, table = B - mods.lo.shape[0], repeat_edges(mods.table)
    return Mods(
        lo=F.pad(mods.lo, (0, extra)),
        hi=F.pad(mods.hi, (0, extra)),
        gain=F.pad(mods.gain, (0, extra)),
        tau=F.pad(mods.tau, (0, extra), value=1.0),
        table=pad(table, (H, table.shape[1])),
        real=pad(mods.real, (B, T)),
    )


def repeat_edges(table: Tensor) -> Tensor:
    """[H, 2R − 1] → [H, 2R' − 1] with R' = rung(R, TABLE_R), the edge entries repeated
    outward: every clamped lookup of score_mod reads the same value as before."""
    r = (table.shape[1] + 1) // 2
    extra = rung(r, TABLE_R) - r
    return torch.cat([table[:, :1].expand(-1, extra), table, table[:, -1:].expand(-1, extra)], 1)


@functools.cache
def compiled_flex() -> Any:
    # dynamic=False: in torch 2.13 the CPU kernel generated for dynamic sizes fails to compile
    # once it has ten or more size symbols (inductor renames the split-size symbol by text
    # replacement, so "ks1" also rewrites "ks10": cur_qSplitSize0 is undeclared), and a dynamic
    # T specialises anyway on the BlockMask's sequence lengths; kernel_shape keeps the number
    # of static kernels small instead.
    return torch.compile(flex_attention, dynamic=False)


def band_blocks(mods: Mods, batch: int, heads: int, seq_len: int) -> BlockMask:
    """The key blocks each query block must compute: those holding a pair inside the band,
    of the first ``batch`` sequences and ``heads`` heads, up to position ``seq_len``.

    Built from block indices, O((T / BLOCK)²) per element, never from a [T, T] mask;
    padding inside a computed block is left to mask_mod, which every computed block applies.
    """
    B, T, H = mods.real.shape[0], mods.real.shape[1], mods.table.shape[0]
    n = T // BLOCK
    blocks = torch.arange(n, device=mods.lo.device)
    offset = (blocks[:, None] - blocks[None, :]) * BLOCK  # i − j between block starts
    lo, hi = mods.lo[:, None, None], mods.hi[:, None, None]
    # Within a block pair, i − j ranges over offset ± (BLOCK − 1).
    wanted = (offset + BLOCK - 1 > lo) & (offset - BLOCK + 1 < hi)  # [B, n, n]
    real = blocks < -(-seq_len // BLOCK)  # blocks holding a position below seq_len
    wanted = wanted & real[:, None] & real[None, :]
    wanted = wanted[:, None].expand(B, H, n, n).clone()  # [B, H, n, n]
    wanted[batch:] = False
    wanted[:, heads:] = False
    count = wanted.sum(dim=-1, dtype=torch.int32)  # [B, H, n]
    order = torch.argsort((~wanted).to(torch.int8), dim=-1, stable=True)  # wanted blocks first
    return BlockMask.from_kv_blocks(
        count, order.to(torch.int32), BLOCK_SIZE=BLOCK, mask_mod=mods.mask_mod, seq_lengths=(T, T)
    )


def check_inputs(
    q: Tensor, k: Tensor, v: Tensor, rel_bias: Tensor, config: AHAConfig, mask: Tensor | None
) -> AHAConfig:
    """The reference's boundary checks (ERR-2 .. ERR-8) on tensors, with its messages,
    without copying q, k, v to the host."""
    config = validate.attention_shapes(q, k, v, rel_bias, config)
    check_finite(q=q, k=k, v=v, rel_bias=rel_bias)
    check_mask(mask, q.shape[0], q.shape[2])
    return config


def check_mask(mask: Any, batch: int, seq_len: int) -> None:
    """None, or a bool [B, T] key padding mask (MASK-1, ERR-8)."""
    if mask is not None:
        validate.check_mask(mask if isinstance(mask, Tensor) else np.asarray(mask), batch, seq_len)


def check_finite(**tensors: Tensor) -> None:
    """DomainError naming the first non-finite value, as the reference reports it (ERR-6).

    min and max propagate NaN and expose ±inf, and cost less than isfinite(t).all(); one
    device sync for all the tensors.
    """
    finite = torch.stack(
        [torch.isfinite(torch.stack(torch.aminmax(t))).all() for t in tensors.values()]
    ).tolist()
    for (name, t), ok in zip(tensors.items(), finite, strict=True):
        if not ok:
            validate.float_array(name, to_numpy(t), ", ".join("?" * t.dim()))


def span_host(span_scale: Any, batch: int) -> np.ndarray:
    """span_scale as validated binary64 [B] on the host (PLAN-1, ERR-6)."""
    if isinstance(span_scale, Tensor):
        span_scale = to_numpy(span_scale)
    return validate.span_scale(span_scale, batch)

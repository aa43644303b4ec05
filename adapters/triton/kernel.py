"""The Triton kernel: flash-style banded attention with a relative bias (LOCAL-1 .. LOCAL-5).

One program computes one query tile of BLOCK_M rows of one (sequence b, head h) and walks the
key blocks of its band only. Per row it keeps a running maximum m, a running sum l and a
float32 accumulator (online softmax), so the T×T weights never exist. The host passes the
plan as small device tensors (reach per sequence, the logit coefficient g·scale/τ and the
bias table pre-divided by τ); the kernel re-derives none of it. The global branch is the
same kernel with reach = T, gain 1 and temperature 1 (GLOBAL-1 .. GLOBAL-4).
"""

from __future__ import annotations

import triton
import triton.language as tl

# Tensor-core tiles need every dimension ≥ 16 (the interpreter accepts less, a GPU does not);
# tl.arange needs powers of two. A head dim that is not one runs in a tile of BLOCK_D, the
# next power of two, whose extra columns load as 0 and are never stored: zero columns change
# neither <q, k> nor the kept columns of P·V.
MIN_TILE = tl.constexpr(16)
# exp(x) = exp2(x·log2 e). It multiplies z − m, never z: at |z| ~ 1e4 a float32 z·log2 e
# would round by ~1e-3 and shift the weights by as much (LOCAL-4's large logits).
LOG2E = tl.constexpr(1.4426950408889634)


def key_blocks(start_m, reach, kv_len, CAUSAL, BLOCK_M, BLOCK_N):
    """Key positions the query rows [start_m, start_m + BLOCK_M) visit (LOCAL-1, CAUSAL-1).

    Returns (lo, full_lo, full_hi, hi): key blocks start at lo, lo + BLOCK_N, … below hi;
    those in [full_lo, full_hi) are seen whole by every row of the tile, so they need no
    band, causal or length mask; [lo, full_lo) and [full_hi, hi) are the edges, masked.
    kv_len is one past the last real key of the sequence: later blocks are skipped.

    Plain Python integers here; the kernel runs the same function under triton.jit, so the
    tests of these bounds are tests of the kernel's (no annotations: Triton would read them).
    Operands of // are never negative (Python floors, Triton truncates).
    """
    first = max(start_m - reach + 1, 0)  # first key the tile's first row sees
    hi = min(start_m + BLOCK_M - 1 + reach, kv_len)  # one past the last row's last key
    if CAUSAL:
        hi = min(hi, start_m + BLOCK_M)
    lo = first // BLOCK_N * BLOCK_N
    if hi <= first:  # padding ends before the band begins: nothing to visit
        hi = lo
    hi_block = (hi + BLOCK_N - 1) // BLOCK_N * BLOCK_N
    # Whole blocks: j > (last row) − reach, j < (first row) + reach, j < kv_len, j ≤ first row.
    full_first = max(start_m + BLOCK_M - reach, lo)
    full_end = min(start_m + reach, kv_len)
    if CAUSAL:
        full_end = min(full_end, start_m + 1)
    full_lo = min((full_first + BLOCK_N - 1) // BLOCK_N * BLOCK_N, hi_block)
    full_hi = max(full_end // BLOCK_N * BLOCK_N, full_lo)
    return lo, full_lo, full_hi, hi


_key_blocks = triton.jit(key_blocks)


@triton.jit
def load_tile(
    base, rows, row_ok, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, CHECK_ROWS: tl.constexpr
):
    """rows × BLOCK_D of a row-major [*, HEAD_DIM] matrix; rows not row_ok (when CHECK_ROWS)
    and the columns past HEAD_DIM load as 0. Masks only where a tile can leave the data."""
    cols = tl.arange(0, BLOCK_D)
    ptrs = base + rows[:, None] * HEAD_DIM + cols[None, :]
    if BLOCK_D == HEAD_DIM:
        if CHECK_ROWS:
            x = tl.load(ptrs, mask=row_ok[:, None], other=0.0)
        else:
            x = tl.load(ptrs)
    else:
        col_ok = cols[None, :] < HEAD_DIM
        if CHECK_ROWS:
            x = tl.load(ptrs, mask=row_ok[:, None] & col_ok, other=0.0)
        else:
            x = tl.load(ptrs, mask=col_ok, other=0.0)
    return x


@triton.jit
def load_tile_t(
    base, rows, row_ok, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, CHECK_ROWS: tl.constexpr
):
    """load_tile transposed, [BLOCK_D, rows], read in that order rather than tl.trans of a
    loaded tile: the same on a GPU, and under the interpreter a tl.dot with one transposed
    operand takes NumPy's slow non-BLAS matmul (~30× slower)."""
    cols = tl.arange(0, BLOCK_D)
    ptrs = base + rows[None, :] * HEAD_DIM + cols[:, None]
    if BLOCK_D == HEAD_DIM:
        if CHECK_ROWS:
            x = tl.load(ptrs, mask=row_ok[None, :], other=0.0)
        else:
            x = tl.load(ptrs)
    else:
        col_ok = cols[:, None] < HEAD_DIM
        if CHECK_ROWS:
            x = tl.load(ptrs, mask=row_ok[None, :] & col_ok, other=0.0)
        else:
            x = tl.load(ptrs, mask=col_ok, other=0.0)
    return x


@triton.jit
def store_tile(base, rows, row_ok, x, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr):
    """Store the rows that are row_ok and the first HEAD_DIM columns of x [rows, BLOCK_D]."""
    cols = tl.arange(0, BLOCK_D)
    ptrs = base + rows[:, None] * HEAD_DIM + cols[None, :]
    value = x.to(base.dtype.element_ty)
    if BLOCK_D == HEAD_DIM:
        tl.store(ptrs, value, mask=row_ok[:, None])
    else:
        tl.store(ptrs, value, mask=row_ok[:, None] & (cols[None, :] < HEAD_DIM))


@triton.jit
def _attend_blocks(
    acc,
    l_i,
    m_i,
    q,
    k_head,
    v_head,
    bias_center,
    keep_row,
    offs_m,
    start,
    end,
    reach,
    kv_len,
    qk_coef,
    R,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_PADDING: tl.constexpr,
    CLAMP_BIAS: tl.constexpr,
    EDGE: tl.constexpr,
):
    """Fold key blocks start, start + BLOCK_N, … < end into the running (acc, l, m) of a tile.

    EDGE blocks may hold invisible pairs and keys past kv_len; the others hold neither.
    """
    for start_n in range(start, end, BLOCK_N):
        # -- load K, V (and the padding mask) of this key block ------------------------------
        offs_n = start_n + tl.arange(0, BLOCK_N)
        # Keys past kv_len load as 0 in edge blocks: a garbage V row times p = 0 could be NaN.
        in_seq = offs_n < kv_len
        k_t = load_tile_t(k_head, offs_n, in_seq, HEAD_DIM, BLOCK_D, CHECK_ROWS=EDGE)
        v = load_tile(v_head, offs_n, in_seq, HEAD_DIM, BLOCK_D, CHECK_ROWS=EDGE)

        # -- logits z = (g·scale·<q, k> + bias[i − j]) / τ (LOCAL-2, LOCAL-3) -----------------
        dist = offs_m[:, None] - offs_n[None, :]  # i − j, not j − i: LOCAL-2
        if EDGE or CLAMP_BIAS:
            # GLOBAL-2's clamp. Whole blocks of a band have |i − j| < reach ≤ R and skip it;
            # edges hold invisible pairs past R, whose lookups must stay in the table.
            bias = tl.load(bias_center + tl.minimum(tl.maximum(dist, 1 - R), R - 1))
        else:
            bias = tl.load(bias_center + dist)
        # "ieee": a GPU would otherwise round float32 operands to TF32; 16-bit ones ignore it.
        z = tl.dot(q, k_t, input_precision="ieee") * qk_coef + bias

        # -- hide invisible pairs (LOCAL-1, CAUSAL-1, MASK-1) --------------------------------
        if EDGE:
            visible = (dist < reach) & (dist > -reach) & in_seq[None, :]
            if CAUSAL:
                visible = visible & (dist >= 0)
            if HAS_PADDING:
                keep = tl.load(keep_row + offs_n, mask=in_seq, other=0)
                visible = visible & (keep[None, :] != 0)
            z = tl.where(visible, z, float("-inf"))
        elif HAS_PADDING:
            keep = tl.load(keep_row + offs_n)
            z = tl.where(keep[None, :] != 0, z, float("-inf"))

        # -- online softmax: rescale what was summed so far to the new row maximum (LOCAL-4) -
        m_new = tl.maximum(m_i, tl.max(z, 1))
        # A row with no visible key yet has m = −inf; subtracting 0 instead keeps
        # exp2(−inf − (−inf)) = NaN out, and its p and l stay 0 (LOCAL-5).
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.math.exp2((z - m_ref[:, None]) * LOG2E)
        alpha = tl.math.exp2((m_i - m_ref) * LOG2E)
        l_i = l_i * alpha + tl.sum(p, 1)
        # P is rounded to V's dtype before P·V, as every flash kernel does (PREC-3's reason).
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        m_i = m_new
    return acc, l_i, m_i


# T and R are not specialised (Triton would compile apart T = 1 and T % 16 == 0): only
# constexprs set the variants, so tests over many lengths compile a few kernels, not dozens.
@triton.jit(do_not_specialize=["T", "R"])
def band_attention_fwd(
    Q,
    K,
    V,
    OUT,
    ROW_MAX,
    ROW_SUM,
    BIAS,
    KEEP,
    REACH,
    KV_LEN,
    QK_COEF,
    T,
    R,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_PADDING: tl.constexpr,
    CLAMP_BIAS: tl.constexpr,
    SAVE_STATS: tl.constexpr,
):
    """out[b, h, tile] for q, k, v, out contiguous [B, H, T, HEAD_DIM]; grid (⌈T/BLOCK_M⌉, H, B).

    BIAS [B, H, 2R − 1] float32 is rel_bias / τ_b; QK_COEF [B] float32 is g_b · scale / τ_b;
    REACH and KV_LEN [B] int32; KEEP [B, T] uint8, 1 = real key, read only when HAS_PADDING.
    CLAMP_BIAS: some reach exceeds R (the global reuse at T > R), so whole blocks clamp too.
    SAVE_STATS: also write each row's softmax maximum m and sum l, float32 [B, H, T], for the
    backward (rows with no visible key: m = 0, l = 1, so that it recomputes p = 0 there).
    """
    tl.static_assert(
        BLOCK_M >= MIN_TILE and BLOCK_N >= MIN_TILE and BLOCK_D >= MIN_TILE,
        "tiles must be at least 16 in every dimension for tl.dot",
    )
    tl.static_assert(
        (BLOCK_M & (BLOCK_M - 1)) == 0
        and (BLOCK_N & (BLOCK_N - 1)) == 0
        and (BLOCK_D & (BLOCK_D - 1)) == 0,
        "tile sizes must be powers of two",
    )
    tl.static_assert(HEAD_DIM <= BLOCK_D, "the head-dim tile must hold the head dim")

    # -- which tile, head and sequence; that sequence's plan ---------------------------------
    start_m = tl.program_id(0) * BLOCK_M
    h = tl.program_id(1)
    b = tl.program_id(2)
    head = b * tl.num_programs(1) + h
    reach = tl.load(REACH + b)
    kv_len = tl.load(KV_LEN + b)
    qk_coef = tl.load(QK_COEF + b)
    row_offset = head.to(tl.int64) * T  # B·H·T·Dh may pass 2**31
    head_offset = row_offset * HEAD_DIM
    bias_center = BIAS + head * (2 * R - 1) + (R - 1)  # entry of distance 0
    keep_row = KEEP + b.to(tl.int64) * T

    # -- the query tile stays on chip; rows past T load as 0 and are never stored -----------
    offs_m = start_m + tl.arange(0, BLOCK_M)
    row_ok = offs_m < T
    q = load_tile(Q + head_offset, offs_m, row_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)

    # -- the band only: masked leading edge, whole blocks, masked trailing edge --------------
    lo, full_lo, full_hi, hi = _key_blocks(start_m, reach, kv_len, CAUSAL, BLOCK_M, BLOCK_N)
    k_head = K + head_offset
    v_head = V + head_offset
    # fmt: off
    acc, l_i, m_i = _attend_blocks(acc, l_i, m_i, q, k_head, v_head, bias_center, keep_row,
                                   offs_m, lo, full_lo, reach, kv_len, qk_coef, R, HEAD_DIM,
                                   BLOCK_D, BLOCK_N, CAUSAL, HAS_PADDING, CLAMP_BIAS, EDGE=True)
    acc, l_i, m_i = _attend_blocks(acc, l_i, m_i, q, k_head, v_head, bias_center, keep_row,
                                   offs_m, full_lo, full_hi, reach, kv_len, qk_coef, R, HEAD_DIM,
                                   BLOCK_D, BLOCK_N, CAUSAL, HAS_PADDING, CLAMP_BIAS, EDGE=False)
    acc, l_i, m_i = _attend_blocks(acc, l_i, m_i, q, k_head, v_head, bias_center, keep_row,
                                   offs_m, full_hi, hi, reach, kv_len, qk_coef, R, HEAD_DIM,
                                   BLOCK_D, BLOCK_N, CAUSAL, HAS_PADDING, CLAMP_BIAS, EDGE=True)
    # fmt: on

    # -- normalise; a row that saw no key has acc = 0 and l = 0: divide by 1, write 0 (LOCAL-5)
    seen = l_i > 0
    l_safe = tl.where(seen, l_i, 1.0)
    out = acc / l_safe[:, None]
    store_tile(OUT + head_offset, offs_m, row_ok, out, HEAD_DIM, BLOCK_D)
    if SAVE_STATS:
        tl.store(ROW_MAX + row_offset + offs_m, tl.where(seen, m_i, 0.0), mask=row_ok)
        tl.store(ROW_SUM + row_offset + offs_m, l_safe, mask=row_ok)

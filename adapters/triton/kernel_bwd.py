"""The backward kernels of the band: FlashAttention-2 order, weights recomputed (GRAD-1 .. 3).

The forward computes, per sequence b and head h, with c_b = g_b·scale/τ_b and the table
β_b = rel_bias/τ_b (the host's plan, as in kernel.py):

    z_ij = c_b·<q_i, k_j> + β_b[h, i − j],   P = softmax over the visible j,   O = P·V.

For a cotangent dO the backward is

    dV = Pᵀ·dO,   dP = dO·Vᵀ,   dZ = P ∘ (dP − D),   D_i = Σ_j P_ij·dP_ij = <dO_i, O_i>,
    dQ = c_b·dZ·K,   dK = c_b·dZᵀ·Q,
    dβ_b[h, d] = Σ over visible pairs with i − j = d (clamped to the table, GLOBAL-2) of dZ_ij,
    Σ_ij dZ_ij·z_ij, from which the host takes dτ_b = −Σ/τ_b (z = a/τ, so ∂z/∂τ = −z/τ).

The host turns dβ into d rel_bias = Σ_b dβ_b/τ_b and dτ into d span_scale through the
reference's temperature_slope (GRAD-2); window, reach and gain pass nothing (GRAD-1).

P is never stored: each kernel recomputes it from the forward's row maximum m and row sum l,
P = exp(z − m)/l, as FlashAttention-2 does from its logsumexp. m and l are kept apart
rather than as m + log l: at |z| ≈ 1e4 a float32 z − (m + log l) would round by ~1e-3, while
z − m stays exact near the maximum (LOCAL-4). Invisible pairs get P = 0, so they, and rows
with no visible key, pass no gradient (GRAD-3, LOCAL-5).

Two kernels, each tile of each output owned by one program, so dQ, dK and dV need no atomics:
``band_attention_bwd_kv``, one program per key tile, walks the query tiles of its band for
dK, dV, dβ and the Σ dZ·z; ``band_attention_bwd_q``, one program per query tile, walks the
key tiles of its band (kernel.key_blocks, as the forward) for dQ. The bias table is the one
output many programs share: see the scatter in ``band_attention_bwd_kv``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from .kernel import LOG2E, MIN_TILE, key_blocks, load_tile, store_tile


def query_blocks(start_n, reach, kv_len, seq_len, CAUSAL, BLOCK_M, BLOCK_N):
    """Query rows that see a key of [start_n, start_n + BLOCK_N): blocks lo, lo + BLOCK_M, …
    below hi (LOCAL-1, CAUSAL-1). Keys at or past kv_len are seen by none.

    Plain Python on integers, the kernel runs it under triton.jit (tests/test_triton_blocks.py
    checks it against a brute-force band), like kernel.key_blocks.
    """
    first = max(start_n - reach + 1, 0)  # the first key's first row
    if CAUSAL:
        first = max(first, start_n)  # i ≥ j
    last_key = min(start_n + BLOCK_N, kv_len) - 1  # the tile's last real key
    hi = min(last_key + reach, seq_len)  # one past the last row that sees it
    lo = first // BLOCK_M * BLOCK_M
    if hi <= first or start_n >= kv_len:  # no row sees this tile, or it is all padding
        hi = lo
    return lo, hi


_query_blocks = triton.jit(query_blocks)
_key_blocks = triton.jit(key_blocks)


@triton.jit
def _weights(
    q,
    k,
    offs_m,
    offs_n,
    row_max,
    row_sum,
    bias_center,
    keep_row,
    reach,
    kv_len,
    T,
    qk_coef,
    R,
    CAUSAL: tl.constexpr,
    HAS_PADDING: tl.constexpr,
):
    """The forward's logits z and weights P of a [BLOCK_M, BLOCK_N] tile, z = −inf and P = 0
    where a pair is invisible; the visibility; each pair's bias-table index (i − j clamped
    to the table)."""
    dist = offs_m[:, None] - offs_n[None, :]  # i − j: LOCAL-2
    # Every lookup stays in the table; visible pairs past R share its edges (GLOBAL-2).
    index = tl.minimum(tl.maximum(dist, 1 - R), R - 1)
    # The same operations, in the same order, as the forward: z and m agree.
    z = tl.dot(q, tl.trans(k), input_precision="ieee") * qk_coef + tl.load(bias_center + index)
    in_seq = offs_n < kv_len
    visible = (dist < reach) & (dist > -reach) & in_seq[None, :] & (offs_m < T)[:, None]
    if CAUSAL:
        visible = visible & (dist >= 0)
    if HAS_PADDING:
        keep = tl.load(keep_row + offs_n, mask=in_seq, other=0)
        visible = visible & (keep[None, :] != 0)
    # −inf before exp, as the forward: an invisible z may exceed the row's maximum.
    z = tl.where(visible, z, float("-inf"))
    p = tl.math.exp2((z - row_max[:, None]) * LOG2E) / row_sum[:, None]
    return z, p, visible, index


@triton.jit
def _row_stats(ROW_MAX, ROW_SUM, DELTA, offs_m, row_ok):
    """m, l and D of query rows; rows past T read m = 0, l = 1, D = 0 and see no key."""
    m = tl.load(ROW_MAX + offs_m, mask=row_ok, other=0.0)
    l = tl.load(ROW_SUM + offs_m, mask=row_ok, other=1.0)  # noqa: E741
    delta = tl.load(DELTA + offs_m, mask=row_ok, other=0.0)
    return m, l, delta


@triton.jit(do_not_specialize=["T", "R"])
def band_attention_bwd_kv(
    Q,
    K,
    V,
    DO,
    ROW_MAX,
    ROW_SUM,
    DELTA,
    DK,
    DV,
    DBIAS,
    ZDZ,
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
):
    """dK, dV of one key tile; its share of dβ and of Σ dZ·z. Grid (⌈T/BLOCK_N⌉, H, B).

    Q, K, V, DO, DK, DV [B, H, T, HEAD_DIM] contiguous; ROW_MAX, ROW_SUM (the forward's) and
    DELTA (D) float32 [B, H, T]; DBIAS float32 [B, H, 2R − 1], zeroed by the host: dβ;
    ZDZ float32 [B, H, ⌈T/BLOCK_N⌉]: each program's Σ dZ_ij·(z_ij − m_i). Other operands
    as in kernel.band_attention_fwd.
    """
    tl.static_assert(
        BLOCK_M >= MIN_TILE and BLOCK_N >= MIN_TILE and BLOCK_D >= MIN_TILE,
        "tiles must be at least 16 in every dimension for tl.dot",
    )
    tl.static_assert(HEAD_DIM <= BLOCK_D, "the head-dim tile must hold the head dim")

    # -- which key tile, head and sequence; that sequence's plan -----------------------------
    start_n = tl.program_id(0) * BLOCK_N
    h = tl.program_id(1)
    b = tl.program_id(2)
    head = b * tl.num_programs(1) + h
    reach = tl.load(REACH + b)
    kv_len = tl.load(KV_LEN + b)
    qk_coef = tl.load(QK_COEF + b)
    row_offset = head.to(tl.int64) * T
    head_offset = row_offset * HEAD_DIM
    bias_center = BIAS + head * (2 * R - 1) + (R - 1)
    d_bias_center = DBIAS + head * (2 * R - 1) + (R - 1)
    keep_row = KEEP + b.to(tl.int64) * T

    # -- the key tile and its accumulators stay on chip ---------------------------------------
    offs_n = start_n + tl.arange(0, BLOCK_N)
    key_ok = offs_n < T
    k = load_tile(K + head_offset, offs_n, key_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
    v = load_tile(V + head_offset, offs_n, key_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    zdz = tl.zeros([BLOCK_M], tl.float32)

    # -- the query tiles of the band; every one masked (the backward is dot-bound) -----------
    lo, hi = _query_blocks(start_n, reach, kv_len, T, CAUSAL, BLOCK_M, BLOCK_N)
    for start_m in range(lo, hi, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < T
        q = load_tile(Q + head_offset, offs_m, row_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
        do = load_tile(DO + head_offset, offs_m, row_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
        m, l, delta = _row_stats(  # noqa: E741
            ROW_MAX + row_offset, ROW_SUM + row_offset, DELTA + row_offset, offs_m, row_ok
        )
        # fmt: off
        z, p, visible, index = _weights(q, k, offs_m, offs_n, m, l, bias_center, keep_row,
                                        reach, kv_len, T, qk_coef, R, CAUSAL, HAS_PADDING)
        # fmt: on
        # P is rounded to dO's dtype before Pᵀ·dO, as the forward rounds it before P·V.
        dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision="ieee")
        dp = tl.dot(do, tl.trans(v), input_precision="ieee")
        dz = p * (dp - delta[:, None])  # 0 wherever p is: invisible pairs pass nothing
        dk += tl.dot(tl.trans(dz.to(q.dtype)), q, input_precision="ieee")

        # -- dβ: every pair adds its dZ to the table entry it read (LOCAL-2, GLOBAL-2) -------
        # Atomics, not a reduction pass: a [B, H, T, 2ρ − 1] buffer of per-row, per-distance
        # sums would be O(T·ρ) memory (4.3 GB at B=4, H=16, T=16384, ρ=512) and the global
        # reuse (ρ = T) O(T²); the table is B·H·(2R − 1) floats, shared by the ⌈T/BLOCK_N⌉
        # programs of one (b, h). FlexAttention scatters a captured bias's gradient the same
        # way. The order of float32 additions is then unspecified: d rel_bias is not bitwise
        # reproducible, its error is that of a float32 sum.
        tl.atomic_add(d_bias_center + index, dz, mask=visible)
        # -- Σ dZ·z: each row's dZ sums to 0 (softmax), so Σ_j dZ_ij·z_ij = Σ_j dZ_ij·(z_ij −
        # m_i); the shifted form keeps the row's offset, up to |z| ≈ 1e4, out of the float32
        # sum (LOCAL-4). Invisible z are −inf: where() before the product, not after.
        zdz += tl.sum(dz * tl.where(visible, z - m[:, None], 0.0), 1)

    # -- dK carries c_b (z = c_b·<q, k> + …); rows past T are not stored ---------------------
    store_tile(DK + head_offset, offs_n, key_ok, dk * qk_coef, HEAD_DIM, BLOCK_D)
    store_tile(DV + head_offset, offs_n, key_ok, dv, HEAD_DIM, BLOCK_D)
    tl.store(ZDZ + head * tl.num_programs(0) + tl.program_id(0), tl.sum(zdz, 0))


@triton.jit(do_not_specialize=["T", "R"])
def band_attention_bwd_q(
    Q,
    K,
    V,
    DO,
    ROW_MAX,
    ROW_SUM,
    DELTA,
    DQ,
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
):
    """dQ of one query tile. Grid (⌈T/BLOCK_M⌉, H, B); operands as band_attention_bwd_kv."""
    tl.static_assert(
        BLOCK_M >= MIN_TILE and BLOCK_N >= MIN_TILE and BLOCK_D >= MIN_TILE,
        "tiles must be at least 16 in every dimension for tl.dot",
    )
    tl.static_assert(HEAD_DIM <= BLOCK_D, "the head-dim tile must hold the head dim")

    # -- which query tile, head and sequence; that sequence's plan ---------------------------
    start_m = tl.program_id(0) * BLOCK_M
    h = tl.program_id(1)
    b = tl.program_id(2)
    head = b * tl.num_programs(1) + h
    reach = tl.load(REACH + b)
    kv_len = tl.load(KV_LEN + b)
    qk_coef = tl.load(QK_COEF + b)
    row_offset = head.to(tl.int64) * T
    head_offset = row_offset * HEAD_DIM
    bias_center = BIAS + head * (2 * R - 1) + (R - 1)
    keep_row = KEEP + b.to(tl.int64) * T

    # -- the query tile, its cotangent and its row statistics stay on chip -------------------
    offs_m = start_m + tl.arange(0, BLOCK_M)
    row_ok = offs_m < T
    q = load_tile(Q + head_offset, offs_m, row_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
    do = load_tile(DO + head_offset, offs_m, row_ok, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
    m, l, delta = _row_stats(  # noqa: E741
        ROW_MAX + row_offset, ROW_SUM + row_offset, DELTA + row_offset, offs_m, row_ok
    )
    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)

    # -- the key tiles of the band, as the forward visits them, every one masked -------------
    # (Distinct names for the unused values: the compiler types a name once per loop.)
    lo, _full_lo, _full_hi, hi = _key_blocks(start_m, reach, kv_len, CAUSAL, BLOCK_M, BLOCK_N)
    for start_n in range(lo, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        in_seq = offs_n < kv_len
        k = load_tile(K + head_offset, offs_n, in_seq, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
        v = load_tile(V + head_offset, offs_n, in_seq, HEAD_DIM, BLOCK_D, CHECK_ROWS=True)
        # fmt: off
        _z, p, _visible, _index = _weights(q, k, offs_m, offs_n, m, l, bias_center,
                                           keep_row, reach, kv_len, T, qk_coef, R, CAUSAL,
                                           HAS_PADDING)
        # fmt: on
        dp = tl.dot(do, tl.trans(v), input_precision="ieee")
        dz = p * (dp - delta[:, None])
        dq += tl.dot(dz.to(k.dtype), k, input_precision="ieee")

    store_tile(DQ + head_offset, offs_m, row_ok, dq * qk_coef, HEAD_DIM, BLOCK_D)

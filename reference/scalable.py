"""A second evaluation order of the two branches: query blocks over key windows (ORDER-1).

The dense functions of ``attention.py`` stay the normative text in code. These compute the same
values (LOCAL-1 .. LOCAL-6, GLOBAL-1 .. GLOBAL-4, PREC-1, PREC-2) without a [T, T] array:
queries are taken ``block`` positions at a time and each block reads only the keys its rows may
see. The local branch then costs O(B·H·T·ρ·Dh) in time, the global one O(block·T) in memory,
and a subset of query rows (``rows=``) costs in proportion to the rows asked for.

Scores and weights of one block are [H, n, W]: n query rows, W keys of the block's window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import validate
from .attention import Precision, masked_softmax, matmul, precision
from .config import AHAConfig
from .errors import DTypeError, ShapeError
from .plan import plan

# Queries per local block: Bq queries read Bq + 2ρ − 2 keys for 2ρ − 1 useful ones, so a
# small block wastes little; below 64 the matmuls get too small to be efficient. Measured at
# T = 4096, ρ = 64, 512 and 1024, one thread: 64 was never slower than 32, 128 or 256.
LOCAL_BLOCK = 64
# Elements of one global block's scores [H, Bq, T]: 2^21 binary64 values are 16 MiB.
GLOBAL_BLOCK_ELEMENTS = 2**21


def local_attention_blocked(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    rows: Any = None,
    block: int | None = None,
) -> np.ndarray:
    """``local_attention`` evaluated over the band only, one query block at a time (ORDER-1).

    Same arguments, validation, precision (PREC-1, PREC-2) and result (LOCAL-1 .. LOCAL-6).
    ``rows``: int positions [n] (any order, repeats allowed); out is then [B, H, n, Dh], row
    m holding query rows[m]. ``block``: queries per block, default LOCAL_BLOCK.
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    s = validate.span_scale(span_scale, q.shape[0])
    prec = precision(dtype)
    T = q.shape[2]
    asked = query_rows(rows, T)
    p = plan(s, T, config)
    size = block_size(block, q.shape[1], T, local=True)
    with validate.binary64_range("q, k and rel_bias", prec.compute):  # ERR-9
        return attend_blocked(
            q, k, v, rel_bias, config, mask, prec, asked, size, p.gain, p.temperature, p.reach
        )


def global_attention_blocked(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    rows: Any = None,
    block: int | None = None,
) -> np.ndarray:
    """``global_attention`` one query block at a time, in O(block·T) memory (ORDER-1).

    Same arguments, validation, precision and result (GLOBAL-1 .. GLOBAL-4); ``rows`` as in
    ``local_attention_blocked``; ``block`` by default keeps a block's scores near
    GLOBAL_BLOCK_ELEMENTS values.
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    prec = precision(dtype)
    B, H, T, _ = q.shape
    asked = query_rows(rows, T)
    size = block_size(block, H, T, local=False)
    ones = np.ones(B)  # GLOBAL-3: no gain and no temperature
    with validate.binary64_range("q, k and rel_bias", prec.compute):  # ERR-9
        return attend_blocked(q, k, v, rel_bias, config, mask, prec, asked, size, ones, ones, None)


def query_rows(rows: Any, seq_len: int) -> np.ndarray | None:
    """None (every row), or the asked positions as int64 [n], each in [0, T)."""
    if rows is None:
        return None
    arr = np.asarray(rows)
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(f"rows must have shape [n] with n >= 1, got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"rows must be integer positions, got dtype {arr.dtype.name}")
    outside = np.flatnonzero((arr < 0) | (arr >= seq_len))
    if outside.size:
        m = int(outside[0])
        raise ShapeError(f"rows[{m}] must lie in [0, T) = [0, {seq_len}), got {arr[m]}")
    return arr.astype(np.int64)


def block_size(block: int | None, heads: int, seq_len: int, *, local: bool) -> int:
    """Query positions per block: ``block`` when given (an int ≥ 1), else a default."""
    if block is not None:
        if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
            raise ShapeError(f"block must be an int >= 1, got {block!r}")
        return int(block)
    if local:
        return LOCAL_BLOCK
    return max(1, GLOBAL_BLOCK_ELEMENTS // (heads * seq_len))


def query_groups(positions: np.ndarray, block: int, *, banded: bool) -> list[slice]:
    """Split sorted distinct positions into groups of at most ``block`` positions.

    Evaluating every row gives the blocks [0, block), [block, 2·block), …. For the band
    (``banded``) a group also spans fewer than ``block`` positions, so sparse rows read only
    the keys near them; the global branch reads every key for any row, so its groups take
    rows however far apart, and its cost follows the rows asked for either way.
    """
    if not banded:
        n = len(positions)
        return [slice(start, min(start + block, n)) for start in range(0, n, block)]
    groups, start = [], 0
    while start < len(positions):
        stop = int(np.searchsorted(positions, positions[start] + block))
        groups.append(slice(start, stop))
        start = stop
    return groups


def key_window(
    first: int, last: int, seq_len: int, reach: int | None, causal: bool
) -> tuple[int, int]:
    """[lo, hi): the keys that queries first … last may see; no other key is read.

    The band |i − j| < ρ (LOCAL-1) and causality j ≤ i (CAUSAL-1) bound it; the global branch
    (reach None) sees every key (GLOBAL-1). The window always holds the queries themselves.
    """
    lo, hi = 0, seq_len
    if reach is not None:
        lo, hi = max(0, first - reach + 1), min(seq_len, last + reach)
    if causal:
        hi = min(hi, last + 1)
    return lo, hi


def window_visibility(
    pos: np.ndarray, lo: int, hi: int, reach: int | None, causal: bool, mask: np.ndarray | None
) -> np.ndarray:
    """visible[m, j − lo]: may query pos[m] see key j of the window? [n, W] (LOCAL-1, GLOBAL-1)."""
    i = pos[:, None]
    j = np.arange(lo, hi)[None, :]
    visible = np.ones((len(pos), hi - lo), dtype=bool)
    if reach is not None:
        visible &= np.abs(i - j) < reach  # strict: LOCAL-1
    if causal:
        visible &= j <= i  # a query sees itself: CAUSAL-1
    if mask is not None:
        visible &= mask[None, lo:hi]  # padding hides keys, not queries: MASK-2
    return visible


def window_bias_index(pos: np.ndarray, lo: int, hi: int, max_rel_dist: int) -> np.ndarray:
    """clamp(i − j, −(R−1), R−1) + R − 1 for the window's pairs [n, W] (LOCAL-2, GLOBAL-2).

    Local windows hold pairs outside the band, farther than R − 1: the clamp keeps their
    (masked) index in range and never changes a visible one.
    """
    r = max_rel_dist
    return np.clip(pos[:, None] - np.arange(lo, hi)[None, :], -(r - 1), r - 1) + r - 1


def window_logits(
    q_rows: np.ndarray,
    k_window: np.ndarray,
    rel_bias: np.ndarray,
    index: np.ndarray,
    g: np.generic,
    tau: np.generic,
) -> np.ndarray:
    """z = (g·scale·<q_i, k_j> + bias) / τ for one block [H, n, W] (LOCAL-2, LOCAL-3).

    The operations and their order are those of ``attention.logits``, so in binary64 each
    logit is the dense one up to the summation order of the dot product.
    """
    scores = matmul(q_rows, k_window.swapaxes(-1, -2))  # [H, n, W]
    # The temperature divides the whole logit, bias included: LOCAL-3.
    return (g * scores + rel_bias[:, index]) / tau


def attend_blocked(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    prec: Precision,
    rows: np.ndarray | None,
    block: int,
    gain: np.ndarray,
    temperature: np.ndarray,
    reach: np.ndarray | None,
) -> np.ndarray:
    """out [B, H, n, Dh] in the storage dtype: per batch element (LOCAL-6), per query block,
    the masked softmax of the window's logits times the window's values (LOCAL-4, LOCAL-5).

    Inputs already validated; reach None is the global branch. The layer calls this directly.
    """
    q, k, v, rel_bias = (prec.round(a) for a in (q, k, v, rel_bias))  # operands in d: PREC-2
    B, H, T, Dh = q.shape
    positions = np.arange(T) if rows is None else np.unique(rows)
    g = (gain * config.softmax_scale(Dh)).astype(prec.compute)
    tau = temperature.astype(prec.compute)
    R = (rel_bias.shape[1] + 1) // 2
    out = np.empty((B, H, len(positions), Dh), dtype=prec.compute)
    for b in range(B):
        rho = None if reach is None else int(reach[b])
        for group in query_groups(positions, block, banded=reach is not None):
            pos = positions[group]
            lo, hi = key_window(int(pos[0]), int(pos[-1]), T, rho, config.causal)
            z = window_logits(
                q[b][:, pos],
                k[b, :, lo:hi],
                rel_bias,
                window_bias_index(pos, lo, hi, R),
                g[b],
                tau[b],
            )
            visible = window_visibility(
                pos, lo, hi, rho, config.causal, None if mask is None else mask[b]
            )
            out[b, :, group] = matmul(masked_softmax(z, visible), v[b, :, lo:hi])
    if rows is not None:
        out = out[:, :, np.searchsorted(positions, rows)]
    return out.astype(prec.storage)

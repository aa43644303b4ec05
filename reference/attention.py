"""The two attention branches of AHA (LOCAL-1 .. LOCAL-6, GLOBAL-1 .. GLOBAL-4).

Layout [B, H, T, Dh]; scores and weights are [B, H, T, T] (query i, key j). Evaluation is in
binary64 (the oracle, PREC-1) unless ``dtype`` asks for the low-precision baseline (PREC-2).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, overload

import numpy as np

from . import validate
from .config import AHAConfig
from .errors import DTypeError
from .plan import Plan, _plan


@overload
def local_attention(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    return_weights: Literal[False] = False,
) -> np.ndarray: ...
@overload
def local_attention(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    return_weights: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
def local_attention(
    q: Any,
    k: Any,
    v: Any,
    span_scale: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    return_weights: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Local branch: each query attends to keys within its sequence's reach (LOCAL-1 .. LOCAL-6).

    q, k, v [B, H, T, Dh]; span_scale [B] or a scalar; rel_bias [H, 2R-1];
    key_padding_mask bool [B, T], True = real token. Returns out [B, H, T, Dh], and the
    weights [B, H, T, T] too when ``return_weights``.
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    s = validate.span_scale(span_scale, q.shape[0])
    prec = precision(dtype)
    with validate.binary64_range("q, k and rel_bias", prec.compute):  # ERR-9
        out, weights = _local(q, k, v, s, rel_bias, config, mask, prec)
    return (out, weights) if return_weights else out


@overload
def global_attention(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    return_weights: Literal[False] = False,
) -> np.ndarray: ...
@overload
def global_attention(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    return_weights: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
def global_attention(
    q: Any,
    k: Any,
    v: Any,
    rel_bias: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    *,
    dtype: Any = np.float64,
    return_weights: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Global branch: every key is visible, subject to causality and padding (GLOBAL-1 .. GLOBAL-4).

    Same shapes as ``local_attention``, without span_scale.
    """
    q, k, v, rel_bias, mask, config = validate.attention_inputs(
        q, k, v, rel_bias, config, key_padding_mask
    )
    prec = precision(dtype)
    with validate.binary64_range("q, k and rel_bias", prec.compute):  # ERR-9
        out, weights = _global(q, k, v, rel_bias, config, mask, prec)
    return (out, weights) if return_weights else out


class Precision(NamedTuple):
    """How the reference evaluates (PREC-1, PREC-2): operations compute in ``compute``;
    results are stored in ``storage``. float64 is the oracle; float32 the low-precision
    baseline; for 16-bit storage each operation computes in float32 and rounds its result."""

    compute: np.dtype
    storage: np.dtype

    def round(self, a: np.ndarray) -> np.ndarray:
        """Store a value: round it to the storage dtype, compute on from there (operands and
        operation results alike)."""
        return a.astype(self.storage).astype(self.compute, copy=False)


def matmul(a: np.ndarray, b: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
    """a @ b over the last two axes, the leading ones broadcast; added to ``into`` if given.

    In binary64 (the oracle, PREC-1) any summation order will do, so BLAS's is taken. In
    float32 (a baseline, PREC-2) each sum is recursive in the order of the summed index: every
    product rounded to float32, then added to the running sum. A baseline then depends on
    IEEE arithmetic alone, not on the machine's BLAS kernel (spec/vectors.md, "Trust").
    """
    if np.result_type(a, b) == np.float64:
        return a @ b if into is None else np.add(into, a @ b, out=into)
    shape = (*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1])
    total = np.zeros(shape, dtype=np.result_type(a, b)) if into is None else into
    product = np.empty_like(total)
    for t in range(a.shape[-1]):
        np.multiply(a[..., :, t, None], b[..., None, t, :], out=product)
        total += product
    return total


def exp(x: np.ndarray) -> np.ndarray:
    """e^x in the dtype of x. In float32 it is binary64's exp rounded to float32: NumPy's own
    float32 exp rounds differently with and without AVX2, binary64's rounded does not, so a
    baseline (PREC-2) is the same on every machine."""
    return np.exp(x.astype(np.float64, copy=False)).astype(x.dtype, copy=False)


def precision(dtype: Any) -> Precision:
    """The Precision of ``dtype``: float64, float32, float16 or bfloat16 (PREC-1, PREC-2)."""
    try:
        found = None if dtype is None else np.dtype(dtype)
    except TypeError:
        found = None
    if found is None or found.name not in validate.FLOAT_DTYPES:
        raise DTypeError(f"dtype must be one of {validate.FLOAT_DTYPES}, got {dtype!r}")
    compute = found if found.itemsize >= 4 else np.dtype(np.float32)
    return Precision(compute, found)


def _local(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    s: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    prec: Precision,
) -> tuple[np.ndarray, np.ndarray]:
    p = _plan(s, q.shape[2], config)
    visible = visibility(q.shape[2], config.causal, mask, p.reach)
    return _attend(q, k, v, rel_bias, visible, config.softmax_scale(q.shape[-1]), p, prec)


def _global(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    prec: Precision,
) -> tuple[np.ndarray, np.ndarray]:
    # GLOBAL-3: no gain and no temperature, i.e. a plan of ones.
    ones = np.ones(q.shape[0])
    visible = visibility(q.shape[2], config.causal, mask, reach=None)
    return _attend(
        q,
        k,
        v,
        rel_bias,
        visible,
        config.softmax_scale(q.shape[-1]),
        Plan(ones, ones, ones, ones),
        prec,
    )


def visibility(
    seq_len: int, causal: bool, mask: np.ndarray | None, reach: np.ndarray | None
) -> np.ndarray:
    """visible[b, 0, i, j]: may query i see key j? [B or 1, 1, T, T] (LOCAL-1, GLOBAL-1)."""
    i = np.arange(seq_len)[:, None]
    j = np.arange(seq_len)[None, :]
    visible = np.ones((1, 1, seq_len, seq_len), dtype=bool)
    if reach is not None:
        visible = visible & (np.abs(i - j) < reach[:, None, None, None])  # strict: LOCAL-1
    if causal:
        visible = visible & (j <= i)  # a query sees itself: CAUSAL-1
    if mask is not None:
        visible = visible & mask[:, None, None, :]  # padding hides keys, not queries: MASK-2
    return visible


def relative_bias(rel_bias: np.ndarray, seq_len: int) -> np.ndarray:
    """bias[h, i, j] = rel_bias[h, clamp(i − j, −(R−1), R−1) + R − 1]  [H, T, T] (GLOBAL-2).

    The local branch uses the same lookup: its visible pairs have |i − j| ≤ R − 1, so the
    clamp never changes a visible entry (LOCAL-2).
    """
    return rel_bias[:, bias_index(seq_len, (rel_bias.shape[1] + 1) // 2)]


def bias_index(seq_len: int, max_rel_dist: int) -> np.ndarray:
    """clamp(i − j, −(R−1), R−1) + R − 1 for query i, key j  [T, T]; i − j, not j − i (LOCAL-2)."""
    i = np.arange(seq_len)[:, None]
    j = np.arange(seq_len)[None, :]
    return bias_entry(i - j, max_rel_dist)


def bias_entry(distance: Any, max_rel_dist: int) -> Any:
    """The table entry of the relative distance i − j: clamp(i − j, −(R−1), R−1) + R − 1
    (LOCAL-2, GLOBAL-2)."""
    r = max_rel_dist
    return np.clip(distance, -(r - 1), r - 1) + r - 1


def masked_softmax(logits: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Softmax over visible keys; rows with no visible key are all zero (LOCAL-5, GLOBAL-4).

    The row maximum is subtracted first, so logits of any size are safe (LOCAL-4).
    """
    logits = np.where(visible, logits, -np.inf)
    peak = logits.max(axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    e = exp(logits - peak)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def _attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    visible: np.ndarray,
    scale: float,
    p: Plan,
    prec: Precision,
) -> tuple[np.ndarray, np.ndarray]:
    """Masked softmax of the logits, then the weighted sum of values (LOCAL-4, LOCAL-5).

    Returns out [B, H, T, Dh] in the storage dtype and weights [B, H, T, T] in the compute one.
    """
    q, k, v, rel_bias = (prec.round(a) for a in (q, k, v, rel_bias))  # operands in d: PREC-2
    z = logits(q, k, rel_bias, scale, p.gain, p.temperature, prec.compute)
    weights = masked_softmax(z, visible)
    return matmul(weights, v).astype(prec.storage), weights


def logits(
    q: np.ndarray,
    k: np.ndarray,
    rel_bias: np.ndarray,
    scale: float,
    gain: np.ndarray,
    temperature: np.ndarray,
    dt: np.dtype,
) -> np.ndarray:
    """z = (g·scale·<q_i, k_j> + bias[h, i, j]) / τ in dtype dt  [B, H, T, T] (LOCAL-2, LOCAL-3)."""
    q, k, rel_bias = (a.astype(dt) for a in (q, k, rel_bias))
    g = (gain * scale).astype(dt)[:, None, None, None]
    tau = temperature.astype(dt)[:, None, None, None]
    scores = matmul(q, k.swapaxes(-1, -2))  # [B, H, T, T]
    # The temperature divides the whole logit, bias included: LOCAL-3.
    return (g * scores + relative_bias(rel_bias, q.shape[2])) / tau

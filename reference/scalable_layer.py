"""The layer in the second evaluation order (ORDER-1): ``hybrid_layer`` with both branches
evaluated in query blocks, so no [T, T] array is built at any length.

The span predictor still needs the whole global branch (LAYER-4); it is computed blockwise,
in O(block·T) memory, and the local branch over the band only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import validate
from .attention import Precision, precision
from .config import AHAConfig
from .layer import Params, layer_norm, linear, merge_heads, span_predictor, split_heads
from .plan import plan
from .scalable import attend_blocked, block_size


def hybrid_layer_blocked(
    x: Any,
    params: Any,
    config: AHAConfig,
    key_padding_mask: Any = None,
    span_scale: Any = None,
    *,
    dtype: Any = np.float64,
    block: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``hybrid_layer`` with blocked branches: same arguments, validation, precision and
    result, y [B, T, D] and s [B] (LAYER-1 .. LAYER-7, PREC-2). ``block`` as in
    ``local_attention_blocked`` (each branch's default when None)."""
    x, params, mask, config, heads = validate.layer_inputs(x, params, config, key_padding_mask)
    prec = precision(dtype)
    given = None if span_scale is None else validate.span_scale(span_scale, x.shape[0])
    if block is not None:
        block_size(block, heads, x.shape[1], local=True)  # checked before any work: ERR-1
    with validate.binary64_range("x and params", prec.compute):  # ERR-9
        return _layer(x, params, config, mask, given, heads, prec, block)


def _layer(
    x: np.ndarray,
    params: Params,
    config: AHAConfig,
    mask: np.ndarray | None,
    given: np.ndarray | None,
    heads: int,
    prec: Precision,
    block: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """hybrid_layer_blocked on validated inputs."""
    B, T, _ = x.shape
    x = prec.round(x)  # operands in the storage dtype: PREC-2
    P = {name: prec.round(a) for name, a in params.items()}

    def global_branch(q: np.ndarray, k: np.ndarray, v: np.ndarray, table: np.ndarray) -> Any:
        size = block_size(block, heads, T, local=False)
        ones = np.ones(B)  # GLOBAL-3: no gain and no temperature
        return attend_blocked(q, k, v, table, config, mask, prec, None, size, ones, ones, None)

    x_global = prec.round(layer_norm(x, P, "ln_global", config.ln_eps))
    G = _branch(x_global, P, "global", heads, prec, global_branch)
    s = span_predictor(G, P, mask, prec) if given is None else given

    def local_branch(q: np.ndarray, k: np.ndarray, v: np.ndarray, table: np.ndarray) -> Any:
        p = plan(s, T, config)
        size = block_size(block, heads, T, local=True)
        return attend_blocked(
            q, k, v, table, config, mask, prec, None, size, p.gain, p.temperature, p.reach
        )

    x_local = prec.round(layer_norm(x, P, "ln_local", config.ln_eps))
    L = _branch(x_local, P, "local", heads, prec, local_branch)
    y = linear(np.concatenate([L, G], axis=-1), P, "proj")  # LAYER-6: local first
    return y.astype(prec.storage), s.astype(np.float64)  # s as the plan reads it: PLAN-1


def _branch(
    x: np.ndarray,
    P: Params,
    name: str,
    heads: int,
    prec: Precision,
    attend: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Project to heads, attend, merge, project out (LAYER-3, LAYER-5), as hybrid_layer does;
    each operation's result is stored in the storage dtype (PREC-2)."""
    q, k, v = (split_heads(prec.round(linear(x, P, f"{name}.{p}")), heads) for p in "qkv")
    out = merge_heads(attend(q, k, v, P[f"{name}.rel_bias"]).astype(prec.compute))
    return prec.round(linear(out, P, f"{name}.out"))

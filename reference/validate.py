"""Checks at the public boundary (ERR-1 .. ERR-8).

Adapters call these too, so that every implementation rejects the same inputs with the same
error types and messages. Each check returns the validated value, converted where the spec says
how (span_scale to binary64, PLAN-1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import ml_dtypes  # noqa: F401  (registers the bfloat16 dtype name with NumPy)
import numpy as np

from .config import MAX_SIZE, AHAConfig
from .errors import ConfigError, DomainError, DTypeError, ParamsError, ShapeError
from .params import param_shapes

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def config(cfg: object) -> AHAConfig:
    if not isinstance(cfg, AHAConfig):
        raise ConfigError(f"config must be an AHAConfig, got {type(cfg).__name__}")
    return cfg


def float_array(name: str, x: Any, axes: str) -> np.ndarray:
    """A non-empty, finite float array whose rank is the number of names in ``axes``."""
    arr = np.asarray(x)
    check_array(name, arr.shape, arr.dtype.name, axes)
    _finite(name, arr)
    return arr


def check_array(name: str, shape: tuple[int, ...], dtype: str, axes: str) -> None:
    """Rank, empty axes and dtype from a shape and a dtype name (frameworks call this too)."""
    rank = len(axes.split(","))
    if len(shape) != rank:
        raise ShapeError(f"{name} must have rank {rank} [{axes}], got shape {shape}")
    if 0 in shape:
        raise ShapeError(f"{name} must not have an empty axis [{axes}], got shape {shape}")
    if dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{name} must have a float dtype {FLOAT_DTYPES}, got {dtype}")


def _finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr.astype(np.float64))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DomainError(f"{name} must be finite, got {arr[where]} at index {list(where)}")


def dtype_name(x: Any) -> str:
    """float32, bfloat16, …: of a NumPy, JAX or torch array."""
    return getattr(x.dtype, "name", None) or str(x.dtype).removeprefix("torch.")


def same_shape(name: str, arr: Any, ref_name: str, ref: Any) -> None:
    if tuple(arr.shape) != tuple(ref.shape):
        raise ShapeError(
            f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(arr.shape)}"
        )
    if dtype_name(arr) != dtype_name(ref):
        raise DTypeError(
            f"{name} must have the dtype of {ref_name} ({dtype_name(ref)}), got {dtype_name(arr)}"
        )


def attention_shapes(q: Any, k: Any, v: Any, rel_bias: Any, cfg: object) -> AHAConfig:
    """Shapes and dtypes of q, k, v [B, H, T, Dh] and rel_bias [H, 2R-1], one float dtype
    (PREC-4; ERR-3 .. ERR-5). Any array type with .shape and .dtype: frameworks call this on
    device tensors, where values would cost a copy to the host."""
    cfg = config(cfg)
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_array(name, tuple(a.shape), dtype_name(a), "B, H, T, Dh")
    same_shape("k", k, "q", q)
    same_shape("v", v, "q", q)
    check_array("rel_bias", tuple(rel_bias.shape), dtype_name(rel_bias), "H, 2R-1")
    expected = (q.shape[1], 2 * cfg.max_rel_dist - 1)
    if tuple(rel_bias.shape) != expected:
        raise ShapeError(
            f"rel_bias must have shape [H, 2R-1] = {expected} "
            f"(H from q, R = config.max_rel_dist), got {tuple(rel_bias.shape)}"
        )
    if dtype_name(rel_bias) != dtype_name(q):
        raise DTypeError(
            f"rel_bias must have the dtype of q ({dtype_name(q)}), got {dtype_name(rel_bias)}"
        )
    return cfg


def attention_inputs(
    q: Any, k: Any, v: Any, rel_bias: Any, cfg: object, key_padding_mask: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, AHAConfig]:
    """attention_shapes, then finite values (ERR-6) and the mask [B, T] (ERR-8)."""
    q, k, v, rel_bias = (np.asarray(a) for a in (q, k, v, rel_bias))
    cfg = attention_shapes(q, k, v, rel_bias, cfg)
    for name, a in (("q", q), ("k", k), ("v", v), ("rel_bias", rel_bias)):
        _finite(name, a)
    batch, _, seq_len, _ = q.shape
    return q, k, v, rel_bias, padding_mask(key_padding_mask, batch, seq_len), cfg


def padding_mask(mask: Any, batch: int, seq_len: int) -> np.ndarray | None:
    """None, or a bool [B, T] array where True marks a real token (MASK-1, ERR-8)."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    check_mask(arr, batch, seq_len)
    return arr


def check_mask(mask: Any, batch: int, seq_len: int) -> None:
    """A key padding mask is bool [B, T] (MASK-1, ERR-8); any array type."""
    if dtype_name(mask) != "bool":
        raise DTypeError(
            f"key_padding_mask must have dtype bool (True = real token), got {dtype_name(mask)}"
        )
    if tuple(mask.shape) != (batch, seq_len):
        raise ShapeError(
            f"key_padding_mask must have shape [B, T] = {(batch, seq_len)}, got {tuple(mask.shape)}"
        )


def span_scale(s: Any, batch: int | None = None) -> np.ndarray:
    """span_scale as binary64 [B], each finite and in [0, 1] (PLAN-1, ERR-6).

    A scalar broadcasts to ``batch`` elements (one when ``batch`` is None).
    """
    arr = np.asarray(s)
    if arr.dtype.name not in FLOAT_DTYPES and arr.dtype.kind not in "iu":
        raise DTypeError(f"span_scale must be real numbers, got dtype {arr.dtype.name}")
    if arr.ndim == 0:
        arr = np.full(1 if batch is None else batch, arr)
    if arr.ndim != 1 or arr.size == 0 or (batch is not None and arr.shape[0] != batch):
        expected = "[B]" if batch is None else f"[B] = ({batch},)"
        raise ShapeError(f"span_scale must be a scalar or have shape {expected}, got {arr.shape}")
    arr = arr.astype(np.float64)  # exact for every accepted dtype: PLAN-2 needs binary64
    for b, value in enumerate(arr):
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise DomainError(f"span_scale[{b}] must lie in [0, 1], got {value}")
    return arr


def seq_len(t: Any) -> int:
    """An int in [1, 2^31 − 1] (ERR-4; the bound of CFG-2)."""
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 1 <= t <= MAX_SIZE:
        raise ShapeError(f"seq_len must be an int in [1, {MAX_SIZE}], got {t!r}")
    return int(t)


@contextlib.contextmanager
def binary64_range(arguments: str, compute: np.dtype) -> Iterator[None]:
    """Finite inputs whose binary64 evaluation overflows are a DomainError naming them
    (ERR-9), never a NaN with a warning. Only the oracle is guarded: a low-precision
    baseline may overflow where binary64 does not."""
    if compute != np.float64:
        yield
        return
    with np.errstate(over="raise", invalid="raise"):
        try:
            yield
        except FloatingPointError as exc:
            raise DomainError(
                f"{arguments}: their evaluation overflows binary64 ({exc}); the values are "
                f"too large in magnitude for AHA (ERR-9)"
            ) from None


def layer_inputs(
    x: Any, params: Any, cfg: object, key_padding_mask: Any
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None, AHAConfig, int]:
    """x [B, T, D]; params with exactly the names of param_shapes; returns H too (LAYER-1)."""
    cfg = config(cfg)
    x = float_array("x", x, "B, T, D")
    batch, length, d_model = x.shape
    heads = _heads(params, d_model, cfg)
    expected = param_shapes(d_model, heads, cfg)
    extra = sorted(set(params) - set(expected))
    if extra:
        raise ParamsError(f"params has an entry the layer does not know: {extra[0]!r}")
    checked = {}
    for name, shape in expected.items():
        arr = float_array(f"params[{name!r}]", params[name], ", ".join(map(str, shape)))
        if arr.shape != shape:
            raise ShapeError(
                f"params[{name!r}] must have shape {shape} (D={d_model}, "
                f"H={heads}), got {arr.shape}"
            )
        if arr.dtype != x.dtype:
            raise DTypeError(
                f"params[{name!r}] must have the dtype of x ({x.dtype.name}), got {arr.dtype.name}"
            )
        checked[name] = arr
    return x, checked, padding_mask(key_padding_mask, batch, length), cfg, heads


def _heads(params: Any, d_model: int, cfg: AHAConfig) -> int:
    """H is read from the rel_bias tables [H, 2R-1] (LAYER-1)."""
    if not isinstance(params, Mapping):
        raise ParamsError(f"params must be a mapping of name to array, got {type(params).__name__}")
    for name in param_shapes(d_model, 1, cfg):
        if name not in params:
            raise ParamsError(
                f"params is missing {name!r}; expected the names of "
                f"param_shapes(d_model={d_model}, n_heads, config)"
            )
    tables = {name: np.shape(params[name]) for name in ("local.rel_bias", "global.rel_bias")}
    heads = tables["local.rel_bias"][0] if len(tables["local.rel_bias"]) == 2 else 0
    for name, shape in tables.items():
        if len(shape) != 2 or shape != (heads, 2 * cfg.max_rel_dist - 1) or heads < 1:
            raise ShapeError(
                f"params[{name!r}] must have shape [H, 2R-1] with R = "
                f"config.max_rel_dist = {cfg.max_rel_dist} and H the same in "
                f"both tables, got {shape}"
            )
    if d_model % heads:
        raise ShapeError(
            f"x's feature size D={d_model} must be a multiple of H={heads} "
            f"(read from params['local.rel_bias'])"
        )
    return heads

"""The adapter protocol (spec/conformance.md, section 1) and how adapters are found."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

import numpy as np

from aha.adapters import BUILTIN
from aha.reference import AHAConfig

from .operations import OPERATIONS as TABLE

OPERATIONS = tuple(TABLE)  # operation names, in the table's order
FEATURES = ("causal", "key_padding")
DTYPES = ("float64", "float32", "float16", "bfloat16")
# "train": the implementation is meant for training; without "vjp" its gradients are unjudged
# and the verdict says so (GRAD-4; H3a).
TRAIN = "train"
CAPABILITIES = frozenset(
    {op.capability for op in TABLE.values()}
    | {c for op in TABLE.values() for c in op.requires}
    | {*FEATURES, *DTYPES, TRAIN}
)
METHODS = {op.name: op.method for op in TABLE.values()}  # operation name -> adapter method


class Adapter(Protocol):
    """An implementation under test (spec/conformance.md section 1).

    It has ``name``, ``capabilities`` and the methods of the operations it claims, named by
    the operations table (conformance/operations.py); an optional ``version`` str is
    reported and an optional ``envelope`` mapping bounds the sizes it is judged on. Arrays
    cross as NumPy arrays in the dtype under test (bfloat16 as ml_dtypes.bfloat16);
    ``config`` is an ``aha.reference.AHAConfig``. Outputs must be NumPy arrays.
    """

    name: str
    capabilities: frozenset[str]

    def plan(self, span_scale: np.ndarray, seq_len: int, config: AHAConfig) -> Any:
        """A mapping or record with window, reach, temperature, gain, each [B]."""

    def local_attention(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        span_scale: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        key_padding_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """out [B, H, T, Dh]."""

    def global_attention(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        key_padding_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """out [B, H, T, Dh]."""

    def hybrid_layer(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        key_padding_mask: np.ndarray | None = None,
        span_scale: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(y [B, T, D], s [B])."""

    def local_attention_vjp(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        span_scale: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        key_padding_mask: np.ndarray | None,
        d_out: np.ndarray,
    ) -> Mapping[str, np.ndarray]:
        """{"q", "k", "v", "rel_bias", "span_scale"} (GRAD-4)."""

    def global_attention_vjp(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        rel_bias: np.ndarray,
        config: AHAConfig,
        key_padding_mask: np.ndarray | None,
        d_out: np.ndarray,
    ) -> Mapping[str, np.ndarray]:
        """{"q", "k", "v", "rel_bias"} (GRAD-4)."""

    def hybrid_layer_vjp(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        config: AHAConfig,
        key_padding_mask: np.ndarray | None,
        span_scale: np.ndarray | None,
        d_y: np.ndarray,
        d_s: np.ndarray | None,
    ) -> Mapping[str, Any]:
        """{"x", "params": {name: array}, "span_scale" (when given)} (GRAD-4, GRAD-5)."""

    def make_config(self, fields: dict[str, Any]) -> Any:
        """The implementation's own configuration from AHAConfig fields; invalid ones raise
        (ERR-3)."""


class AdapterLoadError(Exception):
    """The adapter named on the command line could not be found or is not an adapter."""


def load_adapter(spec: str) -> Adapter:
    """A built-in name, ``module:attr`` (an instance or zero-argument factory), or an entry
    point in the group ``aha.adapters``."""
    target: Any
    if spec in BUILTIN:
        target = _import(BUILTIN[spec])
    elif ":" in spec:
        target = _import(spec)
    else:
        found = [ep for ep in entry_points(group="aha.adapters") if ep.name == spec]
        if not found:
            known = sorted(BUILTIN) + sorted(ep.name for ep in entry_points(group="aha.adapters"))
            raise AdapterLoadError(
                f"no adapter named {spec!r}; known: {', '.join(known)}; or give module:attr"
            )
        target = found[0].load()
    is_instance = _looks_like_adapter(target) and not isinstance(target, type)
    adapter = target if is_instance else _call_factory(spec, target)
    check_adapter(spec, adapter)
    return adapter


def check_adapter(spec: str, adapter: Any) -> None:
    if not _looks_like_adapter(adapter):
        raise AdapterLoadError(
            f"{spec!r} gives {type(adapter).__name__}, which has no 'name' and 'capabilities'"
        )
    unknown = set(adapter.capabilities) - CAPABILITIES
    if unknown:
        raise AdapterLoadError(
            f"adapter {adapter.name!r} claims unknown capabilities "
            f"{sorted(unknown)}; known: {sorted(CAPABILITIES)}"
        )
    for op in TABLE.values():
        claimed = {op.capability, *op.requires} <= set(adapter.capabilities)
        if claimed and not callable(getattr(adapter, op.method, None)):
            raise AdapterLoadError(
                f"adapter {adapter.name!r} claims {op.capability!r} but has no method {op.method}()"
            )


def _looks_like_adapter(obj: Any) -> bool:
    return isinstance(getattr(obj, "name", None), str) and isinstance(
        getattr(obj, "capabilities", None), frozenset | set
    )


def _call_factory(spec: str, factory: Any) -> Any:
    if not callable(factory):
        raise AdapterLoadError(f"{spec!r} is neither an adapter nor a zero-argument factory")
    try:
        return factory()
    except Exception as exc:
        raise AdapterLoadError(
            f"building adapter {spec!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterLoadError(
            f"cannot import {module_name!r} for adapter {path!r}: {exc}. "
            f"Is its extra installed (pip install 'aha-spec[...]')?"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AdapterLoadError(f"module {module_name!r} has no attribute {attr!r}") from None

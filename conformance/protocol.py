"""The adapter protocol (spec/conformance.md, section 1) and how adapters are found."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from aha.adapters import BUILTIN

OPERATIONS = ("plan", "local", "global", "layer")
FEATURES = ("causal", "key_padding")
DTYPES = ("float64", "float32", "float16", "bfloat16")
CAPABILITIES = frozenset((*OPERATIONS, *FEATURES, *DTYPES))
METHODS = {
    "plan": "plan",
    "local": "local_attention",
    "global": "global_attention",
    "layer": "hybrid_layer",
}


class Adapter(Protocol):
    """An implementation under test. It has the methods of the operations it claims:

    - ``plan(span_scale, seq_len, config)`` → mapping or record with window, reach,
      temperature, gain, each [B];
    - ``local_attention(q, k, v, span_scale, rel_bias, config, key_padding_mask=None)``;
    - ``global_attention(q, k, v, rel_bias, config, key_padding_mask=None)``;
    - ``hybrid_layer(x, params, config, key_padding_mask=None, span_scale=None)`` → (y, s).

    Arrays cross as NumPy arrays in the dtype under test (bfloat16 as ml_dtypes.bfloat16);
    ``config`` is an ``aha.reference.AHAConfig``. An optional ``version`` str is reported.
    """

    name: str
    capabilities: frozenset[str]


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
    for op, method in METHODS.items():
        if op in adapter.capabilities and not callable(getattr(adapter, method, None)):
            raise AdapterLoadError(
                f"adapter {adapter.name!r} claims {op!r} but has no method {method}()"
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


def plan_fields(result: Any) -> Mapping[str, Any]:
    """An adapter's plan as a mapping, whether it returned a mapping or a record."""
    if isinstance(result, Mapping):
        return result
    return {f: getattr(result, f) for f in ("window", "reach", "temperature", "gain")}

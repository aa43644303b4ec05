"""Error-handling bugs (ERR-1 .. ERR-8): the reference adapter whose errors are swallowed,
retyped or reworded the way implementations get them wrong.

``ErrorDeviant(bug)`` calls the reference; when it raises, ``bug`` decides what the
implementation does instead: accept the input, raise another type, or say less.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aha.adapters.reference import ReferenceAdapter
from aha.reference import AHAConfig, AHAError, DomainError, DTypeError, ParamsError

ERROR_BUGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "accepts-bad-input": (
        "an invalid input is accepted instead of raising the typed error",
        ("ERR-1",),
    ),
    "nan-accepted": ("a NaN or inf input is not rejected: the output is NaN", ("ERR-6",)),
    "span-range-unchecked": ("a span scale outside [0, 1] is clipped, not rejected", ("ERR-6",)),
    "error-type-wrong": ("a ValueError (shape, domain) is raised as TypeError", ("ERR-1",)),
    "dtype-error-as-valueerror": ("a DTypeError is raised as ValueError", ("ERR-1", "ERR-5")),
    "message-unnamed": ("error messages do not name the argument", ("ERR-2",)),
    "mask-dtype-unchecked": ("a non-bool key_padding_mask is cast to bool", ("ERR-8",)),
    "params-keyerror": ("a missing or unknown parameter raises KeyError", ("ERR-7",)),
    "config-unchecked": (
        "an invalid configuration falls back to the defaults instead of raising",
        ("CFG-2", "ERR-3"),
    ),
}

# Where the span scale and the padding mask sit among each method's arguments.
SPAN_AT = {"plan": 0, "local_attention": 3, "hybrid_layer": 4}
MASK_AT = {"local_attention": 6, "global_attention": 5, "hybrid_layer": 3}


class ErrorDeviant(ReferenceAdapter):
    """The reference adapter with the error-handling bug ``bug`` of ERROR_BUGS."""

    def __init__(self, bug: str, name: str | None = None) -> None:
        if bug not in ERROR_BUGS:
            raise ValueError(f"bug must be one of {sorted(ERROR_BUGS)}, got {bug!r}")
        self.bug, self.name = bug, name or f"mutant:{bug}"

    def plan(self, *args: Any) -> Any:
        return self._call("plan", args)

    def local_attention(self, *args: Any) -> Any:
        return self._call("local_attention", args)

    def global_attention(self, *args: Any) -> Any:
        return self._call("global_attention", args)

    def hybrid_layer(self, *args: Any) -> Any:
        return self._call("hybrid_layer", args)

    def make_config(self, *args: Any) -> Any:
        return self._call("make_config", args)

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        correct = getattr(ReferenceAdapter, method)
        try:
            return correct(self, *args)
        except AHAError as exc:
            return self._instead(method, args, exc, correct)

    def _instead(self, method: str, args: tuple[Any, ...], exc: AHAError, correct: Any) -> Any:
        bug, text = self.bug, str(exc)
        if bug == "config-unchecked" and method == "make_config":
            return AHAConfig()
        if bug == "accepts-bad-input":
            return _filled(method, args, 0.0)
        if bug == "nan-accepted" and isinstance(exc, DomainError) and "finite" in text:
            return _filled(method, args, np.nan)
        if bug == "span-range-unchecked" and "[0, 1]" in text and method in SPAN_AT:
            fixed = list(args)
            fixed[SPAN_AT[method]] = np.clip(np.asarray(args[SPAN_AT[method]]), 0.0, 1.0)
            return correct(self, *fixed)
        if bug == "mask-dtype-unchecked" and "key_padding_mask" in text and method in MASK_AT:
            fixed = list(args)
            fixed[MASK_AT[method]] = np.asarray(args[MASK_AT[method]]).astype(bool)
            return correct(self, *fixed)
        if bug == "error-type-wrong" and isinstance(exc, ValueError):
            raise TypeError(text) from None
        if bug == "dtype-error-as-valueerror" and isinstance(exc, DTypeError):
            raise ValueError(text) from None
        if bug == "message-unnamed":
            raise type(exc)("invalid input") from None
        if bug == "params-keyerror" and isinstance(exc, ParamsError):
            raise KeyError(text) from None
        raise exc


def _filled(method: str, args: tuple[Any, ...], value: float) -> Any:
    """What an implementation that skipped validation returns: ``value`` everywhere."""
    shape = np.shape(args[0])
    if method == "plan":
        B = max(1, int(np.prod(shape)))
        ints = np.zeros(B, dtype=np.int64)
        return {"window": ints, "reach": ints, "temperature": np.full(B, value), "gain": ints}
    if method == "hybrid_layer":
        return np.full(shape, value), np.full(shape[:1], value)
    return np.full(shape, value)

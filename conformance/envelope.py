"""An adapter's envelope: the sequence lengths, head dims and reach it documents
(spec/conformance.md, "Tiers and envelopes").

An adapter may declare ``envelope = {"max_seq_len": int | None, "head_dims": list[int] | None,
"max_reach": int | None}`` (None or an absent key: no limit). A check outside it is n/a with
the reason, and the verdict names what was not covered: a documented limit is never a
failure. An undocumented one is: the check runs and fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from aha.reference import AHAConfig, plan

FIELDS = ("max_seq_len", "head_dims", "max_reach")
PREFIX = "outside the adapter's envelope: "  # n/a messages of checks outside an envelope


class EnvelopeError(ValueError):
    """An adapter's ``envelope`` attribute is malformed."""


def of(adapter: Any) -> dict[str, Any]:
    """The adapter's envelope with every field present (None: no limit); {} when it has none."""
    declared = getattr(adapter, "envelope", None)
    if declared is None:
        return {}
    if not isinstance(declared, Mapping):
        raise EnvelopeError(
            f"adapter {getattr(adapter, 'name', adapter)!r}: envelope must be a mapping with "
            f"keys {FIELDS}, got {type(declared).__name__}"
        )
    unknown = sorted(set(declared) - set(FIELDS))
    if unknown:
        raise EnvelopeError(f"envelope has unknown key {unknown[0]!r}; known: {FIELDS}")
    env = {name: declared.get(name) for name in FIELDS}
    for name in ("max_seq_len", "max_reach"):
        if env[name] is not None and not _positive_int(env[name]):
            raise EnvelopeError(
                f"envelope[{name!r}] must be an int >= 1 or None, got {env[name]!r}"
            )
    dims = env["head_dims"]
    if dims is not None and (
        isinstance(dims, str | bytes) or not all(_positive_int(d) for d in dims)
    ):
        raise EnvelopeError(f"envelope['head_dims'] must be a list of ints >= 1, got {dims!r}")
    return env


def _positive_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool) and bool(x >= 1)


def outside(adapter: Any, case: Any) -> str | None:
    """Why a golden case lies outside the adapter's envelope, or None when it lies inside."""
    if case.error:
        return None  # an invalid case must raise at any shape
    if getattr(case, "generated", None):  # kernel tier, VJPs too: the shape, no inputs built
        shape = case.generated["shape"]
        T, Dh = int(shape["T"]), int(shape["Dh"])
        span = case.generated.get("span_scale")
        return _outside(of(adapter), case.kind, case.aha_config(), T, Dh, span)
    if case.kind not in ("local", "global", "layer"):
        return None  # the plan has no shape
    return outside_inputs(adapter, case.kind, case.aha_config(), case.inputs)


def outside_inputs(
    adapter: Any, kind: str, config: AHAConfig, inputs: Mapping[str, Any]
) -> str | None:
    """Why a call of operation ``kind`` on ``inputs`` lies outside the adapter's envelope."""
    env = of(adapter)
    if not env or kind not in ("local", "global", "layer", "local_vjp", "global_vjp"):
        return None
    try:
        if kind == "layer":
            _, T, D = np.shape(inputs["x"])
            H = np.shape(inputs["params"]["local.rel_bias"])[0]
            Dh = D // H
        else:
            T, Dh = np.shape(inputs["q"])[2:]
    except (KeyError, ValueError, TypeError, ZeroDivisionError):
        return None  # malformed inputs: the adapter's own checks must reject them
    span = inputs.get("span_scale")
    return _outside(env, kind, config, int(T), int(Dh), span)


def _outside(
    env: dict[str, Any], kind: str, config: AHAConfig, T: int, Dh: int, span: Any
) -> str | None:
    if not env:
        return None
    reasons = []
    if env["max_seq_len"] is not None and T > env["max_seq_len"]:
        reasons.append(f"T = {T} > max_seq_len {env['max_seq_len']}")
    if env["head_dims"] is not None and Dh not in env["head_dims"]:
        reasons.append(f"Dh = {Dh} not in head_dims {list(env['head_dims'])}")
    if env["max_reach"] is not None and kind.startswith(("local", "layer")):
        reach = _reach(config, T, span)
        if reach > env["max_reach"]:
            reasons.append(f"reach {reach} > max_reach {env['max_reach']}")
    return PREFIX + "; ".join(reasons) if reasons else None


def _reach(config: AHAConfig, T: int, span: Any) -> int:
    """The largest reach of the call: from the plan when s is given, else its bound (PLAN-3)."""
    if span is None:
        return min(config.window, T, config.max_rel_dist)
    try:
        return int(np.max(plan(np.asarray(span, dtype=np.float64), T, config).reach))
    except ValueError:  # an invalid span scale: the adapter must reject it, not the envelope
        return 0


def not_covered(results: Iterable[Any]) -> list[str]:
    """One line per check left out by the envelope: '<check>: <reason>' (for the verdict)."""
    return [
        f"{r.check}: {r.message.removeprefix(PREFIX)}"
        for r in results
        if r.status == "n/a" and r.message.startswith(PREFIX)
    ]

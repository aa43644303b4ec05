"""Diagnosis of a failed check: which known deviation reproduces what the implementation did
(issue 15).

The zoo's deviations (conformance/mutants.py, the tiled-kernel and gradient families when
present) and a few parametric ones (window ±1, reach ±1, temperature or gain applied twice or
not at all, bias shifted by one distance either way, mask inverted in either branch, causal
off by one either way) are replayed on the failing inputs. A deviation is named only when it
explains every output of the check: each output has its shape and dtype, non-finite values at
the same places, and lies within the check's own tolerance of the deviation's output (PREC-3).
An output the reference itself explains is never diagnosed.
"""

from __future__ import annotations

import builtins
import functools
import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from aha.reference import AHAConfig

from . import mutants, tolerance
from .deviant import DeviantAdapter, Knobs
from .errors_contract import names_argument
from .mutants import Deviation
from .operations import operation
from .oracle import baseline_errors, cast, evaluate

NOTHING = "no known deviation explains this"
TILES = (16, 64)  # tile sizes of the tiled-kernel family replayed


def _p(name: str, description: str, clauses: str, **knobs: Any) -> Deviation:
    return Deviation(name, description, tuple(clauses.split()), knobs=Knobs(**knobs))


LOCAL, GLOBAL = frozenset({"local"}), frozenset({"global"})

# Parametric deviations the zoo does not plant under these settings.
PARAMETRIC = (
    _p("window-minus-one", "the requested window is one shorter", "PLAN-2", window_delta=-1),
    _p("reach-plus-one", "the reach is one longer", "PLAN-3 LOCAL-1", reach_delta=1),
    _p("bias-shifted-back-by-one", "distance d reads the table entry of d - 1",
       "LOCAL-2 GLOBAL-2", bias_shift=-1),
    _p("mask-inverted-in-local", "the local branch reads True as padding", "MASK-1",
       mask_inverted=LOCAL),
    _p("mask-ignored-in-global", "the global branch ignores key_padding_mask", "MASK-1",
       mask_in=LOCAL),
)  # fmt: skip


def candidates() -> Iterator[Deviation]:
    """Every numeric deviation the diagnosis replays, the zoo's first."""
    seen: set[Knobs] = set()
    for d in (*mutants.DEVIATIONS.values(), *PARAMETRIC):
        if d.knobs is not None and d.knobs not in seen and d.knobs != Knobs():
            seen.add(d.knobs)
            yield d
    yield from _family("aha.conformance.tiled", _tiled)
    yield from _family("aha.conformance.grad_mutants", _gradient)


def _family(module: str, build: Callable[[Any], list[Deviation]]) -> list[Deviation]:
    try:
        return build(importlib.import_module(module))
    except Exception:  # a family that does not load (yet) replays nothing
        return []


def _tiled(module: Any) -> list[Deviation]:
    clauses = getattr(module, "TILE_CLAUSES", {})
    return [
        Deviation(
            f"tiled:{bug}@{tile}",
            f"{about} (tile {tile})",
            tuple(clauses.get(bug, ())),
            factory=functools.partial(module.Tiled, tile, bug),
        )
        for bug, about in module.TILE_BUGS.items()
        for tile in TILES
    ]


def _gradient(module: Any) -> list[Deviation]:
    return [
        Deviation(bug.name, bug.description, tuple(bug.clauses), factory=bug.adapter)
        for bug in module.GRADIENT_BUGS
    ]


def diagnose(
    kind: str, config: AHAConfig, inputs: Mapping[str, Any], got: Mapping[str, Any], dtype: str
) -> list[Deviation]:
    """The known deviations whose output on ``inputs`` matches ``got`` (the implementation's
    outputs, {name: array}) within the tolerance of ``dtype``; [] when none does or when the
    reference itself matches."""
    x, op = dict(inputs), operation(kind)
    oracle = evaluate(kind, config, x)
    if any(name not in got for name in oracle):
        return []
    errors = baseline_errors(kind, config, x, oracle, dtype)
    if _explains(kind, op.call(DeviantAdapter(Knobs()), config, _fresh(x)), got, dtype, errors):
        return []  # the reference explains it: nothing to diagnose
    found = []
    for d in candidates():
        adapter = d.adapter()
        if op.capability not in adapter.capabilities:
            continue
        try:
            with np.errstate(all="ignore"):
                theirs = op.call(adapter, config, _fresh(x))  # a deviant may write into them
        except Exception:  # a deviation that cannot run on these inputs explains nothing
            continue
        if _explains(kind, theirs, got, dtype, errors):
            found.append(d)
    return found


def _fresh(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of every array: one replay cannot change what the next one sees (PREC-6)."""
    return {
        name: {k: np.array(a) for k, a in v.items()} if isinstance(v, Mapping) else np.array(v)
        for name, v in inputs.items()
    }


def _explains(
    kind: str,
    theirs: Mapping[str, Any],
    got: Mapping[str, Any],
    dtype: str,
    errors: Mapping[str, float],
) -> bool:
    """Does every output of ``got`` match ``theirs``?"""
    for name, value in theirs.items():
        want, have = np.asarray(value), np.asarray(got[name])
        if want.shape != have.shape:
            return False
        if kind == "plan":
            if (want.dtype.kind in "iu") != (have.dtype.kind in "iu"):
                return False
            allowed = 0.0 if name in ("window", "reach") else tolerance.PLAN_RTOL
            allowed *= tolerance.scale_of(want.astype(np.float64))
        else:
            if name != "s" and want.dtype != have.dtype:
                return False
            allowed = tolerance.bound(dtype, errors.get(name, 0.0), _finite(want))
        if not _close(want.astype(np.float64), have.astype(np.float64), allowed):
            return False
    return True


def _finite(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return np.where(np.isfinite(a), a, 0.0)


def _close(want: np.ndarray, have: np.ndarray, allowed: float) -> bool:
    """Non-finite values at the same places (NaN with NaN, inf of the same sign), the finite
    ones within ``allowed``."""
    for test in (np.isnan, np.isposinf, np.isneginf):
        if not np.array_equal(test(want), test(have)):
            return False
    finite = np.isfinite(want)
    return bool(np.all(np.abs(want[finite] - have[finite]) <= allowed))


def diagnose_error(
    kind: str,
    config: AHAConfig,
    inputs: Mapping[str, Any],
    raised: Any,
    expected: str,
    argument: str,
) -> list[Deviation]:
    """The error-handling deviations (ERR-1 .. ERR-8) that behave like the implementation on an
    invalid case: both accept it, or both raise the same builtin base, naming ``argument`` or
    not. ``raised`` is None (accepted), an exception, or the isolation's record of one;
    ``expected`` is the builtin base the case requires ("ValueError" or "TypeError")."""
    base = getattr(builtins, expected)
    what = _behaviour(raised, base, argument)
    op = operation(kind)
    found = []
    for d in mutants.DEVIATIONS.values():
        if d.wrapper is None:
            continue
        try:
            op.call(d.adapter(), config, _fresh(inputs))
            theirs: BaseException | None = None
        except Exception as exc:
            theirs = exc
        if _behaviour(theirs, base, argument) == what:
            found.append(d)
    return found


def _behaviour(raised: Any, base: type, argument: str) -> tuple[Any, ...]:
    """accepted, or raised (of ``base`` or not, naming ``argument`` or not); ``raised`` is an
    exception or the isolation's record of one (``is_a(name)``, ``message``)."""
    if raised is None:
        return ("accepted",)
    if hasattr(raised, "is_a"):
        return ("raised", raised.is_a(base.__name__), names_argument(raised.message, argument))
    return ("raised", isinstance(raised, base), names_argument(str(raised), argument))


def summary(found: list[Deviation]) -> str:
    """One line for a console: the deviations found, or NOTHING."""
    return line(as_json(found))


def as_json(found: list[Deviation]) -> list[dict[str, Any]]:
    return [
        {"name": d.name, "description": d.description, "clauses": list(d.clauses)} for d in found
    ]


# What the runner calls (conformance/execution.py, driving.py): never raises, JSON-ready.

MAX_ELEMENTS = 1 << 20  # larger inputs are not replayed: ~90 deviations would take too long
# Off while ``aha zoo`` runs planted bugs: it wants kills, and replays would cost ~90 calls each.
ENABLED: ContextVar[bool] = ContextVar("aha_diagnosis_enabled", default=True)


@contextmanager
def disabled() -> Iterator[None]:
    """No diagnosis inside the block (the explain* functions return None)."""
    token = ENABLED.set(False)
    try:
        yield
    finally:
        ENABLED.reset(token)


def _wanted(config: Any, inputs: Mapping[str, Any]) -> bool:
    return ENABLED.get() and isinstance(config, AHAConfig) and _small(inputs)


def _small(inputs: Mapping[str, Any]) -> bool:
    sizes = [np.size(v) for v in inputs.values() if not isinstance(v, Mapping)]
    sizes += [np.size(a) for v in inputs.values() if isinstance(v, Mapping) for a in v.values()]
    return max(sizes, default=0) <= MAX_ELEMENTS


def explain(
    kind: str, config: Any, inputs: Mapping[str, Any], got: Mapping[str, Any], dtype: str
) -> list[dict[str, Any]] | None:
    """``diagnose`` as records; None when it cannot be attempted (inputs too large, a config
    that is not an AHAConfig, a failure inside the diagnosis itself, or ``disabled``)."""
    if not _wanted(config, inputs):
        return None
    try:
        return as_json(diagnose(kind, config, inputs, got, dtype))
    except Exception:  # the diagnosis must never stop a run
        return None


def explain_error(
    kind: str,
    config: Any,
    inputs: Mapping[str, Any],
    outcome: Callable[[str, Any, dict[str, Any]], Any],
    expected: str,
    argument: str,
) -> list[dict[str, Any]] | None:
    """``diagnose_error`` as records, the implementation's behaviour taken again from
    ``outcome`` (the runner's call, whose result has ``raised``); None when it cannot be."""
    if not ENABLED.get():
        return None
    try:
        raised = outcome(kind, config, dict(inputs)).raised
        return as_json(diagnose_error(kind, config, inputs, raised, expected, argument))
    except Exception:  # the diagnosis must never stop a run
        return None


def explain_call(
    call: Callable[[str, Any, dict[str, Any]], Mapping[str, Any]],
    kind: str,
    config: Any,
    inputs: Mapping[str, Any],
    dtype: str,
) -> list[dict[str, Any]] | None:
    """For a property's failing draw: the implementation's outputs there (``call``), diagnosed."""
    if not _wanted(config, inputs):
        return None
    x = cast(dict(inputs), dtype)
    try:
        got = call(kind, config, x)
    except Exception:  # it fails by raising: nothing to compare
        return None
    return explain(kind, config, x, got, dtype)


def line(records: list[dict[str, Any]]) -> str:
    """One line for a console or a Markdown report."""
    if not records:
        return NOTHING
    return "matches a known deviation: " + "; ".join(
        f"{r['name']}: {r['description']} (see {', '.join(r['clauses'])})" for r in records
    )

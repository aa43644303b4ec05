"""Running checks: each call through the isolation, each outcome a Result
(spec/conformance.md sections 3 and 4).

``Calls`` is the implementation as the checks see it: every call goes through the isolation,
an exception becomes a failure (NotImplementedError: declined), a call that does not return
is a strike, and after ``STRIKES_PER_OPERATION`` strikes in a row of one operation (or
``STRIKES`` in a row of any) the rest is skipped as unresponsive, so a hanging implementation
is judged in bounded time. Each call's deadline is ``--time-limit``, the first call of each
(operation, dtype) ``--first-call-limit`` (a JIT compiles then) until a call runs past its
deadline. Which inputs each call changed is kept for the integrity checks (PREC-6).
"""

from __future__ import annotations

import builtins
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import diagnosis, isolation, kernel
from .calls import CheckFailed, describe, expect, where
from .corpus import BUILTIN_ERRORS, Case
from .errors_contract import names_argument
from .isolation import CallFailed, Outcome
from .operations import CONFIG, GRAD, OPERATIONS, Operation, operation
from .oracle import cast
from .selection import INTEGRITY, Check, Settings
from .tolerance import Comparison

PASS, FAIL, NOT_APPLICABLE, DECLINED, SKIPPED = "pass", "fail", "n/a", "declined", "skipped"
STATUSES = (PASS, FAIL, NOT_APPLICABLE, DECLINED, SKIPPED)
STRIKES_PER_OPERATION = 2  # deadline misses or deaths in a row before an operation is skipped
STRIKES = 3  # in a row, over all operations, before the whole implementation is skipped


@dataclass
class Result:
    check: str
    source: str
    kind: str
    dtype: str | None
    status: str
    clauses: tuple[str, ...]
    flags: tuple[str, ...]
    message: str = ""
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    repro: str = ""
    saved: str | None = None  # a shrunk counterexample written as a vector
    seconds: float = 0.0
    captured: str = ""  # the implementation's stdout/stderr during a failing call (tail)
    # |impl − ref| per failing output, at most 256×256 (errormap.py); not in the JSON report
    error_maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # H6: the known deviations that explain a failure (diagnosis.py); None: not attempted
    diagnosis: list[dict[str, Any]] | None = None


class Declined(Exception):
    """The adapter raised NotImplementedError: the case is outside what it can express."""


class Unresponsive(BaseException):
    """The operation (or the whole implementation) stopped answering; its remaining checks
    are skipped. BaseException: Hypothesis must not treat it as a failing example."""


class Calls:
    """The implementation behind its isolation, with strikes and the integrity log."""

    def __init__(self, adapter: Any, settings: Settings) -> None:
        self.name, self.capabilities = adapter.name, frozenset(adapter.capabilities)
        self.isolation = isolation.start(settings.isolation, adapter, settings.adapter)
        self.time_limit, self.first_call_limit = settings.time_limit, settings.first_call_seconds
        self.called: set[tuple[str, str | None]] = set()  # (operation, dtype) of calls so far
        self.late = False  # a call ran past its deadline: no more first-call allowances
        self.strikes: dict[str, int] = defaultdict(int)
        self.in_a_row = 0
        self.stopped: dict[str, str] = {}  # operation (or "*") -> why it is skipped
        self.returned: dict[str, int] = defaultdict(int)  # calls that returned, per operation
        self.modified: dict[str, list[str]] = defaultdict(list)  # "check: names" per operation
        self.captured = ""  # what the last call printed
        self.check = ""  # the check being run, named in the integrity log

    def outcome(self, kind: str, config: Any, inputs: dict[str, Any]) -> Outcome:
        """One call; CallFailed when it does not return, Unresponsive once it has stopped."""
        why = self.stopped.get("*") or self.stopped.get(kind)
        if why:
            raise Unresponsive(why)
        try:
            result = self.isolation.call(kind, config, inputs, self.deadline(kind, inputs))
        except CallFailed as exc:
            self.captured, self.late = exc.captured, self.late or exc.late
            self._strike(kind, str(exc))
            raise
        self.strikes[kind], self.in_a_row = 0, 0
        self.returned[kind] += 1
        self.captured = result.captured
        if result.modified:
            self.modified[kind].append(f"{self.check}: {', '.join(result.modified)}")
        return result

    def deadline(self, kind: str, inputs: dict[str, Any]) -> float:
        """Seconds for this call: the first of its (operation, dtype) may compile a JIT's
        kernels, unless a call has already run late, which bounds what a hang costs
        (spec/conformance.md section 3)."""
        key = (kind, call_dtype(kind, inputs))
        first = key not in self.called and not self.late
        self.called.add(key)
        return self.first_call_limit if first else self.time_limit

    def _strike(self, kind: str, why: str) -> None:
        self.strikes[kind] += 1
        self.in_a_row += 1
        method = operation(kind).method
        if self.strikes[kind] >= STRIKES_PER_OPERATION:
            self.stopped[kind] = (
                f"adapter unresponsive: {method} did not return {self.strikes[kind]} times in "
                f"a row (last: {why})"
            )
        if self.in_a_row >= STRIKES:
            self.stopped["*"] = (
                f"adapter unresponsive: {self.in_a_row} calls in a row did not return (last: {why})"
            )

    def __call__(self, kind: str, config: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        """The outputs of one call; its exception becomes CheckFailed (or Declined)."""
        try:
            result = self.outcome(kind, config, inputs)
        except CallFailed as exc:
            raise CheckFailed(str(exc)) from None
        if result.raised is not None:
            if result.raised.is_a("NotImplementedError"):
                raise Declined(result.raised.message or "NotImplementedError")
            raise CheckFailed(
                f"the adapter raised {result.raised.type}: {result.raised.message}\n"
                f"{result.raised.frames}".rstrip()
            )
        assert result.outputs is not None
        return result.outputs

    def close(self) -> None:
        self.isolation.close()


def call_dtype(kind: str, inputs: dict[str, Any]) -> str | None:
    """The dtype a call computes in: that of its first array input cast to the dtype under
    test (PREC-4); None for a call without one (the plan)."""
    op = operation(kind)
    for name in op.arrays:
        value = inputs.get(name)
        if name not in op.not_cast and isinstance(value, np.ndarray):
            return str(value.dtype)
    return None


class Proxy:
    """The implementation as the property checks call it (methods of the operations table),
    every call going through ``Calls``."""

    def __init__(self, calls: Calls) -> None:
        self.name, self.capabilities, self._calls = calls.name, calls.capabilities, calls

    def __getattr__(self, method: str) -> Any:
        for op in OPERATIONS.values():
            if op.method == method:
                return lambda *args: returned(op, self._calls(op.name, *split(op, args)))
        raise AttributeError(method)


def split(op: Operation, args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    """(config, inputs) from the positional arguments of a call of ``op``."""
    named = dict(zip(op.inputs, args, strict=True))
    config = named.pop(CONFIG)
    return config, {name: value for name, value in named.items() if value is not None}


def returned(op: Operation, outputs: dict[str, Any]) -> Any:
    """What the adapter's method returned, rebuilt from {output name: value}."""
    if op.returns == "array":
        return outputs[op.outputs[0]]
    if op.returns == "tuple":
        return tuple(outputs[name] for name in op.outputs)
    if op.returns == "record":
        return dict(outputs)
    grads: dict[str, Any] = {}
    for name, value in outputs.items():
        key = name.removeprefix(GRAD)
        if key.startswith("params."):
            grads.setdefault("params", {})[key.removeprefix("params.")] = value
        else:
            grads[key] = value
    return grads


def run_vector(check: Check, calls: Calls, result: Result) -> list[Comparison]:
    """A golden vector: outputs within the bound, or the case's error (ERR-1, ERR-2)."""
    case = check.case
    assert case is not None
    config = case.call_config()  # an AHAConfig, or a dict for a "mapping" case (ERR-3, H4)
    if case.error:
        inputs = cast(case.inputs, str(check.dtype))
        try:
            expect_error(case, calls, config, inputs)
        except CheckFailed:  # H6: which known error-handling deviation behaves so
            base, argument = BUILTIN_ERRORS[str(case.error)], str(case.argument)
            result.diagnosis = diagnosis.explain_error(
                case.kind, config, inputs, calls.outcome, base, argument
            )
            raise
        return []
    dtype = check.dtype or "float64"
    got = calls(case.kind, config, cast(case.inputs, dtype))
    got = kernel.sampled(case, got)  # H2b: kernel cases keep sampled rows only
    try:
        return expect(case.kind, got, case.expected, dtype, case.baseline_error.get(dtype, {}))
    except CheckFailed:  # H6: which known deviation explains it (kernel cases: rows only)
        if case.generated is None:
            x = cast(case.inputs, dtype)
            result.diagnosis = diagnosis.explain(case.kind, config, x, got, dtype)
        raise


def expect_error(case: Case, calls: Calls, config: Any, inputs: dict[str, Any]) -> None:
    """An invalid case must raise an error of the case's builtin base naming its argument
    (ERR-1, ERR-2)."""
    base = BUILTIN_ERRORS[str(case.error)]
    assert hasattr(builtins, base), base
    try:
        raised = calls.outcome(case.kind, config, inputs).raised
    except CallFailed as exc:
        raise CheckFailed(str(exc)) from None
    if raised is None:
        raise CheckFailed(
            f"accepted invalid input ({case.description}): expected a "
            f"{base} ({case.error}) naming {case.argument!r}"
        )
    if raised.is_a("NotImplementedError"):
        raise Declined(raised.message or "NotImplementedError")
    if not raised.is_a(base):
        raise CheckFailed(
            f"expected a {base} ({case.error}) naming {case.argument!r}, "
            f"got {raised.type}: {raised.message}"
        )
    if not names_argument(raised.message, str(case.argument)):
        raise CheckFailed(
            f"the {raised.type} does not name {case.argument!r} (ERR-2): {raised.message}"
        )


def run_integrity(check: Check, calls: Calls, result: Result) -> None:
    """No call of the operation changed an input (PREC-6)."""
    method = operation(check.kind).method
    changed = calls.modified.get(check.kind, [])
    if changed:
        shown = "; ".join(changed[:5]) + (
            f"; … {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        raise CheckFailed(f"{method} changed its inputs in {len(changed)} call(s): {shown}")
    if not calls.returned.get(check.kind):
        result.status = NOT_APPLICABLE
        result.message = f"no call of {method} returned in this run"
        return
    result.message = f"{calls.returned[check.kind]} calls, none changed an input"


def comparison_record(c: Comparison) -> dict[str, Any]:
    return {
        "output": c.name,
        "max_abs_error": c.err,
        "max_rel_error": c.rel_err,
        "bound": c.bound,
        "ratio": c.ratio,
        "where": where(c.name, c.where),
        "ok": c.ok,
        "summary": describe(c) if not c.ok else "",
    }


def judge(check: Check, calls: Calls, result: Result, body: Any) -> Result:
    """Run ``body`` (vector, property or integrity) and turn every outcome into a status."""
    start = time.perf_counter()
    calls.check = check.id
    try:
        comparisons = body(check, calls, result) or []
        result.comparisons = [comparison_record(c) for c in comparisons]
    except Declined as exc:
        result.status, result.message = DECLINED, f"the adapter declined: {exc}"
    except CheckFailed as exc:
        result.status, result.message = FAIL, str(exc)
        result.comparisons = [comparison_record(c) for c in exc.comparisons]
        result.error_maps = dict(exc.error_maps)
        result.captured = calls.captured if check.source != INTEGRITY else ""
    except Unresponsive as exc:
        result.status, result.message = SKIPPED, str(exc)
    result.seconds = time.perf_counter() - start
    return result

"""The conformance runner: which checks apply to an adapter, and running each one so that
nothing the adapter does can stop the run (spec/conformance.md, sections 2 and 4)."""

from __future__ import annotations

import builtins
import contextlib
import fnmatch
import hashlib
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, reject
from hypothesis.errors import HypothesisException

from . import corpus, strategies
from .calls import CheckFailed, call_adapter, describe, expect, where
from .cases import FLAGS
from .corpus import BUILTIN_ERRORS, Case, Corpus
from .errors_contract import names_argument
from .generate import build, load_trusted
from .oracle import cast
from .properties import PROPERTIES, Property
from .protocol import DTYPES, METHODS, Adapter
from .tolerance import Comparison

PASS, FAIL, NOT_APPLICABLE, DECLINED = "pass", "fail", "n/a", "declined"


@dataclass(frozen=True)
class Settings:
    adapter: str  # how the adapter was named on the command line (for repro commands)
    dtypes: tuple[str, ...] | None = None  # None: every dtype the adapter claims
    max_examples: int = 15  # per property and dtype
    seed: int = 0
    case: str | None = None  # a case id, property name, or glob of either
    vectors: Path | None = None  # None: the corpus shipped with the package
    time_limit: float = 60.0  # seconds per golden case and per property example
    shrink_time: float = 3.0  # seconds spent shrinking a property's counterexample
    failures_dir: Path = Path("aha-failures")
    properties: bool = True


@dataclass(frozen=True)
class Check:
    id: str
    source: str  # "vector" or "property"
    kind: str
    dtype: str | None
    clauses: tuple[str, ...]
    flags: tuple[str, ...]
    requires: frozenset[str]
    case: Case | None = None
    prop: Property | None = None
    never: str | None = None  # why it applies to no adapter, when that is so

    def not_applicable(self, adapter: Adapter) -> str | None:
        """Why this check does not apply to ``adapter``, or None when it does."""
        if self.never:
            return self.never
        missing = sorted(self.requires - set(adapter.capabilities))
        return f"the adapter does not claim {', '.join(missing)}" if missing else None


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


def plan_checks(adapter: Adapter, loaded: Corpus, settings: Settings) -> list[Check]:
    """Every check of a run, applicable or not, in a stable order."""
    dtypes = settings.dtypes or tuple(d for d in DTYPES if d in adapter.capabilities) or DTYPES
    checks: list[Check] = []
    for case in loaded.cases:
        checks.extend(_vector_checks(case, dtypes))
    if settings.properties:
        for prop in PROPERTIES:
            # The plan has no dtype under test (PREC-4): its property runs once.
            for dtype in ("float64",) if prop.kind == "plan" else dtypes:
                requires = prop.requires | {prop.kind} | ({dtype} if prop.kind != "plan" else set())
                checks.append(
                    Check(
                        f"property/{prop.name}@{dtype}",
                        "property",
                        prop.kind,
                        dtype,
                        prop.clauses,
                        (),
                        frozenset(requires),
                        prop=prop,
                    )
                )
    if settings.case:
        pattern = settings.case
        checks = [c for c in checks if _selected(c, pattern)]
    return checks


def _selected(check: Check, pattern: str) -> bool:
    names = [check.id, check.id.split("@")[0]]
    if check.case:
        names.append(check.case.id)
    if check.prop:
        names += [check.prop.name, f"property/{check.prop.name}"]
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)


def _vector_checks(case: Case, dtypes: tuple[str, ...]) -> Iterator[Check]:
    """One check per selected dtype for valid cases; one for the plan (it has no dtype,
    PREC-4) and for each invalid case, which runs in the first selected dtype it is
    defined in."""
    features = {"key_padding"} if "key_padding_mask" in case.inputs else set()
    if case.config.get("causal") is True:
        features.add("causal")

    def check(check_id: str, dtype: str | None, never: str | None = None) -> Check:
        requires = {case.kind, *features} | ({dtype} if dtype else set())
        return Check(
            check_id,
            "vector",
            case.kind,
            dtype,
            case.clauses,
            case.flags,
            frozenset(requires),
            case=case,
            never=never,
        )

    if case.kind == "config":
        yield check(
            case.id,
            None,
            "AHAConfig is the reference's own object: its "
            "validation is checked by `aha vectors verify`",
        )
    elif case.kind == "plan" and not case.error:
        yield check(case.id, None)
    elif case.error:
        usable = [d for d in dtypes if d in case.dtypes]
        yield check(
            case.id,
            usable[0] if usable else None,
            None if usable else f"the case is defined only in {', '.join(case.dtypes)}",
        )
    else:
        for dtype in dtypes:
            never = None if dtype in case.dtypes else f"the case is not defined in {dtype}"
            yield check(f"{case.id}@{dtype}", dtype, never)


def run_check(check: Check, adapter: Adapter, settings: Settings) -> Result:
    """Run one check; every outcome, the adapter's crashes included, becomes a Result."""
    result = Result(
        check.id,
        check.source,
        check.kind,
        check.dtype,
        PASS,
        check.clauses,
        check.flags,
        repro=repro_command(check, settings),
    )
    reason = check.not_applicable(adapter)
    if reason:
        result.status, result.message = NOT_APPLICABLE, reason
        return result
    start = time.perf_counter()
    try:
        if check.case is not None:
            comparisons = _run_vector(check.case, check.dtype, adapter, settings)
        else:
            assert check.prop is not None and check.dtype is not None
            comparisons = _run_property(check.prop, check.dtype, adapter, settings, result)
        result.comparisons = [_comparison(c) for c in comparisons]
    except Declined as exc:
        result.status, result.message = DECLINED, f"the adapter declined: {exc}"
    except CheckFailed as exc:
        result.status, result.message = FAIL, str(exc)
        result.comparisons = [_comparison(c) for c in exc.comparisons]
    except CaseTimeout as exc:
        result.status, result.message = FAIL, str(exc)
    result.seconds = time.perf_counter() - start
    return result


class Declined(Exception):
    """The adapter raised NotImplementedError: the case is outside what it can express."""


class CaseTimeout(BaseException):
    """A call ran past the time limit (BaseException, so an adapter's `except Exception`
    cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread, POSIX); elsewhere, no limit."""
    if (
        seconds <= 0
        or threading.current_thread() is not threading.main_thread()
        or not hasattr(signal, "setitimer")
    ):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"{what} ran past the time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def guarded(what: str, settings: Settings, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) under the time limit; the adapter's exceptions become CheckFailed, its
    NotImplementedError becomes Declined."""
    try:
        with time_limit(settings.time_limit, what):
            return fn(*args)
    except (CheckFailed, CaseTimeout, HypothesisException):
        raise
    except NotImplementedError as exc:
        raise Declined(str(exc) or "NotImplementedError") from None
    except Exception as exc:
        raise CheckFailed(
            f"the adapter raised {type(exc).__name__}: {exc}\n{_adapter_frames(exc)}"
        ) from None


def _adapter_frames(exc: BaseException) -> str:
    frames = traceback.format_tb(exc.__traceback__)[-3:]
    return "".join(frames).rstrip()


def _run_vector(
    case: Case, dtype: str | None, adapter: Adapter, settings: Settings
) -> list[Comparison]:
    config = case.call_config()  # an AHAConfig, or a dict for a "mapping" case (ERR-3)
    if case.error:
        _expect_error(case, cast(case.inputs, str(dtype)), adapter, config, settings)
        return []
    dtype = dtype or "float64"
    got = guarded(
        f"{adapter.name}.{case.kind}",
        settings,
        call_adapter,
        adapter,
        case.kind,
        config,
        cast(case.inputs, dtype),
    )
    return expect(case.kind, got, case.expected, dtype, case.baseline_error.get(dtype, {}))


def _expect_error(
    case: Case, inputs: dict[str, Any], adapter: Adapter, config: Any, settings: Settings
) -> None:
    """An invalid case must raise an error of the case's builtin base naming its argument
    (ERR-1, ERR-2)."""
    base = getattr(builtins, BUILTIN_ERRORS[str(case.error)])
    try:
        with time_limit(settings.time_limit, f"{adapter.name}.{case.kind}"):
            call_adapter(adapter, case.kind, config, inputs)
    except NotImplementedError as exc:
        raise Declined(str(exc) or "NotImplementedError") from None
    except Exception as exc:
        if not isinstance(exc, base):
            raise CheckFailed(
                f"expected a {base.__name__} ({case.error}) naming "
                f"{case.argument!r}, got {type(exc).__name__}: {exc}"
            ) from None
        if not names_argument(str(exc), str(case.argument)):
            raise CheckFailed(
                f"the {type(exc).__name__} does not name {case.argument!r} (ERR-2): {exc}"
            ) from None
        return
    raise CheckFailed(
        f"accepted invalid input ({case.description}): expected a "
        f"{base.__name__} ({case.error}) naming {case.argument!r}"
    )


def _run_property(
    prop: Property, dtype: str, adapter: Adapter, settings: Settings, result: Result
) -> list[Comparison]:
    """Run a property under Hypothesis; a failure is shrunk and saved as a vector.

    Shrinking stops after ``settings.shrink_time`` seconds: from then on only the smallest
    failing draw so far is checked again (Hypothesis replays it last), every other draw passes.
    """
    failing: dict[str, Any] = {}
    counts = {"run": 0, "declined": 0}

    def body(draw: tuple[Any, dict[str, Any]]) -> None:
        config, inputs = draw
        counts["run"] += 1
        if (
            failing
            and time.perf_counter() - failing["since"] > settings.shrink_time
            and _fingerprint(draw) != failing["fingerprint"]
        ):
            return
        try:
            prop.check(_Guard(adapter, settings), config, inputs, dtype)
        except Declined:
            counts["declined"] += 1
            reject()
        except (CheckFailed, CaseTimeout) as exc:
            failing.update(
                config=config,
                inputs=inputs,
                error=exc,
                fingerprint=_fingerprint(draw),
                since=failing.get("since", time.perf_counter()),
            )
            raise CheckFailed(str(exc)) from None

    test = hypothesis.settings(
        max_examples=settings.max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    )(given(prop.strategy(dtype))(body))
    try:
        hypothesis.seed(settings.seed)(test)()
    except CheckFailed:
        _save_counterexample(prop, dtype, adapter, settings, failing, result)
        raise failing["error"] from None
    except Exception as exc:  # Hypothesis' own verdicts (flaky, unsatisfiable) and the rest
        if failing:  # a real failure Hypothesis could not replay: report it all the same
            _save_counterexample(prop, dtype, adapter, settings, failing, result)
            raise CheckFailed(
                f"{failing['error']} (Hypothesis: {type(exc).__name__}, the failure did not "
                f"reproduce on replay: is the adapter deterministic?)",
                getattr(failing["error"], "comparisons", []),
            ) from None
        if isinstance(exc, HypothesisException) and counts["declined"]:
            raise Declined(f"{counts['declined']} of {counts['run']} examples declined") from None
        raise CheckFailed(f"the property stopped: {type(exc).__name__}: {exc}") from None
    result.message = f"{counts['run']} examples"
    return []


def _fingerprint(draw: tuple[Any, dict[str, Any]]) -> str:
    config, inputs = draw
    digest = hashlib.sha256(repr(config).encode())
    for name in sorted(inputs):
        values = inputs[name]
        for key, arr in sorted(values.items()) if isinstance(values, dict) else [(name, values)]:
            digest.update(
                key.encode() + repr(np.shape(arr)).encode() + np.ascontiguousarray(arr).tobytes()
            )
    return digest.hexdigest()


class _Guard:
    """The adapter as properties see it: every call goes through ``guarded``."""

    def __init__(self, adapter: Adapter, settings: Settings) -> None:
        self.name, self.capabilities = adapter.name, adapter.capabilities
        self._adapter, self._settings = adapter, settings

    def __getattr__(self, method: str) -> Any:
        if method not in METHODS.values():
            raise AttributeError(method)
        real = getattr(self._adapter, method)
        return lambda *args: guarded(f"{self.name}.{method}", self._settings, real, *args)


def _save_counterexample(
    prop: Property,
    dtype: str,
    adapter: Adapter,
    settings: Settings,
    failing: dict[str, Any],
    result: Result,
) -> None:
    """Write the shrunk example as a one-case corpus and point the repro command at it."""
    config, inputs = failing["config"], failing["inputs"]
    digest = _fingerprint((config, inputs))[:8]
    case_id = f"shrunk/{prop.name.replace('/', '-')}-{dtype}-{digest}"
    directory = settings.failures_dir / f"{adapter.name}-{case_id.replace('/', '-')}"
    case = Case(
        case_id,
        prop.kind,
        f"shrunk counterexample of property {prop.name} ({adapter.name}, {dtype})",
        prop.clauses,
        (),
        config.to_dict(),
        inputs,
        dtypes=(dtype,),
    )
    snippet = strategies.repro(config, inputs)
    try:
        corpus.write(directory, [build(case)], FLAGS)
    except Exception as exc:  # the reference rejects the draw: keep the Python repro only
        result.repro = f"# could not save the example ({exc}); reproduce with:\n{snippet}"
        return
    result.saved = str(directory)
    vectors = f" --vectors {directory}"
    result.repro = (
        f"aha conform --adapter {settings.adapter} --dtype {dtype}{vectors} "
        f"--case {case_id}   # property {prop.name}; inputs in Python:\n{snippet}"
    )


def repro_command(check: Check, settings: Settings) -> str:
    vectors = f" --vectors {settings.vectors}" if settings.vectors else ""
    dtype = f" --dtype {check.dtype}" if check.dtype else ""
    target = check.case.id if check.case else f"property/{check.prop.name}"  # type: ignore[union-attr]
    return f"aha conform --adapter {settings.adapter}{dtype}{vectors} --case {target}"


def _comparison(c: Comparison) -> dict[str, Any]:
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


def run(
    adapter: Adapter,
    settings: Settings,
    progress: Callable[[int, int, Result], None] = lambda i, n, r: None,
) -> tuple[Corpus, list[Result]]:
    """Run every check of ``settings`` against ``adapter``."""
    loaded = load_trusted(settings.vectors)  # any corpus but the pinned one is verified first
    checks = plan_checks(adapter, loaded, settings)
    results = []
    for i, check in enumerate(checks):
        result = run_check(check, adapter, settings)
        results.append(result)
        progress(i + 1, len(checks), result)
    return loaded, results

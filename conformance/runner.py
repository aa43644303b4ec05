"""The conformance runner: a run is selection (selection.py), then each check executed behind
the isolation (execution.py, isolation.py; properties: driving.py), then the report
(report.py). This module ties them together (spec/conformance.md sections 2–4).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .corpus import Corpus
from .driving import run_property
from .execution import (
    DECLINED,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    SKIPPED,
    STATUSES,
    Calls,
    Result,
    judge,
    run_integrity,
    run_vector,
)
from .generate import load_trusted
from .selection import INTEGRITY, PROPERTY, VECTOR, Check, Settings, plan_checks

__all__ = [
    "DECLINED",
    "FAIL",
    "NOT_APPLICABLE",
    "PASS",
    "SKIPPED",
    "STATUSES",
    "Check",
    "Result",
    "Run",
    "Session",
    "Settings",
    "plan_checks",
    "repro_command",
    "run",
    "run_check",
]


class Session:
    """One implementation behind one isolation, for a sequence of checks."""

    def __init__(self, adapter: Any, settings: Settings) -> None:
        self.adapter, self.settings = adapter, settings
        self.calls = Calls(adapter, settings)

    def run(self, check: Check) -> Result:
        """Run one check; every outcome, the implementation's crashes included, is a Result."""
        result = Result(
            check=check.id,
            source=check.source,
            kind=check.kind,
            dtype=check.dtype,
            status=PASS,
            clauses=check.clauses,
            flags=check.flags,
            repro=repro_command(check, self.settings),
        )
        reason = check.not_applicable(self.adapter)
        if reason:
            result.status, result.message = NOT_APPLICABLE, reason
            return result
        if check.source == VECTOR:
            return judge(check, self.calls, result, run_vector)
        if check.source == INTEGRITY:
            return judge(check, self.calls, result, run_integrity)
        assert check.source == PROPERTY
        return judge(
            check,
            self.calls,
            result,
            lambda c, calls, r: run_property(c, calls, r, self.settings),
        )

    def close(self) -> None:
        self.calls.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_kept: list[Session] = []  # the session run_check reuses while adapter and settings stay


def run_check(check: Check, adapter: Any, settings: Settings) -> Result:
    """Run one check; consecutive calls with the same adapter and settings share one worker."""
    if _kept and (_kept[0].adapter is not adapter or _kept[0].settings != settings):
        _kept.pop().close()
    if not _kept:
        _kept.append(Session(adapter, settings))
    return _kept[0].run(check)


@atexit.register
def _close_kept() -> None:
    while _kept:
        _kept.pop().close()


def repro_command(check: Check, settings: Settings) -> str:
    vectors = f" --vectors {settings.vectors}" if settings.vectors else ""
    dtype = f" --dtype {check.dtype}" if check.dtype else ""
    if check.case:
        target = check.case.id
    elif check.prop:
        target = f"property/{check.prop.name}"
    else:
        target = check.id
    return f"aha conform --adapter {settings.adapter}{dtype}{vectors} --case {target}"


@dataclass
class Run:
    """What a run judged; ``interrupted`` says why it stopped early, if it did."""

    corpus: Corpus
    checks: list[Check]
    results: list[Result]
    interrupted: str | None = None


def run(
    adapter: Any,
    settings: Settings,
    progress: Callable[[int, int, Result], None] = lambda i, n, r: None,
) -> Run:
    """Run every check of ``settings`` against ``adapter``. A Ctrl-C stops the run and
    returns what was judged so far, marked interrupted."""
    loaded = load_trusted(settings.vectors)  # any corpus but the pinned one is verified first
    checks = plan_checks(adapter, loaded, settings)
    done = Run(loaded, checks, [])
    session = Session(adapter, settings)
    try:
        for i, check in enumerate(checks):
            result = session.run(check)
            done.results.append(result)
            progress(i + 1, len(checks), result)
    except KeyboardInterrupt:
        done.interrupted = f"interrupted (Ctrl-C) after {len(done.results)} of {len(checks)} checks"
    finally:
        session.close()
    return done

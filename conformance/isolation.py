"""Where the implementation runs, and what the harness keeps whatever it does
(spec/conformance.md section 3).

By default an implementation runs in one persistent worker process (``WorkerProcess``, a
pebble pool of one): a call past its deadline is killed and the worker restarted, a worker that
dies is reported with its signal or exit code, and nothing the implementation does (hang,
segfault, ``os._exit``, ``SystemExit``, a swallowed signal) reaches the harness. ``InProcess``
runs it in the harness's own process, for debugging (``--isolation none``).

Either way every call gets fresh copies of the harness's arrays; after the call the copies are
compared with the originals, and the names of those the implementation changed come back with
the result (PREC-6). Its stdout and stderr are captured at the file-descriptor level.
"""

from __future__ import annotations

import contextlib
import copy
import faulthandler
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pebble import ProcessExpired, ProcessPool

from aha.reference import AHAConfig

from .operations import operation

ISOLATIONS = ("process", "none")
CAPTURE_CHARS = 2000  # the tail of an implementation's stdout/stderr kept with a failure
# Frameworks that start threads or a GPU context at import: a worker is then started from a
# clean forkserver process instead of a fork of the harness (fork after threads can deadlock).
THREADED_FRAMEWORKS = ("torch", "jax", "tensorflow", "triton", "cupy")


@dataclass(frozen=True)
class Raised:
    """An exception the implementation raised, as plain data (it may not pickle)."""

    type: str
    message: str
    bases: tuple[str, ...]  # the names of its classes, most derived first
    frames: str  # the last frames of its traceback

    @classmethod
    def of(cls, exc: BaseException) -> Raised:
        frames = "".join(traceback.format_tb(exc.__traceback__)[-3:]).rstrip()
        return cls(
            type(exc).__name__, str(exc), tuple(c.__name__ for c in type(exc).__mro__), frames
        )

    def is_a(self, name: str) -> bool:
        """Is it an instance of the builtin exception class ``name`` (ValueError, ...)?"""
        return name in self.bases


@dataclass(frozen=True)
class NotAnArray:
    """Stands for an output that was not a NumPy array (spec/conformance.md section 1)."""

    type: str


@dataclass(frozen=True)
class Outcome:
    """What one call gave: outputs or the exception, inputs it changed, what it printed."""

    outputs: dict[str, Any] | None
    raised: Raised | None
    modified: tuple[str, ...]  # names of inputs whose values the call changed (PREC-6)
    captured: str  # the tail of its stdout and stderr
    seconds: float


class CallFailed(Exception):
    """The call did not return: it ran past the deadline (``late``) or its worker died."""

    def __init__(self, message: str, captured: str = "", late: bool = False) -> None:
        super().__init__(message)
        self.captured, self.late = captured, late


class Isolation(Protocol):
    """Runs one operation of the implementation on the harness's inputs, within ``seconds``
    (the caller decides the deadline of each call: execution.Calls)."""

    def call(
        self, kind: str, config: AHAConfig, inputs: dict[str, Any], seconds: float
    ) -> Outcome: ...

    def close(self) -> None: ...


def perform(adapter: Any, kind: str, config: AHAConfig, inputs: dict[str, Any]) -> Outcome:
    """Call ``adapter`` on fresh copies of ``inputs`` and see what it changed (PREC-6).

    Every exception, SystemExit and KeyboardInterrupt included, becomes ``Raised``; only the
    harness's own deadline (``Deadline``) passes through.
    """
    given = copy.deepcopy(inputs)
    outputs, raised = None, None
    start = time.perf_counter()
    try:
        outputs = {
            name: value if isinstance(value, np.ndarray) else NotAnArray(_type_name(value))
            for name, value in operation(kind).call(adapter, config, given).items()
        }
    except Deadline:
        raise
    except BaseException as exc:  # whatever it raises is a result to judge, not our exit
        raised = Raised.of(exc)
    seconds = time.perf_counter() - start
    return Outcome(outputs, raised, changed(inputs, given), "", seconds)


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, ...]:
    """Names (``params.<name>`` for parameters) whose arrays differ in any byte."""
    names = []
    for name, value in before.items():
        if isinstance(value, dict):
            other = after.get(name)
            for key, arr in value.items():
                got = other.get(key) if isinstance(other, dict) else None
                if not _same(arr, got):
                    names.append(f"{name}.{key}")
        elif not _same(value, after.get(name)):
            names.append(name)
    return tuple(names)


def _same(a: Any, b: Any) -> bool:
    if not isinstance(b, np.ndarray) or not isinstance(a, np.ndarray):
        return a is b or (not isinstance(a, np.ndarray) and a == b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


@contextlib.contextmanager
def capture(path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 (C code's output too) to ``path`` for the block."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(1), os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(target, 1)
    os.dup2(target, 2)
    # Python-level writes too, whatever sys.stdout was replaced with (pytest, notebooks)
    text = open(target, "w", encoding="utf-8", errors="replace", closefd=False)
    try:
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
            yield
    finally:
        with contextlib.suppress(Exception):
            text.flush()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (target, *saved):
            os.close(fd)


def read_capture(path: Path) -> str:
    """What was captured at ``path``: its head and its tail when it is longer than
    CAPTURE_CHARS (a crash report starts with the frame that crashed)."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
    half = CAPTURE_CHARS // 2
    return text if len(text) <= CAPTURE_CHARS else f"{text[:half]}\n…\n{text[-half:]}"


class Deadline(BaseException):
    """The in-process deadline passed (BaseException: an implementation's ``except
    Exception`` cannot swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ``Deadline`` in the block after ``seconds`` (main thread, POSIX; else no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Deadline()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class InProcess:
    """The implementation in the harness's process (``--isolation none``): a deadline by
    SIGALRM, which an implementation can disarm; a crash ends the run."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.directory = tempfile.TemporaryDirectory(prefix="aha-capture-")
        self.path = Path(self.directory.name) / "output.txt"

    def call(self, kind: str, config: AHAConfig, inputs: dict[str, Any], seconds: float) -> Outcome:
        try:
            with capture(self.path), deadline(seconds):
                outcome = perform(self.adapter, kind, config, inputs)
        except Deadline:
            raise CallFailed(
                f"{operation(kind).method} ran past the time limit of {seconds:g} s",
                read_capture(self.path),
                late=True,
            ) from None
        return _with_capture(outcome, read_capture(self.path))

    def close(self) -> None:
        self.directory.cleanup()


def _with_capture(outcome: Outcome, captured: str) -> Outcome:
    return Outcome(outcome.outputs, outcome.raised, outcome.modified, captured, outcome.seconds)


_WORKER_ADAPTER: Any = None  # the implementation, in a worker process


class Unbuilt:
    """Stands for an adapter the worker could not build: every method raises why."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any) -> Any:
            raise RuntimeError(self.why)

        return fail


def _worker_start(payload: Any, sys_path: list[str]) -> None:
    """Initializer of a worker: the harness's import path, SIGINT left to the harness (a
    Ctrl-C stops the run, and the run writes its report), the adapter built or unpickled."""
    global _WORKER_ADAPTER
    sys.path[:] = sys_path
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.__stderr__ is not None:  # a native crash's Python traceback goes to the capture
        faulthandler.enable(file=sys.__stderr__)
    try:
        if isinstance(payload, bytes):
            _WORKER_ADAPTER = pickle.loads(payload)
        elif isinstance(payload, str):
            from .protocol import load_adapter  # the worker builds the adapter itself

            _WORKER_ADAPTER = load_adapter(payload)
        else:
            _WORKER_ADAPTER = payload
    except Exception as exc:  # every call will say why, instead of a worker that exits
        _WORKER_ADAPTER = Unbuilt(f"the worker could not build the adapter: {exc}")


def _worker_call(kind: str, config: AHAConfig, inputs: dict[str, Any], path: str) -> Outcome:
    with capture(Path(path)):
        outcome = perform(_WORKER_ADAPTER, kind, config, inputs)
    return outcome


class WorkerProcess:
    """The implementation in one persistent worker process, restarted after a deadline or a
    death. ``spec`` (how the adapter was named) rebuilds it where it cannot be pickled."""

    def __init__(self, adapter: Any, spec: str) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="aha-capture-")
        self.path = Path(self.directory.name) / "output.txt"
        threaded = any(name in sys.modules for name in THREADED_FRAMEWORKS)
        payload: Any = adapter
        if threaded:
            try:
                payload = pickle.dumps(adapter)
            except Exception:  # a local class or an open handle: rebuild it from its name
                payload = spec
        context = multiprocessing.get_context("forkserver" if threaded else "fork")
        self.pool = ProcessPool(
            max_workers=1,
            initializer=_worker_start,
            initargs=(payload, list(sys.path)),
            context=context,
        )

    def call(self, kind: str, config: AHAConfig, inputs: dict[str, Any], seconds: float) -> Outcome:
        method = operation(kind).method
        with contextlib.suppress(OSError):
            self.path.unlink()
        future = self.pool.schedule(
            _worker_call, args=(kind, config, inputs, str(self.path)), timeout=seconds
        )
        try:
            outcome: Outcome = future.result()
        except FutureTimeout:
            raise CallFailed(
                f"{method} ran past the time limit of {seconds:g} s; "
                f"its worker was killed and restarted",
                read_capture(self.path),
                late=True,
            ) from None
        except ProcessExpired as exc:
            raise CallFailed(
                f"the worker running {method} died: {describe_exit(exc.exitcode)}",
                read_capture(self.path),
            ) from None
        except Exception as exc:  # the result could not be sent back, the worker could not start
            raise CallFailed(
                f"{method} gave no result the harness could read: {type(exc).__name__}: {exc}",
                read_capture(self.path),
            ) from None
        return _with_capture(outcome, read_capture(self.path))

    def close(self) -> None:
        self.pool.stop()
        self.pool.join(timeout=10)
        self.directory.cleanup()


def describe_exit(code: int | None) -> str:
    """'killed by signal 11 (SIGSEGV)' or 'exited with status 3'."""
    if code is None:
        return "it stopped without an exit status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    return f"exited with status {code}"


def start(isolation: str, adapter: Any, spec: str) -> Isolation:
    """The isolation named on the command line (``process`` or ``none``)."""
    if isolation == "process":
        return WorkerProcess(adapter, spec)
    if isolation == "none":
        return InProcess(adapter)
    raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")

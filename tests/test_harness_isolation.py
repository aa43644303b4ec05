"""Nothing an implementation does stops the run (spec/conformance.md section 3): each
misbehaviour is reported with its reason, the run finishes and writes its report, and an
implementation that writes into its inputs fails only the input-integrity check (PREC-6)."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance.cli import main
from aha.conformance.execution import STRIKES
from aha.conformance.report import EXIT_FAILS, EXIT_INTERRUPTED
from aha.conformance.selection import Settings

MODULE = __name__  # adapters below are named as f"{MODULE}:Name" on the command line
FAST = ["--case", "local/causal", "--dtype", "float64", "--no-properties"]


class Misbehaving(ReferenceAdapter):
    """The reference, except that local_attention does one wrong thing (``how``)."""

    how = "nothing"

    def local_attention(self, q: Any, *args: Any, **kwargs: Any) -> Any:
        out = super().local_attention(q, *args, **kwargs)
        return misbehave(self.how, q, out)


class FakeTensor:
    """A framework tensor: NumPy can convert it, but it is not a NumPy array."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array


def misbehave(how: str, q: np.ndarray, out: np.ndarray) -> Any:
    if how == "raise":
        raise RuntimeError("kernel exploded")
    if how == "hang":
        time.sleep(3600)
    if how == "shape":
        return out[:, :, :-1]
    if how == "nan":
        return np.full_like(out, np.nan)
    if how == "list":
        return out.tolist()
    if how == "tensor":
        return FakeTensor(out)
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "exit":
        os._exit(3)
    if how == "system-exit":
        raise SystemExit(0)
    if how == "keyboard-interrupt":
        raise KeyboardInterrupt
    if how == "swallow-signals":
        for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            try:
                time.sleep(3600)
            except BaseException:  # nothing stops it but SIGKILL
                pass
    if how == "print":
        print("hello from the kernel", flush=True)
        os.write(2, b"native stderr line\n")
        raise RuntimeError("after printing")
    if how == "modify-inputs":
        q[...] = 0  # after computing a correct output: only PREC-6 may fail
        return out
    return out


class JitCompiling(ReferenceAdapter):
    """The reference with a JIT's cost: the first call of local_attention in each dtype takes
    ``COMPILE`` seconds more, as a compile would (in the worker, which keeps the instance)."""

    def local_attention(self, q: Any, *args: Any, **kwargs: Any) -> Any:
        compiled = self.__dict__.setdefault("compiled", set())
        if q.dtype not in compiled:
            time.sleep(COMPILE)
            compiled.add(q.dtype)
        return super().local_attention(q, *args, **kwargs)


class SlowLater(ReferenceAdapter):
    """The reference, except that its second call of local_attention takes ``COMPILE``
    seconds more: a slow call that is not a first one."""

    def local_attention(self, q: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            time.sleep(COMPILE)
        return super().local_attention(q, *args, **kwargs)


COMPILE = 2.0  # seconds: past --time-limit 1, inside --first-call-limit 10
TIMING = ["--case", "local/causal*", "--no-properties", "--time-limit", "1"]


def adapter_class(how: str) -> type:
    return type(f"Misbehaving_{how.replace('-', '_')}", (Misbehaving,), {"how": how})


HOWS = [
    "raise",
    "hang",
    "shape",
    "nan",
    "list",
    "tensor",
    "segfault",
    "sigkill",
    "exit",
    "system-exit",
    "keyboard-interrupt",
    "swallow-signals",
    "print",
    "modify-inputs",
]
for _how in HOWS:  # importable by name, as module:attr, in this process and a worker
    globals()[adapter_class(_how).__name__] = adapter_class(_how)


def conform(how: str, tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """``aha conform`` of Misbehaving_<how>, or of the class named ``how`` when it has one."""
    report = tmp / "report.json"
    name = f"{MODULE}:{how if how in globals() else 'Misbehaving_' + how.replace('-', '_')}"
    code = main(["conform", "--adapter", name, *args, "--report", str(report)])
    return code, json.loads(report.read_text())


def local_results(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["results"] if r["source"] == "vector"]


REASONS = {
    "raise": "the adapter raised RuntimeError: kernel exploded",
    "hang": "local_attention ran past the time limit of 1 s",
    "shape": "out has shape",
    "nan": "out: non-finite value at b=0 h=0 i=0 d=0",
    "list": "out is not a NumPy array: builtins.list",
    "tensor": "out is not a NumPy array: test_harness_isolation.FakeTensor",
    "segfault": "died: killed by signal 11 (SIGSEGV)",
    "sigkill": "died: killed by signal 9 (SIGKILL)",
    "exit": "died: exited with status 3",
    "system-exit": "the adapter raised SystemExit: 0",
    "keyboard-interrupt": "the adapter raised KeyboardInterrupt",
    "swallow-signals": "local_attention ran past the time limit of 1 s",
    "print": "the adapter raised RuntimeError: after printing",
}


@pytest.mark.clause("PREC-3", "PREC-4")
@pytest.mark.parametrize("how", sorted(REASONS))
def test_each_misbehaviour_is_reported_and_the_run_finishes(how: str, tmp_path: Path) -> None:
    code, report = conform(how, tmp_path, *FAST, "--time-limit", "1", "--first-call-limit", "1")
    assert code == EXIT_FAILS and report["verdict"] == "does not conform"
    (result,) = local_results(report)
    assert result["status"] == "fail", result
    assert REASONS[how] in result["message"], result["message"]
    assert (tmp_path / "report.md").read_text().startswith("# AHA conformance report")


def test_a_crash_names_the_check_and_keeps_what_the_implementation_printed(
    tmp_path: Path,
) -> None:
    _, report = conform("print", tmp_path, *FAST)
    (result,) = local_results(report)
    assert "hello from the kernel" in result["captured"]
    assert "native stderr line" in result["captured"]
    _, report = conform("segfault", tmp_path, *FAST)
    (result,) = local_results(report)
    assert "Segmentation fault" in result["captured"] and "misbehave" in result["captured"]
    _, report = conform("exit", tmp_path, *FAST)
    (result,) = local_results(report)
    assert result["check"] == "local/causal@float64"
    assert "the worker running local_attention died" in result["message"]


@pytest.mark.parametrize("how", ["raise", "system-exit", "keyboard-interrupt", "nan"])
def test_in_process_isolation_reports_the_same(how: str, tmp_path: Path) -> None:
    code, report = conform(how, tmp_path, *FAST, "--isolation", "none")
    (result,) = local_results(report)
    assert code == EXIT_FAILS and REASONS[how] in result["message"]


def test_repeated_deadlines_skip_the_rest_of_the_operation(tmp_path: Path) -> None:
    start = time.perf_counter()
    code, report = conform(
        "hang",
        tmp_path,
        *("--case", "local/*", "--dtype", "float64"),
        *("--time-limit", "0.5", "--first-call-limit", "3"),
    )
    elapsed = time.perf_counter() - start
    results = local_results(report)
    statuses = [r["status"] for r in results]
    assert statuses[:2] == ["fail", "fail"] and set(statuses[2:]) == {"skipped"}
    # The first call had the allowance; once it ran late, the next had --time-limit only.
    assert "ran past the time limit of 3 s" in results[0]["message"]
    assert "ran past the time limit of 0.5 s" in results[1]["message"]
    assert "adapter unresponsive" in results[-1]["message"]
    assert code == EXIT_FAILS and elapsed < 30


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_a_first_call_may_take_the_allowance_for_a_compile(isolation: str, tmp_path: Path) -> None:
    code, report = conform(
        "JitCompiling",
        tmp_path,
        *TIMING,
        *("--first-call-limit", "10", "--dtype", "float64,float32", "--isolation", isolation),
    )
    results = local_results(report)
    assert code == 0 and report["verdict"] == "conforms", report["verdict_line"]
    assert len(results) == 4 and max(r["seconds"] for r in results) > COMPILE
    assert report["settings"]["first_call_limit_s"] == 10


def test_a_later_slow_call_is_past_the_limit(tmp_path: Path) -> None:
    code, report = conform(
        "SlowLater", tmp_path, *TIMING, "--first-call-limit", "10", "--dtype", "float64"
    )
    statuses = {r["check"]: r["status"] for r in local_results(report)}
    assert statuses == {"local/causal@float64": "pass", "local/causal-left-padding@float64": "fail"}
    (late,) = [r for r in local_results(report) if r["status"] == "fail"]
    assert code == EXIT_FAILS and "ran past the time limit of 1 s" in late["message"]


def test_the_allowance_is_never_below_the_time_limit(tmp_path: Path) -> None:
    assert Settings(adapter="x", time_limit=90, first_call_limit=5).first_call_seconds == 90
    _, report = conform("JitCompiling", tmp_path, *FAST, "--time-limit", "90")
    assert report["settings"]["time_limit_s"] == 90
    assert report["settings"]["first_call_limit_s"] == 90


@pytest.mark.slow
def test_a_hanging_implementation_is_judged_in_bounded_time_at_default_settings(
    tmp_path: Path,
) -> None:
    start = time.perf_counter()
    code, report = conform("hang", tmp_path)
    elapsed = time.perf_counter() - start
    assert code == EXIT_FAILS and elapsed < 300, elapsed  # the bound: 5 minutes
    assert report["summary"]["skipped"] > 0
    waited = sum(r["seconds"] for r in report["results"] if "time limit" in r["message"])
    # What the hang cost: one first-call allowance, then --time-limit for each later strike.
    defaults = Settings(adapter="x")
    assert waited < defaults.first_call_limit + (STRIKES - 1) * defaults.time_limit + 10


@pytest.mark.clause("PREC-6")
@pytest.mark.parametrize("isolation", ["process", "none"])
def test_modifying_inputs_fails_only_the_integrity_check(isolation: str, tmp_path: Path) -> None:
    code, report = conform(
        "modify-inputs",
        tmp_path,
        "--case",
        "local/*",
        "--dtype",
        "float64,float32",
        "--max-examples",
        "3",
        "--isolation",
        isolation,
    )
    failed = [r for r in report["results"] if r["status"] == "fail"]
    assert code == EXIT_FAILS
    assert [r["check"] for r in failed] == ["inputs-unchanged/local"]
    assert "changed its inputs" in failed[0]["message"] and ": q" in failed[0]["message"]
    assert failed[0]["clauses"] == ["PREC-6"]


def test_an_interrupted_run_leaves_a_report_marked_interrupted(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    slow = tmp_path / "slow_impl.py"
    slow.write_text(
        "import time\n"
        "from aha.adapters.reference import ReferenceAdapter\n"
        "class Slow(ReferenceAdapter):\n"
        "    name = 'slow'\n"
        "    def local_attention(self, *args):\n"
        "        time.sleep(0.2)\n"
        "        return super().local_attention(*args)\n"
    )
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "aha.conformance.cli", "conform"),
            *("--adapter", "slow_impl:Slow", "--no-properties", "--dtype", "float64"),
            *("--report", str(report)),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    process.stderr.readline()  # the first progress line: the run has started
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED
    data = json.loads(report.read_text())
    assert data["verdict"].startswith("interrupted") and data["interrupted"]
    assert data["results"] and data["exit_status"] == EXIT_INTERRUPTED

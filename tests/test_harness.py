"""The harness itself: CLI, reports, robustness against the implementation under test,
adapters from outside the project, shrunk counterexamples, and the pytest plugin."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance import corpus
from aha.conformance.cli import main
from aha.conformance.runner import (
    DECLINED,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    Settings,
    plan_checks,
    run_check,
)


def conform(*args: str, tmp: Path) -> tuple[int, dict[str, Any]]:
    report = tmp / "report.json"
    code = main(
        ["conform", *args, "--report", str(report), "--failures-dir", str(tmp / "failures")]
    )
    return code, json.loads(report.read_text())


def test_numpy_adapter_conforms_and_reports(tmp_path: Path) -> None:
    code, report = conform("--adapter", "numpy", "--max-examples", "5", tmp=tmp_path)
    assert code == 0 and report["verdict"] == "conforms"
    assert report["summary"][PASS] > 250 and report["summary"].get(FAIL, 0) == 0
    assert report["corpus"]["digest"] == corpus.load().digest
    assert {"adapter", "spec_version", "environment", "settings", "results"} <= set(report)
    markdown = (tmp_path / "report.md").read_text()
    assert "**Verdict: conforms.**" in markdown and "| LOCAL |" in markdown


@pytest.mark.parametrize(
    ("bug", "clause"),
    [
        ("window_off_by_one", "LOCAL-1"),
        ("bias_sign_flipped", "LOCAL-2"),
        ("masked_rows_nan", "LOCAL-5"),
        ("batch_averaged_span", "LOCAL-6"),
    ],
)
def test_planted_bugs_exit_nonzero_and_name_a_clause(bug: str, clause: str, tmp_path: Path) -> None:
    code, report = conform(
        "--adapter", f"aha.conformance.mutants:{bug}", "--no-properties", tmp=tmp_path
    )
    assert code == 1 and report["verdict"] == "does not conform"
    assert clause in report["summary"]["failed_clauses"]
    failure = next(r for r in report["results"] if r["status"] == FAIL)
    assert failure["repro"].startswith(f"aha conform --adapter aha.conformance.mutants:{bug}")


EXTERNAL = """
from aha.adapters.reference import ReferenceAdapter

class Mine(ReferenceAdapter):
    name = "mine"

INSTANCE = Mine()
"""


@pytest.mark.parametrize("attr", ["Mine", "INSTANCE"])
def test_an_adapter_from_outside_the_project(
    attr: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "outside_impl.py").write_text(EXTERNAL)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, report = conform(
        "--adapter", f"outside_impl:{attr}", "--no-properties", "--dtype", "float64", tmp=tmp_path
    )
    assert code == 0 and report["adapter"]["name"] == "mine"


def test_the_typed_protocol_has_every_method_of_the_operations_table() -> None:
    from aha.conformance.operations import OPERATIONS
    from aha.conformance.protocol import Adapter

    assert {op.method for op in OPERATIONS.values()} <= set(dir(Adapter))


def test_unknown_adapters_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "--adapter", "no-such-adapter"]) == 2
    assert "no adapter named 'no-such-adapter'" in capsys.readouterr().err
    assert main(["conform", "--adapter", "json:dumps"]) == 2


class Misbehaving(ReferenceAdapter):
    """Does one wrong thing in local_attention; everything else is the reference."""

    def __init__(self, how: str) -> None:
        self.how, self.name = how, f"misbehaving-{how}"

    def local_attention(self, q: Any, *args: Any, **kwargs: Any) -> Any:
        out = super().local_attention(q, *args, **kwargs)
        if self.how == "raise":
            raise RuntimeError("kernel exploded")
        if self.how == "shape":
            return out[:, :, :-1]
        if self.how == "dtype":
            return out.astype(np.float16)
        if self.how == "nan":
            return np.full_like(out, np.nan)
        if self.how == "sleep":
            time.sleep(5)
        if self.how == "decline":
            raise NotImplementedError("per-batch windows")
        if self.how == "junk":
            return "not an array"
        return out


@pytest.mark.parametrize(
    ("how", "status", "message"),
    [
        ("raise", FAIL, "the adapter raised RuntimeError: kernel exploded"),
        ("shape", FAIL, "out has shape"),
        ("dtype", FAIL, "out has dtype float16, expected float64"),
        ("nan", FAIL, "non-finite value at b=0 h=0 i=0 d=0"),
        ("sleep", FAIL, "ran past the time limit of 0.5 s"),
        ("decline", DECLINED, "per-batch windows"),
        ("junk", FAIL, "out"),
    ],
)
def test_misbehaviour_becomes_a_failed_check(how: str, status: str, message: str) -> None:
    adapter = Misbehaving(how)
    settings = Settings(
        adapter="x", dtypes=("float64",), time_limit=0.5, first_call_limit=0.5, case="local/causal"
    )
    check, integrity = plan_checks(adapter, corpus.load(), settings)
    assert integrity.id == "inputs-unchanged/local"
    result = run_check(check, adapter, settings)
    assert result.status == status and message in result.message, result.message


def test_misbehaviour_in_properties_does_not_stop_the_run(tmp_path: Path) -> None:
    adapter = Misbehaving("raise")
    settings = Settings(
        adapter="x",
        dtypes=("float64",),
        max_examples=3,
        case="property/*/local",
        failures_dir=tmp_path,
    )
    results = [
        run_check(c, adapter, settings)
        for c in plan_checks(adapter, corpus.load(), settings)
        if c.source == "property"
    ]
    assert results and all(r.status == FAIL for r in results)
    assert all("kernel exploded" in r.message for r in results)


class LocalOnly(ReferenceAdapter):
    name = "local-only"
    capabilities = frozenset({"local", "float64"})


def test_what_is_not_claimed_is_not_applicable_with_a_reason() -> None:
    adapter = LocalOnly()
    settings = Settings(adapter="x", max_examples=3)
    results = [
        run_check(c, adapter, settings) for c in plan_checks(adapter, corpus.load(), settings)
    ]
    by_status: dict[str, list] = {}
    for r in results:
        by_status.setdefault(r.status, []).append(r)
    assert FAIL not in by_status and by_status[PASS]
    reasons = {r.message for r in by_status[NOT_APPLICABLE]}
    assert "the adapter does not claim global" in reasons
    assert "the adapter does not claim causal" in reasons
    assert all(r.kind == "local" for r in by_status[PASS])


def test_a_property_failure_is_shrunk_saved_and_reproducible(tmp_path: Path) -> None:
    code, report = conform(
        "--adapter",
        "aha.conformance.mutants:window_off_by_one",
        "--dtype",
        "float64",
        "--case",
        "property/matches-reference/local",
        "--max-examples",
        "30",
        tmp=tmp_path,
    )
    result, integrity = report["results"]
    assert integrity["check"] == "inputs-unchanged/local" and integrity["status"] == PASS
    assert code == 1 and result["status"] == FAIL and result["saved"]
    saved = Path(result["saved"])
    (case,) = corpus.load(saved).cases
    assert case.id in result["repro"] and "--vectors" in result["repro"]
    command = result["repro"].splitlines()[0].split("#")[0].split()
    assert main([*command[1:], "--no-properties"]) == 1  # the mutant still fails it
    assert (
        main(
            [
                "conform",
                "--adapter",
                "numpy",
                "--vectors",
                str(saved),
                "--no-properties",
                "--dtype",
                "float64",
            ]
        )
        == 0
    )


def test_a_tampered_corpus_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    target = tmp_path / "vectors"
    shutil.copytree(corpus.default_dir(), target)
    victim = target / "local__T-7.safetensors"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    assert main(["conform", "--vectors", str(target)]) == 2
    assert "local__T-7.safetensors" in capsys.readouterr().err


def test_pytest_plugin_gives_the_same_verdicts(tmp_path: Path) -> None:
    def run_pytest(adapter: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--pyargs",
                "aha.conformance",
                "-q",
                "-p",
                "no:cacheprovider",
                "--aha-adapter",
                adapter,
                "--aha-dtype",
                "float64",
                "--aha-case",
                "local/*",
                "--aha-max-examples",
                "3",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )

    good = run_pytest("numpy")
    assert good.returncode == 0, good.stdout[-2000:]
    bad = run_pytest("aha.conformance.mutants:window_off_by_one")
    assert bad.returncode == 1
    assert "FAILED" in bad.stdout and "local/reach-one@float64" in bad.stdout


def test_vectors_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "verify"]) == 0
    assert main(["vectors", "generate", "--out", str(tmp_path)]) == 0
    assert main(["vectors", "verify", str(tmp_path)]) == 0
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["vectors", "verify", str(tmp_path)]) == 2
    assert "schema_version" in capsys.readouterr().out
    shipped = corpus.default_dir() / "manifest.json"
    before = shipped.stat().st_mtime_ns
    assert main(["vectors", "generate"]) == 2  # the installed corpus, not told to overwrite it
    assert "--overwrite-shipped" in capsys.readouterr().err
    assert shipped.stat().st_mtime_ns == before


def test_console_script_is_installed() -> None:
    done = subprocess.run(["aha", "conform", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "--max-examples" in done.stdout


class DeclinesLocal(ReferenceAdapter):
    """Declines every local call; counts them."""

    calls = 0

    def local(self, *args: Any) -> Any:
        type(self).calls += 1
        raise NotImplementedError("no local here")


class DeclinesEveryOtherLocal(ReferenceAdapter):
    calls = 0

    def local(self, *args: Any) -> Any:
        type(self).calls += 1
        if type(self).calls % 2:
            raise NotImplementedError("not this one")
        return super().local(*args)


def test_a_property_stops_asking_once_its_first_draws_are_all_declined() -> None:
    """An implementation that declines every draw is asked max_examples times, not the ten
    times more Hypothesis would draw in search of one it takes; one that declines some draws
    is still judged on the others."""
    from aha.conformance.zoo import in_process

    settings = in_process(adapter="test", dtypes=("float64",), max_examples=5)
    for adapter, status in ((DeclinesLocal(), DECLINED), (DeclinesEveryOtherLocal(), PASS)):
        checks = [
            c
            for c in plan_checks(adapter, corpus.load(), settings)
            if c.id == "property/matches-reference/local@float64"
        ]
        assert len(checks) == 1
        result = run_check(checks[0], adapter, settings)
        assert result.status == status, result.message
    assert DeclinesLocal.calls == 5
    assert DeclinesEveryOtherLocal.calls >= 10  # five judged, the declined ones between

"""The command line: values checked before a run, honest verdicts and exit statuses
(0 conforms, 1 does not, 2 usage, 3 partial coverage), reports that survive
(spec/conformance.md section 5)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance.cli import main
from aha.conformance.report import EXIT_CONFORMS, EXIT_FAILS, EXIT_PARTIAL, EXIT_USAGE

MODULE = __name__
QUICK = ["--case", "local/causal", "--no-properties"]


class Float64Only(ReferenceAdapter):
    name = "float64-only"
    capabilities = frozenset({"plan", "local", "global", "layer", "causal", "key_padding"}) | {
        "float64"
    }


class DeclinesPadding(ReferenceAdapter):
    name = "declines-padding"

    def local_attention(self, q: Any, k: Any, v: Any, s: Any, b: Any, c: Any, m: Any = None) -> Any:
        if m is not None:
            raise NotImplementedError("no key padding in this kernel")
        return super().local_attention(q, k, v, s, b, c, m)


class LocalOnly(ReferenceAdapter):
    name = "local-only"
    capabilities = frozenset({"local", "causal", "key_padding", "float64"})


class OddName(ReferenceAdapter):
    name = "odd | name\nwith a newline"


def conform(tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    report = tmp / "report.json"
    code = main(["conform", *args, "--report", str(report)])
    return code, json.loads(report.read_text()) if report.exists() else {}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-examples", "0", "must be at least 1"),
        ("--time-limit", "nan", "finite number of seconds"),
        ("--time-limit", "inf", "finite number of seconds"),
        ("--time-limit", "-1", "finite number of seconds"),
        ("--dtype", "float64,float64", "named twice"),
        ("--dtype", "float8", "unknown dtype 'float8'"),
        ("--require", "wings", "unknown capability 'wings'"),
        ("--isolation", "thread", "invalid choice"),
    ],
)
def test_bad_values_are_refused_before_the_run(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["conform", option, value])
    assert stopped.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_report_path_that_cannot_be_written_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conform", "--report", str(tmp_path)]) == EXIT_USAGE  # a directory
    assert "is a directory" in capsys.readouterr().err
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["conform", "--report", str(blocked / "r.json")]) == EXIT_USAGE
    assert "cannot be written" in capsys.readouterr().err
    assert main(["conform", "--report", str(tmp_path / "r.txt")]) == EXIT_USAGE


@pytest.mark.parametrize("suffix", [".json", ".md"])
def test_the_report_and_its_json_twin_are_both_written(suffix: str, tmp_path: Path) -> None:
    target = tmp_path / "missing" / f"report{suffix}"
    assert main(["conform", *QUICK, "--dtype", "float64", "--report", str(target)]) == 0
    data = json.loads(target.with_suffix(".json").read_text())
    markdown = target.with_suffix(".md").read_text()
    assert data["verdict"] == "conforms" and markdown.startswith("# AHA conformance report")
    assert not list(target.parent.glob(".*"))  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as any file the user writes


def test_an_unclaimed_requested_dtype_is_partial_coverage(tmp_path: Path) -> None:
    code, report = conform(
        tmp_path, "--adapter", f"{MODULE}:Float64Only", *QUICK, "--dtype", "float16"
    )
    assert code == EXIT_PARTIAL and report["verdict"] == "nothing was judged"
    (result, *_) = report["results"]
    assert result["dtype"] == "float16" and result["status"] == "n/a"
    assert "float16" in result["message"]
    assert any("float16 (not claimed)" in item for item in report["coverage"]["not_covered"])
    code, report = conform(
        tmp_path, "--adapter", f"{MODULE}:Float64Only", *QUICK, "--dtype", "float64,float16"
    )
    assert code == EXIT_PARTIAL and report["verdict"] == "conforms partially"
    assert {r["dtype"] for r in report["results"] if r["source"] == "vector"} == {
        "float64",
        "float16",
    }


def test_declined_checks_are_partial_coverage(tmp_path: Path) -> None:
    code, report = conform(
        tmp_path,
        "--adapter",
        f"{MODULE}:DeclinesPadding",
        "--case",
        "local/*",
        "--dtype",
        "float64",
    )
    assert code == EXIT_PARTIAL and report["verdict"] == "conforms partially"
    assert report["summary"]["declined"] > 0 and report["summary"]["fail"] == 0


def test_require_turns_a_missing_capability_into_a_failure(tmp_path: Path) -> None:
    code, report = conform(tmp_path, "--adapter", f"{MODULE}:LocalOnly", *QUICK)
    assert code == EXIT_CONFORMS, report["verdict_line"]
    assert "operations plan, global, layer" in report["verdict_line"]
    code, report = conform(
        tmp_path, "--adapter", f"{MODULE}:LocalOnly", *QUICK, "--require", "layer"
    )
    assert code == EXIT_FAILS and report["verdict"] == "does not conform"
    assert "required but not claimed: layer" in report["verdict_line"]


def test_console_totals_add_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = conform(tmp_path, "--case", "*T-1*", "--max-examples", "2")
    out = capsys.readouterr().out
    total_row = next(line for line in out.splitlines() if line.startswith("| total |"))
    counts = [int(c) for c in total_row.strip("|").split("|")[1:]]
    assert sum(counts) == report["summary"]["total"] == len(report["results"])


def test_names_cannot_break_the_markdown_report(tmp_path: Path) -> None:
    conform(tmp_path, "--adapter", f"{MODULE}:OddName", *QUICK, "--dtype", "float64")
    markdown = (tmp_path / "report.md").read_text()
    heading = markdown.splitlines()[0]
    assert heading == "# AHA conformance report: odd \\| name with a newline"


def test_reports_record_what_reproduces_the_run(tmp_path: Path) -> None:
    _, report = conform(tmp_path, *QUICK, "--dtype", "float64", "--seed", "7")
    env = report["environment"]
    assert {"aha", "python", "numpy", "machine", "platform"} <= set(env)
    assert report["settings"]["seed"] == 7 and report["corpus"]["digest"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith("aha ")


def test_the_pytest_entry_point_needs_an_adapter(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "aha.conformance",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 4  # pytest's usage error
    assert "--aha-adapter NAME" in done.stderr + done.stdout

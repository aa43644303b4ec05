"""An implementation in any language conforms through files: `aha export` writes the calls of
a run, a program that does not import aha answers them, `aha judge` gives the verdict, report
and exit status of `aha conform` (spec/conformance.md section 6)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance import safetensors_io
from aha.conformance.cli import main
from aha.conformance.operations import OPERATIONS
from aha.conformance.report import EXIT_CONFORMS, EXIT_FAILS, EXIT_USAGE
from aha.reference import AHAConfig

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "docs" / "examples" / "external_plan.py"


def answer(program: Path, cases: Path, outputs: Path) -> None:
    """Run ``program`` with every import of aha blocked: it must stand alone."""
    blocked = (
        "import runpy, sys; sys.modules['aha'] = None; "
        f"sys.argv = ['program', {str(cases)!r}, {str(outputs)!r}]; "
        f"runpy.run_path({str(program)!r}, run_name='__main__')"
    )
    subprocess.run([sys.executable, "-c", blocked], check=True, timeout=120)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    assert main(["export", str(directory), "--capabilities", "plan", "--max-examples", "5"]) == 0
    return directory


@pytest.mark.clause("PLAN-2", "ERR-2")
def test_a_program_that_does_not_import_aha_conforms_through_files(
    cases: Path, tmp_path: Path
) -> None:
    manifest = json.loads((cases / "export.json").read_text())
    assert manifest["cases"] and {c["operation"] for c in manifest["cases"]} == {"plan"}
    answer(PROGRAM, cases, tmp_path / "answers")
    report = tmp_path / "report.json"
    code = main(
        ["judge", str(cases), "--outputs", str(tmp_path / "answers"), "--report", str(report)]
    )
    data = json.loads(report.read_text())
    assert code == EXIT_CONFORMS, data["verdict_line"]
    judged = [r for r in data["results"] if r["status"] == "pass"]
    assert {r["source"] for r in judged} == {"vector", "property", "integrity"}
    assert any(r["check"].startswith("invalid/plan/") for r in judged)  # rejections judged too


def test_a_wrong_program_fails_with_the_clause(cases: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_plan.py"
    wrong.write_text(PROGRAM.read_text().replace("np.floor(np.float64(W) * s)", "np.round(W * s)"))
    answer(wrong, cases, tmp_path / "answers")
    report = tmp_path / "report.json"
    code = main(
        ["judge", str(cases), "--outputs", str(tmp_path / "answers"), "--report", str(report)]
    )
    data = json.loads(report.read_text())
    assert code == EXIT_FAILS and "PLAN-2" in data["summary"]["failed_clauses"]


def answer_with_the_reference(cases: Path, outputs: Path) -> None:
    """The numpy adapter answering an export through files, as an external program would."""
    adapter = ReferenceAdapter()
    outputs.mkdir()
    for path in sorted(cases.glob("*.safetensors")):
        tensors, metadata = safetensors_io.load(path)
        inputs: dict[str, Any] = {}
        for key, value in tensors.items():
            name = key.removeprefix("input.")
            if name.startswith("params."):
                inputs.setdefault("params", {})[name.removeprefix("params.")] = value
            else:
                inputs[name] = value
        fields = json.loads(metadata["config"])
        config = AHAConfig.from_dict(fields) if metadata["config_as"] == "AHAConfig" else fields
        try:
            got = OPERATIONS[metadata["operation"]].call(adapter, config, inputs)
        except Exception as exc:
            safetensors_io.save(outputs / path.name, {}, {"error": f"{type(exc).__name__}: {exc}"})
        else:
            tensors = {f"output.{k}": np.asarray(v) for k, v in got.items()}
            safetensors_io.save(outputs / path.name, tensors, {})


@pytest.mark.slow
def test_judge_gives_the_verdict_of_conform(tmp_path: Path) -> None:
    selection = ["--case", "*local*", "--dtype", "float32", "--max-examples", "2"]
    assert main(["export", str(tmp_path / "cases"), *selection]) == 0
    answer_with_the_reference(tmp_path / "cases", tmp_path / "answers")
    judged, direct = tmp_path / "judged.json", tmp_path / "direct.json"
    answers = ["--outputs", str(tmp_path / "answers"), "--report", str(judged)]
    code = main(["judge", str(tmp_path / "cases"), *answers])
    assert code == main(["conform", *selection, "--report", str(direct)]) == EXIT_CONFORMS
    by_check = [
        {r["check"]: r["status"] for r in json.loads(p.read_text())["results"]}
        for p in (judged, direct)
    ]
    assert by_check[0] == by_check[1] and len(by_check[0]) > 20


def test_missing_answers_fail_the_checks_they_belong_to(cases: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["judge", str(cases), "--outputs", str(tmp_path / "empty")]) == EXIT_FAILS
    assert main(["judge", str(tmp_path), "--outputs", str(tmp_path / "empty")]) == EXIT_USAGE

"""An implementation in any language conforms through files: `aha export` writes the calls of
a run, a program that does not import aha answers them, `aha judge` gives the verdict, report
and exit status of `aha conform` (spec/conformance.md section 6)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aha.conformance.cli import main
from aha.conformance.report import EXIT_CONFORMS, EXIT_FAILS, EXIT_USAGE

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


def test_missing_answers_fail_the_checks_they_belong_to(cases: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["judge", str(cases), "--outputs", str(tmp_path / "empty")]) == EXIT_FAILS
    assert main(["judge", str(tmp_path), "--outputs", str(tmp_path / "empty")]) == EXIT_USAGE

"""``aha zoo``: every planted bug is killed at the CI budget, a bug the suite cannot see is
reported as a survivor, and the report says which checks kill and which do not (issue 15)."""

import dataclasses
import json
from pathlib import Path

import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance import cli, mutants, zoo
from aha.conformance.deviant import DeviantAdapter, Knobs


@pytest.fixture(scope="module")
def planted_report() -> dict:
    """The CI budget (golden vectors but the long kernel cases, float64 and float32) over the
    planted family."""
    return zoo.run(dataclasses.replace(zoo.PRESETS["quick"], families=("planted",)))


@pytest.mark.clause("LOCAL-1", "PLAN-2", "LAYER-2", "ERR-1")
def test_every_planted_bug_is_killed_at_the_ci_budget(planted_report: dict) -> None:
    assert planted_report["reference_failures"] == []
    assert planted_report["survivors"] == []
    assert planted_report["score"] == {
        "killed": len(mutants.DEVIATIONS),
        "total": len(mutants.DEVIATIONS),
        "ratio": 1.0,
    }
    assert zoo.passed(planted_report)


def test_each_mutant_lists_its_first_kills_with_their_clauses(
    planted_report: dict, tmp_path: Path
) -> None:
    row = next(m for m in planted_report["mutants"] if m["name"] == "window-off-by-one")
    assert row["clauses"] == ["LOCAL-1"] and row["kills"] >= 1
    first = row["first"][0]
    assert first["seconds"] == row["seconds_to_first_kill"] > 0
    assert first["clauses"] and "@" not in first["check"]
    # A check that kills nothing is one that applies: checks no adapter runs are not listed.
    _, checks = zoo.checks_for(ReferenceAdapter(), zoo.PRESETS["quick"], tmp_path)
    never = {zoo.case_of(c.id) for c in checks if c.never}
    assert not never & set(planted_report["checks_killing_nothing"])
    fragile = {m["name"] for m in planted_report["mutants"] if m["kills"] == 1}
    assert set(planted_report["fragile"]) == fragile


def _invisible(budget: zoo.Budget) -> list[zoo.Entry]:
    """A 'bug' the suite cannot see: the deviant with every knob at the reference."""
    return [zoo.Entry("invisible", "test", "no deviation", (), lambda: DeviantAdapter(Knobs()))]


def test_a_mutant_the_suite_cannot_see_survives_and_fails_the_zoo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(zoo.FAMILIES, "test", _invisible)
    out = tmp_path / "zoo.json"
    argv = ["zoo", "--budget", "quick", "--family", "test", "--family", "planted"]
    code = cli.main([*argv, "--mutant", "[iw]*", "--json", "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not zoo.passed(report)
    assert report["survivors"] == ["invisible"]
    assert json.loads(out.read_text())["survivors"] == ["invisible"]
    assert {m["name"] for m in report["mutants"] if m["killed"]} == {
        "window-off-by-one",
        "window-round",
        "window-float32-floor",
        "window-ceil",
        "window-plus-one",
        "window-edge-hidden",
    }


def test_the_console_table_names_survivors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(zoo.FAMILIES, "test", _invisible)
    report = zoo.run(zoo.Budget(dtypes=("float64",), families=("test",)))
    text = zoo.console(report)
    assert "invisible" in text and "SURVIVED" in text and "zoo: FAILED" in text
    assert "mutation score: 0/1" in text

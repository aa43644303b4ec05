"""Spec and code cannot drift silently (STYLE 7): clause ids, the tolerance table, the config
defaults and the spec version are read from spec/AHA.md and compared with the code."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from aha.conformance.tolerance import TOLERANCE
from aha.reference import SPEC_VERSION, AHAConfig

ROOT = Path(__file__).resolve().parents[1]
SPEC = (ROOT / "spec" / "AHA.md").read_text()
CLAUSE = re.compile(r"\*\*\[([A-Z]+-\d+)\]\*\*( \*\(informative\)\*)?")
CITATION = re.compile(
    r"\b((?:CFG|PLAN|MASK|CAUSAL|LOCAL|GLOBAL|LAYER|GRAD|PREC|ERR|MAP|DEC)"
    r"-\d+)\b"
)
# Clauses about judging implementations live in conformance/, every other one in reference/.
CONFORMANCE_CLAUSES = {"PREC-3", "PREC-5", "PREC-6"}


def spec_clauses() -> dict[str, bool]:
    """{clause id: normative?}, each defined exactly once."""
    found: dict[str, bool] = {}
    for match in CLAUSE.finditer(SPEC):
        assert match.group(1) not in found, f"clause {match.group(1)} is defined twice"
        found[match.group(1)] = match.group(2) is None
    return found


def citations(*folders: str) -> set[str]:
    return {
        c
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        for c in CITATION.findall(path.read_text())
    }


def test_every_cited_clause_exists() -> None:
    unknown = citations("reference", "conformance", "adapters", "tests") - set(spec_clauses())
    assert not unknown, f"cited but not in spec/AHA.md: {sorted(unknown)}"


def test_every_normative_clause_is_implemented() -> None:
    normative = {c for c, is_normative in spec_clauses().items() if is_normative}
    missing = (normative - CONFORMANCE_CLAUSES) - citations("reference")
    assert not missing, f"normative clauses reference/ never cites: {sorted(missing)}"
    missing = CONFORMANCE_CLAUSES - citations("conformance")
    assert not missing, f"normative clauses conformance/ never cites: {sorted(missing)}"


def test_clause_markers_name_existing_clauses() -> None:
    marked = {
        c
        for path in (ROOT / "tests").glob("test_*.py")
        for args in re.findall(r"mark\.clause\(([^)]*)\)", path.read_text())
        for c in re.findall(r"[A-Z]+-\d+", args)
    }
    assert marked, "no test names a clause"
    assert not marked - set(spec_clauses()), sorted(marked - set(spec_clauses()))


def test_spec_version_matches_the_reference() -> None:
    assert f"Spec version: **{SPEC_VERSION}**" in SPEC


def _table_rows(header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with ``header``."""
    lines = SPEC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_tolerance_table_matches_the_code() -> None:
    table = {row[0]: (float(row[1]), float(row[2])) for row in _table_rows("| dtype | c_d |")}
    assert table == {d: (rule.c, rule.floor) for d, rule in TOLERANCE.items()}


@pytest.mark.parametrize("field", [f.name for f in fields(AHAConfig)])
def test_config_defaults_match_the_spec(field: str) -> None:
    table = {row[0].strip("`"): row[3] for row in _table_rows("| field | symbol |")}
    default = getattr(AHAConfig(), field)
    written = table[field].strip('`"')
    value = float(written) if isinstance(default, float) else written
    assert value == default or written == str(default), f"spec: {written}, code: {default!r}"

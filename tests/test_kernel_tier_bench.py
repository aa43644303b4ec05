"""benchmarks/bench_conform_budget.py runs end to end at its dry-run size and writes its JSON
(in the style of tests/test_benchmarks.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def test_conform_budget_dry_run(tmp_path: Path) -> None:
    script = str(BENCHMARKS / "bench_conform_budget.py")
    done = subprocess.run(
        [sys.executable, script, "--dry-run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "bench_conform_budget.json").read_text())
    (row,) = result["rows"]
    assert result["dry_run"] and result["environment"]["python"]
    assert row["exit"] == 0 and row["passed"] >= 2 and row["failed"] == 0
    assert row["seconds"] > 0 and "load_before" in row
    assert "budget_s" in done.stdout

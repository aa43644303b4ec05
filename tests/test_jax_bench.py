"""benchmarks/bench_jax_cpu.py runs end to end at tiny sizes (--dry-run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_jax_cpu.py"


def test_dry_run_measures_every_point(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "bench_jax_cpu.json").read_text())
    rows = result["rows"]
    assert {(r["impl"], r["T"]) for r in rows} == {
        (i, t) for i in ("banded", "dense") for t in (32, 64)
    }
    assert all("error" not in r and r["seconds"] > 0 and r["peak_mib"] > 0 for r in rows), rows
    assert set(result["slopes"]) == {"banded", "dense"}
    assert "jax" in result["environment"]

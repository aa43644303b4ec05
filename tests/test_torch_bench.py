"""benchmarks/bench_local_cpu.py runs end to end at tiny sizes (--dry-run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_local_cpu.py"


@pytest.mark.slow
def test_dry_run_measures_every_implementation(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "bench_local_cpu.json").read_text())
    rows = result["rows"]
    assert {(r["impl"], r["T"]) for r in rows} == {
        (impl, T) for impl in ("reference", "torch-dense", "torch-flex", "sdpa") for T in (32, 64)
    }
    for r in rows:
        assert r["seconds"] > 0 and r["peak_mib"] > 0, r
        assert r["vs_dense"] > 0
    assert result["setup"]["dry_run"] and "torch-flex" in result["slopes"]
    assert "log-log slope" in done.stdout

"""benchmarks/bench_gpu.py runs end to end at tiny sizes (--dry-run: the CPU interpreter)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("triton")

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_gpu.py"


def test_dry_run_measures_every_point(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "bench_gpu.json").read_text())
    rows = result["rows"]
    assert [(r["T"], r["reach"]) for r in rows] == [(32, 4), (32, 16), (64, 4), (64, 16)]
    for row in rows:
        assert "error" not in row, row
        assert all(row[f"{name}_ms"] > 0 for name in ("triton", "kernel", "flex", "sdpa")), row
        # Same band, same answer, to a few 16-bit ulps (float16 on a CPU, bfloat16 on a GPU).
        assert row["max_diff_vs_flex"] < 5e-2, row
    assert result["setup"]["dry_run"] and "triton" in result["environment"]


def test_band_pairs_counts_the_visible_pairs() -> None:
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for seq_len, reach in [(1, 1), (7, 1), (7, 3), (33, 16), (40, 40), (16, 128)]:
        i = np.arange(seq_len)
        expected = int((np.abs(i[:, None] - i[None, :]) < reach).sum())
        assert bench.band_pairs(seq_len, reach) == expected, (seq_len, reach)

"""Every benchmark script runs end to end at tiny sizes (--dry-run) and writes its JSON."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def dry_run(script: str, out: Path) -> tuple[dict[str, Any], str]:
    """Run ``script --dry-run``; its JSON result and what it printed."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / script.replace(".py", ".json")).read_text())
    assert result["environment"]["python"] and result["rows"]
    return result, done.stdout


def test_reference(tmp_path: Path) -> None:
    result, printed = dry_run("bench_reference.py", tmp_path)
    assert [r["T"] for r in result["rows"]] == [32, 64]
    assert all(r["seconds"] > 0 and r["peak_mib"] > 0 for r in result["rows"])
    assert "log-log slope" in printed


@pytest.mark.slow
def test_torch_cpu(tmp_path: Path) -> None:
    result, printed = dry_run("bench_local_cpu.py", tmp_path)
    impls = ("reference", "torch-dense", "torch-flex", "sdpa")
    assert {(r["impl"], r["T"]) for r in result["rows"]} == {
        (impl, T) for impl in impls for T in (32, 64)
    }
    assert all(r["seconds"] > 0 and r["peak_mib"] > 0 and r["vs_dense"] > 0 for r in result["rows"])
    assert result["setup"]["dry_run"] and "torch-flex" in result["slopes"]
    assert "log-log slope" in printed


def test_jax_cpu(tmp_path: Path) -> None:
    result, _ = dry_run("bench_jax_cpu.py", tmp_path)
    assert {(r["impl"], r["T"]) for r in result["rows"]} == {
        (i, t) for i in ("banded", "dense") for t in (32, 64)
    }
    assert all("error" not in r and r["seconds"] > 0 and r["peak_mib"] > 0 for r in result["rows"])
    assert set(result["slopes"]) == {"banded", "dense"} and "jax" in result["environment"]


def test_gpu_script_on_the_cpu_interpreter(tmp_path: Path) -> None:
    result, _ = dry_run("bench_gpu.py", tmp_path)
    rows = result["rows"]
    assert [(r["T"], r["reach"]) for r in rows] == [(32, 4), (32, 16), (64, 4), (64, 16)]
    for row in rows:
        assert "error" not in row, row
        assert all(row[f"{name}_ms"] > 0 for name in ("triton", "kernel", "flex", "sdpa")), row
        # Same band, same answer, to a few 16-bit ulps (float16 on a CPU, bfloat16 on a GPU).
        assert row["max_diff_vs_flex"] < 5e-2, row
    assert result["setup"]["dry_run"] and "triton" in result["environment"]
    # The backward beside the peer's autograd (H3b): same gradients to a few 16-bit ulps.
    backward = result["backward_rows"]
    assert [(r["T"], r["reach"]) for r in backward] == [(32, 4), (32, 16), (64, 4), (64, 16)]
    for row in backward:
        assert "error" not in row and row["triton_vjp_ms"] > 0, row
        assert row["max_grad_diff_vs_flex"] < 5e-2, row


def test_gpu_script_counts_the_visible_pairs() -> None:
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCHMARKS / "bench_gpu.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for seq_len, reach in [(1, 1), (7, 1), (7, 3), (33, 16), (40, 40), (16, 128)]:
        i = np.arange(seq_len)
        expected = int((np.abs(i[:, None] - i[None, :]) < reach).sum())
        assert bench.band_pairs(seq_len, reach) == expected, (seq_len, reach)


def test_scalable(tmp_path: Path) -> None:
    result, printed = dry_run("bench_scalable.py", tmp_path)
    rows = result["rows"]
    assert {(r["impl"], r["op"], r["T"]) for r in rows if r["sweep"] == "T"} == {
        (impl, op, T)
        for impl in ("blocked", "dense")
        for op in ("local", "local_vjp")
        for T in (64, 128)
    }
    assert [r["reach"] for r in rows if r["sweep"] == "reach"] == [4, 8]
    assert [r["op"] for r in rows if r["sweep"] == "rows"] == ["global_rows"]
    assert all("error" not in r and r["seconds"] > 0 and r["peak_mib"] > 0 for r in rows), rows
    assert all(r["cpu_seconds"] > 0 for r in rows) and set(result["cpu_slopes"]) == set(
        result["slopes"]
    )
    assert set(result["slopes"]) == {
        "blocked local",
        "blocked local_vjp",
        "dense local",
        "dense local_vjp",
    }
    assert result["setup"]["threads"] == 1 and "log-log slope" in printed

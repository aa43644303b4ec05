"""Planted backward bugs, each caught by tests/test_triton_vjp.py (GRAD-1 .. GRAD-3).

Each bug is one textual change to a copy of the ``aha.adapters.triton`` package, imported
under another name; the VJP tests are then run against the copy's adapter and at least one
must fail. The tests of the real kernels can therefore fail, for the bugs issue 12 names.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("triton")

import test_triton_vjp as vjp_tests

from aha.adapters import triton as aha_triton

# name: (file, original text, planted text)
BUGS = {
    "bias-gradient-at-j-minus-i": (
        "kernel_bwd.py",
        "tl.atomic_add(d_bias_center + index, dz, mask=visible)",
        "tl.atomic_add(d_bias_center - index, dz, mask=visible)",
    ),
    "dq-from-the-first-key-tile-only": (
        "kernel_bwd.py",
        "    for start_n in range(lo, hi, BLOCK_N):\n"
        "        offs_n = start_n + tl.arange(0, BLOCK_N)\n        in_seq",
        "    for start_n in range(lo, tl.minimum(hi, lo + BLOCK_N), BLOCK_N):\n"
        "        offs_n = start_n + tl.arange(0, BLOCK_N)\n        in_seq",
    ),
    "no-gradient-to-span-scale": ("kernel_bwd.py", "zdz += tl.sum(", "zdz += 0.0 * tl.sum("),
    "padding-keys-pass-gradient": (
        "kernel_bwd.py",
        "visible = visible & (keep[None, :] != 0)",
        "visible = visible | (keep[None, :] == 0) & (offs_m < T)[:, None] & in_seq[None, :]",
    ),
    "dk-without-the-logit-coefficient": ("kernel_bwd.py", "dk * qk_coef", "dk"),
    "span-gradient-through-the-clamp": (
        "vjp.py",
        '"span_scale": temperature_slope(s, config) * d_temperature',
        '"span_scale": config.temp_scale * d_temperature',
    ),
}
CHECKS: list[Callable[[], None]] = [
    lambda: vjp_tests.test_local_across_tiles_with_a_span_per_sequence("float32", False, 33),
    lambda: vjp_tests.test_padding_at_tile_edges_and_a_fully_padded_sequence(False),
    lambda: vjp_tests.test_the_temperature_clamp_passes_no_gradient_to_span_scale(),
    lambda: vjp_tests.test_global_clamps_the_bias_gradient_past_the_table("float32", False),
]


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("AHA_GPU") == "1",
    reason="the tests' power is shown under the interpreter; on a GPU each bug compiles anew",
)
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_backward_bug_is_caught(
    bug: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file, original, planted = BUGS[bug]
    package = "aha_triton_" + bug.replace("-", "_")
    copy = tmp_path / package
    shutil.copytree(Path(aha_triton.__file__).parent, copy)
    source = (copy / file).read_text()
    assert source.count(original) == 1, f"{bug}: the text to plant into is gone from {file}"
    (copy / file).write_text(source.replace(original, planted))
    monkeypatch.syspath_prepend(str(tmp_path))
    mutant = importlib.import_module(package)
    monkeypatch.setattr(vjp_tests, "ADAPTER", mutant.TritonAdapter())
    failed = 0
    for check in CHECKS:
        try:
            check()
        except AssertionError:
            failed += 1
    sys.modules.pop(package, None)
    assert failed > 0, f"{bug}: every VJP test passed"

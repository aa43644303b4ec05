"""The torch-flex kernels (adapters/torch/attention.py, flex): every call runs in one of a few
compiled kernel shapes, padding never reaches a real output, and the default run's kernels are
compiled in its first call."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
import torch

from aha import reference as ref
from aha.adapters.torch import TorchFlexAdapter, attention
from aha.adapters.torch.attention import LARGE, SMALL, Mods, kernel_shape, pad_mods
from aha.conformance import corpus, kernel, strategies
from aha.conformance.tolerance import compare
from aha.reference import AHAConfig

COMPILES = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((1, 1, 1, 1), SMALL),
        ((4, 4, 128, 16), SMALL),
        ((3, 2, 129, 4), LARGE),  # T past the small kernel
        ((5, 1, 7, 4), LARGE),  # B past it
        ((1, 1, 7, 17), LARGE),  # Dh past it
        ((2, 3, 1100, 96), LARGE),
        ((8, 4, 1537, 128), (8, 4, 2048, 128)),
        ((9, 5, 2049, 129), (16, 8, 3072, 256)),
        ((1, 1, 16384, 256), (8, 4, 16384, 256)),
    ],
)
def test_calls_run_in_few_kernel_shapes_on_cpu(
    shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert kernel_shape(torch.empty(shape)) == expected


def test_the_default_run_fits_two_kernels() -> None:
    """Every default-tier case of the shipped corpus and every draw of the property strategies
    runs in SMALL or LARGE: a default run compiles two kernels (a third would compile in a
    call with the per-call time limit only)."""
    shapes = set()
    for case in corpus.load().cases:
        if case.kind not in ("local", "global", "layer") or case.error:
            continue
        if not kernel.in_tier(case, "default"):
            continue
        if case.generated:
            g = case.generated["shape"]
            shapes.add((g["B"], g["H"], g["T"], g["Dh"]))
        elif case.kind == "layer":
            B, T, D = case.inputs["x"].shape
            H = case.inputs["params"]["local.rel_bias"].shape[0]
            shapes.add((B, H, T, D // H))
        else:
            shapes.add(case.inputs["q"].shape)
    dh = max(strategies.MAX_HEAD_DIM, strategies.MAX_MODEL_DIM)  # layer: Dh = D / H ≤ D
    shapes.add((strategies.MAX_BATCH, strategies.MAX_HEADS, strategies.MAX_LEN, dh))
    kernels = {kernel_shape(torch.empty(shape)) for shape in shapes}
    assert kernels == {SMALL, LARGE}, kernels


@pytest.mark.clause("MASK-2", "GLOBAL-2")
def test_padding_is_never_real() -> None:
    """Padded sequences see no key and divide by 1, padded positions are not real keys, padded
    heads read zeros, and the table's padding repeats its edges: every lookup of the real table
    reads what it read before, clamped or not."""
    table = torch.arange(2 * 5 - 1, dtype=torch.float64).repeat(2, 1)  # H = 2, R = 5
    reach, real = torch.tensor([3, 5]), torch.ones(2, 7, dtype=torch.bool)
    mods = Mods(-reach, reach, torch.ones(2), torch.full((2,), 0.5), table, real)
    padded = pad_mods(mods, (4, 3, 128, 16))
    assert padded.real.shape == (4, 128) and padded.real[:2, :7].all()
    assert not padded.real[:, 7:].any() and not padded.real[2:].any()
    assert padded.tau.tolist() == [0.5, 0.5, 1.0, 1.0] and (padded.lo[2:] == padded.hi[2:]).all()
    assert not padded.table[2:].any()
    i, j = torch.arange(-20, 21)[:, None], torch.zeros(1, dtype=torch.int64)
    for h in range(2):
        h_index = torch.full_like(i, h)
        assert torch.equal(
            mods.score_mod(torch.zeros(()), 0, h_index, i, j),
            padded.score_mod(torch.zeros(()), 0, h_index, i, j),
        )


class Recorded:
    """compiled_flex's stand-in: records what the kernel is given and returns zeros."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], Any]] = []

    def __call__(self) -> Any:
        def kernel(q: Any, k: Any, v: Any, **kwargs: Any) -> Any:
            self.calls.append((tuple(q.shape), q.dtype))
            return torch.zeros_like(q)

        return kernel


@pytest.mark.clause("PREC-2")
def test_16_bit_runs_the_float32_kernel_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded()
    monkeypatch.setattr(attention, "compiled_flex", recorded)
    q = torch.zeros(2, 3, 20, 8, dtype=torch.bfloat16)
    table = torch.zeros(3, 7, dtype=q.dtype)
    out = attention.global_attention(q, q, q, table, AHAConfig(max_rel_dist=4), path="flex")
    assert out.dtype == torch.bfloat16 and out.shape == q.shape
    assert recorded.calls == [(SMALL, torch.float32)]


def test_the_first_call_in_each_dtype_compiles_the_default_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The harness gives the first call of each operation and dtype its allowance; the adapter
    compiles both kernels there, once per dtype (on CPU the 16-bit ones are float32's)."""
    recorded = Recorded()
    monkeypatch.setattr(attention, "compiled_flex", recorded)
    adapter = TorchFlexAdapter("cpu")
    cfg = AHAConfig(window=8, max_rel_dist=4)
    for dtype in (np.float32, np.float32, ml_dtypes.bfloat16):
        q = np.zeros((1, 1, 5, 4), dtype=dtype)
        adapter.global_(q, q, q, np.zeros((1, 7), dtype=dtype), cfg, None)
    warm = [(SMALL, torch.float32), (LARGE, torch.float32)]
    call = (SMALL, torch.float32)
    assert recorded.calls == [*warm, call, call, *warm, call]


@pytest.mark.slow
@COMPILES
@pytest.mark.clause("LOCAL-1", "LOCAL-6", "GLOBAL-2", "CAUSAL-1", "MASK-2", "MAP-2")
@pytest.mark.parametrize("kind", ["local", "global"])
def test_a_call_padded_into_the_large_kernel_matches_the_reference(kind: str) -> None:
    """B 3 → 8, H 3 → 4, T 300 → 1536, Dh 40 → 128, R 200 → 512: nothing of it shows."""
    rng = np.random.default_rng(3)
    B, H, T, Dh, R = 3, 3, 300, 40, 200
    q, k, v = (rng.integers(-96, 97, (B, H, T, Dh)) / 32 for _ in range(3))  # exact in float32
    table = rng.integers(-96, 97, (H, 2 * R - 1)) / 32
    mask = np.ones((B, T), dtype=bool)
    mask[0, 250:], mask[2] = False, False
    span = np.array([0.3, 0.7, 1.0])
    cfg = AHAConfig(window=256, max_rel_dist=R, causal=kind == "local")
    arrays = [q, k, v, *([span] if kind == "local" else []), table]
    f = ref.local_attention if kind == "local" else ref.global_attention
    adapter = TorchFlexAdapter("cpu")
    method = adapter.local_attention if kind == "local" else adapter.global_attention
    got = method(*(a.astype(np.float32) if a is not span else a for a in arrays), cfg, mask)
    oracle = f(*arrays, cfg, mask)
    f32 = (a.astype(np.float32) if a is not span else a for a in arrays)
    base = f(*f32, cfg, mask, dtype=np.float32)  # the baseline: the reference in float32
    result = compare("out", got, oracle, "float32", compare("b", base, oracle, "float32").err)
    assert result.ok, f"err {result.err:.3g} > bound {result.bound:.3g}"
    assert not got[2].any()  # a sequence with no real key: every row 0 (LOCAL-5, GLOBAL-4)

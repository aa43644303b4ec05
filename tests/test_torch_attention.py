"""The torch branches (aha.adapters.torch.local_attention / global_attention) against the
NumPy reference: both paths, every dtype, gradients, errors and the choice of path.

Inputs are multiples of 1/32 with few significant bits, exact in every dtype (PREC-1). The
flex tests compile FlexAttention (seconds; tests/conftest.py points TORCHINDUCTOR_CACHE_DIR at
~/.cache/aha-inductor so later runs reuse the kernels); their shape fits attention.SMALL, so
on CPU they share one kernel, in every dtype.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
import torch

from aha import reference as ref
from aha.adapters.torch import flex_unavailable, global_attention, local_attention
from aha.adapters.torch._convert import to_numpy, to_torch
from aha.adapters.torch.attention import BLOCK, Mods, band_blocks, pad_mods
from aha.conformance.tolerance import compare
from aha.reference import AHAConfig

DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
}
B, H, T, DH, R = 3, 2, 37, 8, 10
# Compiling imports torch.utils.mkldnn, which warns that torch.jit.script_method is deprecated.
COMPILES = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")
# With window 12: reaches 3, 6 and 10 (clamped by R), temperatures and gains that differ too.
SPAN = np.array([0.25, 0.55, 1.0])


def grid(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-96, 97, shape) / 32


def inputs(seed: int = 0) -> dict[str, Any]:
    """Element 0 has real keys 0..4 only, element 2 none at all."""
    rng = np.random.default_rng(seed)
    mask = np.ones((B, T), dtype=bool)
    mask[0, 5:] = False
    mask[2] = False
    return {
        "q": grid(rng, B, H, T, DH),
        "k": grid(rng, B, H, T, DH),
        "v": grid(rng, B, H, T, DH),
        "rel_bias": grid(rng, H, 2 * R - 1),
        "mask": mask,
    }


def config(causal: bool = False, **fields: Any) -> AHAConfig:
    defaults = {"window": 12, "max_rel_dist": R, "temp_scale": 0.75, "score_scale": "log"}
    return AHAConfig(causal=causal, **{**defaults, **fields})


def run_torch(kind: str, x: dict[str, Any], cfg: AHAConfig, dtype: str, path: str) -> np.ndarray:
    q, k, v, table = (to_torch(x[n].astype(DTYPES[dtype])) for n in ("q", "k", "v", "rel_bias"))
    mask = torch.from_numpy(x["mask"])
    with torch.no_grad():
        if kind == "local":
            out = local_attention(q, k, v, SPAN, table, cfg, mask, path=path)
        else:
            out = global_attention(q, k, v, table, cfg, mask, path=path)
    assert out.dtype == q.dtype  # PREC-4
    return to_numpy(out)


def run_reference(kind: str, x: dict[str, Any], cfg: AHAConfig, dtype: str) -> np.ndarray:
    d = DTYPES[dtype]
    args = [x[n].astype(d) for n in ("q", "k", "v")]
    if kind == "local":
        return ref.local_attention(*args, SPAN, x["rel_bias"].astype(d), cfg, x["mask"], dtype=d)
    return ref.global_attention(*args, x["rel_bias"].astype(d), cfg, x["mask"], dtype=d)


def assert_conforms(
    kind: str, x: dict[str, Any], cfg: AHAConfig, dtype: str, path: str
) -> np.ndarray:
    """Within PREC-3 of the float64 oracle, against the reference's own dtype baseline."""
    got = run_torch(kind, x, cfg, dtype, path)
    oracle = run_reference(kind, x, cfg, "float64")
    baseline = compare("baseline", run_reference(kind, x, cfg, dtype), oracle, dtype).err
    result = compare("out", got, oracle, dtype, baseline)
    assert result.ok, f"{kind} {dtype} {path}: err {result.err:.3g} > bound {result.bound:.3g}"
    return got


def rows_without_keys(kind: str, cfg: AHAConfig) -> np.ndarray:
    """[B, T]: query rows that see no key, from LOCAL-1 / GLOBAL-1, CAUSAL-1 and MASK-1."""
    mask, i, j = inputs()["mask"], np.arange(T)[:, None], np.arange(T)[None, :]
    reach = ref.plan(SPAN, T, cfg).reach if kind == "local" else np.full(B, T)
    sees = (np.abs(i - j) < reach[:, None, None]) & mask[:, None, :]
    if cfg.causal:
        sees &= j <= i
    return ~sees.any(axis=-1)


def test_inputs_exercise_the_edges() -> None:
    """The shared inputs are not vacuous: batch-varying plans, rows with no visible key in a
    sequence that has real keys, and a sequence with none."""
    p = ref.plan(SPAN, T, config())
    assert len(set(p.reach)) == B and len(set(p.temperature)) == B and len(set(p.gain)) == B
    empty = rows_without_keys("local", config())
    assert empty[0].any() and not empty[0].all() and empty[2].all() and not empty[1].any()


@pytest.mark.clause(
    "LOCAL-1",
    "LOCAL-2",
    "LOCAL-3",
    "LOCAL-5",
    "LOCAL-6",
    "GLOBAL-1",
    "GLOBAL-2",
    "GLOBAL-4",
    "CAUSAL-1",
    "MASK-2",
    "PLAN-1",
    "PREC-3",
    "PREC-4",
)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", ["local", "global"])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_dense_matches_reference(dtype: str, kind: str, causal: bool) -> None:
    out = assert_conforms(kind, inputs(), config(causal), dtype, "dense")
    # A row with no visible key is exactly 0: not NaN, not the mean of V.
    assert np.all(out.transpose(0, 2, 1, 3)[rows_without_keys(kind, config(causal))] == 0)


@pytest.mark.slow
@COMPILES
@pytest.mark.clause("LOCAL-1", "LOCAL-3", "LOCAL-5", "GLOBAL-4", "CAUSAL-1", "MAP-2")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_flex_forward_matches_reference(dtype: str) -> None:
    """Rows with no visible key sit inside computed blocks too (element 0): still 0."""
    x = inputs()
    for kind in ("local", "global"):
        for causal in (False, True):
            out = assert_conforms(kind, x, config(causal), dtype, "flex")
            assert np.all(out.transpose(0, 2, 1, 3)[rows_without_keys(kind, config(causal))] == 0)


@pytest.mark.clause("MAP-2", "LOCAL-6", "MASK-2")
@pytest.mark.parametrize("causal", [False, True])
def test_block_mask_holds_exactly_the_blocks_that_touch_the_band(causal: bool) -> None:
    """Every block pair with a visible pair of real positions is computed and no other: the
    band, not T²; padded sequences, heads and positions get no block at all."""
    T_long, reach = 1000, torch.tensor([1, 100, 129, 1000])
    lo = torch.full_like(reach, -1) if causal else -reach
    ones = torch.ones(4)
    mods = Mods(lo, reach, ones, ones, torch.zeros(1, 1), torch.ones(4, T_long, dtype=torch.bool))
    n = 10  # blocks of the padded length; the real positions fill 8 of them
    padded = pad_mods(mods, (6, 2, n * BLOCK, 1))  # two sequences and a head more
    block_mask = band_blocks(padded, 4, 1, T_long)
    kv_count, kv_index = block_mask.kv_num_blocks, block_mask.kv_indices  # [6, 2, n], [.., n]
    assert kv_count[4:].sum() == 0 and kv_count[:, 1:].sum() == 0
    computed = torch.zeros(4, n, n, dtype=torch.bool)
    for b in range(4):
        for qb in range(n):
            computed[b, qb, kv_index[b, 0, qb, : kv_count[b, 0, qb]]] = True
    i = torch.arange(n * BLOCK)[:, None]
    # Pairs a real query can see: padded keys are not real (pad_mods), padded queries dropped.
    visible = padded.mask_mod(torch.arange(4)[:, None, None], None, i, i.T) & (i < T_long)
    touched = visible.view(4, n, BLOCK, n, BLOCK).any(dim=(2, 4))
    assert torch.equal(computed, touched) and not computed[:, 8:].any()
    assert computed[1].sum(dim=1).max() <= (2 if causal else 3)  # reach 100


@pytest.mark.clause("GRAD-1", "GRAD-2", "GRAD-3")
@pytest.mark.parametrize("sharpen", ["short", "long"])
@pytest.mark.parametrize("causal", [False, True])
def test_float64_gradients_match_reference_vjp(sharpen: str, causal: bool) -> None:
    """Autograd of the dense path against local_attention_vjp for q, k, v, rel_bias and s.

    τ0 + α·shift is above τmin for element 0, equal to it for element 1 (a tie: clamped) and
    below it for element 2: s gets gradient from element 0 only (GRAD-2).
    """
    cfg = config(causal, temperature=0.25, temp_scale=0.5, min_temperature=0.5, sharpen=sharpen)
    span = np.array([0.25, 0.5, 1.0]) if sharpen == "long" else np.array([1.0, 0.5, 0.0])
    x = inputs()
    d_out = grid(np.random.default_rng(7), B, H, T, DH)
    want = ref.local_attention_vjp(
        x["q"], x["k"], x["v"], span, x["rel_bias"], cfg, x["mask"], d_out
    )
    t = {
        n: torch.tensor(a, requires_grad=True)
        for n, a in {
            "q": x["q"],
            "k": x["k"],
            "v": x["v"],
            "rel_bias": x["rel_bias"],
            "span_scale": span,
        }.items()
    }
    out = local_attention(
        t["q"], t["k"], t["v"], t["span_scale"], t["rel_bias"], cfg, torch.from_numpy(x["mask"])
    )
    (out * torch.from_numpy(d_out)).sum().backward()
    for name, expected in want.items():
        grad = t[name].grad
        assert grad is not None
        assert compare(name, grad.numpy(), expected, "float64").ok, name
    assert want["span_scale"][0] != 0 and np.all(want["span_scale"][1:] == 0)


@pytest.mark.clause("GRAD-3")
def test_float64_global_gradients_match_reference_vjp() -> None:
    x, cfg = inputs(), config(causal=True)
    d_out = grid(np.random.default_rng(8), B, H, T, DH)
    want = ref.global_attention_vjp(x["q"], x["k"], x["v"], x["rel_bias"], cfg, x["mask"], d_out)
    t = {n: torch.tensor(x[n], requires_grad=True) for n in ("q", "k", "v", "rel_bias")}
    out = global_attention(t["q"], t["k"], t["v"], t["rel_bias"], cfg, torch.from_numpy(x["mask"]))
    (out * torch.from_numpy(d_out)).sum().backward()
    for name, expected in want.items():
        grad = t[name].grad
        assert grad is not None and compare(name, grad.numpy(), expected, "float64").ok, name


def bad_inputs() -> list[tuple[str, dict[str, Any]]]:
    x = inputs()
    nan_v = x["v"].copy()
    nan_v[1, 0, 3, 2] = np.nan
    return [
        ("rank", {"q": x["q"][0]}),
        ("empty", {"q": x["q"][:, :, :0], "k": x["k"][:, :, :0], "v": x["v"][:, :, :0]}),
        ("int dtype", {"q": x["q"].astype(np.int64)}),
        ("k shape", {"k": x["k"][:, :, :-1]}),
        ("mixed dtypes", {"v": x["v"].astype(np.float32)}),
        ("table shape", {"rel_bias": x["rel_bias"][:, :-1]}),
        ("table dtype", {"rel_bias": x["rel_bias"].astype(np.float32)}),
        ("nan", {"v": nan_v}),
        ("span range", {"span": np.array([0.5, 1.5, 0.5])}),
        ("span shape", {"span": np.array([0.5, 0.5])}),
        ("mask dtype", {"mask": x["mask"].astype(np.int64)}),
        ("mask shape", {"mask": x["mask"][:, :-1]}),
        ("config", {"config": {"window": 4}}),
    ]


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-3", "ERR-4", "ERR-5", "ERR-6", "ERR-8")
@pytest.mark.parametrize(("case", "change"), bad_inputs(), ids=[c for c, _ in bad_inputs()])
def test_bad_input_raises_the_reference_error(case: str, change: dict[str, Any]) -> None:
    x = {**inputs(), "span": SPAN, "config": config(), **change}
    names = ("q", "k", "v", "span", "rel_bias", "config", "mask")
    with pytest.raises(ref.AHAError) as expected:
        ref.local_attention(*(x[n] for n in names))
    tensors = {n: torch.from_numpy(x[n]) if isinstance(x[n], np.ndarray) else x[n] for n in names}
    with pytest.raises(type(expected.value)) as got:
        local_attention(*(tensors[n] for n in names))
    assert str(got.value) == str(expected.value)


def test_paths_are_chosen_or_refused_clearly() -> None:
    x, cfg = inputs(), config()
    q64 = torch.from_numpy(x["q"])
    table = torch.from_numpy(x["rel_bias"])
    with pytest.raises(NotImplementedError, match="float64"):
        local_attention(q64, q64, q64, SPAN, table, cfg, path="flex")
    q32 = q64.float().requires_grad_()
    with pytest.raises(NotImplementedError, match="no backward on CPU"):
        local_attention(q32, q32, q32, SPAN, table.float(), cfg, path="flex")
    with pytest.raises(ValueError, match="path must be one of"):
        local_attention(q64, q64, q64, SPAN, table, cfg, path="fast")
    # auto: dense where flex cannot run (float64 here), with the dense path's result.
    auto = local_attention(q64, q64, q64, SPAN, table, cfg, path="auto")
    assert torch.equal(auto, local_attention(q64, q64, q64, SPAN, table, cfg, path="dense"))
    assert flex_unavailable(q64, grad=False) is not None
    assert flex_unavailable(q64.float(), grad=False) is None

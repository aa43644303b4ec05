"""The kernel tier: the counter-based generator against its spec text, the sampled rows, the
expected rows against the dense reference, and the envelope (spec/vectors.md, "Kernel tier")."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from aha import reference as ref
from aha.conformance import counter, envelope, kernel
from aha.conformance.cases import kernel as kernel_cases
from aha.conformance.counter import Grid

M64 = (1 << 64) - 1


def spec_value(seed: int, name: str, n: int, limit: int, exponent: int, offset: float) -> float:
    """x(n) exactly as spec/vectors.md writes it, with Python integers."""
    h = 0xCBF29CE484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001B3) & M64

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    key = mix((seed + h) & M64)
    u = mix((key + (n + 1) * 0x9E3779B97F4A7C15) & M64)
    return offset + ((u >> 11) % (2 * limit + 1) - limit) * 2.0**-exponent


@pytest.mark.parametrize(
    "seed, name, grid",
    [
        (7, "q", Grid(limit=96, exponent=5)),
        (2**32 - 1, "rel_bias", Grid(limit=96, exponent=0, offset=-16384.0)),
        (12345, "v", Grid(limit=120, exponent=-9)),
    ],
)
def test_generator_follows_the_spec_text(seed: int, name: str, grid: Grid) -> None:
    got = counter.tensor(seed, name, (3, 5, 7), grid).ravel()
    want = [spec_value(seed, name, n, grid.limit, grid.exponent, grid.offset) for n in range(105)]
    assert got.tolist() == want


def test_generator_check_values_quoted_in_the_spec() -> None:
    assert counter.fnv1a64("q") == 12638204792741693372
    assert counter.stream(7, "q", 3).tolist() == [
        3343082397038041795,
        6320623233335748390,
        99280470719789523,
    ]
    assert counter.integers(7, "q", 5, 96).tolist() == [58, 26, -8, 72, 72]


def test_generator_fills_its_grid() -> None:
    m = counter.integers(3, "k", 200_000, 4)
    counts = np.bincount(m + 4)
    assert counts.size == 9 and counts.min() > 200_000 / 9 * 0.95


def test_padding_mask_from_real_ranges() -> None:
    mask = counter.padding_mask([[0, 3], [1, 4], [0, 0]], 4)
    assert mask.tolist() == [
        [True, True, True, False],
        [False, True, True, True],
        [False, False, False, False],
    ]


@pytest.mark.parametrize("T", [1, 2, 17, 1000, 1025, 2048, 2049, 4224, 16384])
def test_sampled_rows_hold_every_tile_edge_and_boundary(T: int) -> None:
    real = ((0, T), (0, T // 2), (T // 3, T))
    rows = set(kernel.sample_rows(T, real, seed=1).tolist())
    assert rows <= set(range(T))
    edges = range(16, T, 16) if T <= 2048 else [e for e in range(16, T, 16) if e % 256 == 0]
    for e in edges:
        assert {e - 1, e} <= rows, e
    assert {0, T - 1} <= rows
    for start, end in real:
        assert {start, end - 1} & set(range(T)) <= rows
    if T > 2048:
        last = (T - 1) // 16 * 16
        assert {15, 16, last - 1, last, last - 17, last - 16} <= rows  # edges of 16 at both ends
        assert len(rows) < T // 10  # what keeps long cases small on disk


def test_kernel_cases_cover_the_shapes_the_issue_names() -> None:
    default = kernel_cases.default_family()
    long = kernel_cases.kernel_family()
    assert max(k.T for k in default) <= 1100 and min(k.T for k in default if k.T > 700) < 1100
    assert max(k.T for k in long) == 16384 and max(k.Dh for k in long) == 256
    dims = {k.Dh for k in (*default, *long)}
    assert {40, 59, 80, 96, 111, 160, 192, 256} <= dims
    assert any(k.H % 2 == 1 and k.H > 1 for k in default)
    assert any(k.real and (0, 0) in k.real for k in default)  # fully padded beside full
    assert all(k.tier == "default" for k in default) and all(k.tier == "kernel" for k in long)


@pytest.mark.clause("LOCAL-1", "GLOBAL-1", "ORDER-1")
@pytest.mark.parametrize("which", [0, 2, 3, 5])
def test_expected_rows_equal_the_dense_reference(which: int) -> None:
    """The stored rows come from the blocked order; the dense text must agree on them."""
    case = kernel_cases.default_family()[which].case()
    built = kernel.build(case)
    x, config = case.inputs, case.aha_config()
    mask = x.get("key_padding_mask")
    if case.kind == "local":
        dense = ref.local_attention(
            x["q"], x["k"], x["v"], x["span_scale"], x["rel_bias"], config, mask
        )
    else:
        dense = ref.global_attention(x["q"], x["k"], x["v"], x["rel_bias"], config, mask)
    rows = np.asarray(case.rows)
    want = dense[:, :, rows]
    scale = max(1.0, float(np.max(np.abs(want))))
    assert np.max(np.abs(built.expected["out"] - want)) <= 1e-12 * scale


def test_sampled_takes_rows_and_passes_wrong_shapes_through() -> None:
    case = kernel_cases.default_family()[-1].case()
    T = case.generated["shape"]["T"] if case.generated else 0
    full = np.arange(T, dtype=np.float64)[None, None, :, None] * np.ones((1, 1, 1, 32))
    got = kernel.sampled(case, {"out": full})["out"]
    assert got[0, 0, :, 0].tolist() == list(case.rows or ())
    short = np.zeros((1, 1, T - 1, 32))
    assert kernel.sampled(case, {"out": short})["out"] is short


def test_in_tier() -> None:
    default, long = (
        kernel_cases.default_family()[0].case(),
        kernel_cases.kernel_family()[0].case(),
    )
    assert kernel.in_tier(default, "default") and not kernel.in_tier(long, "default")
    assert kernel.in_tier(default, "kernel") and kernel.in_tier(long, "kernel")


def adapter(env: object) -> SimpleNamespace:
    return SimpleNamespace(name="probe", capabilities=frozenset(), envelope=env)


def test_envelope_names_what_lies_outside() -> None:
    long = kernel_cases.kernel_family()[0].case()  # T 16384, Dh 64, reach 512
    assert envelope.outside(adapter(None), long) is None
    assert envelope.outside(adapter({"max_seq_len": 16384, "head_dims": [64]}), long) is None
    reason = envelope.outside(
        adapter({"max_seq_len": 8192, "head_dims": [16, 32], "max_reach": 256}), long
    )
    assert reason is not None and reason.startswith(envelope.PREFIX)
    assert "T = 16384 > max_seq_len 8192" in reason
    assert "Dh = 64 not in head_dims [16, 32]" in reason
    assert "reach 512 > max_reach 256" in reason


def test_envelope_on_plain_inputs_and_global_reach() -> None:
    config = ref.AHAConfig(window=8, max_rel_dist=8)
    q = np.zeros((1, 1, 10, 12))
    inputs = {"q": q, "k": q, "v": q, "span_scale": np.array([1.0])}
    env = adapter({"max_reach": 4})
    assert envelope.outside_inputs(env, "local", config, inputs) is not None
    assert envelope.outside_inputs(env, "global", config, inputs) is None  # no reach
    assert "Dh = 12" in str(
        envelope.outside_inputs(adapter({"head_dims": [16]}), "global", config, inputs)
    )


@pytest.mark.parametrize(
    "env",
    [[1, 2], {"max_len": 4}, {"max_seq_len": 0}, {"max_reach": True}, {"head_dims": "64"}],
)
def test_a_malformed_envelope_is_named(env: object) -> None:
    with pytest.raises(envelope.EnvelopeError, match="envelope"):
        envelope.of(adapter(env))


def test_not_covered_lists_envelope_results_only() -> None:
    results = [
        SimpleNamespace(check="a", status="n/a", message=envelope.PREFIX + "T = 9 > max_seq_len 8"),
        SimpleNamespace(check="b", status="n/a", message="the adapter does not claim layer"),
        SimpleNamespace(check="c", status="pass", message=""),
    ]
    assert envelope.not_covered(results) == ["a: T = 9 > max_seq_len 8"]

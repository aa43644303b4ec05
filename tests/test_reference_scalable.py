"""The second evaluation order (ORDER-1) gives the dense reference's results.

The blocked functions are compared with the dense ones, which stay the normative text in code,
in binary64 to 1e-12 relative (max|blocked − dense| ≤ 1e-12 · max|dense|; an all-zero result
must be exactly zero): on Hypothesis draws of the project strategies, on wider draws of this
module (lengths to 300, reaches across blocks, every block size), on a table of the edges the
dense tests pin, and on the golden corpus, whose expected values were frozen from the dense
reference. Gradients likewise, against the dense VJPs.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance import corpus, kernel
from aha.conformance.operations import OPERATIONS
from aha.conformance.strategies import draw_case
from aha.reference import AHAConfig, ShapeError, scalable, scalable_grad
from aha.reference.errors import AHAError
from aha.reference.scalable import window_logits

RELATIVE = 1e-12
SETTINGS = settings(max_examples=60, deadline=None)
BLOCKED: dict[str, Callable[..., Any]] = {
    "local": ref.local_attention_blocked,
    "global": ref.global_attention_blocked,
    "layer": ref.hybrid_layer_blocked,
    "local_vjp": ref.local_attention_vjp_blocked,
    "global_vjp": ref.global_attention_vjp_blocked,
}
DENSE: dict[str, Callable[..., Any]] = {
    "local": ref.local_attention,
    "global": ref.global_attention,
    "local_vjp": ref.local_attention_vjp,
    "global_vjp": ref.global_attention_vjp,
}


def assert_close(got: np.ndarray, expected: np.ndarray, what: str, floor: float = 0.0) -> None:
    """max|got − expected| ≤ 1e-12 · max(floor, max|expected|) in binary64; same shape, dtype.

    Gradients take floor 1, as PREC-3 does: a gradient whose exact value is 0 (the bias entry
    of a row that sums to zero) is rounding noise in either order, not a relative quantity.
    """
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    assert got.dtype == expected.dtype, (what, got.dtype, expected.dtype)
    got, expected = (np.asarray(a, dtype=np.float64) for a in (got, expected))
    error = float(np.abs(got - expected).max(initial=0.0))
    bound = RELATIVE * max(floor, float(np.abs(expected).max(initial=0.0)))
    assert error <= bound, f"{what}: max error {error:.3g} > {bound:.3g}"


def positional(kind: str, cfg: AHAConfig, inputs: dict[str, Any]) -> list[Any]:
    return OPERATIONS[kind].arguments(cfg, inputs)


def compare(kind: str, cfg: AHAConfig, inputs: dict[str, Any], **blocked_kw: Any) -> None:
    """The blocked order against the dense one on ``inputs``, every output."""
    args = positional(kind, cfg, inputs)
    dense = OPERATIONS[kind].collect(DENSE.get(kind, OPERATIONS[kind].reference)(*args))
    got = OPERATIONS[kind].collect(BLOCKED[kind](*args, **blocked_kw))
    assert set(got) == set(dense), (sorted(got), sorted(dense))
    floor = 1.0 if kind.endswith("_vjp") else 0.0
    for name in dense:
        assert_close(got[name], dense[name], f"{kind} {name} {blocked_kw}", floor)


# --- Hypothesis: the project's strategies (T ≤ 40, every mask pattern, large logits) ---


def blocks(seq_len: int) -> st.SearchStrategy[int | None]:
    """None (the default), 1, sizes beside T, or any size: most do not divide T."""
    return st.one_of(
        st.none(),
        st.just(1),
        st.sampled_from([max(1, seq_len - 1), seq_len, seq_len + 1]),
        st.integers(1, seq_len + 3),
    )


def row_subsets(seq_len: int) -> st.SearchStrategy[np.ndarray]:
    """Query rows: the first, the last, both, or any (repeats and any order allowed)."""
    return st.one_of(
        st.just([0]),
        st.just([seq_len - 1]),
        st.just([seq_len - 1, 0]),
        st.lists(st.integers(0, seq_len - 1), min_size=1, max_size=2 * seq_len),
    ).map(lambda rows: np.array(rows, dtype=np.int64))


@pytest.mark.clause(
    "ORDER-1",
    "LOCAL-1",
    "LOCAL-2",
    "LOCAL-3",
    "LOCAL-4",
    "LOCAL-5",
    "LOCAL-6",
    "CAUSAL-1",
    "MASK-2",
)
@SETTINGS
@given(data=st.data())
def test_local_blocked_is_dense(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "local")
    T = inputs["q"].shape[2]
    compare("local", cfg, inputs, block=data.draw(blocks(T), label="block"))


@pytest.mark.clause("ORDER-1", "GLOBAL-1", "GLOBAL-2", "GLOBAL-3", "GLOBAL-4", "CAUSAL-1", "MASK-2")
@SETTINGS
@given(data=st.data())
def test_global_blocked_is_dense(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "global")
    T = inputs["q"].shape[2]
    compare("global", cfg, inputs, block=data.draw(blocks(T), label="block"))


@pytest.mark.clause("ORDER-1", "LOCAL-1", "GLOBAL-1", "MASK-2")
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_rows_are_those_rows_of_the_dense_result(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind)
    T = inputs["q"].shape[2]
    rows = data.draw(row_subsets(T), label="rows")
    args = positional(kind, cfg, inputs)
    dense = DENSE[kind](*args)[:, :, rows]
    got = BLOCKED[kind](*args, rows=rows, block=data.draw(blocks(T), label="block"))
    assert_close(got, dense, f"{kind} rows={rows.tolist()}")


@pytest.mark.clause("ORDER-1", "LAYER-1", "LAYER-3", "LAYER-4", "LAYER-5", "LAYER-6", "LAYER-7")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_layer_blocked_is_dense(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "layer")
    T = inputs["x"].shape[1]
    compare("layer", cfg, inputs, block=data.draw(blocks(T), label="block"))


@pytest.mark.clause("ORDER-1", "PREC-2", "LOCAL-4", "GLOBAL-3", "LAYER-7")
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["local", "global", "layer"]),
    dtype=st.sampled_from(["float32", "float16", "bfloat16"]),
)
def test_low_precision_baseline_differs_by_summation_order_only(
    data: st.DataObject, kind: str, dtype: str
) -> None:
    """The baseline d (PREC-2) in the blocked order: each operation's result is the dense
    one up to the summation order in float32, so within 4 ulp of d at the output's scale."""
    cfg, inputs = draw_case(data, kind, dtype=dtype)
    args = positional(kind, cfg, inputs)
    dense = OPERATIONS[kind].collect(OPERATIONS[kind].reference(*args, dtype=dtype))
    got = OPERATIONS[kind].collect(BLOCKED[kind](*args, dtype=dtype, block=3))
    for name, expected in dense.items():
        assert got[name].dtype == expected.dtype, (name, got[name].dtype, expected.dtype)
        ulp = float(np.finfo(expected.dtype).eps)
        scale = max(1.0, float(np.abs(expected.astype(np.float64)).max()))
        error = float(np.abs(got[name].astype(np.float64) - expected.astype(np.float64)).max())
        assert error <= 4 * ulp * scale, f"{name}: {error:.3g} > 4 ulp of {dtype} at {scale:.3g}"


@pytest.mark.clause("ORDER-1", "GRAD-1", "GRAD-2", "GRAD-3")
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_blocked_vjp_is_dense(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind)
    T = inputs["q"].shape[2]
    inputs["d_out"] = data.draw(
        st.integers(0, 2**32 - 1).map(
            lambda seed: np.random.default_rng(seed).normal(size=inputs["q"].shape)
        ),
        label="d_out",
    )
    compare(f"{kind}_vjp", cfg, inputs, block=data.draw(blocks(T), label="block"))


@pytest.mark.clause("ORDER-1", "GRAD-4", "GRAD-6", "PREC-2")
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["local", "global"]),
    dtype=st.sampled_from(["float32", "float16", "bfloat16"]),
)
def test_blocked_vjp_baseline_is_as_good_as_the_dense_one(
    data: st.DataObject, kind: str, dtype: str
) -> None:
    """The gradients' baseline d (GRAD-6) in the blocked order sets a tolerance as the dense
    one does: its error from the oracle is at most twice the dense baseline's, plus 4 ulp of
    d at the gradient's scale (sums over blocks round in another order; span_scale's too,
    though it is returned in binary64)."""
    cfg, inputs = draw_case(data, kind, dtype=dtype)
    seed = data.draw(st.integers(0, 2**32 - 1), label="d_out seed")
    inputs["d_out"] = grid(seed, inputs["q"].shape) / 4  # exact in every dtype under test
    args = positional(f"{kind}_vjp", cfg, inputs)
    oracle = DENSE[f"{kind}_vjp"](*args)
    dense = DENSE[f"{kind}_vjp"](*args, dtype=dtype)
    T = inputs["q"].shape[2]
    got = BLOCKED[f"{kind}_vjp"](*args, dtype=dtype, block=data.draw(blocks(T), label="block"))
    assert set(got) == set(dense)
    for name, expected in oracle.items():
        assert got[name].dtype == dense[name].dtype, (name, got[name].dtype, dense[name].dtype)
        # ulp of the dtype under test, not of the output: grad.span_scale crosses as binary64
        # but is summed in the compute dtype, as every other gradient is.
        ulp = float(ml_dtypes.finfo(dtype).eps)
        scale = max(1.0, float(np.abs(expected).max(initial=0.0)))

        def error(a: np.ndarray, reference: np.ndarray = expected) -> float:
            return float(np.abs(a.astype(np.float64) - reference).max(initial=0.0))

        bound = 2 * error(dense[name]) + 4 * ulp * scale
        assert error(got[name]) <= bound, f"{name}: {error(got[name]):.3g} > {bound:.3g}"


@pytest.mark.clause("ORDER-1", "PREC-2", "GRAD-6")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_two_orders_agree_to_the_bit_where_they_add_the_same_terms(dtype: str) -> None:
    """The baseline fixes every sum term by term (PREC-2, GRAD-6). The global branch without
    causality in one query block holds every key, so the blocked order adds the same terms in
    the same order as the dense one: forward and VJP agree to the bit, padding included."""
    B, H, T, Dh, R = 2, 2, 37, 8, 6
    q, k, v, d_out = (grid(seed, (B, H, T, Dh)) for seed in range(4))
    table = grid(4, (H, 2 * R - 1))
    mask = np.arange(T)[None, :] < np.array([[T], [29]])
    args = (q, k, v, table, AHAConfig(max_rel_dist=R), mask)
    dense = ref.global_attention(*args, dtype=dtype)
    np.testing.assert_array_equal(ref.global_attention_blocked(*args, dtype=dtype, block=T), dense)
    grads = ref.global_attention_vjp(*args, d_out, dtype=dtype)
    blocked = ref.global_attention_vjp_blocked(*args, d_out, dtype=dtype, block=T)
    for name, g in grads.items():
        np.testing.assert_array_equal(blocked[name], g, err_msg=name)


# --- Wider draws: lengths to 300, reaches up to 80, blocks that cross the band ---


@st.composite
def wide_cases(draw: Any, kind: str) -> tuple[AHAConfig, dict[str, Any], int]:
    """(config, inputs, block) with T up to 300 and real-valued inputs: a band that begins and
    ends inside blocks, several blocks per band, padding runs across block edges."""
    T = draw(st.integers(1, 300), label="T")
    W = draw(st.integers(1, 96), label="window")
    cfg = AHAConfig(
        window=W,
        max_rel_dist=draw(st.integers(1, 80), label="R"),
        causal=draw(st.booleans(), label="causal"),
        temp_scale=0.5,
        score_scale="log",
    )
    B, H = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    shape = (B, H, T, draw(st.sampled_from([1, 3, 8]), label="Dh"))
    inputs: dict[str, Any] = {name: rng.normal(size=shape) for name in ("q", "k", "v")}
    inputs["rel_bias"] = rng.normal(size=(H, 2 * cfg.max_rel_dist - 1))
    if kind == "local":
        inputs["span_scale"] = rng.uniform(size=B)
    if draw(st.booleans(), label="padded"):
        start = draw(st.integers(0, T - 1))
        mask = np.ones((B, T), dtype=bool)
        mask[:, start : draw(st.integers(start + 1, T))] = False  # a padded run
        inputs["key_padding_mask"] = mask
    return cfg, inputs, draw(st.integers(1, 80), label="block")


@pytest.mark.clause("ORDER-1", "LOCAL-1", "LOCAL-2", "LOCAL-5", "GLOBAL-1", "GLOBAL-2", "PLAN-3")
@settings(max_examples=40, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_wide_draws(data: st.DataObject, kind: str) -> None:
    cfg, inputs, block = data.draw(wide_cases(kind), label="case")
    compare(kind, cfg, inputs, block=block)
    inputs["d_out"] = np.random.default_rng(1).normal(size=inputs["q"].shape)
    compare(f"{kind}_vjp", cfg, inputs, block=block)


# --- The edges the dense tests pin, each by construction ---


def grid(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Multiples of 1/32 below 8 in magnitude: dot products of them are exact in binary64."""
    return np.random.default_rng(seed).integers(-255, 256, size=shape) / 32


def edge(
    name: str,
    T: int,
    *,
    s: float = 1.0,
    q_factor: float = 1.0,
    mask: Callable[[int], np.ndarray] | None = None,
    **config: Any,
) -> Any:
    """A case: B = 2 (the second sequence at s/2), H = 2, Dh = 5."""
    cfg = AHAConfig(**{"window": 16, "max_rel_dist": 16, **config})
    shape = (2, 2, T, 5)
    inputs: dict[str, Any] = {
        "q": grid(1, shape) * q_factor,
        "k": grid(2, shape),
        "v": grid(3, shape),
        "rel_bias": grid(4, (2, 2 * cfg.max_rel_dist - 1)),
        "span_scale": np.array([s, s / 2]),
    }
    if mask is not None:
        inputs["key_padding_mask"] = mask(T)
    return pytest.param(cfg, inputs, id=name)


def _left_padded(T: int) -> np.ndarray:
    mask = np.ones((2, T), dtype=bool)
    mask[:, : T // 2] = False  # causal rows before T/2 see no key
    return mask


def _one_fully_padded(T: int) -> np.ndarray:
    return np.stack([np.zeros(T, dtype=bool), np.ones(T, dtype=bool)])


def _hole(T: int) -> np.ndarray:
    mask = np.ones((2, T), dtype=bool)
    mask[:, 10:30] = False  # wider than 2ρ − 1: local rows inside see no key
    return mask


EDGES = [
    edge("T-1", 1),
    edge("reach-1", 37, window=1),
    edge("reach-1-by-s", 37, s=0.0),
    edge("reach-at-least-T", 9, window=64, max_rel_dist=64),
    edge("reach-is-T", 16),
    edge("R-below-window", 41, window=32, max_rel_dist=5),
    edge("R-1", 23, max_rel_dist=1),
    edge("causal", 37, causal=True),
    edge("causal-left-padding", 37, causal=True, mask=_left_padded),
    edge("left-padding", 37, mask=_left_padded),
    edge("fully-padded-beside-full", 37, mask=_one_fully_padded),
    edge("causal-fully-padded", 37, causal=True, mask=_one_fully_padded),
    edge("hole-no-visible-key", 45, window=8, max_rel_dist=8, mask=_hole),
    edge("large-logits", 37, q_factor=512.0),
    edge("large-logits-causal", 37, q_factor=512.0, causal=True, temp_scale=3.0),
]


@pytest.mark.clause(
    "ORDER-1", "LOCAL-1", "LOCAL-4", "LOCAL-5", "GLOBAL-4", "CAUSAL-1", "MASK-2", "PLAN-3", "GRAD-3"
)
@pytest.mark.parametrize("block", [None, 1, 4, 7, 64])
@pytest.mark.parametrize(("cfg", "inputs"), EDGES)
def test_edges(cfg: AHAConfig, inputs: dict[str, Any], block: int | None) -> None:
    T = inputs["q"].shape[2]
    global_inputs = {n: a for n, a in inputs.items() if n != "span_scale"}
    d_out = {"d_out": grid(5, inputs["q"].shape)}
    compare("local", cfg, inputs, block=block)
    compare("global", cfg, global_inputs, block=block)
    compare("local_vjp", cfg, {**inputs, **d_out}, block=block)
    compare("global_vjp", cfg, {**global_inputs, **d_out}, block=block)
    rows = np.array(sorted({0, T - 1, T // 2, max(0, T - 2)}), dtype=np.int64)
    for kind, kind_inputs in (("local", inputs), ("global", global_inputs)):
        args = positional(kind, cfg, kind_inputs)
        got = BLOCKED[kind](*args, rows=rows, block=block)
        assert_close(got, DENSE[kind](*args)[:, :, rows], f"{kind} rows")


# --- The golden corpus: expected values frozen from the dense reference ---

# The long kernel-tier VJP cases were frozen from the blocked order itself (whole gradients,
# seconds each): `aha vectors verify` (tests/test_vectors.py) re-derives them.
CASES = [
    c
    for c in corpus.load().cases
    if c.kind in BLOCKED and not (c.tier == "kernel" and c.kind.endswith("_vjp"))
]


@pytest.mark.clause("ORDER-1", "LOCAL-1", "GLOBAL-1", "LAYER-7", "ERR-1")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_corpus(case: corpus.Case) -> None:
    args = OPERATIONS[case.kind].arguments(case.call_config(), case.inputs)
    if case.error is not None:
        with pytest.raises(AHAError) as raised:
            BLOCKED[case.kind](*args)
        assert type(raised.value).__name__ == case.error, raised.value
        return
    rows = None if case.rows is None else np.asarray(case.rows, dtype=np.int64)
    extra = {} if rows is None or case.kind not in ("local", "global") else {"rows": rows}
    got = OPERATIONS[case.kind].collect(BLOCKED[case.kind](*args, **extra))
    got = kernel.sampled(case, got)  # a kernel VJP case stores grad.q, grad.k, grad.v on rows
    for name, expected in case.expected.items():
        floor = 1.0 if case.kind.endswith("_vjp") else 0.0
        got_name = np.asarray(got[name], dtype=expected.dtype)
        assert_close(got_name, expected, f"{case.id} {name}", floor)


# --- What the order promises: no [T, T] array, cost by rows asked for ---


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes NumPy allocated while ``fn`` ran (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.clause("ORDER-1", "LOCAL-1", "GLOBAL-1")
def test_no_seq_len_squared_array() -> None:
    """T = 6000, H = Dh = 1: one [T, T] binary64 array would be 288 MB; inputs are 48 kB each."""
    T = 6000
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 1, T, 1)) for _ in range(3))
    cfg = AHAConfig(window=32, max_rel_dist=32)
    table = np.zeros((1, 63))
    assert peak_bytes(lambda: ref.local_attention_blocked(q, k, v, 1.0, table, cfg)) < 8e6
    # O(block·T): a block of 16 rows holds [16, T] scores (768 kB) and a few like it.
    assert peak_bytes(lambda: ref.global_attention_blocked(q, k, v, table, cfg, block=16)) < 1e7
    assert peak_bytes(lambda: ref.global_attention_blocked(q, k, v, table, cfg)) < 1.44e8
    rows = [0, T - 1]  # two rows of the global branch read T keys each, nothing more
    assert peak_bytes(lambda: ref.global_attention_blocked(q, k, v, table, cfg, rows=rows)) < 4e6
    grads = lambda: ref.local_attention_vjp_blocked(q, k, v, 1.0, table, cfg, None, q)  # noqa: E731
    assert peak_bytes(grads) < 8e6
    # The layer: its span predictor needs the whole global branch, computed blockwise.
    x = rng.normal(size=(1, T, 2))
    params = ref.init_params(2, 1, cfg, seed=0)
    assert peak_bytes(lambda: ref.hybrid_layer_blocked(x, params, cfg, block=16)) < 1e7


@pytest.mark.clause("ORDER-1", "LOCAL-1", "GLOBAL-1")
def test_work_follows_the_band_and_the_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts the (query, key) pairs whose logits are computed, without timing anything: the
    band costs at most T·(block + 2ρ − 2) pairs, isolated rows 2ρ − 1 each (local) or T each
    (global), and the VJP the forward's pairs."""
    pairs: list[int] = []

    def counting(q_rows: np.ndarray, k_window: np.ndarray, *rest: Any) -> np.ndarray:
        pairs.append(q_rows.shape[-2] * k_window.shape[-2])
        return window_logits(q_rows, k_window, *rest)

    monkeypatch.setattr(scalable, "window_logits", counting)
    monkeypatch.setattr(scalable_grad, "window_logits", counting)
    T, reach, block = 1000, 16, 64
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 1, T, 2)) for _ in range(3))
    cfg = AHAConfig(window=reach, max_rel_dist=reach)
    table = np.zeros((1, 2 * reach - 1))

    def count(fn: Callable[[], Any]) -> int:
        pairs.clear()
        fn()
        return sum(pairs)

    band = count(lambda: ref.local_attention_blocked(q, k, v, 1.0, table, cfg, block=block))
    assert T * (2 * reach - 1) - reach * (reach - 1) <= band <= T * (block + 2 * reach - 2)
    rows = [0, 500, 999]
    assert count(lambda: ref.local_attention_blocked(q, k, v, 1.0, table, cfg, rows=rows)) <= 3 * (
        2 * reach - 1
    )
    assert count(lambda: ref.global_attention_blocked(q, k, v, table, cfg, rows=rows)) == 3 * T
    backward = count(
        lambda: ref.local_attention_vjp_blocked(q, k, v, 1.0, table, cfg, None, q, block=block)
    )
    assert backward == band


@pytest.mark.clause("ORDER-1", "ERR-6", "ERR-9")
def test_binary64_overflow_is_the_dense_orders_domain_error() -> None:
    """Finite inputs whose binary64 evaluation overflows are a DomainError naming them in the
    blocked order too (ERR-9), with the dense order's message."""
    cfg = AHAConfig(window=4, max_rel_dist=4)
    q = np.full((1, 2, 9, 3), 2.0**600)
    table = np.zeros((2, 7))
    calls = [
        (ref.local_attention, ref.local_attention_blocked, (q, -q, q, 1.0, table, cfg)),
        (ref.global_attention, ref.global_attention_blocked, (q, -q, q, table, cfg)),
    ]
    x = np.zeros((1, 9, 4))
    x[..., 0], x[..., 1] = 2.0**600, -(2.0**600)  # LayerNorm's variance overflows
    calls.append(
        (ref.hybrid_layer, ref.hybrid_layer_blocked, (x, ref.init_params(4, 2, cfg, 0), cfg))
    )
    for dense, blocked, args in calls:
        with pytest.raises(ref.DomainError) as expected:
            dense(*args)
        with pytest.raises(ref.DomainError) as got:
            blocked(*args)
        assert str(got.value).split(":")[0] == str(expected.value).split(":")[0]
        assert "overflows binary64" in str(got.value)


@pytest.mark.clause("ORDER-1", "ERR-2", "ERR-4", "ERR-5")
@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        ({"rows": [0.5]}, ref.DTypeError, "rows must be integer positions"),
        ({"rows": []}, ShapeError, "rows must have shape [n]"),
        ({"rows": [[0]]}, ShapeError, "rows must have shape [n]"),
        ({"rows": [0, 7]}, ShapeError, "rows[1] must lie in [0, T) = [0, 7), got 7"),
        ({"rows": [-1]}, ShapeError, "rows[0] must lie in [0, T)"),
        ({"block": 0}, ShapeError, "block must be an int >= 1, got 0"),
        ({"block": True}, ShapeError, "block must be an int >= 1, got True"),
        ({"block": 2.0}, ShapeError, "block must be an int >= 1, got 2.0"),
    ],
)
def test_new_arguments_are_checked(keywords: dict[str, Any], error: type, message: str) -> None:
    q = np.zeros((1, 1, 7, 2))
    cfg = AHAConfig(window=4, max_rel_dist=4)
    table = np.zeros((1, 7))
    with pytest.raises(error) as raised:
        ref.local_attention_blocked(q, q, q, 0.5, table, cfg, **keywords)
    assert message in str(raised.value)
    with pytest.raises(error):
        ref.global_attention_blocked(q, q, q, table, cfg, **keywords)

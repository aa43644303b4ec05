"""Independent checks of the two attention branches (spec sections 4, 5 and 6).

The expected values are written here from the spec text, not taken from the reference: a
loop-per-query oracle, plain softmax attention, hand-built bias tables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance.strategies import configs, draw_case
from aha.reference import AHAConfig

SETTINGS = settings(max_examples=60, deadline=None)


def spec_plan(s: float, seq_len: int, cfg: AHAConfig) -> tuple[int, int, float, float]:
    """(window, reach, temperature, gain) of one sequence, from PLAN-2 .. PLAN-5."""
    window = max(cfg.min_window, math.floor(cfg.window * s))
    reach = min(window, seq_len, cfg.max_rel_dist)
    shift = s if cfg.sharpen == "short" else 1.0 - s
    temperature = max(cfg.min_temperature, cfg.temperature + cfg.temp_scale * shift)
    ratio = cfg.window / window
    gain = {"none": 1.0, "linear": ratio, "log": 1.0 + math.log(ratio)}[cfg.score_scale]
    return window, reach, temperature, gain


def visible_keys(
    b: int, i: int, seq_len: int, reach: float, cfg: AHAConfig, mask: np.ndarray | None
) -> list[int]:
    """Keys query i of sequence b may see: LOCAL-1 / GLOBAL-1, CAUSAL-1, MASK-1."""
    return [
        j
        for j in range(seq_len)
        if abs(i - j) < reach and (not cfg.causal or j <= i) and (mask is None or mask[b, j])
    ]


def spec_attention(cfg: AHAConfig, inputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """out and weights from the formulas of LOCAL-2..5 (span given) or GLOBAL-2..4 (no span),
    one query at a time, all heads at once."""
    q, k, v, table = inputs["q"], inputs["k"], inputs["v"], inputs["rel_bias"]
    mask, span = inputs.get("key_padding_mask"), inputs.get("span_scale")
    B, H, T, Dh = q.shape
    R = cfg.max_rel_dist
    scale = 1.0 / math.sqrt(Dh) if cfg.scale is None else cfg.scale
    out, weights = np.zeros(q.shape), np.zeros((B, H, T, T))
    for b in range(B):
        reach, tau, gain = (math.inf, 1.0, 1.0) if span is None else spec_plan(span[b], T, cfg)[1:]
        for i in range(T):
            keys = visible_keys(b, i, T, reach, cfg, mask)
            if not keys:
                continue  # LOCAL-5, GLOBAL-4: the row stays 0
            offsets = [i - j for j in keys]
            if span is None:
                offsets = [min(max(d, -(R - 1)), R - 1) for d in offsets]  # GLOBAL-2 clamp
            assert all(abs(d) <= R - 1 for d in offsets)
            dots = np.einsum("hd,hjd->hj", q[b, :, i], k[b][:, keys])  # [H, n]
            z = (gain * scale * dots + table[:, [d + R - 1 for d in offsets]]) / tau
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            weights[b, :, i][:, keys] = p
            out[b, :, i] = np.einsum("hj,hjd->hd", p, v[b][:, keys])
    return out, weights


def run(kind: str, cfg: AHAConfig, inputs: dict[str, Any], **kw: Any) -> Any:
    fn = ref.local_attention if kind == "local" else ref.global_attention
    return fn(config=cfg, **inputs, **kw)


def magnitude(a: np.ndarray) -> float:
    return max(1.0, float(np.abs(a).max()))


def plain_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """Textbook softmax(q·kᵀ/√Dh)·v, optionally causal."""
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ v


@pytest.mark.clause(
    "LOCAL-1",
    "LOCAL-2",
    "LOCAL-3",
    "LOCAL-4",
    "LOCAL-5",
    "CAUSAL-1",
    "MASK-1",
    "MASK-2",
    "CFG-4",
    "PLAN-3",
)
@SETTINGS
@given(data=st.data())
def test_local_matches_spec_formulas(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "local")
    out, weights = ref.local_attention(config=cfg, **inputs, return_weights=True)
    expected_out, expected_weights = spec_attention(cfg, inputs)
    np.testing.assert_allclose(weights, expected_weights, rtol=0, atol=1e-11)
    np.testing.assert_allclose(out, expected_out, rtol=0, atol=1e-11 * magnitude(inputs["v"]))


@pytest.mark.clause(
    "GLOBAL-1", "GLOBAL-2", "GLOBAL-3", "GLOBAL-4", "CAUSAL-1", "MASK-1", "MASK-2", "CFG-4"
)
@SETTINGS
@given(data=st.data())
def test_global_matches_spec_formulas(data: st.DataObject) -> None:
    cfg, inputs = draw_case(data, "global")
    out, weights = ref.global_attention(config=cfg, **inputs, return_weights=True)
    expected_out, expected_weights = spec_attention(cfg, inputs)
    np.testing.assert_allclose(weights, expected_weights, rtol=0, atol=1e-11)
    np.testing.assert_allclose(out, expected_out, rtol=0, atol=1e-11 * magnitude(inputs["v"]))


@pytest.mark.clause("LOCAL-1", "LOCAL-2", "LOCAL-3", "CFG-4", "PLAN-3")
@SETTINGS
@given(data=st.data())
def test_degenerate_local_is_plain_attention(data: st.DataObject) -> None:
    """Window ≥ T, R ≥ T, no gain, τ = 1 and a zero table: nothing left but softmax attention."""
    degenerate = configs(
        window=40,
        max_rel_dist=40,
        temperature=1.0,
        temp_scale=0.0,
        min_temperature=0.05,
        score_scale="none",
        scale=None,
    )
    cfg, inputs = draw_case(data, "local", degenerate)
    inputs.pop("key_padding_mask", None)
    inputs["span_scale"] = np.ones_like(inputs["span_scale"])
    inputs["rel_bias"] = np.zeros_like(inputs["rel_bias"])
    expected = plain_attention(inputs["q"], inputs["k"], inputs["v"], cfg.causal)
    np.testing.assert_allclose(
        run("local", cfg, inputs), expected, rtol=0, atol=1e-11 * magnitude(inputs["v"])
    )


@pytest.mark.clause("GLOBAL-1", "GLOBAL-3", "CFG-4")
@SETTINGS
@given(data=st.data())
def test_degenerate_global_is_plain_attention(data: st.DataObject) -> None:
    """A zero table leaves plain softmax attention whatever W, R, τ0, α and the gain mode."""
    cfg, inputs = draw_case(data, "global", configs(scale=None))
    inputs.pop("key_padding_mask", None)
    inputs["rel_bias"] = np.zeros_like(inputs["rel_bias"])
    expected = plain_attention(inputs["q"], inputs["k"], inputs["v"], cfg.causal)
    np.testing.assert_allclose(
        run("global", cfg, inputs), expected, rtol=0, atol=1e-11 * magnitude(inputs["v"])
    )


@pytest.mark.clause("LOCAL-1", "LOCAL-5", "PLAN-2", "PLAN-3", "MASK-1")
@SETTINGS
@given(data=st.data(), how=st.sampled_from(["span 0", "R = 1"]))
def test_reach_one_returns_v(data: st.DataObject, how: str) -> None:
    """Reach 1: each query sees only itself, so out = v, or 0 where its own key is padding."""
    cfg, inputs = draw_case(
        data, "local", configs(min_window=1) if how == "span 0" else configs(max_rel_dist=1)
    )
    if how == "span 0":
        inputs["span_scale"] = np.zeros_like(inputs["span_scale"])
    mask = inputs.get("key_padding_mask", np.ones(inputs["q"].shape[::2][:2], dtype=bool))
    expected = np.where(mask[:, None, :, None], inputs["v"], 0.0)
    np.testing.assert_array_equal(run("local", cfg, inputs), expected)


@pytest.mark.clause(
    "LOCAL-1", "LOCAL-3", "LOCAL-5", "GLOBAL-1", "GLOBAL-3", "GLOBAL-4", "CAUSAL-1", "MASK-1"
)
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_weights_sum_to_one_on_visible_keys_only(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind)
    _, weights = run(kind, cfg, inputs, return_weights=True)
    B, _, T, _ = inputs["q"].shape
    mask = inputs.get("key_padding_mask")
    for b in range(B):
        reach = math.inf if kind == "global" else spec_plan(inputs["span_scale"][b], T, cfg)[1]
        for i in range(T):
            keys = visible_keys(b, i, T, reach, cfg, mask)
            hidden = np.setdiff1d(np.arange(T), keys)
            assert np.all(weights[b, :, i, hidden] == 0.0), (b, i, hidden)
            expected_total = 1.0 if keys else 0.0
            np.testing.assert_allclose(weights[b, :, i].sum(axis=-1), expected_total, atol=1e-12)


@pytest.mark.clause("LOCAL-6", "PLAN-1", "GLOBAL-3")
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_batch_elements_are_run_alone(data: st.DataObject, kind: str) -> None:
    """A batch gives what its elements give one at a time, each with its own span."""
    cfg, inputs = draw_case(data, kind)
    out = run(kind, cfg, inputs)
    for b in range(out.shape[0]):
        alone = {name: a if name == "rel_bias" else a[b : b + 1] for name, a in inputs.items()}
        np.testing.assert_allclose(
            run(kind, cfg, alone)[0], out[b], rtol=0, atol=1e-12 * magnitude(inputs["v"])
        )


@pytest.mark.clause("LOCAL-6", "PLAN-1")
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_perturbing_one_element_leaves_the_others(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind)
    assume(inputs["q"].shape[0] >= 2)
    changed = {name: a.copy() for name, a in inputs.items()}
    for name in ("q", "k", "v"):
        changed[name][0] = -changed[name][0] + 0.5
    if kind == "local":
        changed["span_scale"][0] = 1.0 - changed["span_scale"][0]
    if "key_padding_mask" in changed:
        changed["key_padding_mask"][0] = ~changed["key_padding_mask"][0]
    before, after = run(kind, cfg, inputs), run(kind, cfg, changed)
    np.testing.assert_allclose(after[1:], before[1:], rtol=0, atol=1e-12 * magnitude(inputs["v"]))


@pytest.mark.clause("CAUSAL-1", "GLOBAL-1")
@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["local", "global"]))
def test_causal_output_ignores_the_future(data: st.DataObject, kind: str) -> None:
    cfg, inputs = draw_case(data, kind, configs(causal=True))
    T = inputs["q"].shape[2]
    t = data.draw(st.integers(0, T - 1), label="last position kept")
    changed = {name: a.copy() for name, a in inputs.items()}
    for name in ("q", "k", "v"):
        changed[name][:, :, t + 1 :] = 7.0
    if "key_padding_mask" in changed:
        changed["key_padding_mask"][:, t + 1 :] = ~changed["key_padding_mask"][:, t + 1 :]
    before, after = run(kind, cfg, inputs), run(kind, cfg, changed)
    np.testing.assert_allclose(
        after[:, :, : t + 1], before[:, :, : t + 1], rtol=0, atol=1e-12 * magnitude(inputs["v"])
    )


@pytest.mark.clause("LOCAL-3", "GLOBAL-3")
@SETTINGS
@given(
    data=st.data(),
    kind=st.sampled_from(["local", "global"]),
    shift=st.sampled_from([0.25, -3.0, 17.0]),
)
def test_constant_bias_shift_changes_nothing(data: st.DataObject, kind: str, shift: float) -> None:
    """Adding c to every table entry adds c/τ to every logit of a row: softmax ignores it."""
    cfg, inputs = draw_case(data, kind)
    shifted = dict(inputs, rel_bias=inputs["rel_bias"] + shift)
    np.testing.assert_allclose(
        run(kind, cfg, shifted), run(kind, cfg, inputs), rtol=0, atol=1e-10 * magnitude(inputs["v"])
    )


def _hand_case(T: int, H: int = 1, Dh: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=(1, H, T, Dh)) for name in "qkv"}


@pytest.mark.clause("LOCAL-5", "GLOBAL-4", "LOCAL-4")
@pytest.mark.parametrize("q_factor", [1.0, 1e4])
def test_fully_masked_rows_are_exactly_zero(q_factor: float) -> None:
    T = 9
    qkv = _hand_case(T, H=2, seed=1)
    qkv["q"] = np.concatenate([qkv["q"]] * 3) * q_factor
    qkv["k"], qkv["v"] = (np.concatenate([qkv[n]] * 3) for n in "kv")
    mask = np.ones((3, T), dtype=bool)
    mask[0, 2:7] = False  # a padded block wider than the band: rows 3..5 see no key
    mask[1, :4] = False  # left padding: causal rows 0..3 see no key
    mask[2] = False  # a whole sequence of padding
    cfg = AHAConfig(window=4, max_rel_dist=4, causal=True)
    table = np.linspace(-1.0, 1.0, 2 * 2 * 4 - 2).reshape(2, 7)
    local_out, local_w = ref.local_attention(
        **qkv,
        span_scale=0.5,
        rel_bias=table,
        config=cfg,
        key_padding_mask=mask,
        return_weights=True,
    )
    global_out, global_w = ref.global_attention(
        **qkv, rel_bias=table, config=cfg, key_padding_mask=mask, return_weights=True
    )
    assert np.isfinite(local_out).all() and np.isfinite(global_out).all()
    # reach = min(⌊4 · 0.5⌋, 9, 4) = 2: row i sees i−1 and i.
    dead_local = {0: [3, 4, 5, 6], 1: [0, 1, 2, 3], 2: list(range(T))}
    dead_global = {0: [], 1: [0, 1, 2, 3], 2: list(range(T))}  # keys 0, 1 stay visible in b=0
    for dead, out, w in ((dead_local, local_out, local_w), (dead_global, global_out, global_w)):
        for b, rows in dead.items():
            assert np.all(out[b, :, rows] == 0.0)
            assert np.all(w[b, :, rows] == 0.0)
            alive = np.setdiff1d(np.arange(T), rows)
            np.testing.assert_allclose(w[b, :, alive].sum(-1), 1.0, atol=1e-12)


# i − j + R − 1 for T = 5, R = 3, clamped to [0, 4]: written out by hand (GLOBAL-2).
HAND_INDEX = np.array(
    [
        [2, 1, 0, 0, 0],
        [3, 2, 1, 0, 0],
        [4, 3, 2, 1, 0],
        [4, 4, 3, 2, 1],
        [4, 4, 4, 3, 2],
    ]
)


def _softmax_rows(z: np.ndarray, visible: np.ndarray) -> np.ndarray:
    e = np.where(visible, np.exp(z - np.where(visible, z, -np.inf).max(-1, keepdims=True)), 0.0)
    return e / e.sum(-1, keepdims=True)


@pytest.mark.clause("GLOBAL-2", "LOCAL-2")
def test_global_bias_index_is_query_minus_key_and_clamped() -> None:
    table = np.array([[0.1, -0.7, 0.3, 1.9, -1.2]])  # entries for i − j = −2 … 2
    zero = np.zeros((1, 1, 5, 2))
    cfg = AHAConfig(window=8, max_rel_dist=3)
    _, w = ref.global_attention(zero, zero, zero, table, cfg, return_weights=True)
    np.testing.assert_allclose(
        w[0, 0], _softmax_rows(table[0][HAND_INDEX], np.ones((5, 5))), atol=1e-14
    )


@pytest.mark.clause("LOCAL-2", "LOCAL-1")
def test_local_bias_favours_the_key_its_entry_names() -> None:
    """Only the entry of i − j = +1 is large, so each query looks at the key before it."""
    R = 3
    table = np.zeros((1, 2 * R - 1))
    table[0, 1 + R - 1] = 30.0
    zero = np.zeros((1, 1, 6, 2))
    cfg = AHAConfig(window=8, max_rel_dist=R)
    _, w = ref.local_attention(zero, zero, zero, 1.0, table, cfg, return_weights=True)
    assert list(w[0, 0, 1:].argmax(axis=-1)) == [0, 1, 2, 3, 4]
    visible = np.abs(np.subtract.outer(np.arange(6), np.arange(6))) < R
    np.testing.assert_allclose(w[0, 0], _softmax_rows(table[0][HAND_INDEX_6], visible), atol=1e-14)


HAND_INDEX_6 = np.clip(np.subtract.outer(np.arange(6), np.arange(6)), -2, 2) + 2


@pytest.mark.clause("LOCAL-3", "PLAN-4")
@pytest.mark.parametrize("kind", ["local", "global"])
def test_temperature_divides_the_bias_only_in_the_local_branch(kind: str) -> None:
    table = np.array([[0.1, -0.7, 0.3, 1.9, -1.2]])
    zero = np.zeros((1, 1, 5, 2))
    cfg = AHAConfig(window=8, max_rel_dist=3, temperature=2.0)
    args = (zero, zero, zero, 1.0, table) if kind == "local" else (zero, zero, zero, table)
    _, w = getattr(ref, f"{kind}_attention")(*args, cfg, return_weights=True)
    # Local: τ = 2 and reach = min(8, 5, 3) = 3. Global: GLOBAL-3, no temperature.
    if kind == "local":
        visible = np.abs(np.subtract.outer(np.arange(5), np.arange(5))) < 3
        expected = _softmax_rows(table[0][HAND_INDEX] / 2.0, visible)
    else:
        expected = _softmax_rows(table[0][HAND_INDEX], np.ones((5, 5), dtype=bool))
    np.testing.assert_allclose(w[0, 0], expected, atol=1e-14)


@pytest.mark.clause("LOCAL-2", "LOCAL-3", "PLAN-5")
def test_gain_multiplies_the_dot_product_not_the_bias() -> None:
    """linear gain with W = 8, s = 1/4: w = 2, g = 4; τ = 1/2."""
    qkv = _hand_case(5, Dh=4, seed=3)
    table = np.array([[0.0, 0.0, 0.5, -1.5, 0.0]])
    cfg = AHAConfig(window=8, max_rel_dist=3, score_scale="linear", temperature=0.5, scale=0.3)
    _, w = ref.local_attention(
        **qkv, span_scale=0.25, rel_bias=table, config=cfg, return_weights=True
    )
    dots = qkv["q"][0, 0] @ qkv["k"][0, 0].T
    visible = np.abs(np.subtract.outer(np.arange(5), np.arange(5))) < 2
    expected = _softmax_rows((4.0 * 0.3 * dots + table[0][HAND_INDEX]) / 0.5, visible)
    np.testing.assert_allclose(w[0, 0], expected, atol=1e-13)


@pytest.mark.clause("CFG-4")
@pytest.mark.parametrize("head_dim", [1, 3, 4, 16])
def test_default_scale_is_inverse_sqrt_head_dim(head_dim: int) -> None:
    qkv = _hand_case(6, H=2, Dh=head_dim, seed=head_dim)
    table = np.zeros((2, 7))
    default = ref.global_attention(**qkv, rel_bias=table, config=AHAConfig(max_rel_dist=4))
    explicit = ref.global_attention(
        **qkv, rel_bias=table, config=AHAConfig(max_rel_dist=4, scale=1.0 / math.sqrt(head_dim))
    )
    np.testing.assert_array_equal(default, explicit)
    np.testing.assert_allclose(
        default, plain_attention(qkv["q"], qkv["k"], qkv["v"], False), atol=1e-13
    )


@pytest.mark.clause("LOCAL-4", "GLOBAL-3")
@pytest.mark.parametrize("size", [1e3, 1e4, 1e6])
def test_large_logits_give_finite_outputs(size: float) -> None:
    qkv = _hand_case(7, H=2, Dh=4, seed=5)
    qkv["q"] = qkv["q"] * size
    table = np.array([np.linspace(-size, size, 9)] * 2)
    cfg = AHAConfig(window=6, max_rel_dist=5, causal=True, temp_scale=1.0)
    for kind in ("local", "global"):
        inputs = dict(qkv, rel_bias=table, **({"span_scale": 0.5} if kind == "local" else {}))
        out, w = run(kind, cfg, inputs, return_weights=True)
        assert np.isfinite(out).all() and np.isfinite(w).all()
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-12)
        if kind == "local":
            inputs["span_scale"] = np.array([0.5])
        expected, _ = spec_attention(cfg, inputs)
        np.testing.assert_allclose(out, expected, atol=1e-9)


@pytest.mark.clause("MASK-2")
def test_padded_query_positions_are_computed_not_zeroed() -> None:
    qkv = _hand_case(6, seed=7)
    mask = np.array([[True, True, False, True, False, False]])
    table = np.zeros((1, 7))
    cfg = AHAConfig(window=8, max_rel_dist=4)
    for kind in ("local", "global"):
        inputs = dict(
            qkv,
            rel_bias=table,
            key_padding_mask=mask,
            **({"span_scale": np.array([1.0])} if kind == "local" else {}),
        )
        out = run(kind, cfg, inputs)
        expected, _ = spec_attention(cfg, inputs)
        assert np.all(np.abs(out[0, 0, ~mask[0]]).sum(-1) > 0)
        np.testing.assert_allclose(out, expected, atol=1e-13)

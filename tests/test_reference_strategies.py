"""Checks of the strategies module itself: what it draws is well-formed, exact in every dtype
under test, and reaches the edges the spec's clauses live on."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.conformance import strategies as S
from aha.reference import AHAConfig

FIND = settings(max_examples=3000, database=None, deadline=None)
SIXTEEN_BIT = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def float_arrays(inputs: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    found = [(n, a) for n, a in inputs.items() if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    found += [(n, a) for n, a in inputs.get("params", {}).items()]
    return [(n, a) for n, a in found if n != "span_scale"]


@pytest.mark.clause("PREC-1", "PREC-4")
@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["local", "global", "layer"]))
def test_float_inputs_are_exact_in_float16_and_bfloat16(data: st.DataObject, kind: str) -> None:
    _, inputs = S.draw_case(data, kind)
    for name, array in float_arrays(inputs):
        assert array.dtype == np.float64, name
        for dtype in SIXTEEN_BIT:
            np.testing.assert_array_equal(array.astype(dtype).astype(np.float64), array, name)


@pytest.mark.clause("LAYER-1", "MASK-1", "PLAN-1", "PREC-4")
@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(S.KINDS))
def test_inputs_have_the_documented_names_and_shapes(data: st.DataObject, kind: str) -> None:
    cfg, inputs = S.draw_case(data, kind)
    required = {
        "plan": {"span_scale", "seq_len"},
        "local": {"q", "k", "v", "span_scale", "rel_bias"},
        "global": {"q", "k", "v", "rel_bias"},
        "layer": {"x", "params"},
        "local_vjp": {"q", "k", "v", "span_scale", "rel_bias", "d_out"},
        "global_vjp": {"q", "k", "v", "rel_bias", "d_out"},
        "layer_vjp": {"x", "params", "d_y"},
    }[kind]
    optional = {
        "plan": set(),
        "local": {"key_padding_mask"},
        "global": {"key_padding_mask"},
        "layer": {"key_padding_mask", "span_scale"},
        "local_vjp": {"key_padding_mask"},
        "global_vjp": {"key_padding_mask"},
        "layer_vjp": {"key_padding_mask", "span_scale", "d_s"},
    }[kind]
    assert required <= set(inputs) <= required | optional
    if kind == "plan":
        B, T = inputs["span_scale"].shape[0], inputs["seq_len"]
    elif kind in ("layer", "layer_vjp"):
        B, T, D = inputs["x"].shape
        H = inputs["params"]["local.rel_bias"].shape[0]
        assert D <= S.MAX_MODEL_DIM and D % H == 0
        shapes = ref.param_shapes(D, H, cfg)
        assert {n: a.shape for n, a in inputs["params"].items()} == shapes
    else:
        B, H, T, Dh = inputs["q"].shape
        assert inputs["k"].shape == inputs["v"].shape == inputs["q"].shape
        assert inputs["rel_bias"].shape == (H, 2 * cfg.max_rel_dist - 1)
        assert H <= S.MAX_HEADS and Dh <= S.MAX_HEAD_DIM
    assert 1 <= B <= S.MAX_BATCH and 1 <= T <= S.MAX_LEN and isinstance(T, int)
    if "span_scale" in inputs:
        span = inputs["span_scale"]
        assert span.dtype == np.float64 and span.shape == (B,)
        assert np.all((span >= 0) & (span <= 1)) and len(set(span.tolist())) == B
    if "key_padding_mask" in inputs:
        assert inputs["key_padding_mask"].dtype == np.bool_
        assert inputs["key_padding_mask"].shape == (B, T)


@pytest.mark.clause("LOCAL-4", "PREC-2")
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float16", "bfloat16"]))
def test_16_bit_draws_have_no_large_logits(data: st.DataObject, dtype: str) -> None:
    _, inputs = S.draw_case(data, "local", dtype=dtype)
    assert np.abs(inputs["q"]).max() < 8


def reach_of(cfg: AHAConfig, inputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int]:
    p = ref.plan(inputs["span_scale"], inputs["q"].shape[2], cfg)
    return p.window, p.reach, inputs["q"].shape[2]


def dead_rows(kind: str, cfg: AHAConfig, inputs: dict[str, Any]) -> np.ndarray:
    """[B, T]: query rows with no visible key."""
    fn = ref.local_attention if kind == "local" else ref.global_attention
    args = inputs if kind == "local" else {n: a for n, a in inputs.items() if n != "span_scale"}
    return fn(config=cfg, **args, return_weights=True)[1][:, 0].sum(-1) == 0


def tie(cfg: AHAConfig, inputs: dict[str, Any]) -> bool:
    s = inputs["span_scale"]
    shift = s if cfg.sharpen == "short" else 1.0 - s
    return bool(np.any(cfg.temperature + cfg.temp_scale * shift == cfg.min_temperature))


def large_logit(cfg: AHAConfig, inputs: dict[str, Any]) -> bool:
    q, k = inputs["q"], inputs["k"]
    return float(np.abs(q @ k.swapaxes(-1, -2)).max()) * cfg.softmax_scale(q.shape[-1]) > 1e3


EDGES: dict[str, Callable[[AHAConfig, dict[str, Any]], bool]] = {
    "reach set by the window": lambda c, i: bool(
        np.any(
            (reach_of(c, i)[1] == reach_of(c, i)[0])
            & (reach_of(c, i)[0] < min(reach_of(c, i)[2], c.max_rel_dist))
        )
    ),
    "reach set by T": lambda c, i: bool(
        np.any((reach_of(c, i)[2] < reach_of(c, i)[0]) & (reach_of(c, i)[2] < c.max_rel_dist))
    ),
    "reach set by R": lambda c, i: bool(
        np.any((c.max_rel_dist < reach_of(c, i)[0]) & (c.max_rel_dist < reach_of(c, i)[2]))
    ),
    "min_window above T": lambda c, i: c.min_window > i["q"].shape[2],
    "local row dead, global row alive": lambda c, i: bool(
        np.any(dead_rows("local", c, i) & ~dead_rows("global", c, i))
    ),
    "global row dead": lambda c, i: bool(np.any(dead_rows("global", c, i))),
    "whole sequence padded": lambda c, i: (
        "key_padding_mask" in i and bool(np.any(~i["key_padding_mask"].any(axis=1)))
    ),
    "τmin tied": tie,
    "|logit| > 1e3": large_logit,
    "span on a float32 hazard": lambda c, i: any(
        s in S.float32_hazards(c.window) for s in i["span_scale"].tolist()
    ),
    "awkward length 17": lambda c, i: i["q"].shape[2] == 17,
    "asymmetric table": lambda c, i: not np.array_equal(i["rel_bias"], i["rel_bias"][:, ::-1]),
}


@pytest.mark.clause("PLAN-2", "PLAN-3", "LOCAL-4", "LOCAL-5", "GLOBAL-4", "GRAD-2", "LOCAL-2")
def test_local_draws_reach_every_edge() -> None:
    """Within a few hundred draws, each edge of EDGES is drawn at least twice."""
    hits = dict.fromkeys(EDGES, 0)

    @settings(max_examples=400, database=None, deadline=None, derandomize=True)
    @given(case=S.case_inputs("local"))
    def sample(case: tuple[AHAConfig, dict[str, Any]]) -> None:
        for edge, reached in EDGES.items():
            hits[edge] += reached(*case)

    sample()
    assert min(hits.values()) >= 2, hits


@pytest.mark.clause("PLAN-2")
def test_span_scales_hit_the_float32_hazard_of_the_spec() -> None:
    assert 0.29 in S.float32_hazards(100)
    found = find(S.span_scales(3, 100), lambda s: 0.29 in s.tolist(), settings=FIND)
    assert found.dtype == np.float64 and len(set(found.tolist())) == 3
    below = float(np.nextafter(3 / 8, 0.0))
    assert below in S.floor_edges(8) and 3 / 8 in S.floor_edges(8)
    assert math.floor(8 * below) == 2


@pytest.mark.clause("CFG-1", "CFG-2")
@settings(max_examples=40, deadline=None)
@given(cfg=S.configs(causal=False, window=st.sampled_from([5, 7]), sharpen="long"))
def test_configs_take_overrides_by_value_or_strategy(cfg: AHAConfig) -> None:
    assert cfg.causal is False and cfg.window in (5, 7) and cfg.sharpen == "long"
    assert 1 <= cfg.min_window <= cfg.window


@pytest.mark.clause("CFG-1")
def test_configs_reject_unknown_overrides_and_kinds() -> None:
    with pytest.raises(TypeError, match="windw"):
        S.configs(windw=3)
    with pytest.raises(ValueError, match="kind"):
        S.case_inputs("mlp")


@pytest.mark.clause("CFG-2")
@settings(max_examples=20, deadline=None)
@given(cfg=S.configs(min_window=30))
def test_configs_fit_the_window_to_a_fixed_min_window(cfg: AHAConfig) -> None:
    assert cfg.min_window == 30 and cfg.window >= 30


@pytest.mark.clause("PREC-1")
@settings(max_examples=20, deadline=None)
@given(data=st.data(), kind=st.sampled_from(S.KINDS))
def test_repro_rebuilds_the_case_exactly(data: st.DataObject, kind: str) -> None:
    cfg, inputs = S.draw_case(data, kind)
    namespace: dict[str, Any] = {}
    exec(S.repro(cfg, inputs), namespace)
    assert namespace["config"] == cfg
    rebuilt = namespace["inputs"]
    assert set(rebuilt) == set(inputs)
    for name, value in inputs.items():
        if isinstance(value, dict):
            for key, array in value.items():
                np.testing.assert_array_equal(rebuilt[name][key], array)
        elif isinstance(value, np.ndarray):
            assert rebuilt[name].dtype == value.dtype
            np.testing.assert_array_equal(rebuilt[name], value)
        else:
            assert rebuilt[name] == value
    assert namespace["result"] is not None

"""Fuzzing the reference's entry points (issue 14, ERR-1 .. ERR-9): on any argument, hostile
ones included, each either returns a finite result or raises one of the typed errors; never
another exception, never a NaN, never a warning. Small budget in CI; AHA_FUZZ_EXAMPLES=2000
for a long run.

Crashes found so far, each now a pinned test in tests/test_reference_errors.py: init_params
accepted zero heads and raised untyped errors for bad seeds
(``test_init_params_checks_every_argument``); window = 2**63 overflowed the plan
(``test_integer_fields_are_bounded_so_the_plan_cannot_overflow``); finite inputs whose
logits overflow returned NaN
(``test_finite_inputs_whose_logits_overflow_binary64_are_a_domain_error``). A legal but huge
layer (d_model = 96381) is a MemoryError, found by this test and kept out of its draws.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aha import reference as ref
from aha.reference import AHAConfig, AHAError

EXAMPLES = int(os.environ.get("AHA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
FIELDS = [
    "window",
    "min_window",
    "max_rel_dist",
    "causal",
    "temperature",
    "temp_scale",
    "sharpen",
    "min_temperature",
    "score_scale",
    "scale",
    "ln_eps",
]

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and ±inf included
    st.sampled_from(["short", "long", "none", "linear", "log", "", "x"]),
    st.just([1]),
    st.just(np.float64(2.0)),
    st.just(np.int32(3)),
)
DTYPES = ["float64", "float32", "float16", "bfloat16", "int64", "bool", "complex64"]


def typed(call: Callable[[], Any]) -> Any:
    """call() returns or raises an AHAError; a warning counts as a failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return call()
        except AHAError:
            return None


def finite(*arrays: Any) -> None:
    for a in arrays:
        assert np.isfinite(np.asarray(a, dtype=np.float64)).all()


@st.composite
def small_configs(draw: st.DrawFn) -> AHAConfig:
    window = draw(st.integers(1, 12), label="window")
    return AHAConfig(
        window=window,
        min_window=draw(st.integers(1, window), label="min_window"),
        max_rel_dist=draw(st.integers(1, 6), label="max_rel_dist"),
        causal=draw(st.booleans(), label="causal"),
        temp_scale=draw(st.sampled_from([0.0, 0.5, 3.0]), label="temp_scale"),
        score_scale=draw(st.sampled_from(["none", "linear", "log"]), label="score_scale"),
        scale=draw(st.sampled_from([None, 1e-300, 1.0, 1e300]), label="scale"),
    )


@st.composite
def hostile_arrays(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """Mostly the right shape with awkward values; sometimes the wrong shape or dtype."""
    kind = draw(st.sampled_from(["ok", "huge", "special", "shape", "dtype", "scalar", "list"]))
    if kind == "shape":
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=5), label="shape"))
    values = draw(
        st.sampled_from([0.0, 1.0, -3.5, 1e-310, 1e150, 2.0**600, np.nan, np.inf]), label="value"
    )
    arr = np.random.default_rng(draw(st.integers(0, 9))).normal(size=shape)
    if kind == "huge":
        arr = arr * 2.0 ** draw(st.integers(0, 1020), label="exponent")
    if kind == "special":
        arr.flat[0] = values
    if kind == "dtype":
        return arr.astype(draw(st.sampled_from(DTYPES), label="dtype"))
    if kind == "scalar":
        return values
    if kind == "list":
        return arr.tolist()
    return arr


@pytest.mark.clause("ERR-1", "ERR-3", "CFG-2")
@FUZZ
@given(fields=st.dictionaries(st.sampled_from([*FIELDS, "windw", ""]), hostile_scalars))
def test_config_returns_or_raises_config_error(fields: dict[str, Any]) -> None:
    config = typed(lambda: AHAConfig(**fields))
    if config is not None:
        assert 1 <= config.min_window <= config.window <= 2**31 - 1
        assert ref.plan(1.0, 1, config).window[0] == config.window


@pytest.mark.clause("ERR-1", "ERR-4", "ERR-6", "ERR-9", "PLAN-1")
@FUZZ
@given(
    span=st.one_of(hostile_scalars, st.lists(st.floats(), max_size=3).map(np.array)),
    seq_len=hostile_scalars,
    config=st.one_of(small_configs(), st.just({"window": 4})),
)
def test_plan_returns_a_sound_plan_or_raises(span: Any, seq_len: Any, config: Any) -> None:
    p = typed(lambda: ref.plan(span, seq_len, config))
    if p is not None:
        finite(p.temperature, p.gain)
        assert (p.window >= 1).all() and (p.reach >= 1).all() and (p.reach <= p.window).all()


@pytest.mark.clause("ERR-1", "ERR-4", "ERR-5", "ERR-6", "ERR-8", "ERR-9")
@FUZZ
@given(data=st.data(), config=small_configs())
def test_attention_returns_finite_or_raises(data: st.DataObject, config: AHAConfig) -> None:
    B, H, T, Dh = 2, 2, data.draw(st.integers(1, 5), label="T"), 3
    R = config.max_rel_dist
    q, k, v = (data.draw(hostile_arrays((B, H, T, Dh)), label=n) for n in "qkv")
    rel_bias = data.draw(hostile_arrays((H, 2 * R - 1)), label="rel_bias")
    mask = data.draw(
        st.sampled_from([None, np.ones((B, T), bool), np.zeros((B, T), bool), np.ones((B, T))]),
        label="key_padding_mask",
    )
    span = data.draw(st.one_of(hostile_scalars, st.just(np.array([0.5, 1.0]))), label="span")
    for call in (
        lambda: ref.local_attention(q, k, v, span, rel_bias, config, mask),
        lambda: ref.global_attention(q, k, v, rel_bias, config, mask),
    ):
        out = typed(call)
        if out is not None:
            finite(out)


@pytest.mark.clause("ERR-1", "ERR-4", "ERR-7", "ERR-9", "LAYER-1")
@FUZZ
@given(data=st.data(), config=small_configs())
def test_layer_and_params_return_or_raise(data: st.DataObject, config: AHAConfig) -> None:
    d_model = data.draw(st.one_of(st.integers(-2, 6), hostile_scalars), label="d_model")
    n_heads = data.draw(st.one_of(st.integers(-1, 3), hostile_scalars), label="n_heads")
    seed = data.draw(st.one_of(st.integers(-(2**65), 2**65), hostile_scalars), label="seed")
    shapes = typed(lambda: ref.param_shapes(d_model, n_heads, config))
    small = shapes is not None and sum(int(np.prod(s)) for s in shapes.values()) <= 10**5
    # A legal but huge layer is a MemoryError, not a bad argument (the long fuzz run's find).
    params = typed(
        lambda: ref.init_params(d_model if small else 4, n_heads if small else 2, config, seed)
    )
    if params is None:
        params = ref.init_params(4, 2, config, 0)
    name = data.draw(st.sampled_from(sorted(params)), label="parameter")
    change = data.draw(st.sampled_from(["keep", "drop", "replace", "extra"]), label="change")
    if change == "drop":
        params.pop(name)
    elif change == "replace":
        params[name] = data.draw(hostile_arrays(params[name].shape), label="value")
    elif change == "extra":
        params["extra"] = np.zeros(1)
    D = next(iter(params.values())).shape[-1] if params else 4
    x = data.draw(hostile_arrays((2, 3, D)), label="x")
    span = data.draw(st.one_of(st.none(), hostile_scalars), label="span")
    result = typed(lambda: ref.hybrid_layer(x, params, config, None, span))
    if result is not None:
        finite(*result)


@pytest.mark.clause("ERR-1", "ERR-4", "ERR-6", "ERR-9", "GRAD-2", "GRAD-3")
@FUZZ
@given(data=st.data(), config=small_configs())
def test_gradients_return_finite_or_raise(data: st.DataObject, config: AHAConfig) -> None:
    B, H, T, Dh = 2, 2, data.draw(st.integers(1, 4), label="T"), 3
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(B, H, T, Dh)) for _ in range(3))
    rel_bias = rng.normal(size=(H, 2 * config.max_rel_dist - 1))
    which = data.draw(st.sampled_from(["q", "rel_bias", "d_out"]), label="hostile")
    shapes = {"q": q.shape, "rel_bias": rel_bias.shape, "d_out": q.shape}
    args = {"q": q, "rel_bias": rel_bias, "d_out": rng.normal(size=q.shape)}
    args[which] = data.draw(hostile_arrays(shapes[which]), label=which)
    span = data.draw(st.one_of(hostile_scalars, st.just(np.array([0.25, 1.0]))), label="span")
    for call in (
        lambda: ref.local_attention_vjp(
            args["q"], k, v, span, args["rel_bias"], config, None, args["d_out"]
        ),
        lambda: ref.global_attention_vjp(
            args["q"], k, v, args["rel_bias"], config, None, args["d_out"]
        ),
        lambda: {"slope": ref.temperature_slope(span, config)},
    ):
        grads = typed(call)
        if grads is not None:
            finite(*grads.values())

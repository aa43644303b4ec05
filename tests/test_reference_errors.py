"""Every bad-input class of spec section 10: the documented error type, and a message that
names the argument (and, for values, the index and the value found)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from aha import reference as ref
from aha.reference import (
    AHAConfig,
    AHAError,
    ConfigError,
    DomainError,
    DTypeError,
    ParamsError,
    ShapeError,
)

CFG = AHAConfig(window=4, max_rel_dist=3)
B, H, T, Dh, D = 2, 2, 5, 3, 6


def attention_case() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "q": rng.normal(size=(B, H, T, Dh)),
        "k": rng.normal(size=(B, H, T, Dh)),
        "v": rng.normal(size=(B, H, T, Dh)),
        "span_scale": np.array([0.5, 1.0]),
        "rel_bias": rng.normal(size=(H, 5)),
        "key_padding_mask": np.ones((B, T), dtype=bool),
    }


def layer_case() -> dict[str, Any]:
    return {
        "x": np.random.default_rng(1).normal(size=(B, T, D)),
        "params": ref.init_params(D, H, CFG, seed=0),
    }


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def call_local(case: dict[str, Any]) -> Any:
    return ref.local_attention(config=CFG, **case)


def call_global(case: dict[str, Any]) -> Any:
    return ref.global_attention(config=CFG, **{n: a for n, a in case.items() if n != "span_scale"})


def nan_at(name: str, index: tuple[int, ...], value: float) -> dict[str, Any]:
    case = attention_case()
    case[name] = case[name].copy()
    case[name][index] = value
    return case


A = attention_case()
F32 = {n: A[n].astype(np.float32) for n in ("q", "k", "v", "rel_bias")}

# (case id, inputs, error type, the argument the message must start with, other substrings)
ATTENTION_ERRORS: list[tuple[str, dict[str, Any], type[AHAError], str, list[str]]] = [
    ("q rank 3", with_(A, q=A["q"][0]), ShapeError, "q", ["rank 4"]),
    ("k rank 5", with_(A, k=A["k"][None]), ShapeError, "k", ["rank 4"]),
    (
        "empty batch",
        with_(
            A,
            q=A["q"][:0],
            k=A["k"][:0],
            v=A["v"][:0],
            span_scale=A["span_scale"][:0],
            key_padding_mask=None,
        ),
        ShapeError,
        "q",
        ["empty"],
    ),
    (
        "empty sequence",
        with_(A, q=A["q"][:, :, :0], k=A["k"][:, :, :0], v=A["v"][:, :, :0], key_padding_mask=None),
        ShapeError,
        "q",
        ["empty"],
    ),
    (
        "empty head dim",
        with_(A, q=A["q"][..., :0], k=A["k"][..., :0], v=A["v"][..., :0]),
        ShapeError,
        "q",
        ["empty"],
    ),
    ("k longer", with_(A, k=np.concatenate([A["k"], A["k"]], axis=2)), ShapeError, "k", []),
    ("v other head dim", with_(A, v=A["v"][..., :2]), ShapeError, "v", []),
    ("rel_bias too wide", with_(A, rel_bias=np.zeros((H, 6))), ShapeError, "rel_bias", ["(2, 5)"]),
    ("rel_bias other H", with_(A, rel_bias=np.zeros((H + 1, 5))), ShapeError, "rel_bias", []),
    ("rel_bias rank 1", with_(A, rel_bias=np.zeros(5)), ShapeError, "rel_bias", []),
    (
        "mask of ints",
        with_(A, key_padding_mask=np.ones((B, T), dtype=np.int64)),
        DTypeError,
        "key_padding_mask",
        ["bool"],
    ),
    (
        "mask of floats",
        with_(A, key_padding_mask=np.ones((B, T))),
        DTypeError,
        "key_padding_mask",
        [],
    ),
    (
        "mask too long",
        with_(A, key_padding_mask=np.ones((B, T + 1), dtype=bool)),
        ShapeError,
        "key_padding_mask",
        ["[B, T]"],
    ),
    (
        "mask without batch",
        with_(A, key_padding_mask=np.ones(T, dtype=bool)),
        ShapeError,
        "key_padding_mask",
        [],
    ),
    ("q of ints", with_(A, q=np.ones((B, H, T, Dh), dtype=np.int32)), DTypeError, "q", ["int32"]),
    ("q complex", with_(A, q=A["q"] + 0j), DTypeError, "q", []),
    ("q bool", with_(A, q=A["q"] > 0), DTypeError, "q", []),
    ("k float32 beside q float64", with_(A, k=F32["k"]), DTypeError, "k", ["float32"]),
    ("v float16 beside q float64", with_(A, v=A["v"].astype(np.float16)), DTypeError, "v", []),
    (
        "rel_bias bfloat16 beside float32",
        with_(A, **{n: F32[n] for n in "qkv"}, rel_bias=A["rel_bias"].astype(ml_dtypes.bfloat16)),
        DTypeError,
        "rel_bias",
        ["bfloat16"],
    ),
    ("nan in q", nan_at("q", (1, 0, 2, 1), np.nan), DomainError, "q", ["nan", "[1, 0, 2, 1]"]),
    ("inf in k", nan_at("k", (0, 1, 4, 0), np.inf), DomainError, "k", ["inf", "[0, 1, 4, 0]"]),
    ("-inf in v", nan_at("v", (1, 1, 0, 2), -np.inf), DomainError, "v", ["-inf", "[1, 1, 0, 2]"]),
    (
        "nan in rel_bias",
        nan_at("rel_bias", (1, 3), np.nan),
        DomainError,
        "rel_bias",
        ["nan", "[1, 3]"],
    ),
    ("config not an AHAConfig", {}, ConfigError, "config", ["dict"]),
]

SPAN_ERRORS: list[tuple[str, Any, type[AHAError], str, list[str]]] = [
    ("span above 1", np.array([0.5, 1.5]), DomainError, "span_scale[1]", ["[0, 1]", "1.5"]),
    ("span below 0", np.array([-0.25, 0.5]), DomainError, "span_scale[0]", ["-0.25"]),
    ("span nan", np.array([0.5, np.nan]), DomainError, "span_scale[1]", ["nan"]),
    ("span inf", np.array([np.inf, 0.5]), DomainError, "span_scale[0]", ["inf"]),
    ("span one too many", np.array([0.5, 0.5, 0.5]), ShapeError, "span_scale", ["(3,)"]),
    ("span 2-d", np.full((B, 1), 0.5), ShapeError, "span_scale", []),
    ("span of strings", np.array(["0.5", "1"]), DTypeError, "span_scale", []),
]


def check_message(error: BaseException, argument: str, substrings: list[str]) -> None:
    """ERR-2: the message starts with the argument's name and holds what was found."""
    message = str(error)
    assert re.match(re.escape(argument) + r"(?!\w)", message), message
    for part in substrings:
        assert part in message, (part, message)


@pytest.mark.clause(
    "ERR-1", "ERR-2", "ERR-3", "ERR-4", "ERR-5", "ERR-6", "ERR-8", "MASK-1", "PREC-4"
)
@pytest.mark.parametrize("call", [call_local, call_global], ids=["local", "global"])
@pytest.mark.parametrize(
    ("case", "inputs", "error", "argument", "substrings"),
    ATTENTION_ERRORS,
    ids=[c[0] for c in ATTENTION_ERRORS],
)
def test_attention_rejects_bad_inputs(
    call: Callable[[dict[str, Any]], Any],
    case: str,
    inputs: dict[str, Any],
    error: type[AHAError],
    argument: str,
    substrings: list[str],
) -> None:
    if case == "config not an AHAConfig":
        with pytest.raises(ConfigError) as caught:
            ref.local_attention(A["q"], A["k"], A["v"], 0.5, A["rel_bias"], {"window": 4})
        check_message(caught.value, argument, substrings)
        return
    with pytest.raises(error) as caught:
        call(inputs)
    check_message(caught.value, argument, substrings)


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-4", "ERR-5", "ERR-6", "PLAN-1")
@pytest.mark.parametrize(
    ("case", "span", "error", "argument", "substrings"),
    SPAN_ERRORS,
    ids=[c[0] for c in SPAN_ERRORS],
)
def test_span_scale_is_checked_with_index_and_value(
    case: str, span: Any, error: type[AHAError], argument: str, substrings: list[str]
) -> None:
    with pytest.raises(error) as caught:
        call_local(with_(A, span_scale=span))
    check_message(caught.value, argument, substrings)
    if error is DomainError:
        with pytest.raises(error) as caught:
            ref.plan(span, 4, CFG)
        check_message(caught.value, argument, substrings)
        with pytest.raises(error) as caught:
            ref.hybrid_layer(config=CFG, **layer_case(), span_scale=span)
        check_message(caught.value, argument, substrings)


def drop(params: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    return {n: a for n, a in params.items() if n != name}


def replace(params: dict[str, np.ndarray], name: str, value: Any) -> dict[str, np.ndarray]:
    return {**params, name: value}


L = layer_case()
P = L["params"]
P4 = ref.init_params(8, 4, CFG, seed=0)  # tables of H = 4 with D = 6: not a multiple

LAYER_ERRORS: list[tuple[str, dict[str, Any], type[AHAError], str, list[str]]] = [
    ("x rank 2", with_(L, x=L["x"][0]), ShapeError, "x", ["rank 3"]),
    ("x empty", with_(L, x=L["x"][:, :0]), ShapeError, "x", ["empty"]),
    ("x of ints", with_(L, x=L["x"].astype(np.int64)), DTypeError, "x", []),
    (
        "x with nan",
        with_(L, x=np.where(np.arange(D) == 4, np.nan, L["x"])),
        DomainError,
        "x",
        ["nan", "[0, 0, 4]"],
    ),
    ("params not a mapping", with_(L, params=list(P.values())), ParamsError, "params", []),
    (
        "params missing span.bias",
        with_(L, params=drop(P, "span.bias")),
        ParamsError,
        "params",
        ["'span.bias'"],
    ),
    (
        "params with an extra name",
        with_(L, params=replace(P, "span.scale", np.ones(1))),
        ParamsError,
        "params",
        ["'span.scale'"],
    ),
    (
        "params entry misshapen",
        with_(L, params=replace(P, "local.q.weight", np.ones((D, D + 1)))),
        ShapeError,
        "params['local.q.weight']",
        ["(6, 7)"],
    ),
    (
        "params bias of rank 2",
        with_(L, params=replace(P, "proj.bias", np.ones((1, D)))),
        ShapeError,
        "params['proj.bias']",
        [],
    ),
    (
        "tables of different H",
        with_(L, params=replace(P, "global.rel_bias", np.ones((3, 5)))),
        ShapeError,
        "params['global.rel_bias']",
        [],
    ),
    (
        "table too narrow",
        with_(
            L,
            params=replace(
                replace(P, "global.rel_bias", np.ones((H, 3))), "local.rel_bias", np.ones((H, 3))
            ),
        ),
        ShapeError,
        "params['local.rel_bias']",
        [],
    ),
    (
        "D not a multiple of H",
        with_(
            L,
            params={
                **{n: a for n, a in P.items()},
                "local.rel_bias": P4["local.rel_bias"],
                "global.rel_bias": P4["global.rel_bias"],
            },
        ),
        ShapeError,
        "x",
        ["D=6", "H=4"],
    ),
    (
        "params entry float32",
        with_(L, params=replace(P, "span.weight", P["span.weight"].astype(np.float32))),
        DTypeError,
        "params['span.weight']",
        ["float32"],
    ),
    (
        "params entry with inf",
        with_(L, params=replace(P, "proj.bias", np.where(np.arange(D) == 2, np.inf, 0.0))),
        DomainError,
        "params['proj.bias']",
        ["inf", "[2]"],
    ),
    (
        "layer mask shape",
        with_(L, key_padding_mask=np.ones((B + 1, T), dtype=bool)),
        ShapeError,
        "key_padding_mask",
        [],
    ),
    (
        "layer mask dtype",
        with_(L, key_padding_mask=np.ones((B, T), dtype=np.uint8)),
        DTypeError,
        "key_padding_mask",
        [],
    ),
    ("layer span shape", with_(L, span_scale=np.array([0.5])), ShapeError, "span_scale", []),
]


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-4", "ERR-5", "ERR-6", "ERR-7", "ERR-8", "LAYER-1")
@pytest.mark.parametrize(
    ("case", "inputs", "error", "argument", "substrings"),
    LAYER_ERRORS,
    ids=[c[0] for c in LAYER_ERRORS],
)
def test_layer_rejects_bad_inputs(
    case: str, inputs: dict[str, Any], error: type[AHAError], argument: str, substrings: list[str]
) -> None:
    with pytest.raises(error) as caught:
        ref.hybrid_layer(config=CFG, **inputs)
    check_message(caught.value, argument, substrings)


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-3", "ERR-4", "PLAN-3")
@pytest.mark.parametrize(
    ("seq_len", "config", "error", "argument"),
    [
        (0, CFG, ShapeError, "seq_len"),
        (-2, CFG, ShapeError, "seq_len"),
        (True, CFG, ShapeError, "seq_len"),
        (4.0, CFG, ShapeError, "seq_len"),
        (4, {"window": 4}, ConfigError, "config"),
    ],
)
def test_plan_rejects_bad_arguments(
    seq_len: Any, config: Any, error: type[AHAError], argument: str
) -> None:
    with pytest.raises(error) as caught:
        ref.plan(0.5, seq_len, config)
    check_message(caught.value, argument, [])
    with pytest.raises(ShapeError):
        ref.plan(np.array([]), 4, CFG)


@pytest.mark.clause("ERR-1", "ERR-5", "PREC-2")
@pytest.mark.parametrize("dtype", ["int32", "float128", "complex64", object])
def test_unknown_evaluation_dtype_is_a_dtype_error(dtype: Any) -> None:
    with pytest.raises(DTypeError, match=r"^dtype"):
        call_local(with_(A, dtype=dtype))
    with pytest.raises(DTypeError, match=r"^dtype"):
        ref.hybrid_layer(config=CFG, **layer_case(), dtype=dtype)


@pytest.mark.clause("ERR-1", "ERR-4", "GRAD-3")
def test_vjp_checks_d_out() -> None:
    with pytest.raises(ShapeError, match=r"^d_out"):
        ref.local_attention_vjp(config=CFG, **A, d_out=np.ones((B, H, T, Dh + 1)))
    with pytest.raises(DomainError, match=r"^d_out"):
        ref.global_attention_vjp(
            A["q"], A["k"], A["v"], A["rel_bias"], CFG, None, np.full((B, H, T, Dh), np.nan)
        )


@pytest.mark.clause("ERR-1")
def test_error_types_have_builtin_bases() -> None:
    for cls, base in (
        (ConfigError, ValueError),
        (ShapeError, ValueError),
        (DomainError, ValueError),
        (ParamsError, ValueError),
        (DTypeError, TypeError),
    ):
        assert issubclass(cls, AHAError) and issubclass(cls, base)


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-3", "ERR-4", "ERR-9", "LAYER-1")
@pytest.mark.parametrize(
    ("arguments", "error", "argument"),
    [
        ((0, 1, CFG, 0), ShapeError, "d_model"),
        ((6, 0, CFG, 0), ShapeError, "n_heads"),
        ((-6, 2, CFG, 0), ShapeError, "d_model"),
        ((True, 1, CFG, 0), ShapeError, "d_model"),
        ((6.0, 2, CFG, 0), ShapeError, "d_model"),
        ((6, "2", CFG, 0), ShapeError, "n_heads"),
        ((2**31, 1, CFG, 0), ShapeError, "d_model"),
        ((6, 4, CFG, 0), ShapeError, "d_model"),
        ((6, 2, {"window": 4}, 0), ConfigError, "config"),
        ((6, 2, None, 0), ConfigError, "config"),
        ((6, 2, CFG, -1), DomainError, "seed"),
        ((6, 2, CFG, 2**64), DomainError, "seed"),
        ((6, 2, CFG, 1.5), DTypeError, "seed"),
        ((6, 2, CFG, "0"), DTypeError, "seed"),
        ((6, 2, CFG, None), DTypeError, "seed"),
        ((6, 2, CFG, True), DTypeError, "seed"),
    ],
)
def test_init_params_checks_every_argument(
    arguments: tuple[Any, ...], error: type[AHAError], argument: str
) -> None:
    with pytest.raises(error) as caught:
        ref.init_params(*arguments)
    check_message(caught.value, argument, [])
    if argument != "seed":
        with pytest.raises(error):
            ref.param_shapes(*arguments[:3])


@pytest.mark.clause("ERR-1", "ERR-3", "CFG-2", "PLAN-2")
@pytest.mark.parametrize("field", ["window", "max_rel_dist"])
def test_integer_fields_are_bounded_so_the_plan_cannot_overflow(field: str) -> None:
    for value in (2**31, 2**63, 2**100):
        with pytest.raises(ConfigError, match=rf"^AHAConfig\.{field} must be an int in"):
            AHAConfig(**{field: value})
    top = AHAConfig(window=2**31 - 1, max_rel_dist=2**31 - 1)
    p = ref.plan(np.array([0.0, 0.5, 1.0]), 2**31 - 1, top)
    assert list(p.window) == [1, 2**30 - 1, 2**31 - 1]
    assert (p.reach >= 1).all() and (p.reach <= p.window).all()
    with pytest.raises(ShapeError, match=r"^seq_len"):
        ref.plan(0.5, 2**31, top)


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-6", "ERR-9")
def test_finite_inputs_whose_logits_overflow_binary64_are_a_domain_error() -> None:
    """Not NaN with a RuntimeWarning (pytest turns warnings into errors here too)."""
    huge = with_(A, q=np.full((B, H, T, Dh), 2.0**600), k=np.full((B, H, T, Dh), -(2.0**600)))
    with pytest.raises(DomainError, match=r"^q, k and rel_bias: .*overflows binary64"):
        call_local(huge)
    with pytest.raises(DomainError, match=r"^q, k and rel_bias"):
        call_global(huge)
    x = np.zeros((B, T, D))
    x[..., 0], x[..., 1] = 2.0**600, -(2.0**600)  # LayerNorm's variance overflows
    with pytest.raises(DomainError, match=r"^x and params"):
        ref.hybrid_layer(x, layer_case()["params"], CFG)
    # Large but representable logits stay a result (LOCAL-4: the row maximum is subtracted).
    big = with_(A, q=A["q"] * 2.0**200, k=A["k"] * 2.0**200)
    assert np.isfinite(call_local(big)).all() and np.isfinite(call_global(big)).all()
    # The low-precision baselines are not guarded: only binary64 defines the domain.
    assert call_local(with_(A, dtype="float32")).dtype == np.float32

"""Gradient properties run against an adapter that claims ``vjp`` (GRAD-1 .. GRAD-6).

Two per VJP: ``matches-reference`` compares the adapter's gradients to the reference's VJP on
generated inputs and cotangents under the gradient rule (GRAD-6); ``vjp-matches-own-forward``
compares them to central finite differences of the adapter's own forward, in float64, so an
author learns whether the forward or the backward is off. Draws for the second stay away
from the kinks of the layer (floor of W·s, τmin clamp, LayerNorm of a flat row), as the
reference's own finite-difference tests do (tests/test_gradients*.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from aha.reference import AHAConfig

from . import oracle, strategies
from .calls import CheckFailed, call_adapter, expect
from .operations import GRAD
from .properties import Draw, Property
from .protocol import Adapter
from .tolerance import SPAN_MARGIN

# Central differences at STEP on inputs of size ~1: the reference's VJPs agree with them to
# 2.9e-9 relative (notes/H3a.md, 300 layer draws); RTOL leaves 300× room for another
# summation order, while a dropped or misrouted term is off by 1e-2 or more.
STEP, RTOL = 1e-6, 1e-6
KINK_MARGIN = 1e-3  # W·s from an integer and τ from τmin, for finite differences
SIGMA_MIN = 0.1  # LayerNorm rows with √(var + eps) below this bend within a step


def matches_reference(kind: str) -> Callable[[Adapter, AHAConfig, dict[str, Any], str], None]:
    """The adapter's VJP equals the reference's within GRAD-6's bound."""

    def check(adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str) -> None:
        if kind == "layer_vjp" and "span_scale" not in inputs:
            s = oracle.evaluate("layer", config, inputs)["s"]
            assume(oracle.span_margin(config, s) >= SPAN_MARGIN)  # PREC-5
            assume(_tau_margin(config, s) >= KINK_MARGIN)
        # The implementation first: a declined call then costs no reference evaluation.
        got = call_adapter(adapter, kind, config, oracle.cast(inputs, dtype))
        want = oracle.evaluate(kind, config, inputs)
        base = oracle.baseline_errors(kind, config, inputs, want, dtype)
        missing = sorted(set(want) - set(got))
        if missing:
            raise CheckFailed(f"the VJP returned no {', '.join(missing)}")
        expect(kind, got, want, dtype, base)

    return check


def matches_own_forward(kind: str) -> Callable[[Adapter, AHAConfig, dict[str, Any], str], None]:
    """<VJP, u> equals the central difference of <cotangent, forward> along u, for a random
    direction u of each input in turn, all in float64 and all the adapter's own."""
    forward = kind.removesuffix("_vjp")

    def check(adapter: Adapter, config: AHAConfig, inputs: dict[str, Any], dtype: str) -> None:
        inputs = _smooth(config, inputs)
        grads = call_adapter(adapter, kind, config, inputs)
        cotangent = {k: inputs.pop(k) for k in ("d_out", "d_y", "d_s") if k in inputs}
        rng = np.random.default_rng(0)

        def objective(x: dict[str, Any]) -> float:
            """<cotangent, forward(x)> with the adapter's forward."""
            got = call_adapter(adapter, forward, config, x)
            if "d_out" in cotangent:
                return float(np.sum(np.asarray(got["out"], np.float64) * cotangent["d_out"]))
            total = float(np.sum(np.asarray(got["y"], np.float64) * cotangent["d_y"]))
            if "d_s" in cotangent:
                total += float(np.sum(np.asarray(got["s"], np.float64) * cotangent["d_s"]))
            return total

        for name, direction in _directions(inputs, rng):
            analytic = sum(
                float(np.sum(np.asarray(grads[f"{GRAD}{g}"], dtype=np.float64) * u))
                for g, u in direction.items()
            )
            plus, minus = (_moved(inputs, direction, sign * STEP) for sign in (1, -1))
            fd = (objective(plus) - objective(minus)) / (2 * STEP)
            if abs(fd - analytic) > RTOL * max(1.0, abs(analytic)):
                raise CheckFailed(
                    f"grad.{name} disagrees with finite differences of the adapter's own "
                    f"forward: <grad, u> = {analytic:.10g}, central difference {fd:.10g} "
                    f"(step {STEP}); the backward or the forward is off (GRAD-4)"
                )

    return check


def _smooth(config: AHAConfig, inputs: dict[str, Any]) -> dict[str, Any]:
    """The draw moved where central differences are accurate: q (or the q weights) shrunk,
    span scales mid-piece, τ away from τmin, LayerNorm rows not flat (else rejected)."""
    x: dict[str, Any] = {k: (dict(v) if k == "params" else v) for k, v in inputs.items()}
    if "q" in x:
        x["q"] = x["q"] / 8
    if "params" in x:
        for branch in ("local", "global"):
            x["params"][f"{branch}.q.weight"] = x["params"][f"{branch}.q.weight"] / 4
        rows = x["x"].var(axis=-1) + config.ln_eps
        assume(float(rows.min()) >= SIGMA_MIN**2)
    if "span_scale" in x:
        W = config.window
        x["span_scale"] = (np.minimum(np.floor(W * x["span_scale"]), W - 1) + 0.5) / W
        s = x["span_scale"]
    elif "params" in x:
        s = oracle.evaluate("layer", config, x)["s"]
        ws = config.window * s
        assume(config.min_window >= config.window or np.abs(ws - np.round(ws)).min() > KINK_MARGIN)
    else:
        return x
    assume(_tau_margin(config, s) > KINK_MARGIN)
    return x


def _tau_margin(config: AHAConfig, s: np.ndarray) -> float:
    """min over b of |τ0 + α·shift − τmin| (GRAD-2's kink)."""
    shift = s if config.sharpen == "short" else 1.0 - s
    return float(
        np.min(np.abs(config.temperature + config.temp_scale * shift - config.min_temperature))
    )


def _directions(
    inputs: dict[str, Any], rng: np.random.Generator
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(name, {gradient name: direction}) for each input; the parameters move together."""
    found = []
    for name, value in inputs.items():
        if name == "params":
            joint = {f"params.{k}": rng.normal(size=np.shape(a)) for k, a in value.items()}
            found.append(("params", joint))
        elif name == "span_scale":
            # inside [0, 1] and inside the floor piece: the step is far below 1/(2W)
            found.append((name, {name: rng.normal(size=np.shape(value))}))
        elif name in ("q", "k", "v", "rel_bias", "x"):
            found.append((name, {name: rng.normal(size=np.shape(value))}))
    return found


def _moved(inputs: dict[str, Any], direction: dict[str, np.ndarray], h: float) -> dict[str, Any]:
    moved: dict[str, Any] = {k: (dict(v) if k == "params" else v) for k, v in inputs.items()}
    for name, u in direction.items():
        if name.startswith("params."):
            key = name.removeprefix("params.")
            moved["params"][key] = moved["params"][key] + h * u
        else:
            moved[name] = moved[name] + h * u
    return moved


def _draws(kind: str, dtype: str | None = None) -> Callable[[str], st.SearchStrategy[Draw]]:
    """Draws of ``kind``; ``dtype`` fixed to float16 keeps large logits out (finite
    differences)."""
    return lambda d: strategies.case_inputs(kind, dtype=dtype or d)


VJPS = {
    "local_vjp": ("GRAD-1", "GRAD-2", "GRAD-3", "GRAD-4", "GRAD-6"),
    "global_vjp": ("GRAD-3", "GRAD-4", "GRAD-6"),
    "layer_vjp": ("GRAD-2", "GRAD-4", "GRAD-5", "GRAD-6", "PREC-5"),
}
FLOAT64 = frozenset({"float64"})

GRAD_PROPERTIES = [
    *(
        Property(
            f"matches-reference/{kind}",
            kind,
            clauses,
            frozenset(),
            _draws(kind),
            matches_reference(kind),
        )
        for kind, clauses in VJPS.items()
    ),
    *(
        Property(
            f"vjp-matches-own-forward/{kind}",
            kind,
            ("GRAD-4",),
            FLOAT64,
            _draws(kind, "float16"),
            matches_own_forward(kind),
            dtypes=("float64",),
        )
        for kind in VJPS
    ),
]

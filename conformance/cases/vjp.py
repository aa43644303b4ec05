"""Golden cases of GRAD: vector-Jacobian products of the two branches and of the layer.

Each case is its forward case's inputs plus the cotangent of every output (d_out, or d_y and
d_s); the expected outputs are the gradients ``grad.<input>`` (GRAD-4). Span scales sit in the
middle of their floor piece and τ away from τmin except where a case pins the clamp itself,
and layer cases keep W·s at the margin of PREC-5 (the generator chooses span.bias), so every
implementation differentiates the same piece (GRAD-6).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..corpus import Case
from .build import Build, core, grid, layer, masks, valid


def with_d_out(build: Build) -> Build:
    """A branch case's inputs plus d_out, a cotangent of q's shape."""

    def inputs(rng: np.random.Generator) -> dict[str, Any]:
        found = build(rng)
        return {**found, "d_out": grid(rng, found["q"].shape)}

    return inputs


def with_d_y(build: Build, d_s: bool) -> Build:
    """A layer case's inputs plus d_y of x's shape and, when ``d_s``, a cotangent for s."""

    def inputs(rng: np.random.Generator) -> dict[str, Any]:
        found = build(rng)
        found["d_y"] = grid(rng, found["x"].shape)
        if d_s:
            found["d_s"] = grid(rng, (found["x"].shape[0],))
        return found

    return inputs


def cases() -> Iterator[Case]:
    yield from local_cases()
    yield from global_cases()
    yield from layer_cases()


def local_cases() -> Iterator[Case]:
    # W = 8: spans k/8 + 1/16 sit mid-piece; τ = 1 + α·s stays far above τmin = 0.05.
    c1 = {"window": 8, "max_rel_dist": 6, "temp_scale": 0.75, "score_scale": "log"}
    yield valid(
        id="local_vjp/basic",
        kind="local_vjp",
        description="dq, dk, dv, the bias table and s through τ (gain and reach constant in s)",
        clauses="GRAD-1 GRAD-2 GRAD-3 GRAD-4",
        flags="grad-span-missing grad-bias-misplaced",
        config=c1,
        inputs=with_d_out(lambda rng: core(rng, 2, 2, 9, 4, 6, span=[0.4375, 0.8125])),
    )
    # τ0 = 1/2, α = 1, τmin = 7/8: s = 13/16 is free (τ = 21/16), s = 5/16 is clamped
    # (τ0 + α·s = 13/16); min_window 3 keeps its reach at 3, so τ still moves its weights.
    c2 = {"window": 8, "min_window": 3, "max_rel_dist": 8, "temperature": 0.5}
    c2 |= {"temp_scale": 1.0, "min_temperature": 0.875}
    yield valid(
        id="local_vjp/clamp-active",
        kind="local_vjp",
        description="one sequence with the τmin clamp active: its s gets exactly zero",
        clauses="GRAD-2 PLAN-4",
        flags="grad-through-clamp",
        config=c2,
        inputs=with_d_out(lambda rng: core(rng, 2, 2, 8, 4, 8, span=[0.8125, 0.3125])),
    )
    # τ0 = 1/4, α = 1, τmin = 13/16: s = 9/16 ties the clamp exactly (τ0 + α·s = τmin, a tie
    # counts as clamped: GRAD-2); s = 15/16 is free. Both sit mid-piece (W·s = 4.5, 7.5).
    c_tie = {"window": 8, "max_rel_dist": 8, "temperature": 0.25}
    c_tie |= {"temp_scale": 1.0, "min_temperature": 0.8125}
    yield valid(
        id="local_vjp/clamp-tie",
        kind="local_vjp",
        description="τ0 + α·s equals τmin exactly for one sequence: the tie is clamped, its s "
        "gets exactly zero",
        clauses="GRAD-2 PLAN-4",
        flags="grad-through-clamp",
        config=c_tie,
        inputs=with_d_out(lambda rng: core(rng, 2, 2, 8, 4, 8, span=[0.5625, 0.9375])),
    )
    c3 = {"window": 8, "max_rel_dist": 8, "causal": True, "temp_scale": 0.5}
    yield valid(
        id="local_vjp/dead-rows",
        kind="local_vjp",
        description="causal with left padding and a sequence of padding only: dead rows and "
        "padded keys pass no gradient",
        clauses="GRAD-3 LOCAL-5 MASK-2 CAUSAL-1",
        flags="grad-masked-rows",
        config=c3,
        inputs=with_d_out(
            lambda rng: core(
                rng,
                3,
                2,
                8,
                4,
                8,
                span=[0.6875, 0.9375, 0.5625],
                mask=masks("00011111", "00000000", "11111100"),
            )
        ),
    )
    # T = 70 crosses key tiles of 16, 32 and 64; reach min(⌊64·0.9⌋, 70, 64) = 57.
    c4 = {"window": 64, "max_rel_dist": 64, "temp_scale": 0.25}
    yield valid(
        id="local_vjp/tile-crossing",
        kind="local_vjp",
        description="T = 70, reach 57: every query's keys span several key tiles",
        clauses="GRAD-3 GRAD-4",
        flags="grad-dq-first-tile",
        config=c4,
        inputs=with_d_out(lambda rng: core(rng, 1, 1, 70, 4, 64, span=0.9)),
    )


def global_cases() -> Iterator[Case]:
    yield valid(
        id="global_vjp/clamped-distances",
        kind="global_vjp",
        description="T = 12 > R = 3: the edge entries of the table collect every far pair",
        clauses="GRAD-3 GRAD-4 GLOBAL-2",
        flags="grad-bias-misplaced",
        config={"window": 4, "max_rel_dist": 3},
        inputs=with_d_out(lambda rng: core(rng, 2, 2, 12, 4, 3)),
    )
    yield valid(
        id="global_vjp/dead-rows",
        kind="global_vjp",
        description="causal with left padding: first rows see no key and pass no gradient",
        clauses="GRAD-3 GLOBAL-4 CAUSAL-1",
        flags="grad-masked-rows",
        config={"window": 4, "max_rel_dist": 4, "causal": True},
        inputs=with_d_out(lambda rng: core(rng, 2, 2, 8, 4, 4, mask=masks("00011111", "00000011"))),
    )
    yield valid(
        id="global_vjp/tile-crossing",
        kind="global_vjp",
        description="T = 70: dq sums over every key tile, dk and dv over every query tile",
        clauses="GRAD-3 GRAD-4",
        flags="grad-dq-first-tile",
        config={"window": 4, "max_rel_dist": 8},
        inputs=with_d_out(lambda rng: core(rng, 1, 1, 70, 4, 8)),
    )


def layer_cases() -> Iterator[Case]:
    def lay(B: int, T: int, D: int, H: int, config: dict[str, Any], **kw: Any) -> Build:
        return lambda rng: layer(rng, B, T, D, H, config, **kw)

    c1 = {"window": 8, "max_rel_dist": 8, "temp_scale": 0.5}
    yield valid(
        id="layer_vjp/predicted-span",
        kind="layer_vjp",
        description="s predicted: its gradient (d_s and τ's path) flows through the sigmoid, "
        "the pool and the global branch",
        clauses="GRAD-2 GRAD-4 GRAD-5 LAYER-4",
        flags="grad-span-missing",
        config=c1,
        inputs=with_d_y(lay(2, 7, 8, 2, c1), d_s=True),
    )
    yield valid(
        id="layer_vjp/explicit-span",
        kind="layer_vjp",
        description="span_scale given: its gradient, the predictor's parameters get zero",
        clauses="GRAD-1 GRAD-2 GRAD-4 GRAD-5",
        flags="grad-span-missing",
        config=c1,
        inputs=with_d_y(lay(2, 6, 8, 2, c1, span=[0.3125, 0.8125]), d_s=True),
    )
    c2 = {"window": 6, "max_rel_dist": 6, "causal": True, "temp_scale": 1.0, "sharpen": "long"}
    yield valid(
        id="layer_vjp/causal-padding",
        kind="layer_vjp",
        description="causal layer with padding: padded positions pool nothing, dead rows "
        "pass nothing",
        clauses="GRAD-3 GRAD-5 LAYER-4 MASK-2",
        flags="grad-masked-rows",
        config=c2,
        inputs=with_d_y(lay(2, 8, 8, 2, c2, mask=masks("00111111", "11111100")), d_s=False),
    )

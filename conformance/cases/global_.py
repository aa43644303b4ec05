"""Golden cases of GLOBAL: the global branch (spec/AHA.md)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from ..corpus import Case
from .build import core, masks, valid


def cases() -> Iterator[Case]:
    yield valid(
        id="global/plain",
        kind="global",
        description="not causal: every key visible",
        clauses="GLOBAL-1 GLOBAL-2 GLOBAL-3",
        flags="global-causal bias-not-added",
        config={"window": 4, "max_rel_dist": 4},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 4),
    )
    yield valid(
        id="global/clamped-distances",
        kind="global",
        description="T = 12 > R = 3: far distances share the edge entries of an asymmetric table",
        clauses="GLOBAL-2",
        flags="bias-sign-flipped bias-not-added",
        config={"window": 4, "max_rel_dist": 3},
        inputs=lambda rng: core(rng, 2, 2, 12, 4, 3),
    )
    yield valid(
        id="global/causal",
        kind="global",
        description="causal global branch",
        clauses="GLOBAL-1 CAUSAL-1",
        flags="causal-off-by-one",
        config={"window": 4, "max_rel_dist": 4, "causal": True},
        inputs=lambda rng: core(rng, 2, 2, 9, 4, 4),
    )
    yield valid(
        id="global/causal-left-padding",
        kind="global",
        description="causal with left padding: first rows see no key and give 0",
        clauses="GLOBAL-4 CAUSAL-1 MASK-1",
        flags="masked-rows-nan masked-rows-mean-v",
        config={"window": 4, "max_rel_dist": 4, "causal": True},
        inputs=lambda rng: core(rng, 2, 2, 8, 4, 4, mask=masks("00011111", "00000011")),
    )
    yield valid(
        id="global/padded-sequence",
        kind="global",
        description="one sequence entirely padding: all its rows give 0",
        clauses="GLOBAL-4 MASK-1 MASK-2",
        flags="masked-rows-nan masked-rows-mean-v padding-mask-inverted",
        config={"window": 4, "max_rel_dist": 4},
        inputs=lambda rng: core(rng, 2, 2, 7, 4, 4, mask=masks("0000000", "1111100")),
    )
    for T in (1, 33, 130):
        yield valid(
            id=f"global/T-{T}",
            kind="global",
            description=f"T = {T}",
            clauses="GLOBAL-1 GLOBAL-2",
            flags="bias-sign-flipped",
            config={"window": 4, "max_rel_dist": 8},
            inputs=partial(core, B=1, H=2 if T < 100 else 1, T=T, Dh=4, R=8),
        )
    yield valid(
        id="global/large-logits",
        kind="global",
        description="|logit| ≈ 1e4",
        clauses="GLOBAL-3 LOCAL-4",
        flags="",
        config={"window": 4, "max_rel_dist": 4},
        inputs=lambda rng: core(rng, 1, 2, 7, 4, 4, limit=64, step=1),
    )

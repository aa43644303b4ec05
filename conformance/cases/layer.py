"""Golden cases of LAYER: the hybrid layer end to end (spec/AHA.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..corpus import Case
from .build import Build, layer, masks, valid


def cases() -> Iterator[Case]:
    def lay(B: int, T: int, D: int, H: int, config: dict[str, Any], **kw: Any) -> Build:
        return lambda rng: layer(rng, B, T, D, H, config, **kw)

    c1 = {"window": 8, "max_rel_dist": 8, "temp_scale": 0.5}
    yield valid(
        id="layer/basic",
        kind="layer",
        description="the layer end to end, s predicted",
        clauses="LAYER-1 LAYER-2 LAYER-3 LAYER-4 LAYER-5 LAYER-6 LAYER-7",
        flags="heads-interleaved",
        config=c1,
        inputs=lay(2, 7, 16, 4, c1),
    )
    c2 = {"window": 8, "max_rel_dist": 8, "temp_scale": 1.0, "score_scale": "log"}
    yield valid(
        id="layer/padding",
        kind="layer",
        description="padding: the span predictor pools real positions only",
        clauses="LAYER-4 MASK-1 MASK-2",
        flags="span-pools-padding padding-mask-inverted",
        config=c2,
        inputs=lay(2, 9, 16, 4, c2, mask=masks("111111000", "111111111")),
    )
    yield valid(
        id="layer/explicit-span",
        kind="layer",
        description="span_scale given: it replaces the prediction",
        clauses="LAYER-4 LAYER-7 PLAN-1",
        flags="batch-averaged-span",
        config=c1,
        inputs=lay(2, 9, 16, 2, c1, span=[0.25, 0.875]),
    )
    yield valid(
        id="layer/padded-sequence",
        kind="layer",
        description="a sequence with no real position pools to 0: s = sigmoid(span.bias)",
        clauses="LAYER-4 GLOBAL-4 LOCAL-5",
        flags="masked-rows-nan span-pools-padding",
        config=c1,
        inputs=lay(2, 6, 8, 2, c1, mask=masks("000000", "111000")),
    )
    c3 = {"window": 6, "max_rel_dist": 6, "causal": True, "temp_scale": 0.5, "sharpen": "long"}
    yield valid(
        id="layer/causal",
        kind="layer",
        description="causal layer",
        clauses="LAYER-3 LAYER-5 CAUSAL-1",
        flags="causal-off-by-one global-causal",
        config=c3,
        inputs=lay(2, 8, 16, 4, c3),
    )
    c4 = {"window": 8, "max_rel_dist": 8, "ln_eps": 0.0625}
    yield valid(
        id="layer/layernorm-eps",
        kind="layer",
        description="small feature variance and ln_eps = 1/16: eps and the biased variance matter",
        clauses="LAYER-2",
        flags="layernorm-wrong-eps layernorm-unbiased-variance",
        config=c4,
        inputs=lay(2, 5, 8, 2, c4, x_limit=6),
    )
    c5 = {"window": 8, "max_rel_dist": 8}
    yield valid(
        id="layer/heads",
        kind="layer",
        description="H = 4, Dh = 4: heads own contiguous features",
        clauses="LAYER-1",
        flags="heads-interleaved",
        config=c5,
        inputs=lay(1, 6, 16, 4, c5),
    )
    yield valid(
        id="layer/T-1",
        kind="layer",
        description="T = 1",
        clauses="LAYER-1 LAYER-7",
        flags="",
        config=c5,
        inputs=lay(2, 1, 8, 2, c5),
    )

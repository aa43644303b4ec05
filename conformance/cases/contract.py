"""Golden cases of the error contract's decided corners (issue 14; spec/AHA.md PLAN-1, ERR-3,
ERR-5): a scalar span_scale applies to every element (valid), a config that is not an
AHAConfig, a float32 bias beside float64 q, a float32 parameter in a float64 layer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from ..corpus import Case
from .build import core, invalid, layer, valid

CFG = {"window": 8, "max_rel_dist": 8}


def cases() -> Iterator[Case]:
    def scalar_core(rng: np.random.Generator) -> dict[str, object]:
        inputs = core(rng, 2, 2, 9, 4, 8, span=[0.5, 0.5])
        return {**inputs, "span_scale": np.array(0.3)}  # 0-d: W·s = 2.4 for both elements

    yield valid(
        id="local/scalar-span-scale",
        kind="local",
        description="a scalar span_scale applies to every batch element (PLAN-1)",
        clauses="PLAN-1 LOCAL-1 LOCAL-6",
        flags="",
        config=CFG,
        inputs=scalar_core,
    )

    def scalar_layer(rng: np.random.Generator) -> dict[str, object]:
        return {**layer(rng, 2, 6, 8, 2, CFG), "span_scale": np.array(0.3)}

    yield valid(
        id="layer/scalar-span-scale",
        kind="layer",
        description="a scalar span_scale given to the layer applies to every element (PLAN-1)",
        clauses="PLAN-1 LAYER-4",
        flags="",
        config=CFG,
        inputs=scalar_layer,
    )

    ok = core(np.random.default_rng(14), 2, 2, 5, 4, 8, span=[0.5, 1.0])
    mapping = invalid(
        id="invalid/local/config-mapping",
        kind="local",
        description="config given as a dict of its fields, not an AHAConfig",
        clauses="ERR-3 CFG-1",
        error="ConfigError",
        argument="config",
        config=CFG,
        inputs=ok,
    )
    yield dataclasses.replace(mapping, config_as="mapping")
    yield invalid(
        id="invalid/global/rel-bias-float32",
        kind="global",
        description="a float32 rel_bias beside float64 q, k, v (one dtype per call)",
        clauses="ERR-5 PREC-4",
        error="DTypeError",
        argument="rel_bias",
        config=CFG,
        inputs={**{n: ok[n] for n in "qkv"}, "rel_bias": ok["rel_bias"].astype(np.float32)},
    )
    params = layer(np.random.default_rng(15), 2, 5, 8, 2, CFG)
    params["params"]["local.q.weight"] = params["params"]["local.q.weight"].astype(np.float32)
    yield invalid(
        id="invalid/layer/param-float32",
        kind="layer",
        description="one float32 parameter in a float64 layer",
        clauses="ERR-5 PREC-4",
        error="DTypeError",
        argument="local.q.weight",
        config=CFG,
        inputs=params,
    )

"""Golden cases of ERR and CFG: invalid inputs and configurations, each a typed error
naming its argument (spec/AHA.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..corpus import Case
from . import contract
from .build import core, invalid, layer, masks


def cases() -> Iterator[Case]:
    cfg = {"window": 4, "max_rel_dist": 4}
    rng = np.random.default_rng(0)
    ok = core(rng, 2, 2, 5, 4, 4, span=[0.5, 1.0], mask=masks("11111", "11100"))

    def local(
        *, case_id: str, description: str, clauses: str, error: str, argument: str, **changes: Any
    ) -> Case:
        inputs = {**ok, **changes}
        return invalid(
            id=f"invalid/local/{case_id}",
            kind="local",
            description=description,
            clauses=clauses,
            error=error,
            argument=argument,
            config=cfg,
            inputs={k: v for k, v in inputs.items() if v is not None},
        )

    yield local(
        case_id="q-rank-3",
        description="q without its head axis",
        clauses="ERR-4",
        error="ShapeError",
        argument="q",
        q=ok["q"][:, 0],
    )
    yield local(
        case_id="empty-batch",
        description="B = 0",
        clauses="ERR-4",
        error="ShapeError",
        argument="q",
        q=ok["q"][:0],
        k=ok["k"][:0],
        v=ok["v"][:0],
    )
    yield local(
        case_id="empty-sequence",
        description="T = 0",
        clauses="ERR-4",
        error="ShapeError",
        argument="q",
        q=ok["q"][:, :, :0],
        k=ok["k"][:, :, :0],
        v=ok["v"][:, :, :0],
    )
    yield local(
        case_id="k-shape",
        description="k shorter than q",
        clauses="ERR-4",
        error="ShapeError",
        argument="k",
        k=ok["k"][:, :, :4],
    )
    yield local(
        case_id="v-shape",
        description="v with another head dim",
        clauses="ERR-4",
        error="ShapeError",
        argument="v",
        v=ok["v"][..., :2],
    )
    yield local(
        case_id="rel-bias-width",
        description="rel_bias not [H, 2R−1]",
        clauses="ERR-4",
        error="ShapeError",
        argument="rel_bias",
        rel_bias=ok["rel_bias"][:, :5],
    )
    yield local(
        case_id="rel-bias-heads",
        description="rel_bias with another H",
        clauses="ERR-4",
        error="ShapeError",
        argument="rel_bias",
        rel_bias=ok["rel_bias"][:1],
    )
    yield local(
        case_id="q-int",
        description="integer q",
        clauses="ERR-5",
        error="DTypeError",
        argument="q",
        q=ok["q"].astype(np.int32),
    )
    yield local(
        case_id="k-dtype-mixed",
        description="k float32 while q is float64",
        clauses="ERR-5 PREC-4",
        error="DTypeError",
        argument="k",
        k=ok["k"].astype(np.float32),
    )
    yield local(
        case_id="q-nan",
        description="NaN in q",
        clauses="ERR-6",
        error="DomainError",
        argument="q",
        q=np.where(np.arange(4) == 2, np.nan, ok["q"]),
    )
    yield local(
        case_id="v-inf",
        description="inf in v",
        clauses="ERR-6",
        error="DomainError",
        argument="v",
        v=np.where(np.arange(4) == 1, np.inf, ok["v"]),
    )
    yield local(
        case_id="span-above-one",
        description="span_scale[1] = 1.5",
        clauses="ERR-6 PLAN-1",
        error="DomainError",
        argument="span_scale[1]",
        span_scale=np.array([0.5, 1.5]),
    )
    yield local(
        case_id="span-negative",
        description="span_scale[0] = −0.25",
        clauses="ERR-6 PLAN-1",
        error="DomainError",
        argument="span_scale[0]",
        span_scale=np.array([-0.25, 0.5]),
    )
    yield local(
        case_id="span-nan",
        description="span_scale[0] = NaN",
        clauses="ERR-6 PLAN-1",
        error="DomainError",
        argument="span_scale[0]",
        span_scale=np.array([np.nan, 0.5]),
    )
    yield local(
        case_id="span-length",
        description="span_scale with 3 elements for B = 2",
        clauses="ERR-4",
        error="ShapeError",
        argument="span_scale",
        span_scale=np.array([0.5, 0.5, 0.5]),
    )
    yield local(
        case_id="mask-int",
        description="key_padding_mask of 0/1 integers",
        clauses="ERR-8",
        error="DTypeError",
        argument="key_padding_mask",
        key_padding_mask=ok["key_padding_mask"].astype(np.int64),
    )
    yield local(
        case_id="mask-shape",
        description="key_padding_mask [B, T+1]",
        clauses="ERR-8",
        error="ShapeError",
        argument="key_padding_mask",
        key_padding_mask=np.ones((2, 6), dtype=bool),
    )

    g = {k: v for k, v in ok.items() if k != "span_scale"}
    yield invalid(
        id="invalid/global/rel-bias-nan",
        kind="global",
        description="NaN in rel_bias",
        clauses="ERR-6",
        error="DomainError",
        argument="rel_bias",
        config=cfg,
        inputs={**g, "rel_bias": np.where(np.arange(7) == 3, np.nan, g["rel_bias"])},
    )
    yield invalid(
        id="invalid/global/mask-float",
        kind="global",
        description="float key_padding_mask",
        clauses="ERR-8",
        error="DTypeError",
        argument="key_padding_mask",
        config=cfg,
        inputs={**g, "key_padding_mask": g["key_padding_mask"].astype(np.float64)},
    )
    yield invalid(
        id="invalid/global/q-rank-5",
        kind="global",
        description="q with an extra axis",
        clauses="ERR-4",
        error="ShapeError",
        argument="q",
        config=cfg,
        inputs={**g, "q": g["q"][None]},
    )

    yield invalid(
        id="invalid/plan/seq-len-zero",
        kind="plan",
        description="seq_len = 0",
        clauses="ERR-4",
        error="ShapeError",
        argument="seq_len",
        config=cfg,
        inputs={"span_scale": np.array([0.5]), "seq_len": np.array(0)},
    )
    yield invalid(
        id="invalid/plan/span-rank-2",
        kind="plan",
        description="span_scale [B, 1]",
        clauses="ERR-4",
        error="ShapeError",
        argument="span_scale",
        config=cfg,
        inputs={"span_scale": np.array([[0.5]]), "seq_len": np.array(4)},
    )
    yield invalid(
        id="invalid/plan/span-above-one",
        kind="plan",
        description="span_scale[0] = 1.25",
        clauses="ERR-6 PLAN-1",
        error="DomainError",
        argument="span_scale[0]",
        config=cfg,
        inputs={"span_scale": np.array([1.25]), "seq_len": np.array(4)},
    )

    lcfg = {"window": 4, "max_rel_dist": 4}
    good = layer(np.random.default_rng(1), 2, 5, 8, 2, lcfg, mask=masks("11111", "11100"))
    P = good["params"]

    def lay(
        *, case_id: str, description: str, clauses: str, error: str, argument: str, **changes: Any
    ) -> Case:
        return invalid(
            id=f"invalid/layer/{case_id}",
            kind="layer",
            description=description,
            clauses=clauses,
            error=error,
            argument=argument,
            config=lcfg,
            inputs={**good, **changes},
        )

    yield lay(
        case_id="x-rank-2",
        description="x without its batch axis",
        clauses="ERR-4",
        error="ShapeError",
        argument="x",
        x=good["x"][0],
    )
    yield lay(
        case_id="x-nan",
        description="NaN in x",
        clauses="ERR-6",
        error="DomainError",
        argument="x",
        x=np.where(np.arange(8) == 5, np.nan, good["x"]),
    )
    yield lay(
        case_id="param-missing",
        description="params without local.q.weight",
        clauses="ERR-7",
        error="ParamsError",
        argument="local.q.weight",
        params={k: v for k, v in P.items() if k != "local.q.weight"},
    )
    yield lay(
        case_id="param-extra",
        description="params with an unknown entry",
        clauses="ERR-7",
        error="ParamsError",
        argument="local.q.scale",
        params={**P, "local.q.scale": np.ones(8)},
    )
    yield lay(
        case_id="param-shape",
        description="local.v.weight of shape [8, 4]",
        clauses="ERR-7 LAYER-1",
        error="ShapeError",
        argument="local.v.weight",
        params={**P, "local.v.weight": P["local.v.weight"][:, :4]},
    )
    yield lay(
        case_id="param-int",
        description="integer span.weight",
        clauses="ERR-5",
        error="DTypeError",
        argument="span.weight",
        params={**P, "span.weight": P["span.weight"].astype(np.int64)},
    )
    yield lay(
        case_id="heads-do-not-divide",
        description="D = 8 with H = 3 bias tables",
        clauses="ERR-4 LAYER-1",
        error="ShapeError",
        argument="local.rel_bias",
        params={**P, "local.rel_bias": np.zeros((3, 7)), "global.rel_bias": np.zeros((3, 7))},
    )
    yield lay(
        case_id="span-out-of-range",
        description="span_scale[1] = 2",
        clauses="ERR-6 LAYER-4",
        error="DomainError",
        argument="span_scale[1]",
        span_scale=np.array([0.5, 2.0]),
    )
    yield lay(
        case_id="mask-shape",
        description="key_padding_mask [B+1, T]",
        clauses="ERR-8",
        error="ShapeError",
        argument="key_padding_mask",
        key_padding_mask=np.ones((3, 5), dtype=bool),
    )

    bad_configs: list[tuple[str, dict[str, Any], str]] = [
        ("window-zero", {"window": 0}, "window"),
        ("window-bool", {"window": True}, "window"),
        ("min-window-above-window", {"window": 4, "min_window": 5}, "min_window"),
        ("min-window-zero", {"min_window": 0}, "min_window"),
        ("max-rel-dist-zero", {"max_rel_dist": 0}, "max_rel_dist"),
        ("causal-string", {"causal": "yes"}, "causal"),
        ("temperature-zero", {"temperature": 0.0}, "temperature"),
        ("temp-scale-negative", {"temp_scale": -0.5}, "temp_scale"),
        ("sharpen-unknown", {"sharpen": "medium"}, "sharpen"),
        ("min-temperature-zero", {"min_temperature": 0.0}, "min_temperature"),
        ("score-scale-unknown", {"score_scale": "exp"}, "score_scale"),
        ("scale-negative", {"scale": -1.0}, "scale"),
        ("ln-eps-zero", {"ln_eps": 0.0}, "ln_eps"),
        ("unknown-field", {"windw": 8}, "windw"),
    ]
    for case_id, config, argument in bad_configs:
        yield invalid(
            id=f"invalid/config/{case_id}",
            kind="config",
            description=f"AHAConfig({config})",
            clauses="CFG-1 CFG-2 ERR-3",
            error="ConfigError",
            argument=argument,
            config=config,
            inputs={},
        )
    yield from contract.cases()  # the contract's decided corners (issue 14, H4)

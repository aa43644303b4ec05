"""The layer's parameters: names, shapes (LAYER-1) and a deterministic initialisation."""

from __future__ import annotations

import numpy as np

from .config import AHAConfig


def param_shapes(d_model: int, n_heads: int, config: AHAConfig) -> dict[str, tuple[int, ...]]:
    """{name: shape} of every parameter of the layer, D = d_model, H = n_heads (LAYER-1).

    Linear layers hold ``weight`` [out, in] and ``bias`` [out] (y = x·Wᵀ + b).
    """
    d, table = d_model, (n_heads, 2 * config.max_rel_dist - 1)
    shapes: dict[str, tuple[int, ...]] = {}
    for ln in ("ln_local", "ln_global"):
        shapes[f"{ln}.weight"] = (d,)
        shapes[f"{ln}.bias"] = (d,)
    for branch in ("local", "global"):
        for proj in ("q", "k", "v", "out"):
            shapes[f"{branch}.{proj}.weight"] = (d, d)
            shapes[f"{branch}.{proj}.bias"] = (d,)
        shapes[f"{branch}.rel_bias"] = table
    shapes["span.weight"] = (1, d)
    shapes["span.bias"] = (1,)
    shapes["proj.weight"] = (d, 2 * d)
    shapes["proj.bias"] = (d,)
    return shapes


def init_params(d_model: int, n_heads: int, config: AHAConfig, seed: int) -> dict[str, np.ndarray]:
    """Deterministic float64 parameters for ``seed``: the same seed gives the same arrays.

    LayerNorms start at (1, 0); Linear layers are uniform in ±1/sqrt(fan_in), as PyTorch
    initialises them; relative-bias tables are N(0, 0.02²).
    """
    rng = np.random.default_rng(seed)
    shapes = param_shapes(d_model, n_heads, config)
    params = {}
    for name, shape in shapes.items():
        if name.startswith("ln_"):
            params[name] = np.full(shape, 1.0 if name.endswith("weight") else 0.0)
        elif name.endswith("rel_bias"):
            params[name] = rng.normal(0.0, 0.02, shape)
        else:
            fan_in = shapes[name.rsplit(".", 1)[0] + ".weight"][1]
            params[name] = rng.uniform(-1.0, 1.0, shape) / np.sqrt(fan_in)
    return params

"""The layer's parameters: names, shapes (LAYER-1) and a deterministic initialisation."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .config import MAX_SIZE, AHAConfig
from .errors import ConfigError, DomainError, DTypeError, ShapeError

MAX_SEED = 2**64 - 1


def param_shapes(d_model: int, n_heads: int, config: AHAConfig) -> dict[str, tuple[int, ...]]:
    """{name: shape} of every parameter of the layer, D = d_model, H = n_heads (LAYER-1).

    Linear layers hold ``weight`` [out, in] and ``bias`` [out] (y = x·Wᵀ + b). D and H are
    ints in [1, 2^31 − 1] with H dividing D (ERR-4, ERR-9); config is an AHAConfig (ERR-3).
    """
    d_model, n_heads = _size("d_model", d_model), _size("n_heads", n_heads)
    if d_model % n_heads:
        raise ShapeError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
    if not isinstance(config, AHAConfig):
        raise ConfigError(f"config must be an AHAConfig, got {type(config).__name__}")
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
    initialises them; relative-bias tables are N(0, 0.02²). seed is an int in
    [0, 2^64 − 1] (ERR-9).
    """
    shapes = param_shapes(d_model, n_heads, config)
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise DTypeError(f"seed must be an int in [0, {MAX_SEED}], got {type(seed).__name__}")
    if not 0 <= seed <= MAX_SEED:
        raise DomainError(f"seed must be an int in [0, {MAX_SEED}], got {seed}")
    rng = np.random.default_rng(int(seed))
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


def _size(name: str, value: object) -> int:
    """A size argument: an int in [1, 2^31 − 1], bools refused (ERR-4)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or not 1 <= int(value) <= MAX_SIZE
    ):
        raise ShapeError(f"{name} must be an int in [1, {MAX_SIZE}], got {value!r}")
    return int(value)

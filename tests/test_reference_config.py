"""Independent checks of AHAConfig (spec section 2): names, defaults, validation of each field."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from aha.reference import AHAConfig, ConfigError

# The table of spec section 2, copied by hand: field → default (CFG-3).
SPEC_DEFAULTS = {
    "window": 128,
    "min_window": 1,
    "max_rel_dist": 128,
    "causal": False,
    "temperature": 1.0,
    "temp_scale": 0.0,
    "sharpen": "short",
    "min_temperature": 0.05,
    "score_scale": "none",
    "scale": None,
    "ln_eps": 1e-5,
}

# One value per (field, rule it breaks); True stands in for "bool is not an int" (CFG-2).
BAD_VALUES = [
    ("window", 0),
    ("window", -3),
    ("window", 8.0),
    ("window", True),
    ("window", "8"),
    ("window", None),
    ("min_window", 0),
    ("min_window", 9),
    ("min_window", 2.0),
    ("min_window", True),
    ("max_rel_dist", 0),
    ("max_rel_dist", 4.0),
    ("max_rel_dist", False),
    ("causal", 1),
    ("causal", 0),
    ("causal", "yes"),
    ("causal", None),
    ("temperature", 0.0),
    ("temperature", -1.0),
    ("temperature", math.nan),
    ("temperature", math.inf),
    ("temperature", True),
    ("temperature", "1"),
    ("temp_scale", -0.5),
    ("temp_scale", math.nan),
    ("temp_scale", -math.inf),
    ("temp_scale", True),
    ("sharpen", "medium"),
    ("sharpen", "SHORT"),
    ("sharpen", None),
    ("min_temperature", 0),
    ("min_temperature", -0.05),
    ("min_temperature", math.inf),
    ("min_temperature", False),
    ("score_scale", "sqrt"),
    ("score_scale", None),
    ("score_scale", 1),
    ("scale", 0.0),
    ("scale", -1.0),
    ("scale", math.nan),
    ("scale", True),
    ("scale", "0.5"),
    ("ln_eps", 0.0),
    ("ln_eps", -1e-5),
    ("ln_eps", math.inf),
    ("ln_eps", True),
    ("ln_eps", None),
]


@pytest.mark.clause("CFG-1", "CFG-3")
def test_fields_and_defaults_are_those_of_the_spec_table() -> None:
    cfg = AHAConfig()
    assert [f.name for f in dataclasses.fields(AHAConfig)] == list(SPEC_DEFAULTS)
    assert cfg.to_dict() == SPEC_DEFAULTS


@pytest.mark.clause("CFG-1")
def test_config_is_immutable() -> None:
    cfg = AHAConfig(window=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.window = 9


@pytest.mark.clause("CFG-2", "ERR-2", "ERR-3")
@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_each_invalid_field_is_a_config_error_naming_field_and_value(
    field: str, value: object
) -> None:
    kwargs = {"window": 8, field: value}
    with pytest.raises(ConfigError) as caught:
        AHAConfig(**kwargs)
    message = str(caught.value)
    assert f"AHAConfig.{field}" in message
    assert repr(value) in message or str(value) in message


@pytest.mark.clause("CFG-2")
def test_integers_are_accepted_where_reals_are_required() -> None:
    cfg = AHAConfig(temperature=2, temp_scale=1, min_temperature=1, scale=3, ln_eps=1)
    assert (cfg.temperature, cfg.temp_scale, cfg.min_temperature, cfg.scale, cfg.ln_eps) == (
        2.0,
        1.0,
        1.0,
        3.0,
        1.0,
    )
    assert AHAConfig(window=np.int64(8), min_window=np.int32(8)).min_window == 8
    assert AHAConfig(temperature=np.float32(0.5)).temperature == 0.5


@pytest.mark.clause("CFG-1", "ERR-3")
def test_unknown_field_in_from_dict_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'windw'"):
        AHAConfig.from_dict({"window": 8, "windw": 8})
    cfg = AHAConfig(window=8, causal=True, scale=0.5)
    assert AHAConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.clause("CFG-1", "ERR-3")
def test_unknown_keyword_is_a_config_error() -> None:
    """An unknown name makes an invalid configuration, which ERR-3 types as ConfigError."""
    with pytest.raises(ConfigError, match="windw"):
        AHAConfig(windw=8)


@pytest.mark.clause("CFG-2", "ERR-3")
def test_from_dict_validates_like_the_constructor() -> None:
    with pytest.raises(ConfigError, match=r"AHAConfig\.min_window"):
        AHAConfig.from_dict({"window": 8, "min_window": 9})

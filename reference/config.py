"""AHAConfig: the frozen, validated configuration of an AHA layer (CFG-1 .. CFG-4)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any, Literal

from .errors import ConfigError

SHARPEN_MODES = ("short", "long")
# Integer fields and lengths are at most 2^31 − 1 (CFG-2, ERR-3): kernels index with int32,
# and W·s is then exact in binary64 and its floor fits the plan's int64 (PLAN-2).
MAX_SIZE = 2**31 - 1
SCORE_SCALES = ("none", "linear", "log")


@dataclass(frozen=True, kw_only=True)
class AHAConfig:
    """Configuration of AHA; every field is checked when the object is built (CFG-2).

    Defaults are those of the table in spec/AHA.md section 2 (CFG-3).
    """

    window: int = 128
    min_window: int = 1
    max_rel_dist: int = 128
    causal: bool = False
    temperature: float = 1.0
    temp_scale: float = 0.0
    sharpen: Literal["short", "long"] = "short"
    min_temperature: float = 0.05
    score_scale: Literal["none", "linear", "log"] = "none"
    scale: float | None = None
    ln_eps: float = 1e-5

    def __new__(cls, *args: Any, **kwargs: Any) -> AHAConfig:
        """Keyword arguments with the names of the fields only (CFG-1, ERR-3)."""
        if args:
            raise ConfigError(
                f"AHAConfig takes keyword arguments only, e.g. "
                f"AHAConfig(window=64); got {len(args)} positional"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(
                f"AHAConfig has no field {unknown[0]!r}; known fields: {sorted(known)}"
            )
        return super().__new__(cls)

    def __post_init__(self) -> None:
        _int_field(self, "window", 1, MAX_SIZE)
        _int_field(self, "min_window", 1, self.window)
        _int_field(self, "max_rel_dist", 1, MAX_SIZE)
        if not isinstance(self.causal, bool):
            _reject("causal", "a bool", self.causal)
        _real_field(self, "temperature", positive=True)
        _real_field(self, "temp_scale", positive=False)
        _real_field(self, "min_temperature", positive=True)
        _real_field(self, "ln_eps", positive=True)
        if self.scale is not None:
            _real_field(self, "scale", positive=True)
        if self.sharpen not in SHARPEN_MODES:
            _reject("sharpen", f"one of {SHARPEN_MODES}", self.sharpen)
        if self.score_scale not in SCORE_SCALES:
            _reject("score_scale", f"one of {SCORE_SCALES}", self.score_scale)

    def softmax_scale(self, head_dim: int) -> float:
        """The scale applied to <q, k>: ``scale``, or 1/sqrt(Dh) when it is None (CFG-4)."""
        return 1.0 / math.sqrt(head_dim) if self.scale is None else self.scale

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AHAConfig:
        """Build from a mapping, e.g. a vector manifest (CFG-1)."""
        return cls(**data)


def _reject(name: str, expected: str, found: object) -> None:
    raise ConfigError(f"AHAConfig.{name} must be {expected}, got {found!r}")


def _int_field(cfg: AHAConfig, name: str, low: int, high: int) -> None:
    value = getattr(cfg, name)
    top = "window=" if name == "min_window" else ""
    bound = f"an int in [{low}, {top}{high}]"
    if isinstance(value, bool) or not isinstance(value, Integral):
        _reject(name, bound, value)
    if value < low or value > high:
        _reject(name, bound, value)
    object.__setattr__(cfg, name, int(value))


def _real_field(cfg: AHAConfig, name: str, *, positive: bool) -> None:
    value = getattr(cfg, name)
    rule = "a finite real > 0" if positive else "a finite real >= 0"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        _reject(name, rule, value)
    if value < 0 or (positive and value == 0):
        _reject(name, rule, value)
    object.__setattr__(cfg, name, float(value))

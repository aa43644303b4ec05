"""Golden cases of PLAN: the plan of section 4 (window, reach, temperature, gain) (spec/AHA.md)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..corpus import Case
from .build import Build, above, below, valid


def cases() -> Iterator[Case]:
    def plan_inputs(s: list[float], T: int) -> Build:
        return lambda rng: {
            "span_scale": np.array(s, dtype=np.float64),
            "seq_len": np.array(T, dtype=np.int64),
        }

    W16 = {"window": 16, "max_rel_dist": 16}
    yield valid(
        id="plan/s-zero-and-one",
        kind="plan",
        description="s = 0 floors to min_window; s = 1 gives W",
        clauses="PLAN-1 PLAN-2 PLAN-3 PLAN-6",
        flags="window-round",
        config=W16,
        inputs=plan_inputs([0.0, 1.0], 32),
    )
    yield valid(
        id="plan/float32-floor-hazard",
        kind="plan",
        description="W=100, s=0.29: binary64 W·s = 28.999999999999996 floors to 28 (float32: 29)",
        clauses="PLAN-2",
        flags="window-float32-floor window-round",
        config={"window": 100, "max_rel_dist": 128},
        inputs=plan_inputs([0.29, 0.57, 0.58], 128),
    )
    w8 = [k / 8 for k in range(1, 8)]
    yield valid(
        id="plan/exact-integers",
        kind="plan",
        description="W·s exactly an integer, and the floats around it",
        clauses="PLAN-2",
        flags="window-round window-off-by-one",
        config={"window": 8, "max_rel_dist": 8},
        inputs=plan_inputs([v for x in w8 for v in (below(x), x, above(x))], 8),
    )
    yield valid(
        id="plan/binary64-products",
        kind="plan",
        description=(
            "W=10: 10·0.3 = 3.0000000000000004 and 10·0.7 = 7.000000000000001 floor to 3, 7"
        ),
        clauses="PLAN-2",
        flags="window-round window-float32-floor",
        config={"window": 10, "max_rel_dist": 10},
        inputs=plan_inputs([0.3, 0.7, 0.76, 0.35, 0.95], 10),
    )
    yield valid(
        id="plan/min-window-above-T",
        kind="plan",
        description="min_window > T: the reach is T",
        clauses="PLAN-2 PLAN-3",
        flags="min-window-after-clamp",
        config={"window": 16, "min_window": 12, "max_rel_dist": 16},
        inputs=plan_inputs([0.1, 0.9], 7),
    )
    yield valid(
        id="plan/R-below-window",
        kind="plan",
        description="R < requested window: the reach is R",
        clauses="PLAN-3",
        flags="reach-not-clamped-by-R",
        config={"window": 32, "max_rel_dist": 5},
        inputs=plan_inputs([1.0, 0.5, 0.1], 64),
    )
    yield valid(
        id="plan/T-one",
        kind="plan",
        description="T = 1: reach 1",
        clauses="PLAN-3",
        flags="",
        config=W16,
        inputs=plan_inputs([0.0, 0.5, 1.0], 1),
    )
    for sharpen in ("short", "long"):
        yield valid(
            id=f"plan/temperature-{sharpen}",
            kind="plan",
            description=f"sharpen={sharpen}: τ = τ0 + α·shift, clamp inactive",
            clauses="PLAN-4",
            flags="temperature-inverted",
            config={
                "window": 16,
                "max_rel_dist": 16,
                "temperature": 0.5,
                "temp_scale": 1.5,
                "sharpen": sharpen,
                "min_temperature": 0.1,
            },
            inputs=plan_inputs([0.0, 0.25, 0.8, 1.0], 16),
        )
        yield valid(
            id=f"plan/temperature-clamp-{sharpen}",
            kind="plan",
            description=f"sharpen={sharpen}: the τmin clamp is active for some s, tied for one",
            clauses="PLAN-4",
            flags="temperature-clamp-missing temperature-inverted",
            config={
                "window": 16,
                "max_rel_dist": 16,
                "temperature": 0.25,
                "temp_scale": 0.5,
                "sharpen": sharpen,
                "min_temperature": 0.5,
            },
            inputs=plan_inputs([0.0, 0.1, 0.5, 0.9, 1.0], 16),
        )
    for scale in ("none", "linear", "log"):
        yield valid(
            id=f"plan/gain-{scale}",
            kind="plan",
            description=f"score_scale={scale}: the gain follows the requested window, not T or R",
            clauses="PLAN-5",
            flags="",
            config={"window": 24, "min_window": 2, "max_rel_dist": 6, "score_scale": scale},
            inputs=plan_inputs([0.0, 0.1, 0.5, 0.99, 1.0], 5),
        )
    yield valid(
        id="plan/batch-distinct",
        kind="plan",
        description="every element keeps its own s",
        clauses="PLAN-1 PLAN-6",
        flags="batch-averaged-span",
        config={"window": 20, "max_rel_dist": 20, "temperature": 1.0, "temp_scale": 1.0},
        inputs=plan_inputs([0.05, 0.95, 0.5, 0.3], 20),
    )

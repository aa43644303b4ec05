"""Planted-bug adapters: the reference with one deviation each (spec DEC-2; issue 15).

Each ``Deviation`` names the bug, describes it and lists the clauses it violates. Semantic bugs
are settings of the deviant's knobs (conformance/deviant.py); the error-handling bugs wrap the
reference adapter (conformance/err_mutants.py). The 25 bug classes the corpus flags keep their
flag as their name: tests/test_mutants.py requires each to be rejected by a vector of its flag;
``aha zoo`` runs the whole suite against every deviation here and the other families.

Select one on the command line as ``aha.conformance.mutants:<name with underscores>``, e.g.
``aha conform --adapter aha.conformance.mutants:window_off_by_one``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .deviant import BRANCHES, DeviantAdapter, Knobs
from .err_mutants import ERROR_BUGS, ErrorDeviant

CAPABILITIES = frozenset(
    {"plan", "local", "global", "layer", "causal", "key_padding", "float64", "float32", "config"}
)


@dataclass(frozen=True)
class Deviation:
    """One way to get AHA wrong: ``knobs`` of the deviant, an error-handling ``wrapper`` bug
    of err_mutants, or a ``factory`` of another family's adapter (exactly one of the three)."""

    name: str
    description: str
    clauses: tuple[str, ...]
    knobs: Knobs | None = None
    wrapper: str | None = None
    factory: Callable[[], Any] | None = None

    def adapter(self) -> Any:
        """The planted-bug adapter of this deviation."""
        if self.factory is not None:
            return self.factory()
        made: Any = (
            DeviantAdapter(self.knobs, f"mutant:{self.name}")
            if self.knobs is not None
            else ErrorDeviant(str(self.wrapper), f"mutant:{self.name}")
        )
        made.capabilities = CAPABILITIES
        return made


def _d(name: str, description: str, clauses: str, **knobs: Any) -> Deviation:
    return Deviation(name, description, tuple(clauses.split()), knobs=Knobs(**knobs))


LOCAL, GLOBAL = frozenset({"local"}), frozenset({"global"})

# The 25 bug classes the corpus flags (conformance/cases.py FLAGS), under their flag.
FLAGGED = (
    # The original research code (brief §9)
    _d(
        "batch-averaged-span",
        "the span scale is averaged over the batch",
        "PLAN-1 LOCAL-6",
        span="batch-mean",
    ),
    _d(
        "span-truncates-qkv",
        "the span truncates q/k/v to their first positions",
        "LOCAL-1",
        truncate=True,
    ),
    _d(
        "bias-not-added",
        "the relative bias is never added to the scores",
        "LOCAL-2 GLOBAL-2",
        bias_in=frozenset(),
    ),
    _d(
        "post-softmax-gain",
        "the gain multiplies the weights after softmax",
        "LOCAL-3",
        gain_after_softmax=True,
    ),
    _d(
        "global-causal",
        "the global branch is causal although config.causal is False",
        "GLOBAL-1",
        always_causal=GLOBAL,
    ),
    _d(
        "quarter-root-scale",
        "the scale Dh^-1/4 is applied once instead of Dh^-1/2",
        "CFG-4",
        scale="quarter-root",
    ),
    _d(
        "temperature-inverted",
        "the temperature law runs the wrong way",
        "PLAN-4",
        sharpen_inverted=True,
    ),
    # Seen across attention libraries
    _d(
        "window-off-by-one",
        "keys with |i - j| = reach are visible (<= instead of <)",
        "LOCAL-1",
        window_extra=1,
    ),
    _d(
        "window-round",
        "the window is W*s rounded instead of floored",
        "PLAN-2",
        window_rule="round",
    ),
    _d(
        "window-float32-floor",
        "W*s is computed in float32 before the floor",
        "PLAN-2",
        window_rule="float32-floor",
    ),
    _d(
        "min-window-after-clamp",
        "min_window is applied after the T and R clamps",
        "PLAN-3",
        min_window_after_clamp=True,
    ),
    _d(
        "reach-not-clamped-by-R",
        "the reach is not clamped by max_rel_dist",
        "PLAN-3",
        reach_clamp_R=False,
    ),
    _d("bias-sign-flipped", "the bias index uses j - i instead of i - j", "LOCAL-2", bias_sign=-1),
    _d(
        "bias-not-divided-by-temperature",
        "the temperature divides the scores, not the bias",
        "LOCAL-3",
        bias_over_temperature=False,
    ),
    _d(
        "bias-scaled-by-gain",
        "the gain multiplies the bias as well as the scores",
        "LOCAL-3",
        bias_times_gain=True,
    ),
    _d(
        "masked-rows-nan",
        "a row with no visible key gives NaN",
        "LOCAL-5 GLOBAL-4",
        empty_rows="nan",
    ),
    _d(
        "masked-rows-mean-v",
        "a row with no visible key gives the mean of V",
        "LOCAL-5 GLOBAL-4",
        empty_rows="mean-v",
    ),
    _d(
        "causal-off-by-one",
        "a causal query does not see itself (j < i)",
        "CAUSAL-1",
        causal_offset=-1,
    ),
    _d(
        "temperature-clamp-missing",
        "the min_temperature clamp is not applied",
        "PLAN-4",
        temperature_clamp=False,
    ),
    _d(
        "heads-interleaved",
        "heads take interleaved features, not contiguous blocks",
        "LAYER-1",
        heads_interleaved=True,
    ),
    _d(
        "layernorm-unbiased-variance",
        "LayerNorm divides the variance by D - 1",
        "LAYER-2",
        ln_unbiased=True,
    ),
    _d(
        "layernorm-wrong-eps", "LayerNorm ignores config.ln_eps (uses 1e-5)", "LAYER-2", ln_eps=1e-5
    ),
    _d(
        "span-pools-padding",
        "the span predictor averages over padding positions too",
        "LAYER-4",
        span_pools_padding=True,
    ),
    _d(
        "padding-mask-inverted",
        "key_padding_mask is read with True meaning padding",
        "MASK-1",
        mask_inverted=BRANCHES,
    ),
)

# Further bugs of every clause family (issue 15).
MORE = (
    # PLAN
    _d("window-ceil", "the window is W*s rounded up", "PLAN-2", window_rule="ceil"),
    _d("window-plus-one", "the requested window is one longer", "PLAN-2", window_delta=1),
    _d("reach-minus-one", "the reach is one shorter", "PLAN-3 LOCAL-1", reach_delta=-1),
    _d(
        "reach-not-clamped-by-T",
        "the reach is not clamped by the length T",
        "PLAN-3",
        reach_clamp_T=False,
    ),
    _d(
        "gain-from-reach",
        "the gain is W / reach instead of W / window",
        "PLAN-5",
        gain_from_reach=True,
    ),
    _d("gain-log2", "the log gain uses log2 instead of ln", "PLAN-5", gain_log2=True),
    _d(
        "plan-integers-as-float",
        "window and reach are returned as floats",
        "PLAN-6",
        plan_float_integers=True,
    ),
    # MASK and CAUSAL
    _d(
        "mask-inverted-in-global",
        "the global branch reads True as padding",
        "MASK-1",
        mask_inverted=GLOBAL,
    ),
    _d("mask-ignored", "key_padding_mask is ignored", "MASK-1", mask_in=frozenset()),
    _d(
        "mask-ignored-in-local",
        "the local branch ignores key_padding_mask",
        "MASK-1",
        mask_in=GLOBAL,
    ),
    _d(
        "padded-queries-zeroed",
        "outputs at padded query positions are zeroed",
        "MASK-2",
        padded_queries_zeroed=True,
    ),
    _d(
        "causal-sees-next",
        "a causal query sees the next key too (j <= i + 1)",
        "CAUSAL-1",
        causal_offset=1,
    ),
    _d(
        "causal-ignored-in-local",
        "the local branch ignores config.causal",
        "CAUSAL-1",
        causal_in=GLOBAL,
    ),
    _d(
        "causal-ignored-in-global",
        "the global branch ignores config.causal",
        "CAUSAL-1 GLOBAL-1",
        causal_in=LOCAL,
    ),
    # LOCAL
    _d("gain-applied-twice", "the gain multiplies the scores twice", "LOCAL-2", gain_times=2),
    _d("gain-not-applied", "the gain is never applied", "LOCAL-2", gain_times=0),
    _d(
        "temperature-applied-twice",
        "the logits are divided by the temperature twice",
        "LOCAL-3",
        temperature_times=2,
    ),
    _d(
        "temperature-not-applied",
        "the temperature is never applied",
        "LOCAL-3",
        temperature_times=0,
    ),
    _d(
        "bias-shifted-by-one",
        "distance d reads the table entry of d + 1",
        "LOCAL-2 GLOBAL-2",
        bias_shift=1,
    ),
    _d("local-bias-not-added", "the local branch adds no bias", "LOCAL-2", bias_in=GLOBAL),
    _d(
        "window-edge-hidden",
        "keys at |i - j| = reach - 1 are hidden too",
        "LOCAL-1",
        window_extra=-1,
    ),
    _d(
        "softmax-without-max-subtraction",
        "exp of raw logits: large logits overflow",
        "LOCAL-4",
        max_subtraction=False,
    ),
    _d(
        "masked-rows-uniform",
        "a row with no visible key averages every key",
        "LOCAL-5 GLOBAL-4",
        empty_rows="uniform",
    ),
    # GLOBAL
    _d(
        "global-bias-wraps",
        "far distances wrap around the bias table, not clamped",
        "GLOBAL-2",
        bias_clamped=False,
    ),
    _d("global-bias-not-added", "the global branch adds no bias", "GLOBAL-2", bias_in=LOCAL),
    # CFG
    _d(
        "scale-from-model-dim",
        "the scale is 1/sqrt(D) instead of 1/sqrt(Dh)",
        "CFG-4",
        scale="model-dim",
    ),
    _d(
        "scale-ignored",
        "config.scale is ignored: always 1/sqrt(Dh)",
        "CFG-4",
        scale="ignore-config",
    ),
    _d("scale-missing", "the dot products are not scaled", "CFG-4", scale="one"),
    # PREC
    _d(
        "output-not-cast",
        "outputs are returned in binary64 whatever the input dtype",
        "PREC-4",
        cast_output=False,
    ),
    _d("float32-evaluation", "every operation is computed in float32", "PREC-1", compute="float32"),
    _d(
        "float16-accumulation",
        "dot products and sums accumulate in float16",
        "PREC-1 PREC-2",
        compute="float16",
    ),
    _d(
        "q-scaled-in-place",
        "q is pre-scaled in the caller's array, changing an input",
        "PREC-6",
        scales_q_in_place=True,
    ),
    # LAYER
    _d(
        "layernorm-weight-bias-swapped",
        "LayerNorm weight and bias are swapped",
        "LAYER-2",
        ln_swapped=True,
    ),
    _d("layernorm-shared", "both branches are normalised by ln_global", "LAYER-2", ln_shared=True),
    _d(
        "span-without-sigmoid",
        "the span predictor omits the sigmoid (s clipped to [0, 1])",
        "LAYER-4",
        span_sigmoid=False,
    ),
    _d(
        "span-given-ignored",
        "a given span_scale is ignored: s is always predicted",
        "LAYER-4",
        span_given_ignored=True,
    ),
    _d(
        "proj-concat-global-first",
        "the output projection reads concat(G, L)",
        "LAYER-6",
        concat_global_first=True,
    ),
    _d(
        "residual-added",
        "x is added to y (a residual the spec does not have)",
        "LAYER-6",
        residual=True,
    ),
)

ERRORS = tuple(
    Deviation(name, description, clauses, wrapper=name)
    for name, (description, clauses) in ERROR_BUGS.items()
)

DEVIATIONS: dict[str, Deviation] = {d.name: d for d in (*FLAGGED, *MORE, *ERRORS)}


def mutant(name: str) -> Any:
    """The planted-bug adapter named ``name`` (a corpus flag or a zoo deviation); the
    gradient flags (grad-*) are the gradient family's (conformance/grad_mutants.py)."""
    if name in DEVIATIONS:
        return DEVIATIONS[name].adapter()
    if name.startswith("grad-"):
        from . import grad_mutants

        return grad_mutants.BY_NAME[name].adapter()
    raise ValueError(f"no planted bug {name!r}; known: {sorted(DEVIATIONS)}")


def __getattr__(name: str) -> Any:
    """``mutants.window_off_by_one`` is a factory of the mutant window-off-by-one."""
    bug = name.replace("_", "-")
    if bug in DEVIATIONS:
        return lambda: mutant(bug)
    # Names keep their case: reach-not-clamped-by-R is reach_not_clamped_by_R.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

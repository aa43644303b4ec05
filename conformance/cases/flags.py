"""The bug classes golden cases target: flag → what an implementation with that bug does
(spec/vectors.md; every flag is named by at least one case)."""

FLAGS = {
    # The original research code (brief §9, spec DEC-2)
    "batch-averaged-span": "the span scale is averaged over the batch, coupling sequences",
    "span-truncates-qkv": "the span is applied by truncating q/k/v to their first positions",
    "bias-not-added": "the relative bias table is built but never added to the scores",
    "post-softmax-gain": "the gain multiplies the weights after softmax, un-renormalised",
    "global-causal": "the global branch is causal although config.causal is False",
    "quarter-root-scale": "the head-dim scale d^-1/4 is applied once instead of d^-1/2",
    "temperature-inverted": "the temperature law runs the wrong way for the sharpen mode",
    # Seen across attention libraries
    "window-off-by-one": "keys with |i - j| = reach are visible (<= instead of <)",
    "window-round": "the window is W*s rounded instead of floored",
    "window-float32-floor": "W*s is computed in float32 before the floor",
    "min-window-after-clamp": "min_window is applied after the T and R clamps",
    "reach-not-clamped-by-R": "the reach is not clamped by max_rel_dist",
    "bias-sign-flipped": "the bias index uses j - i instead of i - j",
    "bias-not-divided-by-temperature": "the temperature divides the scores but not the bias",
    "bias-scaled-by-gain": "the gain multiplies the bias as well as the scores",
    "masked-rows-nan": "a row with no visible key gives NaN",
    "masked-rows-mean-v": "a row with no visible key gives the mean of V",
    "causal-off-by-one": "a causal query does not see itself (j < i)",
    "temperature-clamp-missing": "the min_temperature clamp is not applied",
    "heads-interleaved": "heads take interleaved features instead of contiguous blocks",
    "layernorm-unbiased-variance": "LayerNorm divides the variance by D - 1",
    "layernorm-wrong-eps": "LayerNorm ignores config.ln_eps",
    "span-pools-padding": "the span predictor averages over padding positions too",
    "padding-mask-inverted": "key_padding_mask is read with True meaning padding",
    # Gradients (GRAD-1 .. GRAD-6; conformance/grad_mutants.py)
    "grad-span-missing": "span_scale gets no gradient (τ treated as a constant)",
    "grad-through-clamp": "s gets gradient through τ while the τmin clamp is active",
    "grad-bias-misplaced": "the bias gradient is scattered to the wrong distance (j - i)",
    "grad-masked-rows": "rows with no visible key pass gradient (weights treated as uniform)",
    "grad-dq-first-tile": "dq accumulates over the first key tile only",
    # Validation
    "accepts-bad-input": "an invalid input is accepted instead of raising the typed error",
}

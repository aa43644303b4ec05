"""Pictures of AHA: the attention weights of both branches, and the plan against s.

A Scene is one sequence's attention inputs and a configuration; ``figure`` draws, for each
head, the global branch's weights (GLOBAL-1 .. GLOBAL-4), the local branch's weights at
several span scales (the band of LOCAL-1, its bias LOCAL-2 and temperature LOCAL-3), the
relative-bias table, and the plan (window, reach, temperature, gain; PLAN-1 .. PLAN-5)
against s. Everything is evaluated by the reference in binary64 (PREC-1).

Drawing uses matplotlib's object API (Figure, no pyplot), so it needs no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from textwrap import fill
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator

from aha.reference import AHAConfig, global_attention, hybrid_layer, local_attention, plan
from aha.reference.layer import layer_norm, linear, split_heads

from .corpus import Case
from .errormap import max_pool

DEFAULT_CONFIG = AHAConfig(
    window=24, max_rel_dist=24, temperature=1.0, temp_scale=0.6, score_scale="log"
)
DEFAULT_SPAN_SCALES = (0.2, 0.5, 1.0)
FORMATS = ("png", "svg")
MAX_SEQ_LEN = 4096  # one head's [T, T] float64 weights: 128 MiB, a few times that to compute
MAX_PIXELS = 512  # a side of a weights picture; longer sequences are max-pooled to it
WEIGHT_GAMMA = 0.5  # a square-root colour scale: the small weights of the global branch show


class PlotError(ValueError):
    """What was asked cannot be drawn (an invalid case, an unknown head, a bad format)."""


@dataclass(frozen=True)
class Branch:
    """One branch's inputs for one sequence: q, k, v [1, H, T, Dh], rel_bias [H, 2R−1]."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    rel_bias: np.ndarray


@dataclass(frozen=True)
class Scene:
    """What a picture shows: a configuration, one sequence's inputs to each branch, its key
    padding mask [1, T] (True = real token) and the span scales to draw the local branch at."""

    title: str
    config: AHAConfig
    local: Branch
    global_: Branch
    mask: np.ndarray | None
    span_scales: tuple[float, ...]
    own_scale: float | None = None  # the case's own s for this element, labelled as such

    @property
    def seq_len(self) -> int:
        return int(self.local.q.shape[2])

    @property
    def heads(self) -> int:
        return int(self.local.q.shape[1])


def random_scene(
    config: AHAConfig = DEFAULT_CONFIG,
    *,
    seq_len: int = 48,
    heads: int = 4,
    head_dim: int = 16,
    seed: int = 0,
    padding: int = 0,
    span_scales: Sequence[float] = DEFAULT_SPAN_SCALES,
) -> Scene:
    """Seeded normal q, k, v; each head gets a bias table of a different shape, so the
    bias's effect shows (LOCAL-2): flat, decaying with distance, one-sided (favouring
    earlier keys, i − j > 0), then seeded noise. ``padding`` hides the last keys (MASK-2)."""
    if not 0 <= padding < seq_len:
        raise PlotError(f"padding must lie in [0, seq_len={seq_len}), got {padding}")
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((1, heads, seq_len, head_dim)) for _ in range(3))
    r = config.max_rel_dist
    offset = np.arange(-(r - 1), r)  # i − j for each column of the table
    shapes = [
        np.zeros(2 * r - 1),
        -0.25 * np.abs(offset),
        np.where(offset > 0, 1.5, -1.5),
    ]
    tables = [shapes[h] if h < len(shapes) else rng.normal(0, 1.5, 2 * r - 1) for h in range(heads)]
    rel_bias = np.stack(tables)
    mask = None
    if padding:
        mask = np.ones((1, seq_len), dtype=bool)
        mask[0, seq_len - padding :] = False
    branch = Branch(q, k, v, rel_bias)
    title = f"random inputs, seed {seed}: T={seq_len}, H={heads}, Dh={head_dim}"
    return Scene(title, config, branch, branch, mask, _scales(span_scales))


def case_scene(case: Case, batch: int = 0, span_scales: Sequence[float] = ()) -> Scene:
    """The inputs of batch element ``batch`` of a golden case or saved counterexample.

    Kernel cases (local, global) give both branches the same inputs; a layer case projects
    x to each branch's heads as the layer does (LAYER-1 .. LAYER-3). The local branch is drawn
    at ``span_scales`` (default: 0.2, 0.5, 1) plus the case's own s for this element.
    """
    if case.error is not None or case.kind not in ("local", "global", "layer"):
        what = f"an invalid case ({case.error})" if case.error else f"a {case.kind} case"
        raise PlotError(f"case {case.id!r} is {what}: it has no attention weights to draw")
    inputs = {k: v for k, v in case.inputs.items() if k != "params"}
    size = int(np.shape(inputs["x" if case.kind == "layer" else "q"])[0])
    if not 0 <= batch < size:
        raise PlotError(f"batch must lie in [0, {size}) for case {case.id!r}, got {batch}")
    config = case.aha_config()
    mask = _f64_or_none(inputs.get("key_padding_mask"), bool)
    own = _f64_or_none(inputs.get("span_scale"), np.float64)
    if case.kind == "layer":
        params = {
            name: np.asarray(a, dtype=np.float64) for name, a in case.inputs["params"].items()
        }
        x = np.asarray(inputs["x"], dtype=np.float64)
        own = hybrid_layer(x, params, config, mask, own)[1]  # s as the layer uses it: LAYER-4
        local, global_ = (
            _project(x[batch : batch + 1], params, name, config) for name in _BRANCHES
        )
    else:
        q, k, v = (np.asarray(inputs[n], dtype=np.float64)[batch : batch + 1] for n in "qkv")
        local = global_ = Branch(q, k, v, np.asarray(inputs["rel_bias"], dtype=np.float64))
    scales = list(span_scales or DEFAULT_SPAN_SCALES)
    own_scale = None if own is None else float(np.broadcast_to(own, (size,))[batch])
    if own_scale is not None:
        scales.append(own_scale)
    one_mask = None if mask is None else mask[batch : batch + 1]
    title = f"case {case.id}, batch element {batch}"
    return Scene(title, config, local, global_, one_mask, _scales(scales), own_scale)


_BRANCHES = ("local", "global")


def _project(x: np.ndarray, params: dict[str, np.ndarray], name: str, config: AHAConfig) -> Branch:
    """q, k, v of one branch of the layer: LayerNorm, projections, heads (LAYER-2, LAYER-3)."""
    table = params[f"{name}.rel_bias"]
    normed = layer_norm(x, params, f"ln_{name}", config.ln_eps)
    q, k, v = (split_heads(linear(normed, params, f"{name}.{p}"), table.shape[0]) for p in "qkv")
    return Branch(q, k, v, table)


def _f64_or_none(a: Any, dtype: Any) -> np.ndarray | None:
    return None if a is None else np.asarray(a, dtype=dtype)


def _scales(values: Sequence[float]) -> tuple[float, ...]:
    chosen = tuple(sorted({float(s) for s in values}))
    bad = [s for s in chosen if not 0.0 <= s <= 1.0]
    if not chosen or bad:
        raise PlotError(f"span scales must be one or more values in [0, 1], got {list(values)}")
    return chosen


def weights(
    scene: Scene, heads: int | None = None, side: int = MAX_PIXELS
) -> tuple[np.ndarray, np.ndarray]:
    """The global branch's weights [h, t, t] and the local branch's at each of the scene's
    span scales [S, h, t, t] for the first ``heads`` heads, from the reference (GLOBAL-4,
    LOCAL-5); t = T, or ≤ ``side`` by max-pooling when T is larger. One head and one span
    scale at a time, so a long sequence needs one [T, T] array at once, not S·H of them."""
    if scene.seq_len > MAX_SEQ_LEN:
        raise PlotError(
            f"T={scene.seq_len} is longer than aha plot draws ({MAX_SEQ_LEN}): one head's "
            "weights are a [T, T] array; use --only plan"
        )
    n_heads = scene.heads if heads is None else heads
    g, loc = scene.global_, scene.local
    w_global = []
    w_local: list[list[np.ndarray]] = [[] for _ in scene.span_scales]
    for h in range(n_heads):
        one = slice(h, h + 1)
        _, w = global_attention(
            g.q[:, one], g.k[:, one], g.v[:, one], g.rel_bias[one], scene.config, scene.mask,
            return_weights=True,
        )  # fmt: skip
        w_global.append(max_pool(w[0, 0], side))
        for row, s in enumerate(scene.span_scales):
            _, w = local_attention(
                loc.q[:, one], loc.k[:, one], loc.v[:, one], s, loc.rel_bias[one],
                scene.config, scene.mask, return_weights=True,
            )  # fmt: skip
            w_local[row].append(max_pool(w[0, 0], side))
    return np.stack(w_global), np.stack([np.stack(r) for r in w_local])


def figure(
    scene: Scene | None,
    config: AHAConfig,
    seq_len: int,
    max_heads: int = 4,
    marks: Sequence[float] = (),
    with_plan: bool = True,
) -> Figure:
    """The attention grid of ``scene`` (when given) above the plan of ``config`` at ``seq_len``
    (unless not ``with_plan``); without a scene, the plan alone with dotted verticals at the
    span scales ``marks``."""
    if scene is None:
        fig = Figure(figsize=(11, 2.9), layout="constrained")
        draw_plan(fig, config, seq_len, marks)
        return fig
    heads = min(scene.heads, max_heads)
    rows = 2 + len(scene.span_scales)
    width = 2.3 * heads + 1.6
    if not with_plan:
        fig = Figure(figsize=(width, 2.2 * rows), layout="constrained")
        draw_attention(fig, scene, heads)
        return fig
    plan_rows = 1 if heads >= 3 else 2  # a narrow grid gets the plan as 2 × 2 panels
    plan_height = 2.9 * plan_rows
    fig = Figure(figsize=(max(width, 5.6), 2.2 * rows + plan_height), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[2.2 * rows, plan_height])
    top, bottom = fig.add_subfigure(grid[0]), fig.add_subfigure(grid[1])
    draw_attention(top, scene, heads)
    draw_plan(bottom, scene.config, scene.seq_len, scene.span_scales, plan_rows)
    return fig


def draw_attention(fig: Figure | SubFigure, scene: Scene, heads: int) -> None:
    """Rows: the global branch, the local branch at each span scale, the bias tables;
    columns: heads. Dashed lines mark the band edges |i − j| = ρ − 1 (LOCAL-1)."""
    w_global, w_local = weights(scene, heads)
    p = plan(np.array(scene.span_scales), scene.seq_len, scene.config)
    norm = PowerNorm(WEIGHT_GAMMA, vmin=0.0, vmax=max(float(w_local.max()), 1e-12))
    rows = 2 + len(scene.span_scales)
    axes = fig.subplots(rows, heads, squeeze=False)
    hidden = 0 if scene.mask is None else int((~scene.mask).sum())
    padded = f"; {hidden} padded key(s) hidden (MASK-2)" if hidden else ""
    block = -(-scene.seq_len // MAX_PIXELS)
    if block > 1:
        padded += f"; weights max-pooled in {block}×{block} blocks"
    chars = int(8 * max(2.3 * heads + 1.6, 5.6))  # about 8 characters per inch at 11 pt
    fig.suptitle(fill(scene.title + padded, width=chars), fontsize=11)
    image = None
    for h in range(heads):
        axes[0, h].set_title(f"head {h}", fontsize=10)
        image = _weights_panel(axes[0, h], w_global[h], norm, scene.seq_len)
        for row in range(1, rows - 1):
            _weights_panel(axes[row, h], w_local[row - 1, h], norm, scene.seq_len)
            _band_edges(axes[row, h], int(p.reach[row - 1]), scene.seq_len)
        _bias_panel(axes[-1, h], scene.local.rel_bias[h], p.reach)
    axes[0, 0].set_ylabel("global\nquery i", fontsize=9)
    for row, s in enumerate(scene.span_scales, start=1):
        own = " (case's s)" if s == scene.own_scale else ""
        label = (
            f"local s={s!r}{own}\nw={p.window[row - 1]} ρ={p.reach[row - 1]}\n"
            f"τ={p.temperature[row - 1]:.2f} g={p.gain[row - 1]:.2f}\nquery i"
        )
        axes[row, 0].set_ylabel(label, fontsize=9)
    axes[-1, 0].set_ylabel("local bias\nrel_bias[h]", fontsize=9)
    for ax in axes[-2, :]:
        ax.set_xlabel("key j", fontsize=9)
    assert image is not None  # heads ≥ 1
    bar = fig.colorbar(image, ax=axes[:-1, :], shrink=0.6, label="attention weight (√ scale)")
    bar.ax.tick_params(labelsize=8)


def _weights_panel(ax: Axes, w: np.ndarray, norm: PowerNorm, seq_len: int) -> Any:
    """A [t, t] picture of weights drawn over query and key positions 0 … T − 1 (a pooled
    picture still reads in positions)."""
    edges = (-0.5, seq_len - 0.5, seq_len - 0.5, -0.5)
    image = ax.imshow(w, cmap="magma", norm=norm, interpolation="nearest", extent=edges)
    ax.tick_params(labelsize=7)
    integer_ticks(ax)
    return image


def integer_ticks(ax: Axes) -> None:
    """Ticks on whole positions only: rows and columns of a picture are indices."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))


def _band_edges(ax: Axes, reach: int, seq_len: int) -> None:
    i = np.arange(seq_len)
    for side in (-1, 1):
        j = i + side * (reach - 1)
        inside = (j >= 0) & (j < seq_len)
        ax.plot(j[inside], i[inside], ls="--", lw=0.6, color="#7fd4ff")
    ax.set_xlim(-0.5, seq_len - 0.5)
    ax.set_ylim(seq_len - 0.5, -0.5)


def _bias_panel(ax: Axes, table: np.ndarray, reach: np.ndarray) -> None:
    r = (table.shape[0] + 1) // 2
    offset = np.arange(-(r - 1), r)
    dots = "o" if table.shape[0] <= 64 else None  # single entries stay visible; long tables a line
    ax.plot(offset, table, color="#5b2a86", lw=1.2, marker=dots, ms=2.5)
    for rho in sorted(set(reach.tolist())):
        ax.axvspan(-(rho - 1), rho - 1, color="#f4a259", alpha=0.12)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("offset i − j (shaded: visible at each ρ)", fontsize=8)
    ax.tick_params(labelsize=7)


def draw_plan(
    fig: Figure | SubFigure,
    config: AHAConfig,
    seq_len: int,
    marks: Sequence[float],
    rows: int = 1,
) -> None:
    """window, reach, temperature and gain against s ∈ [0, 1] (PLAN-2 .. PLAN-5); dotted
    verticals at ``marks``."""
    s = np.linspace(0.0, 1.0, 1001)
    p = plan(s, seq_len, config)
    panels = [
        ("window w", p.window, f"⌊W·s⌋, at least {config.min_window} (W={config.window})"),
        ("reach ρ", p.reach, f"min(w, T={seq_len}, R={config.max_rel_dist})"),
        (
            "temperature τ",
            p.temperature,
            f"{config.sharpen}, α={config.temp_scale:g}, τmin={config.min_temperature:g}",
        ),
        ("gain g", p.gain, f"score_scale={config.score_scale!r}"),
    ]
    axes = np.ravel(fig.subplots(rows, 4 // rows))
    fig.suptitle(f"plan against s (T={seq_len})", fontsize=11)
    for ax, (name, values, note) in zip(axes, panels, strict=True):
        ax.plot(s, values, color="#1f6f8b", lw=1.4, drawstyle="steps-post")
        if name.startswith("temperature") and values.min() <= config.min_temperature:
            ax.axhline(config.min_temperature, color="grey", ls="--", lw=0.8)
        for m in marks:
            ax.axvline(m, color="#f4a259", ls=":", lw=1)
        ax.set_title(f"{name}\n{note}", fontsize=9)
        ax.set_xlabel("span scale s", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)


def save(fig: Figure, path: Path, fmt: str | None = None) -> Path:
    """Write ``fig`` as PNG or SVG: ``fmt``, else the suffix of ``path``, else PNG."""
    chosen = (fmt or path.suffix.lstrip(".") or "png").lower()
    if chosen not in FORMATS:
        raise PlotError(f"format must be one of {FORMATS}, got {chosen!r}")
    if path.suffix.lstrip(".").lower() != chosen:
        path = path.with_suffix(f".{chosen}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=chosen, dpi=110)
    return path

"""``aha plot``: the attention weights of both branches and the plan, as PNG or SVG.

Kept apart from the drawing (plot.py) so that other ``aha`` commands do not import
matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import corpus

EXAMPLES = """examples:
  aha plot --out attn.png                     random seeded inputs, default configuration
  aha plot --case local/causal --out c.svg    a golden case, batch element 0
  aha plot --vectors aha-failures/numpy-X     a saved counterexample (its only case)
  aha plot --only plan --config '{"window": 64, "temp_scale": 0.5}' --seq-len 100
"""


def register(commands: Any) -> None:
    """Add ``aha plot`` to the ``aha`` command's subparsers."""
    p = commands.add_parser(
        "plot",
        help="draw attention weights (local and global branches) and the plan",
        description="Draw, with the reference in binary64, the attention weights of the "
        "global branch and of the local branch at several span scales (a grid over heads), "
        "the bias tables, and the plan (window, reach, temperature, gain) against s.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("aha-plot.png"), help="default aha-plot.png")
    p.add_argument("--format", choices=("png", "svg"), help="default: the suffix of --out")
    p.add_argument("--only", choices=("attention", "plan"), help="draw one part only")
    p.add_argument("--config", help="AHAConfig fields as JSON, e.g. '{\"window\": 16}'")
    p.add_argument("--case", help="a golden case id (from --vectors, or the shipped corpus)")
    p.add_argument("--vectors", type=Path, help="a corpus or saved counterexample directory")
    p.add_argument("--batch", type=int, default=0, help="batch element of a case (default 0)")
    p.add_argument(
        "--span-scales",
        type=_floats,
        help="comma-separated span scales for the local rows (default 0.2,0.5,1)",
    )
    p.add_argument("--seq-len", type=int, default=48, help="random inputs: T (default 48)")
    p.add_argument("--heads", type=int, default=4, help="random inputs: H (default 4)")
    p.add_argument("--head-dim", type=int, default=16, help="random inputs: Dh (default 16)")
    p.add_argument("--padding", type=int, default=0, help="random inputs: padded last keys")
    p.add_argument("--seed", type=int, default=0, help="random inputs: seed (default 0)")
    p.add_argument("--max-heads", type=int, default=4, help="columns drawn (default 4)")
    p.set_defaults(func=run)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.2,0.5,1; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from . import plot  # matplotlib loads only for this command

    try:
        scene, config, seq_len, marks = _scene(args, plot)
        if args.only == "plan":
            scene = None
        elif args.only == "attention" and scene is None:
            raise plot.PlotError("a plan case has no attention weights; use --only plan")
        with_plan = args.only != "attention"
        fig = plot.figure(scene, config, seq_len, args.max_heads, marks, with_plan)
        path = plot.save(fig, args.out, args.format)
    except (plot.PlotError, corpus.CorpusError, ValueError) as exc:
        print(f"aha plot: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _scene(args: argparse.Namespace, plot: Any) -> tuple[Any, Any, int, tuple[float, ...]]:
    """The scene to draw (None for a plan case), its configuration, T and span scales to mark
    on the plan."""
    import json

    from aha.reference import AHAConfig

    if args.case or args.vectors:
        loaded = corpus.load(args.vectors)
        matches = [c for c in loaded.cases if args.case in (None, c.id)]
        if not matches:
            raise plot.PlotError(f"no case {args.case!r} in {loaded.directory}")
        case = matches[0]
        if case.kind == "plan":
            marks = tuple(np.ravel(case.inputs["span_scale"]).tolist())
            return None, case.aha_config(), int(case.inputs["seq_len"]), marks
        scene = plot.case_scene(case, args.batch, args.span_scales or ())
        return scene, scene.config, scene.seq_len, scene.span_scales
    try:
        fields = json.loads(args.config) if args.config else {}
    except json.JSONDecodeError as exc:
        raise plot.PlotError(f"--config must be a JSON object: {exc}") from None
    if not isinstance(fields, dict):
        raise plot.PlotError(f"--config must be a JSON object, got {args.config!r}")
    config = AHAConfig(**{**plot.DEFAULT_CONFIG.to_dict(), **fields})
    scene = plot.random_scene(
        config,
        seq_len=args.seq_len,
        heads=args.heads,
        head_dim=args.head_dim,
        seed=args.seed,
        padding=args.padding,
        span_scales=args.span_scales or plot.DEFAULT_SPAN_SCALES,
    )
    return scene, config, args.seq_len, scene.span_scales

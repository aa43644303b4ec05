"""The ``aha`` command: ``aha conform`` and ``aha vectors generate|verify``."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

from . import corpus, plot_cli, report
from . import zoo as zoo_cli  # H6: aha zoo
from .generate import generate, verify
from .protocol import DTYPES, AdapterLoadError, load_adapter
from .runner import FAIL, Result, Settings, run


class Progress:
    """A one-line bar on a terminal; a line per tenth of the run otherwise (CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.counts: Counter[str] = Counter()
        self.last_tenth = -1

    def __call__(self, done: int, total: int, result: Result) -> None:
        self.counts[result.status] += 1
        tally = f"{self.counts['pass']} pass, {self.counts[FAIL]} fail"
        if self.tty:
            filled = self.width * done // total
            bar = "=" * filled + " " * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} {tally}  {result.check[:40]:<40}")
            if done == total:
                self.stream.write("\n")
        elif done * 10 // total > self.last_tenth:
            self.last_tenth = done * 10 // total
            self.stream.write(f"[{done}/{total}] {tally}\n")
        self.stream.flush()


def _dtypes(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    chosen = tuple(d.strip() for d in text.split(",") if d.strip())
    unknown = [d for d in chosen if d not in DTYPES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown dtype {unknown[0]!r}; choose from {DTYPES}")
    return chosen


def conform(args: argparse.Namespace) -> int:
    try:
        adapter = load_adapter(args.adapter)
    except AdapterLoadError as exc:
        print(f"aha conform: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        adapter=args.adapter,
        dtypes=args.dtype,
        max_examples=args.max_examples,
        seed=args.seed,
        case=args.case,
        vectors=args.vectors,
        time_limit=args.time_limit,
        failures_dir=args.failures_dir,
        properties=not args.no_properties,
    )
    start = time.perf_counter()
    try:
        loaded, results = run(adapter, settings, progress=Progress())
    except corpus.CorpusError as exc:
        print(f"aha conform: the vectors cannot be trusted: {exc}", file=sys.stderr)
        return 2
    if not results:
        print(f"aha conform: no check matches --case {args.case!r}", file=sys.stderr)
        return 2
    data = report.to_json(adapter, settings, loaded, results, time.perf_counter() - start)
    print(report.console(data, results))
    if args.report:
        json_path, md_path = report.write(args.report, data, results)
        print(f"report: {json_path} and {md_path}")
    return 0 if report.conforms(results) else 1


def vectors_generate(args: argparse.Namespace) -> int:
    out = args.out or corpus.default_dir()
    count = generate(out)
    print(f"wrote {count} cases to {out}")
    return 0


def vectors_verify(args: argparse.Namespace) -> int:
    directory = args.directory or corpus.default_dir()
    problems = verify(directory)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print(f"{directory}: {len(problems)} problem(s): the corpus cannot be trusted")
        return 2  # a corrupt corpus is a usage error, never a verdict on an implementation
    print(
        f"{directory}: every checksum, tensor and expected result verified against the "
        f"reference ({len(corpus.load(directory).cases)} cases)"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="aha",
        description="AdaptiveHybridAttention: conformance runs and golden vectors (spec/AHA.md).",
    )
    commands = top.add_subparsers(dest="command", required=True)

    c = commands.add_parser("conform", help="check an implementation against the spec")
    c.add_argument(
        "--adapter",
        default="numpy",
        help="a built-in name (numpy, torch, torch-flex, torch-sdpa, jax, jax-dpa, "
        "triton), module:attr, or an entry point of group aha.adapters "
        "(default: numpy, the reference itself)",
    )
    c.add_argument(
        "--dtype",
        type=_dtypes,
        default=None,
        help="comma-separated dtypes to check (default: every dtype the adapter claims)",
    )
    c.add_argument("--report", type=Path, help="write a JSON report here and Markdown beside it")
    c.add_argument(
        "--max-examples",
        type=int,
        default=15,
        help="Hypothesis examples per property and dtype (default 15)",
    )
    c.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    c.add_argument("--case", help="run only this case id or property (glob patterns allowed)")
    c.add_argument("--vectors", type=Path, help="a corpus directory (default: the shipped one)")
    c.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="seconds allowed per golden case and per adapter call (default 60)",
    )
    c.add_argument(
        "--failures-dir",
        type=Path,
        default=Path("aha-failures"),
        help="where shrunk counterexamples are saved as vectors",
    )
    c.add_argument("--no-properties", action="store_true", help="golden vectors only")
    c.set_defaults(func=conform)

    zoo_cli.add_parser(commands)  # H6: aha zoo (conformance/zoo.py)

    v = commands.add_parser("vectors", help="generate or verify golden vectors")
    vc = v.add_subparsers(dest="action", required=True)
    g = vc.add_parser("generate", help="regenerate the corpus from the reference")
    g.add_argument("--out", type=Path, help="target directory (default: the shipped corpus)")
    g.set_defaults(func=vectors_generate)
    r = vc.add_parser("verify", help="check checksums and re-derive every expected result")
    r.add_argument("directory", nargs="?", type=Path)
    r.set_defaults(func=vectors_verify)
    plot_cli.register(commands)  # `aha plot` (issue 16)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

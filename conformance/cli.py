"""The ``aha`` command: ``aha conform``, ``aha vectors generate|verify`` and the commands
other modules register (zoo, plot). Every value is checked before a run starts."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from aha.reference import SPEC_VERSION

from . import corpus, exchange, kernel, plot_cli, report
from . import zoo as zoo_cli  # H6: aha zoo
from .generate import generate, verify
from .isolation import ISOLATIONS
from .protocol import CAPABILITIES, AdapterLoadError, load_adapter
from .runner import FAIL, Result, Settings, run
from .selection import parse_capabilities, parse_dtypes

DEFAULTS = Settings(adapter="numpy")  # the defaults the options show (written once, there)


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


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser whose ValueError names the problem."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a finite number of seconds > 0, got {text}")
    return value


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a deadline (timeout, CI) ends the run like Ctrl-C: with a report


def conform(args: argparse.Namespace) -> int:
    try:
        settings = Settings(
            adapter=args.adapter,
            dtypes=args.dtype,
            max_examples=args.max_examples,
            seed=args.seed,
            case=args.case,
            vectors=args.vectors,
            time_limit=kernel.time_limit(args.tier, args.time_limit, DEFAULTS.time_limit),
            first_call_limit=args.first_call_limit,
            tier=args.tier,  # H2b: --tier kernel adds the long kernel-tier cases
            failures_dir=args.failures_dir,
            properties=not args.no_properties,
            isolation=args.isolation,
            require=args.require,
        )
        if args.report:
            report.check_writable(args.report)
    except ValueError as exc:
        print(f"aha conform: {exc}", file=sys.stderr)
        return report.EXIT_USAGE
    try:
        adapter = load_adapter(args.adapter)
    except AdapterLoadError as exc:
        print(f"aha conform: {exc}", file=sys.stderr)
        return report.EXIT_USAGE
    start = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        done = run(adapter, settings, progress=Progress())
    except corpus.CorpusError as exc:
        print(f"aha conform: the vectors cannot be trusted: {exc}", file=sys.stderr)
        return report.EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not done.checks:
        print(f"aha conform: no check matches --case {args.case!r}", file=sys.stderr)
        return report.EXIT_USAGE
    data = report.to_json(
        adapter, settings, done.corpus, done.results, time.perf_counter() - start, done.interrupted
    )
    print(report.console(data, done.results))
    if args.report:
        written = report.write(args.report, data, done.results)
        print("report: " + " and ".join(str(p) for p in written))
    return int(data["exit_status"])


def export_cmd(args: argparse.Namespace) -> int:
    try:
        settings = Settings(
            adapter="export",
            dtypes=args.dtype,
            max_examples=args.max_examples,
            seed=args.seed,
            case=args.case,
            vectors=args.vectors,
            properties=not args.no_properties,
            tier=args.tier,
            time_limit=3600.0,  # the reference answers; a deadline here would only lose cases
        )
        count = exchange.export(args.directory, settings, args.capabilities or CAPABILITIES)
    except (ValueError, corpus.CorpusError, OSError) as exc:
        print(f"aha export: {exc}", file=sys.stderr)
        return report.EXIT_USAGE
    print(f"wrote {count} cases to {args.directory} (see spec/conformance.md section 6)")
    return 0


def judge_cmd(args: argparse.Namespace) -> int:
    try:
        if args.report:
            report.check_writable(args.report)
        start = time.perf_counter()
        settings, adapter, done = exchange.judge(args.directory, args.outputs, args.name)
    except (ValueError, exchange.ExportError, corpus.CorpusError) as exc:
        print(f"aha judge: {exc}", file=sys.stderr)
        return report.EXIT_USAGE
    data = report.to_json(
        adapter, settings, done.corpus, done.results, time.perf_counter() - start, done.interrupted
    )
    print(report.console(data, done.results))
    if args.report:
        written = report.write(args.report, data, done.results)
        print("report: " + " and ".join(str(p) for p in written))
    return int(data["exit_status"])


def vectors_generate(args: argparse.Namespace) -> int:
    shipped = corpus.default_dir()
    out = args.out or shipped
    if out.resolve() == shipped.resolve() and not args.overwrite_shipped:
        print(
            f"aha vectors generate: {shipped} is the installed corpus; give --out DIR, or "
            f"--overwrite-shipped to rewrite it",
            file=sys.stderr,
        )
        return report.EXIT_USAGE
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
    top.add_argument(
        "--version", action="version", version=f"aha {report.aha_version()} (spec {SPEC_VERSION})"
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
        type=_checked(parse_dtypes),
        default=None,
        help="comma-separated dtypes to check (default: every dtype the adapter claims)",
    )
    c.add_argument(
        "--report",
        type=Path,
        help="write the report here: X.json (and X.md beside), X.md or X.html (and X.json)",
    )
    c.add_argument(
        "--max-examples",
        type=_checked(_at_least_one),
        default=DEFAULTS.max_examples,
        help=f"Hypothesis examples per property and dtype (default {DEFAULTS.max_examples})",
    )
    c.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help=f"Hypothesis seed (default {DEFAULTS.seed})"
    )
    c.add_argument("--case", help="run only this case id or property (glob patterns allowed)")
    c.add_argument("--vectors", type=Path, help="a corpus directory (default: the shipped one)")
    c.add_argument(
        "--time-limit",
        type=_checked(_seconds),
        default=DEFAULTS.time_limit,
        help=f"seconds allowed per adapter call (default {DEFAULTS.time_limit:g}); a call past "
        f"it is killed, and an operation that misses it twice in a row is skipped",
    )
    c.add_argument(
        "--first-call-limit",
        type=_checked(_seconds),
        default=DEFAULTS.first_call_limit,
        help=f"seconds allowed for the first call of each operation and dtype, where a JIT "
        f"(torch.compile, Triton, XLA) compiles (default {DEFAULTS.first_call_limit:g}; never "
        f"less than --time-limit); no call gets it once one has run past its deadline",
    )
    c.add_argument(
        "--failures-dir",
        type=Path,
        default=DEFAULTS.failures_dir,
        help="where shrunk counterexamples are saved as vectors",
    )
    c.add_argument("--no-properties", action="store_true", help="golden vectors only")
    c.add_argument(  # H2b
        "--tier",
        choices=kernel.TIERS,
        default="default",
        help="default: every check of the shipped corpus up to T = 1100; kernel: also the "
        "long kernel-tier cases (T up to 16384, Dh up to 256; per-call time limit raised to "
        f"{kernel.KERNEL_TIME_LIMIT:g} s unless --time-limit is given)",
    )
    c.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default=DEFAULTS.isolation,
        help="process (default): the adapter runs in a worker process that is killed on a "
        "deadline and restarted after a crash; none: in the harness's process, for debugging",
    )
    c.add_argument(
        "--require",
        type=_checked(parse_capabilities),
        default=frozenset(),
        help="comma-separated capabilities the adapter must claim (e.g. layer,float16); one "
        "it does not claim fails the run",
    )
    c.set_defaults(func=conform)

    e = commands.add_parser(
        "export", help="write a run's calls as case files, for an implementation in any language"
    )
    e.add_argument("directory", type=Path)
    e.add_argument(
        "--capabilities",
        type=_checked(parse_capabilities),
        default=None,
        help="what the implementation claims, comma-separated (default: everything)",
    )
    e.add_argument("--dtype", type=_checked(parse_dtypes), default=None)
    e.add_argument("--max-examples", type=_checked(_at_least_one), default=DEFAULTS.max_examples)
    e.add_argument("--seed", type=int, default=DEFAULTS.seed)
    e.add_argument("--case", help="only this case id or property (glob patterns allowed)")
    e.add_argument("--vectors", type=Path, help="a corpus directory (default: the shipped one)")
    e.add_argument("--no-properties", action="store_true", help="golden vectors only")
    e.add_argument(
        "--tier",
        choices=kernel.TIERS,
        default=DEFAULTS.tier,
        help="kernel: add the kernel-tier cases (as aha conform --tier kernel)",
    )
    e.set_defaults(func=export_cmd)
    j = commands.add_parser(
        "judge", help="judge an implementation's output files for an export (as aha conform)"
    )
    j.add_argument("directory", type=Path, help="the directory written by aha export")
    j.add_argument("--outputs", type=Path, required=True, help="the implementation's outputs")
    j.add_argument("--name", default="external", help="the implementation's name in reports")
    j.add_argument("--report", type=Path, help="as for aha conform")
    j.set_defaults(func=judge_cmd)

    zoo_cli.add_parser(commands)  # H6: aha zoo (conformance/zoo.py)

    v = commands.add_parser("vectors", help="generate or verify golden vectors")
    vc = v.add_subparsers(dest="action", required=True)
    g = vc.add_parser("generate", help="regenerate the corpus from the reference")
    g.add_argument("--out", type=Path, help="target directory")
    g.add_argument(
        "--overwrite-shipped",
        action="store_true",
        help="rewrite the installed corpus (conformance/vectors/) when no --out is given",
    )
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

"""``aha zoo``: the suite run against every planted bug, and what it says about the suite
(issue 15).

A family is a function returning ``Entry`` records; ``FAMILIES`` registers them by name. The
planted family (conformance/mutants.py) is always there; the tiled-kernel family
(conformance/tiled.py) and the gradient family (conformance/grad_mutants.py) join when their
modules are present. For each mutant the zoo runs the selected checks, keeps the ones that
fail, and reports the first kills, the time to the first kill, the mutation score, the checks
that kill nothing and the mutants only one check kills (fragile).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aha.adapters.reference import ReferenceAdapter

from . import corpus, diagnosis, mutants
from .runner import FAIL, Check, Settings, plan_checks, run_check

SCHEMA = "aha-zoo/1"
FIRST = 3  # first kills listed per mutant


@dataclass(frozen=True)
class Entry:
    """One planted bug: how to build it, and what it violates."""

    name: str  # unique in the zoo, e.g. "window-off-by-one" or "tiled:max-not-rescaled@64"
    family: str
    description: str
    clauses: tuple[str, ...]
    make: Callable[[], Any]


@dataclass(frozen=True)
class Budget:
    """What the zoo runs: a named preset, narrowed by families and a name pattern."""

    dtypes: tuple[str, ...] = ("float64", "float32")
    properties: bool = False
    max_examples: int = 5
    families: tuple[str, ...] | None = None  # None: every registered family
    pattern: str | None = None  # glob over mutant names
    tiles: tuple[int, ...] = (16, 64)
    kernel_cases: bool = True  # the default tier's long kernel cases (kernel/…)


PRESETS = {
    # The golden vectors in binary64 and float32, kernel cases included, every family.
    "vectors": Budget(),
    # The CI test: without the long kernel cases (float32 kills output-not-cast).
    "quick": Budget(kernel_cases=False),
    # Everything: vectors and properties (a few examples each).
    "full": Budget(properties=True),
}


@dataclass
class Kill:
    check: str  # the check id without its dtype: a case or a property
    clauses: tuple[str, ...]
    seconds: float  # from the start of the mutant's run to the end of this check


@dataclass
class Outcome:
    entry: Entry
    kills: list[Kill] = field(default_factory=list)  # distinct checks, in run order
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return bool(self.kills)


# Families


def planted(budget: Budget) -> list[Entry]:
    return [
        Entry(d.name, "planted", d.description, d.clauses, d.adapter)
        for d in mutants.DEVIATIONS.values()
    ]


TILE_CLAUSES = {
    "bias-tile-local-index": ("LOCAL-2", "GLOBAL-2"),
    "padding-tile-local-index": ("MASK-1",),
    "causal-tile-local-index": ("CAUSAL-1",),
    "max-not-rescaled": ("LOCAL-4",),
    "last-key-tile-skipped": ("LOCAL-1", "GLOBAL-1"),
    "last-query-tile-skipped": ("LOCAL-1", "GLOBAL-1"),
    "band-start-tile-skipped": ("LOCAL-1",),
    "finite-minus-infinity": ("LOCAL-5", "GLOBAL-4"),
    "window-truncated-to-tile": ("LOCAL-1",),
    "head-dim-padded-unmasked": ("LOCAL-2", "GLOBAL-2"),
}


def tiled(budget: Budget) -> list[Entry]:
    """The tiled-kernel bugs (conformance/tiled.py) at the budget's tile sizes."""
    module = importlib.import_module("aha.conformance.tiled")
    clauses = getattr(module, "TILE_CLAUSES", TILE_CLAUSES)
    return [
        Entry(
            f"tiled:{bug}@{tile}",
            "tiled",
            f"{description} (tile {tile})",
            tuple(clauses.get(bug, ())),
            functools.partial(module.Tiled, tile, bug),
        )
        for bug, description in module.TILE_BUGS.items()
        for tile in budget.tiles
    ]


def gradient(budget: Budget) -> list[Entry]:
    """The gradient bugs (conformance/grad_mutants.py GRADIENT_BUGS), named by their flag."""
    module = importlib.import_module("aha.conformance.grad_mutants")
    return [
        Entry(bug.name, "gradient", bug.description, tuple(bug.clauses), bug.adapter)
        for bug in module.GRADIENT_BUGS
    ]


FAMILIES: dict[str, Callable[[Budget], list[Entry]]] = {
    "planted": planted,
    "tiled": tiled,
    "gradient": gradient,
}


def entries(budget: Budget) -> tuple[list[Entry], list[str]]:
    """The zoo's mutants under ``budget``, and a note per family that could not be loaded."""
    found, missing = [], []
    for name, family in FAMILIES.items():
        if budget.families is not None and name not in budget.families:
            continue
        try:
            found.extend(family(budget))
        except Exception as exc:  # a family that does not load is reported, not fatal
            missing.append(f"{name}: not loaded ({type(exc).__name__}: {exc})")
    if budget.pattern:
        found = [e for e in found if fnmatch.fnmatchcase(e.name, budget.pattern)]
    return found, missing


# Running


def checks_for(adapter: Any, budget: Budget, failures: Path) -> tuple[Settings, list[Check]]:
    settings = in_process(
        adapter=adapter.name,
        dtypes=budget.dtypes,
        properties=budget.properties,
        max_examples=budget.max_examples,
        failures_dir=failures,
    )
    checks = plan_checks(adapter, golden(), settings)
    if not budget.kernel_cases:
        checks = [c for c in checks if c.case is None or c.case.generated is None]
    return settings, checks


def in_process(**settings: Any) -> Settings:
    """Settings that run the adapter in this process: a planted bug is an object built here,
    not a name a worker process could load, and it cannot hang."""
    if "isolation" in {f.name for f in dataclasses.fields(Settings)}:
        settings["isolation"] = "none"
    return Settings(**settings)


@functools.cache
def golden() -> Any:
    """The shipped corpus, loaded once for every mutant."""
    return corpus.load()


def case_of(check_id: str) -> str:
    """local/T-2@float64 → local/T-2: a kill counts once per case or property."""
    return check_id.split("@")[0]


def run_one(entry: Entry, budget: Budget, failures: Path) -> Outcome:
    adapter = entry.make()
    settings, checks = checks_for(adapter, budget, failures)
    outcome, seen = Outcome(entry), set()
    start = time.perf_counter()
    for check in checks:
        with diagnosis.disabled():  # the zoo counts kills; naming them is the conform run's
            result = run_check(check, adapter, settings)
        name = case_of(result.check)
        if result.status == FAIL and name not in seen:
            seen.add(name)
            outcome.kills.append(Kill(name, result.clauses, time.perf_counter() - start))
    outcome.seconds = time.perf_counter() - start
    return outcome


def reference_failures(budget: Budget, failures: Path) -> list[str]:
    """The checks the reference itself fails under the budget (there must be none)."""
    adapter = ReferenceAdapter()
    settings, checks = checks_for(adapter, budget, failures)
    results = (run_check(c, adapter, settings) for c in checks)
    return [r.check for r in results if r.status == FAIL]


def run(
    budget: Budget, progress: Callable[[int, int, Outcome], None] = lambda i, n, o: None
) -> dict[str, Any]:
    """Run the zoo; the JSON-ready report (schema aha-zoo/1)."""
    start = time.perf_counter()
    found, missing = entries(budget)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="aha-zoo-") as tmp:
        failures = Path(tmp)
        broken = reference_failures(budget, failures)
        applicable = checks_for(ReferenceAdapter(), budget, failures)[1]
        all_checks = {case_of(c.id) for c in applicable if c.never is None}
        for i, entry in enumerate(found):
            outcomes.append(run_one(entry, budget, failures))
            progress(i + 1, len(found), outcomes[-1])
    return summarise(budget, outcomes, broken, missing, all_checks, time.perf_counter() - start)


def summarise(
    budget: Budget,
    outcomes: list[Outcome],
    broken: list[str],
    missing: list[str],
    all_checks: set[str],
    seconds: float,
) -> dict[str, Any]:
    killing = {k.check for o in outcomes for k in o.kills}
    killed = [o for o in outcomes if o.killed]
    return {
        "schema": SCHEMA,
        "budget": {
            "dtypes": list(budget.dtypes),
            "properties": budget.properties,
            "max_examples": budget.max_examples if budget.properties else None,
            "families": list(budget.families) if budget.families else None,
            "pattern": budget.pattern,
            "kernel_cases": budget.kernel_cases,
        },
        "reference_failures": broken,
        "families_not_loaded": missing,
        "score": {
            "killed": len(killed),
            "total": len(outcomes),
            "ratio": len(killed) / len(outcomes) if outcomes else None,
        },
        "mutants": [
            {
                "name": o.entry.name,
                "family": o.entry.family,
                "description": o.entry.description,
                "clauses": list(o.entry.clauses),
                "killed": o.killed,
                "kills": len(o.kills),
                "first": [
                    {"check": k.check, "clauses": list(k.clauses), "seconds": k.seconds}
                    for k in o.kills[:FIRST]
                ],
                "seconds_to_first_kill": o.kills[0].seconds if o.kills else None,
                "seconds": o.seconds,
            }
            for o in outcomes
        ],
        "survivors": [o.entry.name for o in outcomes if not o.killed],
        "fragile": [o.entry.name for o in outcomes if len(o.kills) == 1],
        "checks_killing_nothing": sorted(all_checks - killing),
        "checks": len(all_checks),
        "seconds": seconds,
    }


def passed(report: dict[str, Any]) -> bool:
    """Every mutant killed, and the reference passes."""
    return not report["survivors"] and not report["reference_failures"] and bool(report["mutants"])


# Output


def console(report: dict[str, Any]) -> str:
    """The kill table and its summary, for a terminal."""
    lines = [f"{'mutant':<44} {'kills':>5} {'first kill (s)':>14}  first checks (clauses)"]
    for m in report["mutants"]:
        first = "; ".join(f"{k['check']} ({' '.join(k['clauses'])})" for k in m["first"])
        when = m["seconds_to_first_kill"]
        lines.append(
            f"{m['name']:<44} {m['kills']:>5} "
            f"{'SURVIVED' if when is None else f'{when:.3f}':>14}  {first}"
        )
    score = report["score"]
    lines += [
        "",
        f"mutation score: {score['killed']}/{score['total']} mutants killed"
        f" in {report['seconds']:.1f} s ({report['checks']} checks)",
    ]
    for label, key in (
        ("survivors", "survivors"),
        ("fragile (killed by one check)", "fragile"),
        ("checks that kill nothing", "checks_killing_nothing"),
        ("the reference fails", "reference_failures"),
        ("families not loaded", "families_not_loaded"),
    ):
        if report[key]:
            lines.append(f"{label} ({len(report[key])}): {', '.join(report[key])}")
    lines.append("zoo: " + ("every mutant killed" if passed(report) else "FAILED"))
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    """The ``aha zoo`` subcommand (hooked into conformance/cli.py)."""
    z = commands.add_parser("zoo", help="run the suite against every planted bug")
    z.add_argument(
        "--budget",
        choices=sorted(PRESETS),
        default="vectors",
        help="vectors: golden vectors in float64 and float32 (default); quick: without the "
        "long kernel cases (CI); full: vectors and properties",
    )
    z.add_argument("--family", action="append", help=f"only this family ({', '.join(FAMILIES)})")
    z.add_argument("--mutant", help="only mutants whose name matches this glob")
    z.add_argument("--max-examples", type=int, help="property examples (budget full)")
    z.add_argument("--json", action="store_true", help="print the report as JSON")
    z.add_argument("--out", type=Path, help="also write the JSON report here")
    z.set_defaults(func=main)


def main(args: Any) -> int:
    budget = dataclasses.replace(
        PRESETS[args.budget],
        families=tuple(args.family) if args.family else None,
        pattern=args.mutant,
    )
    if args.max_examples is not None:
        budget = dataclasses.replace(budget, max_examples=args.max_examples)

    def progress(i: int, n: int, o: Outcome) -> None:
        if not args.json:
            state = "killed" if o.killed else "SURVIVED"
            print(f"[{i}/{n}] {o.entry.name}: {state}", file=sys.stderr, flush=True)

    report = run(budget, progress)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else console(report))
    return 0 if passed(report) else 1

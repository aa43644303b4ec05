"""The mutation score of the golden corpus: mutate the reference's core files with cosmic-ray
and count the mutants that ``aha vectors verify`` (the frozen corpus re-derived) catches.

A mutant the corpus does not catch is a change to the reference that would regenerate a
different corpus, or the same one, without anyone noticing; docs/mutation-score.md triages the
survivors (equivalent, or pinned by a new vector).

The reference is never mutated in place: ``git archive HEAD`` copies reference/, conformance/,
adapters/ and spec/ to a work directory, and the copy is imported as ``aha`` through
PYTHONPATH. Run once, in the background (it takes tens of minutes on one core):

    python tools/mutation_score.py [--files reference/plan.py ...] [--workdir DIR]

Prints the score and the survivors; writes benchmarks/results/mutation_score.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORE = ("reference/plan.py", "reference/attention.py", "reference/layer.py")
PACKAGES = ("reference", "conformance", "adapters")
# Replacements whose target is a bitwise, shift, floor-division or modulo operator (they turn
# float arithmetic into a TypeError: killed by a crash, not by a vector), and mutations of `|`,
# which the core files use only in annotations (unevaluated: `from __future__ import
# annotations`), so every such mutant is equivalent.
EXCLUDED = (
    r"core/ReplaceBinaryOperator_.*_(BitAnd|BitOr|BitXor|LShift|RShift|FloorDiv|Mod)$",
    r"core/ReplaceBinaryOperator_BitOr_.*",
)


def copy_tree(workdir: Path) -> Path:
    """reference/, conformance/, adapters/ and spec/ at HEAD under workdir/src, importable as
    ``aha`` from workdir/site."""
    archive = subprocess.run(
        ["git", "archive", "HEAD", *PACKAGES, "spec"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    src = workdir / "src"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, filter="data")
    site = workdir / "site" / "aha"
    site.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        (site / package).symlink_to(src / package)
    return src


def verify_command() -> str:
    return f"{sys.executable} -m aha.conformance.cli vectors verify"


def config(files: tuple[str, ...], timeout: float) -> str:
    modules = ", ".join(json.dumps(f) for f in files)
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED)
    return f"""[cosmic-ray]
module-path = [{modules}]
timeout = {timeout}
excluded-modules = []
test-command = {json.dumps(verify_command())}

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = [{excluded}]
"""


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    src = copy_tree(workdir)
    env = {**os.environ, "PYTHONPATH": str(workdir / "site")}
    start = time.perf_counter()
    baseline = subprocess.run(verify_command().split(), cwd=src, env=env, capture_output=True)
    baseline_seconds = time.perf_counter() - start
    if baseline.returncode != 0:
        raise SystemExit(f"the unmutated copy does not verify:\n{baseline.stdout.decode()[-2000:]}")
    cfg, session = workdir / "cosmic-ray.toml", workdir / "session.sqlite"
    cfg.write_text(config(tuple(args.files), max(30.0, 10 * baseline_seconds)))

    def cosmic(*argv: str) -> None:
        subprocess.run([*argv], cwd=src, env=env, check=True, capture_output=True)

    cosmic("cosmic-ray", "init", str(cfg), str(session))
    cosmic("cr-filter-operators", str(session), str(cfg))
    start = time.perf_counter()
    cosmic("cosmic-ray", "exec", str(cfg), str(session))
    seconds = time.perf_counter() - start
    dump = subprocess.run(
        ["cosmic-ray", "dump", str(session)], cwd=src, env=env, capture_output=True, check=True
    ).stdout.decode()
    return summarise(dump, args.files, baseline_seconds, seconds)


def summarise(
    dump: str, files: list[str], baseline_seconds: float, seconds: float
) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    survivors = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            outcomes["not run"] += 1
            continue
        if result["worker_outcome"] == "skipped":
            outcomes["excluded"] += 1
            continue
        outcome = result["test_outcome"]
        outcomes[outcome] += 1
        if outcome == "survived":
            mutation = item["mutations"][0]
            survivors.append(
                {
                    "file": mutation["module_path"],
                    "line": mutation["start_pos"][0],
                    "operator": mutation["operator_name"],
                    "occurrence": mutation["occurrence"],
                    "diff": [
                        d
                        for d in (result.get("diff") or "").splitlines()
                        if d[:1] in "+-" and d[:3] not in ("+++", "---")
                    ],
                }
            )
    judged = outcomes["killed"] + outcomes["survived"]
    return {
        "tool": "cosmic-ray",
        "files": files,
        "test_command": "aha vectors verify",
        "excluded_operators": list(EXCLUDED),
        "outcomes": dict(outcomes),
        "score": outcomes["killed"] / judged if judged else None,
        "baseline_verify_seconds": baseline_seconds,
        "seconds": seconds,
        "survivors": sorted(survivors, key=lambda s: (s["file"], s["line"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", nargs="+", default=list(CORE), help="files of the reference")
    parser.add_argument("--workdir", type=Path, help="keep the copy and session here")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "mutation_score.json"
    )
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=False)
        report = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="aha-mutation-") as tmp:
            report = run(args, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    o = report["outcomes"]
    print(f"{'outcome':<12} {'mutants':>8}")
    for name in ("killed", "survived", "incompetent", "excluded", "not run"):
        print(f"{name:<12} {o.get(name, 0):>8}")
    score = report["score"]
    print(
        f"corpus mutation score: {o.get('killed', 0)}/{o.get('killed', 0) + o.get('survived', 0)}"
        f" = {score:.1%} in {report['seconds'] / 60:.1f} min"
        if score is not None
        else "no mutant was judged"
    )
    for s in report["survivors"]:
        print(f"SURVIVED {s['file']}:{s['line']} {s['operator']}  {' / '.join(s['diff'])}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Conformance reports: the console summary, the JSON report and its Markdown twin
(schema in spec/conformance.md, section 5)."""

from __future__ import annotations

import json
import platform
import sys
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aha.reference import SPEC_VERSION

from .corpus import Corpus
from .protocol import Adapter
from .runner import DECLINED, FAIL, NOT_APPLICABLE, PASS, Result, Settings

SCHEMA = "aha-conformance-report/1"
STATUSES = (PASS, FAIL, NOT_APPLICABLE, DECLINED)


def family(clause: str) -> str:
    """LOCAL-3 → LOCAL."""
    return clause.rsplit("-", 1)[0]


def by_family(results: list[Result]) -> dict[str, dict[str, int]]:
    """Counts of each status per clause family; a check counts once in each family it pins."""
    table: dict[str, Counter[str]] = {}
    for r in results:
        for fam in sorted({family(c) for c in r.clauses}):
            table.setdefault(fam, Counter())[r.status] += 1
    return {fam: {s: counts[s] for s in STATUSES} for fam, counts in sorted(table.items())}


def failed_clauses(results: list[Result]) -> list[str]:
    return sorted({c for r in results if r.status == FAIL for c in r.clauses})


def conforms(results: list[Result]) -> bool:
    """Exit 0 iff every applicable check passed and at least one did."""
    statuses = Counter(r.status for r in results)
    return statuses[FAIL] == 0 and statuses[PASS] > 0


def environment() -> dict[str, Any]:
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for module in ("numpy", "hypothesis", "torch", "jax", "triton"):
        if module in sys.modules:
            env[module] = getattr(sys.modules[module], "__version__", "?")
    return env


def to_json(
    adapter: Adapter, settings: Settings, loaded: Corpus, results: list[Result], seconds: float
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": "conforms" if conforms(results) else "does not conform",
        "adapter": {
            "name": adapter.name,
            "version": getattr(adapter, "version", None),
            "selected_as": settings.adapter,
            "capabilities": sorted(adapter.capabilities),
        },
        "spec_version": SPEC_VERSION,
        "corpus": {
            "directory": str(loaded.directory),
            "digest": loaded.digest,
            "spec_version": loaded.spec_version,
            "cases": len(loaded.cases),
            # False: not the corpus this package ships; it was verified before the run (H4)
            "pinned": loaded.pinned,
        },
        "environment": environment(),
        "settings": {
            "dtypes": list(settings.dtypes) if settings.dtypes else None,
            "max_examples": settings.max_examples,
            "seed": settings.seed,
            "case": settings.case,
            "time_limit_s": settings.time_limit,
        },
        "seconds": round(seconds, 3),
        "summary": {
            "total": len(results),
            **Counter(r.status for r in results),
            "by_family": by_family(results),
            "failed_clauses": failed_clauses(results),
        },
        "results": [asdict(r) for r in results],
    }


def family_table(results: list[Result]) -> list[str]:
    rows = ["| clause family | pass | fail | n/a | declined |", "|---|---|---|---|---|"]
    for fam, counts in by_family(results).items():
        rows.append(f"| {fam} | " + " | ".join(str(counts[s]) for s in STATUSES) + " |")
    return rows


def failure_lines(r: Result) -> list[str]:
    """Clauses and flags, what failed (the measured errors, where, and the bound), the repro."""
    lines = [
        f"- clauses: {', '.join(r.clauses)}"
        + (f"; flags: {', '.join(r.flags)}" if r.flags else ""),
        f"- {r.message.splitlines()[0] if r.message else 'failed'}",
    ]
    if r.saved:
        lines.append(f"- shrunk counterexample saved as a vector in `{r.saved}`")
    lines.append(f"- reproduce: `{r.repro.splitlines()[0]}`")
    return lines


def markdown(report: dict[str, Any], results: list[Result]) -> str:
    a, s = report["adapter"], report["summary"]
    out = [
        f"# AHA conformance report: {a['name']}",
        "",
        f"**Verdict: {report['verdict']}.** {s.get(PASS, 0)} checks passed, {s.get(FAIL, 0)} "
        f"failed, {s.get(NOT_APPLICABLE, 0)} not applicable, {s.get(DECLINED, 0)} declined by "
        f"the adapter, in {report['seconds']:.1f} s.",
        "",
        f"- adapter: `{a['name']}` version {a['version'] or 'unknown'} (selected as "
        f"`{a['selected_as']}`), claims: {', '.join(a['capabilities'])}",
        f"- spec {report['spec_version']}; corpus `{report['corpus']['digest'][:16]}` "
        f"({report['corpus']['cases']} cases"
        + ("" if report["corpus"].get("pinned") else "; not the shipped corpus: verified first")
        + ")",
        f"- {report['created']}, Python {report['environment']['python']}",
        "",
        "A *check* is one golden vector in one dtype, or one property run over generated inputs. "
        "Each pins the spec clauses listed (spec/AHA.md); a check counts once in each family "
        "it pins. *n/a* means the adapter does not claim what the check needs; *declined* "
        "means it raised NotImplementedError.",
        "",
        *family_table(results),
        "",
    ]
    if s["failed_clauses"]:
        out += ["Clauses with a failing check: " + ", ".join(s["failed_clauses"]), ""]
    failures = [r for r in results if r.status == FAIL]
    if failures:
        out += ["## Failures", ""]
        for r in failures:
            out += [f"### {r.check}", "", *failure_lines(r), ""]
    reasons = Counter(r.message for r in results if r.status in (NOT_APPLICABLE, DECLINED))
    if reasons:
        out += ["## Not run", "", "| checks | reason |", "|---|---|"]
        out += [f"| {n} | {reason} |" for reason, n in reasons.most_common()]
        out.append("")
    return "\n".join(out)


def write(path: Path, report: dict[str, Any], results: list[Result]) -> tuple[Path, Path]:
    """The JSON report at ``path`` and its Markdown summary beside it (.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    md = path.with_suffix(".md")
    md.write_text(markdown(report, results))
    return path, md


def console(report: dict[str, Any], results: list[Result], max_failures: int = 20) -> str:
    """What `aha conform` prints at the end of a run."""
    out = ["", *family_table(results), ""]
    failures = [r for r in results if r.status == FAIL]
    for r in failures[:max_failures]:
        out += [f"FAIL {r.check}", *("  " + line for line in failure_lines(r))]
    if len(failures) > max_failures:
        out.append(f"... and {len(failures) - max_failures} more failures (see --report)")
    s = report["summary"]
    out += [
        "",
        f"{report['adapter']['name']}: {report['verdict'].upper()} — "
        f"{s.get(PASS, 0)} passed, {s.get(FAIL, 0)} failed, {s.get(NOT_APPLICABLE, 0)} n/a, "
        f"{s.get(DECLINED, 0)} declined ({report['seconds']:.1f} s)",
    ]
    return "\n".join(out)

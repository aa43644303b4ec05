"""Conformance reports: the verdict and its exit status, the console summary, the JSON report
and its Markdown twin (schema in spec/conformance.md, section 5).

The verdict says what was covered and what was not. Exit statuses: 0 conforms (every check of
what the implementation claims ran and passed), 1 does not conform, 2 usage error, 3 partial
coverage (checks declined, requested dtypes not claimed, nothing judged), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aha.reference import SPEC_VERSION

from . import diagnosis
from .corpus import Corpus
from .execution import DECLINED, FAIL, NOT_APPLICABLE, PASS, SKIPPED, STATUSES, Result
from .operations import OPERATIONS
from .protocol import DTYPES, FEATURES
from .selection import Settings, requested_dtypes

SCHEMA = "aha-conformance-report/2"
EXIT_CONFORMS, EXIT_FAILS, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
REPORT_SUFFIXES = (".json", ".md", ".html")
ENVELOPE = "outside the adapter's envelope"  # how n/a messages of the envelope start


def aha_version() -> str:
    try:
        return version("aha-spec")
    except PackageNotFoundError:
        return "unknown"


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


def by_operation(results: list[Result]) -> dict[str, dict[str, int]]:
    """Counts of each status per operation; each check counts once, so rows add up."""
    table: dict[str, Counter[str]] = {}
    for r in results:
        table.setdefault(r.kind, Counter())[r.status] += 1
    return {kind: {s: counts[s] for s in STATUSES} for kind, counts in table.items()}


def failed_clauses(results: list[Result]) -> list[str]:
    return sorted({c for r in results if r.status == FAIL for c in r.clauses})


@dataclass(frozen=True)
class Verdict:
    """The verdict, its exit status and what the run did and did not cover."""

    text: str  # "conforms", "conforms partially", "does not conform", "interrupted", ...
    exit_status: int
    covered: list[str]
    not_covered: list[str]

    def line(self) -> str:
        out = self.text
        if self.covered:
            out += f"; covered: {'; '.join(self.covered)}"
        if self.not_covered:
            out += f"; not covered: {'; '.join(self.not_covered)}"
        return out


def verdict(
    adapter: Any, settings: Settings, results: list[Result], interrupted: str | None = None
) -> Verdict:
    """The run's verdict: exit 0 only when every check of what is claimed ran and passed."""
    claims = set(adapter.capabilities)
    counts = Counter(r.status for r in results)
    ran = {r.kind for r in results if r.status in (PASS, FAIL)}
    operations = [op.name for op in OPERATIONS.values() if op.name in ran]
    dtypes = {
        str(r.dtype)
        for r in results
        if r.status in (PASS, FAIL) and r.dtype and not OPERATIONS[r.kind].dtype_free
    }
    covered = []
    if operations:
        covered.append(f"operations {', '.join(operations)}")
    if dtypes:
        covered.append(f"dtypes {', '.join(d for d in DTYPES if d in dtypes)}")
    features = [f for f in FEATURES if f in claims]
    if features:
        covered.append(f"masks {', '.join(features)}")
    if any(r.kind.endswith("_vjp") for r in results if r.status in (PASS, FAIL)):
        covered.append("gradients (VJPs)")
    covered.append(f"tier {settings.tier}")
    not_covered = []
    unclaimed_dtypes = [d for d in settings.dtypes or () if d not in claims]
    if unclaimed_dtypes:
        not_covered.append(f"dtypes {', '.join(unclaimed_dtypes)} (not claimed)")
    unclaimed_ops = [op.name for op in OPERATIONS.values() if op.capability not in claims]
    if unclaimed_ops:
        not_covered.append(f"operations {', '.join(unclaimed_ops)} (not claimed)")
    unclaimed_features = [f for f in FEATURES if f not in claims]
    if unclaimed_features:
        not_covered.append(f"masks {', '.join(unclaimed_features)} (not claimed)")
    # An implementation meant for training whose gradients were not judged (GRAD-4; H3a).
    untrained = "train" in claims and "vjp" not in claims
    if untrained:
        not_covered.append("gradients: claims training use (train) but not vjp")
    if counts[DECLINED]:
        not_covered.append(f"{counts[DECLINED]} checks declined")
    outside = sum(
        1 for r in results if r.status == NOT_APPLICABLE and r.message.startswith(ENVELOPE)
    )
    if outside:
        not_covered.append(f"{outside} checks outside the declared envelope")
    if counts[SKIPPED]:
        not_covered.append(f"{counts[SKIPPED]} checks skipped (adapter unresponsive)")
    missing = sorted(set(settings.require) - claims)
    if missing:
        not_covered.append(f"required but not claimed: {', '.join(missing)}")
    if interrupted:
        return Verdict(f"interrupted ({interrupted})", EXIT_INTERRUPTED, covered, not_covered)
    if counts[FAIL] or counts[SKIPPED] or missing:
        return Verdict("does not conform", EXIT_FAILS, covered, not_covered)
    if not counts[PASS]:
        return Verdict("nothing was judged", EXIT_PARTIAL, covered, not_covered)
    if counts[DECLINED] or unclaimed_dtypes or untrained:
        return Verdict("conforms partially", EXIT_PARTIAL, covered, not_covered)
    return Verdict("conforms", EXIT_CONFORMS, covered, not_covered)


def conforms(results: list[Result]) -> bool:
    """Every applicable check passed, at least one did, none was declined or skipped."""
    statuses = Counter(r.status for r in results)
    return statuses[PASS] > 0 and not (statuses[FAIL] or statuses[DECLINED] or statuses[SKIPPED])


def environment(adapter: Any) -> dict[str, Any]:
    """Versions and machine: enough to reproduce the run."""
    env: dict[str, Any] = {
        "aha": aha_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
    }
    for module in ("numpy", "ml_dtypes", "hypothesis", "pebble", "torch", "jax", "triton"):
        if module in sys.modules:
            env[module] = getattr(sys.modules[module], "__version__", "?")
    framework = type(adapter).__module__.split(".")[0]
    env["adapter_module"] = type(adapter).__module__
    if framework in sys.modules and framework not in env:
        env[framework] = getattr(sys.modules[framework], "__version__", None)
    return env


def to_json(
    adapter: Any,
    settings: Settings,
    loaded: Corpus,
    results: list[Result],
    seconds: float,
    interrupted: str | None = None,
) -> dict[str, Any]:
    judged = verdict(adapter, settings, results, interrupted)
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": judged.text,
        "verdict_line": judged.line(),
        "exit_status": judged.exit_status,
        "interrupted": interrupted,
        "coverage": {"covered": judged.covered, "not_covered": judged.not_covered},
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
        "environment": environment(adapter),
        "settings": {
            "dtypes": list(settings.dtypes) if settings.dtypes else None,
            "dtypes_run": list(requested_dtypes(adapter, settings)),
            "max_examples": settings.max_examples,
            "seed": settings.seed,
            "case": settings.case,
            "time_limit_s": settings.time_limit,
            "first_call_limit_s": settings.first_call_seconds,
            "isolation": settings.isolation,
            "require": sorted(settings.require),
            "properties": settings.properties,
        },
        "seconds": round(seconds, 3),
        "summary": {
            "total": len(results),
            **{s: sum(1 for r in results if r.status == s) for s in STATUSES},
            "by_operation": by_operation(results),
            "by_family": by_family(results),
            "failed_clauses": failed_clauses(results),
        },
        "results": [_record(r) for r in results],
    }


def _record(r: Result) -> dict[str, Any]:
    record = asdict(r)
    record.pop("error_maps", None)  # arrays: kept on the Result for pictures, not in JSON
    return record


def _coverage(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    labels = {"covered": "covered", "not_covered": "not covered"}
    return [(labels[key], items) for key, items in report["coverage"].items() if items]


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell or heading: one line, no pipes."""
    return " ".join(str(text).split()).replace("|", "\\|")


def status_table(rows: dict[str, dict[str, int]], first: str) -> list[str]:
    out = [f"| {first} | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
    for name, counts in rows.items():
        out.append(f"| {cell(name)} | " + " | ".join(str(counts[s]) for s in STATUSES) + " |")
    return out


def operation_table(results: list[Result]) -> list[str]:
    rows = by_operation(results)
    total = {s: sum(c[s] for c in rows.values()) for s in STATUSES}
    return status_table({**rows, "total": total}, "operation")


def failure_lines(r: Result, captured: bool = True) -> list[str]:
    """Clauses and flags, what failed (the measured errors, where, and the bound), the repro."""
    lines = [
        f"- clauses: {', '.join(r.clauses)}"
        + (f"; flags: {', '.join(r.flags)}" if r.flags else ""),
        f"- {cell(r.message.splitlines()[0]) if r.message else 'failed'}",
    ]
    if r.saved:
        lines.append(f"- shrunk counterexample saved as a vector in `{r.saved}`")
    if captured and r.captured.strip():
        tail = r.captured.strip().splitlines()[-5:]
        lines.append("- the implementation printed: " + cell(" / ".join(tail))[:500])
    if r.diagnosis is not None:  # H6: the known deviations that explain it (diagnosis.py)
        lines.append(f"- diagnosis: {cell(diagnosis.line(r.diagnosis))}")
    lines.append(f"- reproduce: `{r.repro.splitlines()[0]}`")
    return lines


def markdown(report: dict[str, Any], results: list[Result]) -> str:
    a, s = report["adapter"], report["summary"]
    env = report["environment"]
    out = [
        f"# AHA conformance report: {cell(a['name'])}",
        "",
        f"**Verdict: {report['verdict']}.** {s[PASS]} checks passed, {s[FAIL]} failed, "
        f"{s[NOT_APPLICABLE]} not applicable, {s[DECLINED]} declined by the adapter, "
        f"{s[SKIPPED]} skipped, of {s['total']}, in {report['seconds']:.1f} s.",
        "",
        *(f"- {label}: {'; '.join(items)}" for label, items in _coverage(report)),
        f"- adapter: `{cell(a['name'])}` version {cell(a['version'] or 'unknown')} (selected as "
        f"`{cell(a['selected_as'])}`), claims: {', '.join(a['capabilities'])}",
        f"- aha {env['aha']}, spec {report['spec_version']}; corpus "
        f"`{report['corpus']['digest'][:16]}` ({report['corpus']['cases']} cases"
        + ("" if report["corpus"].get("pinned") else "; not the shipped corpus: verified first")
        + f"); seed {report['settings']['seed']}",
        f"- {report['created']}, Python {env['python']}, {env['platform']}",
        "",
        "A *check* is one golden vector in one dtype, one property run over generated inputs, "
        "or the input-integrity check of one operation (PREC-6). *n/a* means the adapter does "
        "not claim what the check needs; *declined* means it raised NotImplementedError; "
        "*skipped* means the adapter stopped answering. Each check counts once per operation:",
        "",
        *operation_table(results),
        "",
        "By clause family (spec/AHA.md); a check counts once in each family it pins:",
        "",
        *status_table(by_family(results), "clause family"),
        "",
    ]
    if s["failed_clauses"]:
        out += ["Clauses with a failing check: " + ", ".join(s["failed_clauses"]), ""]
    failures = [r for r in results if r.status == FAIL]
    if failures:
        out += ["## Failures", ""]
        for r in failures:
            out += [f"### {cell(r.check)}", "", *failure_lines(r), ""]
    reasons = Counter(r.message for r in results if r.status in (NOT_APPLICABLE, DECLINED, SKIPPED))
    if reasons:
        out += ["## Not run", "", "| checks | reason |", "|---|---|"]
        out += [f"| {n} | {cell(reason)} |" for reason, n in reasons.most_common()]
        out.append("")
    return "\n".join(out)


def check_writable(path: Path) -> None:
    """Fail before the run when the report cannot be written at ``path`` (ValueError)."""
    if path.is_dir():
        raise ValueError(f"--report {str(path)!r} is a directory; give a file name")
    if path.suffix not in REPORT_SUFFIXES:
        raise ValueError(f"--report must end in {', '.join(REPORT_SUFFIXES)}, got {str(path)!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".aha-probe-"):
            pass
    except OSError as exc:
        raise ValueError(f"--report {str(path)!r} cannot be written: {exc}") from None


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a reader never sees half a report."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    umask = os.umask(0)
    os.umask(umask)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o666 & ~umask)  # as an ordinary file (mkstemp makes it private)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write(path: Path, report: dict[str, Any], results: list[Result]) -> list[Path]:
    """The report at ``path`` (.json, .md or .html) and the JSON beside it; .json also gets
    its Markdown twin. Returns the paths written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    json_path = path.with_suffix(".json")
    write_atomic(json_path, json.dumps(report, indent=1) + "\n")
    written = [json_path]
    if path.suffix == ".html":
        from .html_report import render  # matplotlib and jinja2 only when asked for

        write_atomic(path, render(report, results))
        written.append(path)
    else:
        md = path.with_suffix(".md")
        write_atomic(md, markdown(report, results))
        written.append(md)
    return written


def console(report: dict[str, Any], results: list[Result], max_failures: int = 20) -> str:
    """What `aha conform` prints at the end of a run."""
    out = ["", *operation_table(results), ""]
    failures = [r for r in results if r.status == FAIL]
    for r in failures[:max_failures]:
        out += [f"FAIL {r.check}", *("  " + line for line in failure_lines(r))]
    if len(failures) > max_failures:
        out.append(f"... and {len(failures) - max_failures} more failures (see --report)")
    s = report["summary"]
    out += [
        "",
        f"{report['adapter']['name']}: {report['verdict'].upper()} — "
        f"{s[PASS]} passed, {s[FAIL]} failed, {s[NOT_APPLICABLE]} n/a, "
        f"{s[DECLINED]} declined, {s[SKIPPED]} skipped, of {s['total']} checks "
        f"({report['seconds']:.1f} s)",
        *(f"  {label}: {'; '.join(items)}" for label, items in _coverage(report)),
        f"exit status {report['exit_status']}",
    ]
    return "\n".join(out)

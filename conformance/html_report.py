"""The HTML form of a conformance report: one self-contained file a person reads at a glance.

Rendered with Jinja2 (templates/report.html) from the report's JSON data (report.py) and the
error maps the runner keeps on failing results (errormap.py). Everything is inline: CSS in
the page, images as base64 PNG, and a Content-Security-Policy that forbids any load, so the
file opens offline and shows the same everywhere.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from .diagnosis import NOTHING
from .errormap import MAX_SIDE
from .plot import integer_ticks

TEMPLATE = "report.html"
# Statuses of a check (runner) → the CSS class of their colour.
STATUSES = {"pass": "p", "fail": "f", "n/a": "n", "declined": "d", "skipped": "s"}
BELOW_DECADES = 4.0  # colour range below the bound, in decades of |Δ| / bound
# What an error map's rows and columns index, per output (errormap.py lays them out).
AXES = {
    "out": ("query positions (b, h, i)", "features d"),
    "y": ("positions (b, t)", "features"),
    "s": ("", "batch element b"),
    "window": ("", "batch element b"),
    "reach": ("", "batch element b"),
    "temperature": ("", "batch element b"),
    "gain": ("", "batch element b"),
    # Gradients (GRAD clauses) have the shape of their input.
    "grad.q": ("positions (b, h, i)", "features d"),
    "grad.k": ("positions (b, h, j)", "features d"),
    "grad.v": ("positions (b, h, j)", "features d"),
    "grad.x": ("positions (b, t)", "features"),
    "grad.rel_bias": ("head h", "table column i − j + R − 1"),
    "grad.span_scale": ("", "batch element b"),
}

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("aha.conformance", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def write(path: Path, data: dict[str, Any], results: Iterable[Any] | None = None) -> Path:
    """Write the HTML report of ``data`` (report.to_json) to ``path``; ``results`` are the
    runner's Result records, whose ``error_maps`` ({output: 2-D array}) and ``diagnosis``
    attributes are drawn when present."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, results), encoding="utf-8")
    return path


def render(data: dict[str, Any], results: Iterable[Any] | None = None) -> str:
    """The page as a string (see ``write``)."""
    records = {getattr(r, "check", None): r for r in results or ()}
    rows = data.get("results", [])
    summary = data.get("summary", {})
    counts = Counter(r["status"] for r in rows)
    statuses = [s for s in STATUSES if s in ("pass", "fail") or counts[s]]
    failures = [_failure(r, records.get(r["check"])) for r in rows if r["status"] == "fail"]
    not_run = Counter(r.get("message", "") for r in rows if r["status"] not in ("pass", "fail"))
    return _ENV.get_template(TEMPLATE).render(
        adapter=data["adapter"],
        verdict=data["verdict"],
        conforms=data["verdict"] == "conforms",
        statuses=statuses,
        counts={"total": len(rows), **{s: counts[s] for s in STATUSES}},
        seconds=data.get("seconds", "?"),
        coverage=_coverage(rows, summary.get("by_family", {}), data.get("coverage") or {}),
        spec_version=data.get("spec_version", "?"),
        corpus_digest=str(data.get("corpus", {}).get("digest", "?"))[:16],
        corpus_cases=data.get("corpus", {}).get("cases", "?"),
        created=data.get("created", ""),
        failed_clauses=summary.get("failed_clauses", []),
        tables=[
            (title, [_table_row(name, c, statuses) for name, c in summary.get(key, {}).items()])
            for title, key in (("clause family", "by_family"), ("operation", "by_operation"))
            if summary.get(key)
        ],
        failures=failures,
        not_run=not_run.most_common(),
        environment=sorted(data.get("environment", {}).items()),
        settings=sorted(data.get("settings", {}).items()),
    )


def _coverage(
    rows: list[dict[str, Any]], families: dict[str, dict[str, int]], harness: dict[str, Any]
) -> dict[str, Any]:
    """How much of the suite applied: checks run (pass or fail), families with at least one,
    and what was covered or not (the harness's own lists when it gives them)."""
    applied = sum(1 for r in rows if r["status"] in ("pass", "fail"))
    checked = [f for f, c in families.items() if c.get("pass", 0) + c.get("fail", 0)]
    not_covered = list(harness.get("not_covered") or [])
    not_covered += [f"clause family {f} (no check ran)" for f in families if f not in checked]
    return {
        "applicable": applied,
        "percent": round(100 * applied / len(rows)) if rows else 0,
        "families": checked,
        "covered": list(harness.get("covered") or []),
        "not_covered": not_covered,
    }


def _table_row(name: str, counts: dict[str, int], statuses: list[str]) -> dict[str, Any]:
    """One row of a table by clause family or operation: counts and a proportional bar."""
    total = sum(counts.get(s, 0) for s in statuses) or 1
    return {
        "name": name,
        "failing": counts.get("fail", 0) > 0,
        "counts": [counts.get(s, 0) for s in statuses],
        "bar": [(STATUSES[s], round(100 * counts.get(s, 0) / total, 1)) for s in statuses],
    }


def _failure(row: dict[str, Any], record: Any) -> dict[str, Any]:
    comparisons = row.get("comparisons") or []
    bounds = {c["output"]: c["bound"] for c in comparisons}
    maps = _maps(record, row)
    return {
        "check": row["check"],
        "anchor": "check-" + "".join(ch if ch.isalnum() else "-" for ch in row["check"]),
        "source": row.get("source", ""),
        "kind": row.get("kind", ""),
        "dtype": row.get("dtype"),
        "clauses": row.get("clauses", []),
        "flags": row.get("flags", []),
        "message": row.get("message") or "failed",
        "comparisons": [
            {
                "output": c["output"],
                "err": f"{c['max_abs_error']:.3g}",
                "bound": f"{c['bound']:.3g}",
                "ratio": f"{c['ratio']:.3g}",
                "where": c.get("where", ""),
            }
            for c in comparisons
            if not c.get("ok", False)
        ],
        "worst": f"{max(c['ratio'] for c in comparisons):.3g}" if comparisons else "—",
        "maps": [_map_figure(name, m, bounds.get(name)) for name, m in maps.items()],
        "no_map_reason": "nothing was compared element by element (an exception, a wrong "
        "shape or dtype, or an error case)"
        if not comparisons
        else "the harness kept no map for this check",
        "diagnosis": _diagnosis(record, row),
        "saved": row.get("saved"),
        "repro": row.get("repro", ""),
    }


def _maps(record: Any, row: dict[str, Any]) -> dict[str, np.ndarray]:
    """{output: 2-D error map} from the Result record, or from the JSON row when the harness
    put them there."""
    found = getattr(record, "error_maps", None) or row.get("error_maps") or {}
    return {str(k): np.atleast_2d(np.asarray(v, dtype=np.float64)) for k, v in found.items()}


def _diagnosis(record: Any, row: dict[str, Any]) -> list[str]:
    """The zoo's diagnosis (diagnosis.py) as lines: [] when it was not attempted, NOTHING when
    it was and no known deviation explains the failure."""
    found = row["diagnosis"] if "diagnosis" in row else getattr(record, "diagnosis", None)
    if found is None:
        return []
    if isinstance(found, str | Mapping) or is_dataclass(found):
        found = [found]
    return [_line(item) for item in found] or [NOTHING]


def _line(item: Any) -> str:
    """A deviation as "name: description (clauses)"; any other record as "key: value; ..."."""
    fields = item if isinstance(item, Mapping) else None
    if fields is None and hasattr(item, "name") and hasattr(item, "description"):
        fields = {k: getattr(item, k, None) for k in ("name", "description", "clauses")}
    if fields is None and is_dataclass(item) and not isinstance(item, type):
        fields = asdict(item)
    if fields is None:
        return str(item)
    if "name" in fields and "description" in fields:
        clauses = fields.get("clauses") or ()
        listed = clauses if isinstance(clauses, str) else ", ".join(clauses)
        return f"{fields['name']}: {fields['description']}" + (f" ({listed})" if listed else "")
    return "; ".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, "", [], ()))


def _map_figure(output: str, m: np.ndarray, bound: float | None) -> dict[str, Any]:
    """A PNG of map ``m``: log10(|Δ| / bound), blue within the bound, red beyond, black for
    non-finite; with no bound, the ratio is to the largest error."""
    finite = m[np.isfinite(m)]
    peak = float(finite.max()) if finite.size else 1.0
    ref = bound if bound and bound > 0 else (peak or 1.0)
    with np.errstate(divide="ignore"):
        ratio = np.log10(m / ref)
    top = max(float(np.nanmax(np.where(np.isfinite(ratio), ratio, -np.inf), initial=0.0)), 0.5)
    shown = np.where(np.isposinf(m), np.nan, np.clip(ratio, -BELOW_DECADES, top))
    rows, cols = AXES.get(output, ("leading axes, flattened", "last axis"))
    if output.startswith("grad.params.") and output.endswith(".weight"):
        rows, cols = "output feature", "input feature"  # W [out, in] (LAYER-1)
    width = 4.6 if m.shape[1] > 1 else 3.2
    height = 2.2 if m.shape[0] == 1 else 3.3
    fig = Figure(figsize=(width, height), dpi=90)  # fixed axes: a layout engine costs 2×
    bottom = 0.55 / height
    ax = fig.add_axes((0.72 / width, bottom, 1 - 1.9 / width, 1 - bottom - 0.32 / height))
    bar_ax = fig.add_axes((1 - 1.05 / width, bottom, 0.14 / width, 1 - bottom - 0.32 / height))
    cmap = _cmap()
    image = ax.imshow(
        shown,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        norm=TwoSlopeNorm(vmin=-BELOW_DECADES, vcenter=0.0, vmax=top),
    )
    ax.set_title(f"{output}: |impl − ref|", fontsize=10)
    ax.set_xlabel(cols, fontsize=9)
    ax.set_ylabel(rows, fontsize=9)
    ax.tick_params(labelsize=8)
    integer_ticks(ax)
    if m.shape[0] == 1:
        ax.set_yticks([])
    label = "log10(|Δ| / bound)" if bound else "log10(|Δ| / max)"
    fig.colorbar(image, cax=bar_ax).set_label(label, fontsize=8)
    bar_ax.tick_params(labelsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    width_px, height_px = (int(v * fig.dpi) for v in fig.get_size_inches())
    n_bad = int(np.isposinf(m).sum())
    caption = (
        f"{output}: {m.shape[0]}×{m.shape[1]} map (≤ {MAX_SIDE} per side, max-pooled when the "
        f"output is larger); largest |Δ| {peak:.3g}"
        + (f", bound {bound:.3g}" if bound else "")
        + (f"; {n_bad} non-finite cell(s) in black" if n_bad else "")
    )
    return {
        "output": output,
        "png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "width": width_px,
        "height": height_px,
        "caption": caption,
    }


def _cmap() -> Any:
    return colormaps["RdBu_r"].with_extremes(bad="black")  # non-finite cells (NaN in shown)

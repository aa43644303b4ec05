"""``aha vectors generate`` and ``aha vectors verify``: build the corpus from the catalog with
the reference, and re-derive a corpus to detect drift or tampering (spec/vectors.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aha.reference import AHAConfig
from aha.reference.errors import ERROR_TYPES
from aha.reference.validate import FLOAT_DTYPES

from . import corpus, oracle
from .cases import FLAGS, catalog
from .corpus import Case, CorpusError

MARGIN = 0.2  # PREC-5: distance of W·s from every integer in layer vectors
REDERIVE_RTOL = 1e-12  # float64 re-derivation may differ by summation order (BLAS), no more


def build(case: Case) -> Case:
    """The case with its expected outputs and baseline errors, or its error checked."""
    if case.error:
        check_invalid(case)
        return dataclasses.replace(case, dtypes=_invalid_in(case))
    config = case.aha_config()
    if case.kind == "layer" and "span_scale" not in case.inputs:
        case = _with_span_margin(case, config)
    for dtype in case.dtypes:
        if not oracle.exactly_representable(case.inputs, dtype):
            raise AssertionError(f"{case.id}: inputs are not exact in {dtype}")
    expected = oracle.evaluate(case.kind, config, case.inputs)
    baseline = (
        {
            dtype: oracle.baseline_errors(case.kind, config, case.inputs, expected, dtype)
            for dtype in case.dtypes
        }
        if case.kind != "plan"
        else {}
    )
    return dataclasses.replace(case, expected=expected, baseline_error=baseline)


def _with_span_margin(case: Case, config: AHAConfig) -> Case:
    """Choose span.bias so every dtype's baseline lands on the oracle's windows (PREC-5)."""
    for step in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8):
        params = {**case.inputs["params"], "span.bias": np.array([step / 16])}
        inputs = {**case.inputs, "params": params}
        s = oracle.evaluate("layer", config, inputs)["s"]
        if oracle.span_margin(config, s) < MARGIN:
            continue
        windows = [
            np.floor(
                config.window * oracle.evaluate("layer", config, inputs, d)["s"].astype(np.float64)
            )
            for d in case.dtypes
        ]
        if all(np.array_equal(w, np.floor(config.window * s)) for w in windows):
            return dataclasses.replace(case, inputs=inputs)
    raise AssertionError(f"{case.id}: no span.bias keeps W·s {MARGIN} from an integer")


def _invalid_in(case: Case) -> tuple[str, ...]:
    """The dtypes in which the case's defect survives casting its float64 inputs."""
    if case.kind == "config":
        return ()
    kept = []
    for dtype in FLOAT_DTYPES:
        try:
            check_invalid(dataclasses.replace(case, inputs=oracle.cast(case.inputs, dtype)))
            kept.append(dtype)
        except AssertionError:
            pass
    return tuple(kept)


def raise_reference(case: Case) -> None:
    """Call the reference on an invalid case; it must raise."""
    if case.kind == "config":
        AHAConfig.from_dict(case.config)
    else:
        oracle.evaluate(case.kind, case.aha_config(), case.inputs)


def check_invalid(case: Case, call: Callable[[Case], object] = raise_reference) -> None:
    """``call`` must raise the case's error type, naming its argument (ERR-1, ERR-2)."""
    expected = ERROR_TYPES[str(case.error)]
    try:
        call(case)
    except expected as exc:
        if str(case.argument) not in str(exc):
            raise AssertionError(
                f"{case.id}: the message {str(exc)!r} does not name {case.argument!r}"
            ) from None
        return
    raise AssertionError(f"{case.id}: no {case.error} raised")


def generate(directory: Path, progress: Callable[[str], None] = lambda _: None) -> int:
    """Write the corpus to ``directory``; returns the number of cases."""
    cases = []
    for case in catalog():
        progress(case.id)
        cases.append(build(case))
    unused = set(FLAGS) - {f for c in cases for f in c.flags}
    if unused:
        raise AssertionError(f"flags no case uses: {sorted(unused)}")
    corpus.write(directory, cases, FLAGS)
    return len(cases)


def verify(
    directory: Path | None = None,
    *,
    catalog_check: bool | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Problems found in a corpus (empty when it is sound): checksums and schema first, then
    every expected output and error re-derived from the reference."""
    directory = directory or corpus.default_dir()
    try:
        loaded = corpus.load(directory)
    except CorpusError as exc:
        return [str(exc)]
    problems = []
    if catalog_check if catalog_check is not None else directory == corpus.default_dir():
        stale = {c.id for c in catalog()} ^ {c.id for c in loaded.cases}
        if stale:
            problems.append(
                f"{directory}: the corpus and the catalog differ in "
                f"{sorted(stale)[:5]}: run `aha vectors generate`"
            )
    for case in loaded.cases:
        progress(case.id)
        try:
            _rederive(case)
        except AssertionError as exc:
            problems.append(f"{directory / case.file}: {exc}")
    return problems


def _rederive(case: Case) -> None:
    if case.error:
        check_invalid(case)
        return
    fresh = oracle.evaluate(case.kind, case.aha_config(), case.inputs)
    for name, want in case.expected.items():
        got = fresh[name]
        scale = max(1.0, float(np.max(np.abs(want), initial=0)))
        if got.shape != want.shape or np.max(np.abs(got - want), initial=0) > REDERIVE_RTOL * scale:
            raise AssertionError(f"{case.id}: expected {name!r} no longer matches the reference")

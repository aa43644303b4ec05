"""``aha vectors generate`` and ``aha vectors verify``: build the corpus from the catalog with
the reference, and re-derive a corpus to detect drift or tampering (spec/vectors.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aha.reference import AHAConfig
from aha.reference.errors import ERROR_TYPES
from aha.reference.validate import FLOAT_DTYPES

from . import corpus, kernel, oracle, pin
from .cases import FLAGS, catalog
from .corpus import Case, Corpus, CorpusError
from .errors_contract import names_argument
from .operations import OPERATIONS
from .tolerance import SPAN_MARGIN

REDERIVE_RTOL = 1e-12  # float64 re-derivation may differ by summation order (BLAS), no more
# A stored baseline error e_d must be the re-derived one within 1/8 of it. The baseline is the
# same on every machine (PREC-2: its sums are recursive, its float32 exp binary64's rounded),
# but e_d = max|baseline − oracle| moves with the binary64 oracle, which BLAS rounds
# differently by ~1e-16 at the output's scale, and a near tie of exp may round either way:
# 1/8 covers both many times over, and a forged e_d loosens the PREC-3 bound by at most
# c_d · e_d / 8 within it (tests/test_vectors_portable.py re-derives on other kernels).
BASELINE_RTOL = 0.125
BASELINE_ULPS = 2.0  # kernel tier (H2b): the same slack in units of the dtype at the scale


def build(case: Case) -> Case:
    """The case with its expected outputs and baseline errors, or its error checked."""
    if case.error:
        check_invalid(case)
        return dataclasses.replace(case, dtypes=_invalid_in(case))
    if case.generated is not None:  # kernel tier: expected on sampled rows (H2b)
        return kernel.build(case)
    config = case.aha_config()
    if case.kind in ("layer", "layer_vjp") and "span_scale" not in case.inputs:
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
        if oracle.span_margin(config, s) < SPAN_MARGIN:
            continue
        windows = [
            np.floor(
                config.window * oracle.evaluate("layer", config, inputs, d)["s"].astype(np.float64)
            )
            for d in case.dtypes
        ]
        if all(np.array_equal(w, np.floor(config.window * s)) for w in windows):
            return dataclasses.replace(case, inputs=inputs)
    raise AssertionError(f"{case.id}: no span.bias keeps W·s {SPAN_MARGIN} from an integer")


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
        oracle.evaluate(case.kind, case.call_config(), case.inputs)


def check_invalid(case: Case, call: Callable[[Case], object] = raise_reference) -> None:
    """``call`` must raise the case's error type, naming its argument as a word (ERR-1, ERR-2)."""
    expected = ERROR_TYPES[str(case.error)]
    try:
        call(case)
    except expected as exc:
        if not names_argument(str(exc), str(case.argument)):
            raise AssertionError(
                f"{case.id}: the message {str(exc)!r} does not name {case.argument!r}"
            ) from None
        return
    except Exception as exc:
        raise AssertionError(
            f"{case.id}: expected {case.error} naming {case.argument!r}, got "
            f"{type(exc).__name__}: {exc}"
        ) from None
    raise AssertionError(f"{case.id}: no {case.error} raised")


def generate(directory: Path, progress: Callable[[str], None] = lambda _: None) -> int:
    """Write the corpus to ``directory``; returns the number of cases. Regenerating the
    shipped corpus also rewrites its pinned digest (conformance/pin.py)."""
    cases = []
    for case in catalog():
        progress(case.id)
        cases.append(build(case))
    unused = set(FLAGS) - {f for c in cases for f in c.flags}
    if unused:
        raise AssertionError(f"flags no case uses: {sorted(unused)}")
    corpus.write(directory, cases, FLAGS)
    if directory.resolve() == corpus.default_dir().resolve():
        write_pin(corpus.read_manifest(directory)["digest"])
    return len(cases)


def write_pin(digest: str) -> None:
    path = Path(pin.__file__)
    text = path.read_text()
    old = f'CORPUS_DIGEST = "{pin.CORPUS_DIGEST}"'
    assert old in text, f"{path} has no line {old}"
    path.write_text(text.replace(old, f'CORPUS_DIGEST = "{digest}"'))
    pin.CORPUS_DIGEST = digest


def load_trusted(directory: Path | None = None) -> Corpus:
    """The corpus, ready for a run: the pinned one as it is, any other verified first
    (re-derived from the reference); a CorpusError lists what is wrong."""
    loaded = corpus.load(directory)
    key = (str(loaded.directory.resolve()), loaded.digest)
    if loaded.pinned or key in _VERIFIED:  # the digest covers every file's checksum
        return loaded
    problems = verify(loaded.directory, catalog_check=False)
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CorpusError(
            f"{loaded.directory}: not the pinned corpus, and it does not verify:\n{shown}{more}"
        )
    _VERIFIED.add(key)
    return loaded


_VERIFIED: set[tuple[str, str]] = set()  # (directory, digest) verified in this process


def verify(
    directory: Path | None = None,
    *,
    catalog_check: bool | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Problems found in a corpus (empty when it is sound): schema and checksums first, then
    everything derivable re-derived from the reference: expected outputs, baseline errors,
    dtypes, error types and arguments, seeds and file names (spec/vectors.md, "Trust")."""
    directory = directory or corpus.default_dir()
    try:
        loaded = corpus.load(directory)
        entries = corpus.read_manifest(directory)["cases"]
    except CorpusError as exc:
        return str(exc).split("\n")  # not splitlines: a quoted value may hold U+0085 etc.
    problems = []
    if catalog_check if catalog_check is not None else directory == corpus.default_dir():
        stale = {c.id for c in catalog()} ^ {c.id for c in loaded.cases}
        if stale:
            problems.append(
                f"{directory}: the corpus and the catalog differ in "
                f"{sorted(stale)[:5]}: run `aha vectors generate`"
            )
    for index, (case, entry) in enumerate(zip(loaded.cases, entries, strict=True)):
        progress(case.id)
        where = f"{directory / corpus.MANIFEST}: /cases/{index}"
        for field_name, message in _rederive(case, entry):
            problems.append(f"{where}/{field_name}: {case.id}: {message}")
    return problems


def _rederive(case: Case, entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for each stored value the reference does not give again."""
    found = []
    if entry["seed"] != case.seed:
        found.append(("seed", f"{entry['seed']} is not the seed of the id, {case.seed}"))
    if entry["file"] != case.file:
        found.append(("file", f"{entry['file']!r} is not the file of the id, {case.file!r}"))
    if case.error and entry.get("error_base") != _builtin_base(case.error):
        found.append(("error_base", f"must be {_builtin_base(case.error)}, for {case.error}"))
    found += _input_names(case)
    try:
        if case.error:
            found += _rederive_invalid(case)
        elif case.generated is not None:  # kernel tier (H2b)
            found += kernel.rederive(case, REDERIVE_RTOL, BASELINE_ULPS)
        else:
            found += _rederive_valid(case)
    except Exception as exc:  # whatever a forged case makes the reference do is a finding
        found.append(("", f"re-deriving it failed: {type(exc).__name__}: {exc}"))
    return found


def _input_names(case: Case) -> list[tuple[str, str]]:
    """The stored inputs are those the operation takes: none unknown, none required missing
    (an extra tensor would be ignored by every call, a silent forgery)."""
    op = OPERATIONS.get(case.kind)
    if op is None or case.generated is not None or case.kind == "config":
        return []
    known, required = set(op.arrays), set(op.arrays) - op.optional
    found = [
        (f"tensors/input.{name}", f"is not an input of {case.kind}")
        for name in case.inputs
        if name not in known
    ]
    if not case.error and required - set(case.inputs):
        found.append(("tensors", f"lacks the inputs {sorted(required - set(case.inputs))}"))
    return found


def _rederive_invalid(case: Case) -> list[tuple[str, str]]:
    found = []
    if case.expected or case.baseline_error:
        found.append(("tensors", "an invalid case holds no expected outputs or baseline errors"))
    try:
        check_invalid(case)
    except AssertionError as exc:
        found.append(("error", str(exc)))
        return found
    derived = _invalid_in(case)
    if case.dtypes != derived:
        found.append(("dtypes", f"{list(case.dtypes)}, but the defect survives in {list(derived)}"))
    return found


def _builtin_base(error: str) -> str:
    """ValueError or TypeError: the builtin an error type derives from (ERR-1)."""
    bases = [b.__name__ for b in ERROR_TYPES[error].__mro__ if b in (ValueError, TypeError)]
    return bases[0]


def _rederive_valid(case: Case) -> list[tuple[str, str]]:
    found = []
    config = case.aha_config()
    for name, arr in _arrays(case.inputs):
        if arr.dtype.kind == "f" and arr.dtype != np.float64:
            found.append((f"tensors/input.{name}", f"is {arr.dtype.name}; float inputs are F64"))
    for dtype in case.dtypes:
        if not oracle.exactly_representable(case.inputs, dtype):
            found.append(("dtypes", f"the inputs are not exact in {dtype} (PREC-1)"))
    fresh = oracle.evaluate(case.kind, config, case.inputs)
    if set(fresh) != set(case.expected):
        found.append(("tensors", f"expected outputs {sorted(case.expected)}, not {sorted(fresh)}"))
    for name in sorted(set(fresh) & set(case.expected)):
        got, want = fresh[name], case.expected[name]
        scale = max(1.0, float(np.max(np.abs(want), initial=0)))
        if (
            got.shape != want.shape
            or got.dtype != want.dtype
            or np.max(np.abs(got - want), initial=0) > REDERIVE_RTOL * scale
        ):
            found.append((f"tensors/expected.{name}", "no longer matches the reference"))
    found += _rederive_baseline(case, config, fresh)
    return found


def _rederive_baseline(
    case: Case, config: AHAConfig, fresh: dict[str, np.ndarray]
) -> list[tuple[str, str]]:
    if case.kind == "plan":
        return [("baseline_error", "the plan has no baseline")] if case.baseline_error else []
    if set(case.baseline_error) != set(case.dtypes):
        return [("baseline_error", f"must have one entry per dtype of {list(case.dtypes)}")]
    found = []
    for dtype in case.dtypes:
        stored = case.baseline_error[dtype]
        derived = oracle.baseline_errors(case.kind, config, case.inputs, fresh, dtype)
        if set(stored) != set(derived):
            found.append((f"baseline_error/{dtype}", f"must name the outputs {sorted(derived)}"))
            continue
        for name, e in derived.items():
            slack = BASELINE_RTOL * e + 1e-300
            if abs(stored[name] - e) > slack:
                found.append(
                    (f"baseline_error/{dtype}/{name}", f"{stored[name]:.6g}, re-derived {e:.6g}")
                )
    return found


def _arrays(inputs: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    out = []
    for name, value in inputs.items():
        if name == "params":
            out += [(f"params.{k}", np.asarray(v)) for k, v in value.items()]
        else:
            out.append((name, np.asarray(value)))
    return out

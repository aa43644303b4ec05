"""Golden vectors: the Case record, the manifest format (spec/vectors.md) and its integrity.

A corpus is a directory holding ``manifest.json`` and one safetensors file per case. Every
file's SHA-256 is in the manifest and the manifest carries the digest of its own canonical
form, so a changed byte anywhere is reported by file name before anything is parsed further.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from aha.reference import SPEC_VERSION, AHAConfig
from aha.reference.validate import FLOAT_DTYPES

from . import counter, pin, safetensors_io, schema
from .operations import OPERATIONS

SCHEMA_VERSION = 1
GENERATOR_VERSION = "1.0.0"
# Kinds and outputs come from the operations table; "config" cases call no adapter.
KINDS = tuple(dict.fromkeys((*OPERATIONS, "config")))
OUTPUTS = {**{op.name: op.outputs for op in OPERATIONS.values()}, "config": ()}
BUILTIN_ERRORS = {
    "ConfigError": "ValueError",
    "ShapeError": "ValueError",
    "DomainError": "ValueError",
    "ParamsError": "ValueError",
    "DTypeError": "TypeError",
}
MANIFEST = "manifest.json"


def default_dir() -> Path:
    """The corpus shipped with the package."""
    return Path(str(files("aha.conformance") / "vectors"))


class CorpusError(Exception):
    """A corpus file is missing, tampered with, or does not follow the schema."""


@dataclass(frozen=True)
class Case:
    """One golden vector. ``error`` is set for invalid cases (``result == "invalid"``)."""

    id: str
    kind: str
    description: str
    clauses: tuple[str, ...]
    flags: tuple[str, ...]
    config: dict[str, Any]
    inputs: dict[str, Any]  # arrays; "params" is a {name: array} mapping
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None  # reference error type, e.g. "ShapeError"
    argument: str | None = None  # what the error message must name
    dtypes: tuple[str, ...] = FLOAT_DTYPES
    baseline_error: dict[str, dict[str, float]] = field(default_factory=dict)
    # Kernel tier (H2b, conformance/kernel.py): the tier that runs the case, the recipe its
    # inputs are generated from (they are then not stored) and the query rows ``expected``
    # holds (spec/vectors.md, "Generated inputs", "Sampled rows").
    tier: str = "default"
    generated: dict[str, Any] | None = None
    rows: tuple[int, ...] | None = None
    # "mapping": the call receives the config as a plain dict, not an AHAConfig (ERR-3)
    config_as: str | None = None

    @property
    def result(self) -> str:
        return "valid" if self.error is None else "invalid"

    @property
    def seed(self) -> int:
        return seed_of(self.id)

    def aha_config(self) -> AHAConfig:
        return AHAConfig.from_dict(self.config)

    def call_config(self) -> Any:
        """The config as the case's call receives it: an AHAConfig; the plain dict of its
        fields for a case with ``config_as == "mapping"`` (which must be rejected) and for a
        ``config`` case (which the implementation's make_config must reject, ERR-3)."""
        if self.config_as == "mapping" or self.kind == "config":
            return dict(self.config)
        return self.aha_config()

    @property
    def file(self) -> str:
        return self.id.replace("/", "__") + ".safetensors"


def seed_of(case_id: str) -> int:
    """Seeds derive from case ids, so adding a case never changes another's data."""
    return int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:4], "little")


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _flat(case: Case) -> dict[str, np.ndarray]:
    tensors = {}
    for name, value in () if case.generated else case.inputs.items():
        if name == "params":
            tensors.update({f"input.params.{k}": np.asarray(v) for k, v in value.items()})
        else:
            tensors[f"input.{name}"] = np.asarray(value)
    tensors.update({f"expected.{k}": np.asarray(v) for k, v in case.expected.items()})
    return tensors


def _nest(tensors: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    inputs: dict[str, Any] = {}
    expected = {}
    for name, arr in tensors.items():
        section, _, key = name.partition(".")
        if section == "expected":
            expected[key] = arr
        elif key.startswith("params."):
            inputs.setdefault("params", {})[key.removeprefix("params.")] = arr
        else:
            inputs[key] = arr
    return inputs, expected


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write(directory: Path, cases: list[Case], flags: dict[str, str]) -> None:
    """Write a corpus; the same cases always give byte-identical files."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in cases:
        tensors = _flat(case)
        raw = safetensors_io.dumps(tensors, {"id": case.id})
        (directory / case.file).write_bytes(raw)
        entry: dict[str, Any] = {
            "id": case.id,
            "kind": case.kind,
            "description": case.description,
            "clauses": list(case.clauses),
            "flags": list(case.flags),
            "result": case.result,
            "config": case.config,
            "seed": case.seed,
            "file": case.file,
            "sha256": sha256(raw),
            "tensors": {
                name: {
                    "dtype": safetensors_io.CODES[arr.dtype],
                    "shape": list(arr.shape),
                    "sha256": sha256(arr.tobytes()),
                }
                for name, arr in sorted(tensors.items())
            },
        }
        entry["dtypes"] = list(case.dtypes)
        if case.generated is not None:  # kernel tier (H2b)
            entry.update(tier=case.tier, generated=case.generated, rows=list(case.rows or ()))
        if case.config_as:
            entry["config_as"] = case.config_as
        if case.error:
            entry.update(
                error=case.error, error_base=BUILTIN_ERRORS[case.error], argument=case.argument
            )
        else:
            entry["baseline_error"] = case.baseline_error
        entries.append(entry)
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "spec_version": SPEC_VERSION,
        "generator": {"name": "aha vectors generate", "version": GENERATOR_VERSION},
        "flags": dict(sorted(flags.items())),
        "cases": entries,
    }
    manifest["digest"] = sha256(_canonical(manifest))
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Corpus:
    directory: Path
    digest: str  # the manifest's digest: the corpus hash reports quote
    spec_version: str
    flags: dict[str, str]
    cases: list[Case]
    pinned: bool = False  # the corpus this package ships, byte for byte (its digest is pinned)


MAX_MANIFEST = 64 * 2**20  # bytes; the shipped manifest is ~0.2 MiB
MAX_TENSOR_FILE = 256 * 2**20


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse(path: Path) -> Any:
    """JSON without NaN/Infinity, bounded in size; nesting too deep is a CorpusError too."""
    if path.stat().st_size > MAX_MANIFEST:
        raise CorpusError(f"{path}: larger than {MAX_MANIFEST} bytes")
    try:
        return json.loads(path.read_bytes(), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorpusError(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise CorpusError(f"{path}: not valid JSON: nested too deep") from None


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest, after checking it against spec/vectors.schema.json, then its own digest,
    then what a schema cannot say: unique ids and files, known flags, paths inside the corpus."""
    path = directory / MANIFEST
    if not path.is_file():
        raise CorpusError(f"{path}: no manifest (is this a corpus directory?)")
    _inside(directory, path, path, "")
    manifest = _parse(path)
    problems = schema.problems(manifest)
    if problems:
        raise CorpusError("\n".join(f"{path}: {where}: {what}" for where, what in problems))
    digest = manifest.pop("digest")
    if digest != sha256(_canonical(manifest)):
        raise CorpusError(f"{path}: /digest: mismatch: the manifest was changed")
    manifest["digest"] = digest
    problems = _cross_problems(directory, manifest)
    if problems:
        raise CorpusError("\n".join(f"{path}: {where}: {what}" for where, what in problems))
    return manifest


def _cross_problems(directory: Path, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    first: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(manifest["cases"]):
        for field_name in ("id", "file"):
            key = (field_name, entry[field_name].lower())  # case-insensitive file systems
            if key in first:
                again = f"{entry[field_name]!r} repeats /cases/{first[key]}"
                problems.append((f"/cases/{i}/{field_name}", again))
            first.setdefault(key, i)
        for j, flag in enumerate(entry["flags"]):
            if flag not in manifest["flags"]:
                problems.append((f"/cases/{i}/flags/{j}", f"{flag!r} is not defined in /flags"))
        try:
            _inside(directory, directory / entry["file"], directory / MANIFEST, f"/cases/{i}/file")
        except CorpusError as exc:
            problems.append((f"/cases/{i}/file", str(exc).rsplit(": ", 1)[-1]))
    return problems


def _inside(directory: Path, path: Path, manifest: Path, where: str) -> None:
    """``path`` must resolve inside ``directory``: no symlink may lead out of the corpus."""
    root = directory.resolve()
    if not path.resolve().is_relative_to(root):
        raise CorpusError(f"{manifest}: {where or '/'}: {path} leads outside the corpus directory")


def load(directory: Path | None = None) -> Corpus:
    """Load a corpus, checking every checksum before a tensor is parsed."""
    directory = directory or default_dir()
    manifest = read_manifest(directory)
    cases = [_load_case(directory, entry, i) for i, entry in enumerate(manifest["cases"])]
    return Corpus(
        directory,
        manifest["digest"],
        manifest["spec_version"],
        manifest["flags"],
        cases,
        pinned=manifest["digest"] == pin.CORPUS_DIGEST,
    )


def _load_case(directory: Path, entry: dict[str, Any], index: int) -> Case:
    """Problems name the tensor file, the manifest field (/cases/<index>/...) and the case."""
    path = directory / entry["file"]
    at, case = f"/cases/{index}", f"(case {entry['id']})"
    if not path.is_file():
        raise CorpusError(f"{path}: {at}/file: missing {case}")
    if path.stat().st_size > MAX_TENSOR_FILE:
        raise CorpusError(f"{path}: {at}/file: larger than {MAX_TENSOR_FILE} bytes {case}")
    raw = path.read_bytes()
    if sha256(raw) != entry["sha256"]:
        raise CorpusError(f"{path}: {at}/sha256: mismatch: the file was changed {case}")
    try:
        tensors, metadata = safetensors_io.loads(raw, str(path))
    except safetensors_io.FormatError as exc:
        raise CorpusError(f"{exc} ({at}/file) {case}") from None
    if metadata.get("id") != entry["id"]:  # a valid file of another case, re-signed
        found = metadata.get("id")
        raise CorpusError(f"{path}: {at}/file: its metadata names case {found!r} {case}")
    for name, meta in entry["tensors"].items():
        arr = tensors.get(name)
        if (
            arr is None
            or safetensors_io.CODES[arr.dtype] != meta["dtype"]
            or list(arr.shape) != meta["shape"]
            or sha256(arr.tobytes()) != meta["sha256"]
        ):
            raise CorpusError(f"{path}: {at}/tensors/{name}: disagrees with the file {case}")
    extra = sorted(set(tensors) - set(entry["tensors"]))
    if extra:
        raise CorpusError(f"{path}: {at}/tensors: the file holds {extra[0]!r}, unlisted {case}")
    inputs, expected = _nest(tensors)
    if "generated" in entry:  # kernel tier (H2b): inputs from the recipe, built when used
        inputs = counter.inputs(entry["generated"], entry["seed"])  # type: ignore[assignment]
    return Case(
        id=entry["id"],
        kind=entry["kind"],
        description=entry["description"],
        clauses=tuple(entry["clauses"]),
        flags=tuple(entry["flags"]),
        config=entry["config"],
        inputs=inputs,
        expected=expected,
        error=entry.get("error"),
        argument=entry.get("argument"),
        dtypes=tuple(entry["dtypes"]),
        baseline_error=entry.get("baseline_error", {}),
        tier=entry.get("tier", "default"),
        generated=entry.get("generated"),
        rows=tuple(entry["rows"]) if "rows" in entry else None,
        config_as=entry.get("config_as"),
    )

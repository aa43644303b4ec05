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

from . import safetensors_io

SCHEMA_VERSION = 1
GENERATOR_VERSION = "1.0.0"
KINDS = ("plan", "local", "global", "layer", "config")
OUTPUTS = {
    "plan": ("window", "reach", "temperature", "gain"),
    "local": ("out",),
    "global": ("out",),
    "layer": ("y", "s"),
    "config": (),
}
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

    @property
    def result(self) -> str:
        return "valid" if self.error is None else "invalid"

    @property
    def seed(self) -> int:
        return seed_of(self.id)

    def aha_config(self) -> AHAConfig:
        return AHAConfig.from_dict(self.config)

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
    for name, value in case.inputs.items():
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


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest, after checking its schema version and its own digest."""
    path = directory / MANIFEST
    if not path.is_file():
        raise CorpusError(f"{path}: no manifest (is this a corpus directory?)")
    try:
        manifest = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        found = manifest.get("schema_version") if isinstance(manifest, dict) else None
        raise CorpusError(f"{path}: schema_version must be {SCHEMA_VERSION}, got {found!r}")
    digest = manifest.pop("digest", None)
    if digest != sha256(_canonical(manifest)):
        raise CorpusError(f"{path}: manifest digest mismatch: the manifest was changed")
    manifest["digest"] = digest
    return manifest


def load(directory: Path | None = None) -> Corpus:
    """Load a corpus, checking every checksum before a tensor is parsed."""
    directory = directory or default_dir()
    manifest = read_manifest(directory)
    cases = [_load_case(directory, entry, manifest["flags"]) for entry in manifest["cases"]]
    return Corpus(directory, manifest["digest"], manifest["spec_version"], manifest["flags"], cases)


def _load_case(directory: Path, entry: dict[str, Any], flags: dict[str, str]) -> Case:
    path = directory / entry["file"]
    if not path.is_file():
        raise CorpusError(f"{path}: missing (case {entry['id']})")
    raw = path.read_bytes()
    if sha256(raw) != entry["sha256"]:
        raise CorpusError(f"{path}: SHA-256 mismatch: the file was changed (case {entry['id']})")
    try:
        tensors, _ = safetensors_io.loads(raw, str(path))
    except safetensors_io.FormatError as exc:
        raise CorpusError(str(exc)) from None
    for name, meta in entry["tensors"].items():
        arr = tensors.get(name)
        if (
            arr is None
            or safetensors_io.CODES[arr.dtype] != meta["dtype"]
            or list(arr.shape) != meta["shape"]
            or sha256(arr.tobytes()) != meta["sha256"]
        ):
            raise CorpusError(f"{path}: tensor {name!r} disagrees with the manifest")
    if set(tensors) != set(entry["tensors"]):
        raise CorpusError(f"{path}: holds tensors the manifest does not list")
    unknown = set(entry["flags"]) - set(flags)
    if entry["kind"] not in KINDS or unknown:
        raise CorpusError(f"{path}: unknown kind {entry['kind']!r} or flags {sorted(unknown)}")
    inputs, expected = _nest(tensors)
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
        dtypes=tuple(entry.get("dtypes", ())),
        baseline_error=entry.get("baseline_error", {}),
    )

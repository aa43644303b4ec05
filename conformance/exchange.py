"""Judging an implementation in any language: ``aha export`` and ``aha judge``
(spec/conformance.md section 6).

``export`` runs the checks of a run against the reference and records every call the run
makes (golden vectors, property draws, the metamorphic calls) as one case file: the inputs
materialised in the dtype under test, the operation and the configuration in its metadata.
An implementation reads each case and writes, under the same file name in an outputs
directory, its ``output.<name>`` tensors, or no tensors and the metadata ``error`` =
"<ErrorType>: <message>" for an input it rejects. ``judge`` repeats the run (same settings,
same seed, so the same draws) with an adapter that answers each call from those files: the
verdict, report and exit status are those of ``aha conform``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from aha.adapters.reference import ReferenceAdapter
from aha.reference import AHAConfig

from . import safetensors_io
from .corpus import BUILTIN_ERRORS
from .execution import returned, split
from .generate import load_trusted
from .operations import OPERATIONS, Operation
from .protocol import CAPABILITIES
from .runner import Run, run
from .selection import Settings

FORMAT = "aha-export/1"
MANIFEST = "export.json"


def config_fields(config: Any) -> dict[str, Any]:
    """The configuration as JSON fields (a mapping passed as a config stays a mapping)."""
    return config.to_dict() if isinstance(config, AHAConfig) else dict(config)


def case_name(kind: str, config: Any, inputs: dict[str, Any]) -> str:
    """The file name of a call: a digest of the operation, configuration and inputs (their
    dtype, shape and bytes), so the same call always has the same file."""
    digest = hashlib.sha256(kind.encode())
    digest.update(type(config).__name__.encode())
    digest.update(json.dumps(config_fields(config), sort_keys=True).encode())
    for name, value in sorted(flatten(inputs).items()):
        arr = np.ascontiguousarray(value)
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode() + arr.tobytes())
    return f"{kind}-{digest.hexdigest()[:20]}.safetensors"


def flatten(inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """{"q": ..., "params.<name>": ...}; seq_len as a 0-d int64 array."""
    flat: dict[str, np.ndarray] = {}
    for name, value in inputs.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{key}": np.asarray(arr) for key, arr in value.items()})
        elif name == "seq_len":
            flat[name] = np.asarray(int(value), dtype=np.int64)
        else:
            flat[name] = np.asarray(value)
    return flat


class Recorder(ReferenceAdapter):
    """The reference, answering as the implementation would, keeping every call it gets."""

    name = "export"

    def __init__(self, capabilities: frozenset[str]) -> None:
        self.capabilities = capabilities
        self.calls: dict[str, tuple[Operation, Any, dict[str, Any]]] = {}

    def __getattribute__(self, attr: str) -> Any:
        for op in OPERATIONS.values():
            if op.method == attr:
                method = super().__getattribute__(attr)

                def recorded(*args: Any, op: Operation = op, method: Any = method) -> Any:
                    config, inputs = split(op, args)
                    self.calls[case_name(op.name, config, inputs)] = (op, config, inputs)
                    return method(*args)

                return recorded
        return super().__getattribute__(attr)


def export(directory: Path, settings: Settings, capabilities: frozenset[str]) -> int:
    """Write one case file per call of the run of ``settings`` and the manifest; the count."""
    recorder = Recorder(capabilities)
    done = run(recorder, replace(settings, isolation="none"))
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (op, config, inputs) in sorted(recorder.calls.items()):
        metadata = {
            "operation": op.name,
            "method": op.method,
            "config": json.dumps(config_fields(config), sort_keys=True),
            "config_as": "AHAConfig" if isinstance(config, AHAConfig) else "mapping",
        }
        tensors = {f"input.{k}": v for k, v in flatten(inputs).items()}
        safetensors_io.save(directory / name, tensors, metadata)
        entries.append(
            {
                "file": name,
                "operation": op.name,
                "method": op.method,
                "arguments": list(op.inputs),
                "outputs": list(op.outputs),
            }
        )
    manifest = {
        "format": FORMAT,
        "capabilities": sorted(capabilities),
        "corpus_digest": done.corpus.digest,
        "settings": {
            **{k: v for k, v in asdict(settings).items() if k not in ("adapter", "require")},
            "vectors": str(settings.vectors) if settings.vectors else None,
            "failures_dir": str(settings.failures_dir),
            "dtypes": list(settings.dtypes) if settings.dtypes else None,
        },
        "cases": entries,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return len(entries)


class ExportError(Exception):
    """An export directory or an outputs directory cannot be used."""


def read_export(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: not an aha export ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: format must be {FORMAT!r}, got {manifest.get('format')!r}")
    unknown = sorted(set(manifest["capabilities"]) - CAPABILITIES)
    if unknown:
        raise ExportError(f"{path}: unknown capabilities {unknown}")
    return manifest


def export_settings(manifest: dict[str, Any], name: str) -> Settings:
    """The settings the export was made with, so the judged run makes the same calls."""
    s = dict(manifest["settings"])
    s["vectors"] = Path(s["vectors"]) if s.get("vectors") else None
    s["failures_dir"] = Path(s["failures_dir"])
    s["dtypes"] = tuple(s["dtypes"]) if s.get("dtypes") else None
    s["isolation"] = "none"  # the answers are files: nothing to isolate
    s["shrink"] = False  # a shrunk draw was never exported: judge the draws as they came
    return Settings(adapter=name, **s)


class Replay:
    """An implementation's answers, read from the outputs directory."""

    def __init__(self, name: str, capabilities: frozenset[str], outputs: Path) -> None:
        self.name, self.capabilities, self.outputs = name, capabilities, outputs

    def __getattr__(self, attr: str) -> Any:
        for op in OPERATIONS.values():
            if op.method == attr:
                return lambda *args, op=op: self.answer(op, args)
        raise AttributeError(attr)

    def answer(self, op: Operation, args: tuple[Any, ...]) -> Any:
        config, inputs = split(op, args)
        name = case_name(op.name, config, inputs)
        path = self.outputs / name
        if not path.is_file():
            raise LookupError(
                f"no output file {name} in {self.outputs} (was every case of the export "
                f"answered, and the export made with these settings?)"
            )
        tensors, metadata = safetensors_io.load(path)
        if "error" in metadata:
            raise rejected(metadata["error"])
        found = {
            k.removeprefix("output."): v for k, v in tensors.items() if k.startswith("output.")
        }
        missing = [n for n in op.outputs if n not in found and n != "grad.span_scale"]
        if missing:
            raise LookupError(f"{path} holds no output.{missing[0]}")
        return returned(op, {n: found[n] for n in op.outputs if n in found})


def rejected(error: str) -> Exception:
    """The exception an output file's ``error`` metadata stands for: a builtin by name, or
    a reference error type (ShapeError, ...) as a subclass of its builtin base (ERR-1)."""
    type_name, _, message = error.partition(":")
    type_name, message = type_name.strip(), message.strip()
    base = getattr(builtins, BUILTIN_ERRORS.get(type_name, type_name), None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    kind = base if base.__name__ == type_name else type(type_name, (base,), {})
    return kind(message)


def judge(directory: Path, outputs: Path, name: str = "external") -> tuple[Settings, Any, Run]:
    """The run of the export, judged on the implementation's output files."""
    manifest = read_export(directory)
    if not outputs.is_dir():
        raise ExportError(f"--outputs {str(outputs)!r} is not a directory")
    settings = export_settings(manifest, name)
    loaded = load_trusted(settings.vectors)
    if loaded.digest != manifest["corpus_digest"]:
        raise ExportError(
            f"the export was made from corpus {manifest['corpus_digest'][:16]}, this run would "
            f"use {loaded.digest[:16]}: export again"
        )
    adapter = Replay(name, frozenset(manifest["capabilities"]), outputs)
    return settings, adapter, run(adapter, settings)

"""Hostile and forged corpora (issue 14): each is rejected before a run, with the file and the
field named, exit 2 from `aha vectors verify` and from `aha conform`, never a traceback; most
are re-signed (every checksum and the digest recomputed), so only re-derivation catches them.
A harmless extra field is accepted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aha.conformance import corpus, safetensors_io
from aha.conformance.cli import main
from aha.conformance.generate import verify

PLAN, LOCAL, GLOBAL, LAYER, INVALID, CONFIG = range(6)
IDS = (
    "plan/s-zero-and-one",
    "local/T-7",
    "global/causal",
    "layer/basic",
    "invalid/local/q-rank-3",
    "invalid/config/window-zero",
)
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A six-case corpus cut from the shipped one: one case of each kind, two invalid."""
    shipped = {c.id: c for c in corpus.load().cases}
    out = tmp_path_factory.mktemp("base") / "vectors"
    corpus.write(out, [shipped[i] for i in IDS], corpus.load().flags)
    return out


def read(directory: Path) -> Manifest:
    return json.loads((directory / corpus.MANIFEST).read_text())


def sign(directory: Path, manifest: Any) -> None:
    """Write the manifest with its digest recomputed, as a forger would."""
    if isinstance(manifest, dict):
        manifest.pop("digest", None)
        manifest["digest"] = corpus.sha256(corpus._canonical(manifest))
    (directory / corpus.MANIFEST).write_text(json.dumps(manifest))


def forge_tensors(directory: Path, m: Manifest, index: int, change: Callable[..., None]) -> None:
    """Rewrite case ``index``'s tensor file after ``change(tensors)`` and re-sign everything."""
    entry = m["cases"][index]
    path = directory / entry["file"]
    tensors, metadata = safetensors_io.load(path)
    change(tensors)
    raw = safetensors_io.dumps(tensors, metadata)
    path.write_bytes(raw)
    entry["sha256"] = corpus.sha256(raw)
    entry["tensors"] = {
        name: {
            "dtype": safetensors_io.CODES[a.dtype],
            "shape": list(a.shape),
            "sha256": corpus.sha256(a.tobytes()),
        }
        for name, a in sorted(tensors.items())
    }


def case_field(index: int, name: str, value: Any = None, drop: bool = False) -> Callable[..., str]:
    def mutate(d: Path, m: Manifest) -> str:
        if drop:
            del m["cases"][index][name]
        else:
            m["cases"][index][name] = value
        sign(d, m)
        return f"/cases/{index}/{name}"

    return mutate


def top_field(name: str, value: Any = None, drop: bool = False) -> Callable[..., str]:
    def mutate(d: Path, m: Manifest) -> str:
        if drop:
            del m[name]
        else:
            m[name] = value
        sign(d, m)
        return f"/{name}"

    return mutate


def raw_manifest(text: str, field: str) -> Callable[..., str]:
    def mutate(d: Path, m: Manifest) -> str:
        (d / corpus.MANIFEST).write_text(text)
        return field

    return mutate


def _unsigned_edit(d: Path, m: Manifest) -> str:
    m["cases"][LOCAL]["config"]["window"] = 5
    (d / corpus.MANIFEST).write_text(json.dumps(m))
    return "/digest"


def _no_digest(d: Path, m: Manifest) -> str:
    del m["digest"]
    (d / corpus.MANIFEST).write_text(json.dumps(m))
    return "/digest"


def _flipped_tensor_byte(d: Path, m: Manifest) -> str:
    path = d / m["cases"][LOCAL]["file"]
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 1
    path.write_bytes(bytes(raw))
    return "/cases/1/sha256"


def _missing_file(d: Path, m: Manifest) -> str:
    (d / m["cases"][GLOBAL]["file"]).unlink()
    return "/cases/2/file: missing"


def _outside_path(d: Path, m: Manifest) -> str:
    shutil.copy(d / m["cases"][LOCAL]["file"], d.parent / "outside.safetensors")
    m["cases"][LOCAL]["file"] = "../outside.safetensors"
    sign(d, m)
    return "/cases/1/file"


def _absolute_path(d: Path, m: Manifest) -> str:
    m["cases"][LOCAL]["file"] = str((d / m["cases"][LOCAL]["file"]).resolve())
    sign(d, m)
    return "/cases/1/file"


def _symlink_out(d: Path, m: Manifest) -> str:
    outside = d.parent / "elsewhere.safetensors"
    shutil.move(d / m["cases"][LOCAL]["file"], outside)
    os.symlink(outside, d / m["cases"][LOCAL]["file"])
    return "/cases/1/file"


def _symlinked_manifest(d: Path, m: Manifest) -> str:
    outside = d.parent / "manifest-elsewhere.json"
    shutil.move(d / corpus.MANIFEST, outside)
    os.symlink(outside, d / corpus.MANIFEST)
    return "outside the corpus"


def _duplicate_id(d: Path, m: Manifest) -> str:
    m["cases"][GLOBAL]["id"] = m["cases"][LOCAL]["id"]
    sign(d, m)
    return "/cases/2/id"


def _duplicate_file(d: Path, m: Manifest) -> str:
    m["cases"][GLOBAL]["file"] = m["cases"][LOCAL]["file"]
    sign(d, m)
    return "/cases/2/file"


def _flag_with_a_line_break(d: Path, m: Manifest) -> str:
    """Found by tests/test_fuzz_corpus.py: U+0085 split the problem's line (splitlines)."""
    m["flags"]["\x85"] = "a flag named by a line break"
    sign(d, m)
    return "/flags/\\x85"


def _unknown_flag(d: Path, m: Manifest) -> str:
    m["cases"][LOCAL]["flags"] = ["no-such-flag"]
    sign(d, m)
    return "/cases/1/flags/0"


def _forged_baseline(d: Path, m: Manifest) -> str:
    m["cases"][LOCAL]["baseline_error"]["float32"]["out"] *= 1000
    sign(d, m)
    return "/cases/1/baseline_error/float32/out"


def _forged_baseline_slightly(d: Path, m: Manifest) -> str:
    m["cases"][LAYER]["baseline_error"]["bfloat16"]["y"] *= 2
    sign(d, m)
    return "/cases/3/baseline_error/bfloat16/y"


def _baseline_extra_dtype(d: Path, m: Manifest) -> str:
    m["cases"][GLOBAL]["dtypes"] = ["float32", "float64"]
    sign(d, m)
    return "/cases/2/baseline_error"


def _baseline_on_plan(d: Path, m: Manifest) -> str:
    m["cases"][PLAN]["baseline_error"] = {"float64": {"window": 1.0}}
    sign(d, m)
    return "/cases/0/baseline_error"


def _expected_plus(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, LOCAL, lambda t: t.__setitem__("expected.out", t["expected.out"] + 1e-3))
    sign(d, m)
    return "/cases/1/tensors/expected.out"


def _expected_dropped(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, LAYER, lambda t: t.pop("expected.s"))
    sign(d, m)
    return "/cases/3/tensors"


def _plan_window_forged(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, PLAN, lambda t: t.__setitem__("expected.window", t["expected.window"] + 1))
    sign(d, m)
    return "/cases/0/tensors/expected.window"


def _input_forged(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, GLOBAL, lambda t: t.__setitem__("input.q", t["input.q"] * 2))
    sign(d, m)
    return "/cases/2/tensors/expected.out"


def _input_float32(d: Path, m: Manifest) -> str:
    forge_tensors(
        d, m, GLOBAL, lambda t: t.__setitem__("input.rel_bias", t["input.rel_bias"].astype("f4"))
    )
    sign(d, m)
    return "/cases/2/"


def _input_not_exact(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, LOCAL, lambda t: t.__setitem__("input.v", t["input.v"] + 1e-9))
    sign(d, m)
    return "/cases/1/dtypes"


def _config_forged(d: Path, m: Manifest) -> str:
    m["cases"][GLOBAL]["config"]["max_rel_dist"] = m["cases"][GLOBAL]["config"].get("window", 8)
    m["cases"][GLOBAL]["config"]["scale"] = 0.25
    sign(d, m)
    return "/cases/2/tensors/expected.out"


def _config_invalid_on_valid_case(d: Path, m: Manifest) -> str:
    m["cases"][LOCAL]["config"]["window"] = 0
    sign(d, m)
    return "/cases/1/"


def _swapped_files(d: Path, m: Manifest) -> str:
    a, b = m["cases"][LOCAL], m["cases"][GLOBAL]
    for key in ("file", "sha256", "tensors"):
        a[key], b[key] = b[key], a[key]
    sign(d, m)
    return "/cases/1/file"


def _renamed_file(d: Path, m: Manifest) -> str:
    (d / m["cases"][LOCAL]["file"]).rename(d / "renamed.safetensors")
    m["cases"][LOCAL]["file"] = "renamed.safetensors"
    sign(d, m)
    return "/cases/1/file"


def _seed_not_derived(d: Path, m: Manifest) -> str:
    m["cases"][LOCAL]["seed"] += 1
    sign(d, m)
    return "/cases/1/seed"


def _invalid_dtypes_narrowed(d: Path, m: Manifest) -> str:
    m["cases"][INVALID]["dtypes"] = ["float64"]
    sign(d, m)
    return "/cases/4/dtypes"


def _invalid_error_renamed(d: Path, m: Manifest) -> str:
    m["cases"][INVALID]["error"] = "DomainError"
    sign(d, m)
    return "/cases/4/error"


def _unknown_input(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, LOCAL, lambda t: t.__setitem__("input.evil", np.zeros(2)))
    sign(d, m)
    return "/cases/1/tensors/input.evil"


def _missing_input(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, GLOBAL, lambda t: t.pop("input.rel_bias"))
    sign(d, m)
    return "/cases/2/"


def _invalid_argument_substring(d: Path, m: Manifest) -> str:
    m["cases"][INVALID]["argument"] = "ha"  # "shape" and "have" contain it; no word is "ha"
    sign(d, m)
    return "/cases/4/error"


def _invalid_argument_other(d: Path, m: Manifest) -> str:
    m["cases"][INVALID]["argument"] = "rel_bias"
    sign(d, m)
    return "/cases/4/error"


def _invalid_made_valid(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, INVALID, lambda t: t.__setitem__("input.q", t["input.k"]))
    sign(d, m)
    return "/cases/4/error"


def _invalid_with_expected(d: Path, m: Manifest) -> str:
    forge_tensors(d, m, INVALID, lambda t: t.__setitem__("expected.out", np.zeros(3)))
    sign(d, m)
    return "/cases/4/tensors"


def _config_case_valid_config(d: Path, m: Manifest) -> str:
    m["cases"][CONFIG]["config"] = {"window": 4}
    sign(d, m)
    return "/cases/5/error"


def _extra_tensor_in_file(d: Path, m: Manifest) -> str:
    entry = m["cases"][LOCAL]
    path = d / entry["file"]
    tensors, metadata = safetensors_io.load(path)
    tensors["input.extra"] = np.zeros(2)
    raw = safetensors_io.dumps(tensors, metadata)
    path.write_bytes(raw)
    entry["sha256"] = corpus.sha256(raw)
    sign(d, m)
    return "input.extra"


def _garbage_file_resigned(d: Path, m: Manifest) -> str:
    path = d / m["cases"][LOCAL]["file"]
    path.write_bytes(b"\xff" * 64)
    m["cases"][LOCAL]["sha256"] = corpus.sha256(path.read_bytes())
    sign(d, m)
    return "local__T-7.safetensors"


def _metadata_not_strings(d: Path, m: Manifest) -> str:
    entry = m["cases"][LOCAL]
    path = d / entry["file"]
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"] = {"id": ["local/T-7"]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    raw = len(text).to_bytes(8, "little") + text + raw[8 + n :]
    path.write_bytes(raw)
    entry["sha256"] = corpus.sha256(raw)
    sign(d, m)
    return "__metadata__"


def _tensor_meta(index: int, key: str, value: Any) -> Callable[..., str]:
    def mutate(d: Path, m: Manifest) -> str:
        m["cases"][index]["tensors"]["input.q"][key] = value
        sign(d, m)
        return f"/cases/{index}/tensors/input.q/{key}"

    return mutate


def _tensor_named(name: str) -> Callable[..., str]:
    def mutate(d: Path, m: Manifest) -> str:
        m["cases"][LOCAL]["tensors"][name] = m["cases"][LOCAL]["tensors"].pop("input.v")
        sign(d, m)
        return f"/cases/1/tensors/{name}" if "." not in name else "/cases/1/tensors"

    return mutate


def _deep_extra(d: Path, m: Manifest) -> str:
    text = json.dumps(m)
    deep = "[" * 100_000 + "]" * 100_000
    (d / corpus.MANIFEST).write_text(text[:-1] + f', "x": {deep}}}')
    return "nested too deep"


VARIANTS: dict[str, Callable[[Path, Manifest], str]] = {
    # not JSON, or the wrong JSON
    "not-json": raw_manifest("{not json", "not valid JSON"),
    "empty-file": raw_manifest("", "not valid JSON"),
    "a-list": raw_manifest("[]", ": /: "),
    "nan-literal": raw_manifest('{"schema_version": NaN}', "not valid JSON"),
    "nested-too-deep": raw_manifest("[" * 100_000 + "]" * 100_000, "nested too deep"),
    "deep-extra-field": _deep_extra,
    "unsigned-edit": _unsigned_edit,
    # the top level
    "no-schema-version": top_field("schema_version", drop=True),
    "schema-version-2": top_field("schema_version", 2),
    "no-spec-version": top_field("spec_version", drop=True),
    "spec-version-int": top_field("spec_version", 1),
    "no-generator": top_field("generator", drop=True),
    "flags-a-list": top_field("flags", ["window-round"]),
    "no-cases": top_field("cases", drop=True),
    "empty-cases": top_field("cases", []),
    "cases-an-object": top_field("cases", {"0": {}}),
    "case-a-string": top_field("cases", ["plan/s-zero-and-one"]),
    "no-digest": _no_digest,
    # fields of a case: missing
    **{
        f"missing-{name}": case_field(LOCAL, name, drop=True)
        for name in (
            "id",
            "kind",
            "description",
            "clauses",
            "flags",
            "result",
            "config",
            "seed",
            "file",
            "sha256",
            "tensors",
            "dtypes",
            "baseline_error",
        )
    },
    "missing-error": case_field(INVALID, "error", drop=True),
    "missing-argument": case_field(INVALID, "argument", drop=True),
    # fields of a case: wrong type or value
    "id-int": case_field(LOCAL, "id", 7),
    "id-dotdot": case_field(LOCAL, "id", "../local/T-7"),
    "kind-unknown": case_field(LOCAL, "kind", "attention"),
    "clause-malformed": case_field(LOCAL, "clauses", ["local one"]),
    "clauses-empty": case_field(LOCAL, "clauses", []),
    "result-maybe": case_field(LOCAL, "result", "maybe"),
    "config-nested": case_field(LOCAL, "config", {"window": {"value": 4}}),
    "config-a-list": case_field(LOCAL, "config", [4]),
    "seed-negative": case_field(LOCAL, "seed", -1),
    "seed-a-string": case_field(LOCAL, "seed", "7"),
    "sha256-short": case_field(LOCAL, "sha256", "abc"),
    "description-a-list": case_field(LOCAL, "description", ["x"]),
    "dtypes-empty": case_field(LOCAL, "dtypes", []),
    "dtypes-unknown": case_field(LOCAL, "dtypes", ["float8"]),
    "dtypes-empty-name": case_field(LOCAL, "dtypes", [""]),
    "dtypes-a-string": case_field(LOCAL, "dtypes", "float32"),
    "dtypes-repeated": case_field(LOCAL, "dtypes", ["float32", "float32"]),
    "config-case-dtypes": case_field(CONFIG, "dtypes", ["float64"]),
    "error-unknown": case_field(INVALID, "error", "OopsError"),
    "error-base-wrong": case_field(INVALID, "error_base", "TypeError"),
    "argument-empty": case_field(INVALID, "argument", ""),
    "error-on-valid-case": case_field(LOCAL, "error", "ShapeError"),
    "baseline-negative": case_field(LOCAL, "baseline_error", {"float64": {"out": -1.0}}),
    "baseline-a-string": case_field(LOCAL, "baseline_error", {"float64": {"out": "0"}}),
    "tensor-dtype-unknown": _tensor_meta(LOCAL, "dtype", "F8"),
    "tensor-dtype-empty": _tensor_meta(LOCAL, "dtype", ""),
    "tensor-shape-a-string": _tensor_meta(LOCAL, "shape", "2,2"),
    "tensor-shape-negative": _tensor_meta(LOCAL, "shape", [-1]),
    "tensor-name-unknown-section": _tensor_named("weights.v"),
    "tensor-name-bare": _tensor_named("v"),
    # paths
    "path-outside": _outside_path,
    "path-absolute": _absolute_path,
    "symlink-out": _symlink_out,
    "manifest-symlinked-out": _symlinked_manifest,
    "duplicate-id": _duplicate_id,
    "duplicate-file": _duplicate_file,
    "unknown-flag": _unknown_flag,
    "flag-with-a-line-break": _flag_with_a_line_break,
    # files
    "tensor-byte-flipped": _flipped_tensor_byte,
    "tensor-file-missing": _missing_file,
    "garbage-file-resigned": _garbage_file_resigned,
    "metadata-not-strings": _metadata_not_strings,
    "extra-tensor-in-file": _extra_tensor_in_file,
    "files-swapped-resigned": _swapped_files,
    "file-renamed-resigned": _renamed_file,
    # forgeries, re-signed: only re-derivation finds them
    "forged-baseline": _forged_baseline,
    "forged-baseline-doubled": _forged_baseline_slightly,
    "baseline-for-undeclared-dtype": _baseline_extra_dtype,
    "baseline-on-plan": _baseline_on_plan,
    "forged-expected": _expected_plus,
    "expected-output-dropped": _expected_dropped,
    "forged-plan-window": _plan_window_forged,
    "forged-input": _input_forged,
    "unknown-input-resigned": _unknown_input,
    "missing-input-resigned": _missing_input,
    "float32-input-in-valid-case": _input_float32,
    "input-not-exact-in-float16": _input_not_exact,
    "forged-config": _config_forged,
    "invalid-config-on-valid-case": _config_invalid_on_valid_case,
    "seed-not-derived": _seed_not_derived,
    "invalid-dtypes-narrowed": _invalid_dtypes_narrowed,
    "invalid-error-renamed": _invalid_error_renamed,
    "invalid-argument-a-substring": _invalid_argument_substring,
    "invalid-argument-other": _invalid_argument_other,
    "invalid-case-made-valid": _invalid_made_valid,
    "invalid-case-with-expected": _invalid_with_expected,
    "config-case-valid-config": _config_case_valid_config,
}


def _variant(base: Path, tmp_path: Path, name: str) -> tuple[Path, str]:
    target = tmp_path / "vectors"
    shutil.copytree(base, target)
    field = VARIANTS[name](target, read(target))
    return target, field


def test_there_are_at_least_sixty_variants() -> None:
    assert len(VARIANTS) >= 60


def test_the_base_corpus_is_sound(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the untouched cut verifies, and a run on it passes (not pinned)."""
    assert verify(base, catalog_check=False) == []
    assert not corpus.load(base).pinned
    assert main(["vectors", "verify", str(base)]) == 0
    assert main(["conform", "--adapter", "numpy", "--no-properties", "--vectors", str(base)]) == 0


def test_a_harmless_extra_field_is_accepted(base: Path, tmp_path: Path) -> None:
    target = tmp_path / "vectors"
    shutil.copytree(base, target)
    m = read(target)
    m["comment"] = "added by a later generator"
    m["cases"][LOCAL]["note"] = {"reviewed_by": ["someone"], "depth": [[1]]}
    m["generator"]["host"] = "ci"
    sign(target, m)
    assert verify(target, catalog_check=False) == []
    assert main(["vectors", "verify", str(target)]) == 0


@pytest.mark.clause("ERR-1")
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_hostile_corpus_is_rejected_naming_file_and_field(
    name: str, base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, field = _variant(base, tmp_path, name)
    problems = verify(target, catalog_check=False)
    text = "\n".join(problems)
    assert problems, f"{name}: accepted"
    assert str(target) in text, f"{name}: no file named in {text}"
    assert field in text, f"{name}: {field!r} not named in {text}"
    capsys.readouterr()
    assert main(["vectors", "verify", str(target)]) == 2
    assert main(["conform", "--adapter", "numpy", "--no-properties", "--vectors", str(target)]) == 2
    err = capsys.readouterr().err
    assert "cannot be trusted" in err and field in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["forged-baseline"])
def test_the_command_exits_2_without_a_traceback(name: str, base: Path, tmp_path: Path) -> None:
    """The same, as a process: what a user sees."""
    target, field = _variant(base, tmp_path, name)
    cli = [sys.executable, "-m", "aha.conformance.cli"]
    plugin = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs"]
    for command in (
        [*cli, "vectors", "verify", str(target)],
        [*cli, "conform", "--adapter", "numpy", "--no-properties", "--vectors", str(target)],
        [*plugin, "aha.conformance", "--aha-adapter", "numpy", "--aha-vectors", str(target)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        assert field in done.stdout + done.stderr

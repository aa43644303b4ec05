"""The golden corpus: sound, reproducible, tamper-evident, and covering the spec."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_spec_links import ROOT, spec_clauses

from aha.conformance import corpus, pin, safetensors_io
from aha.conformance.cases import FLAGS
from aha.conformance.generate import generate, verify
from aha.conformance.properties import PROPERTIES

COMMITTED = corpus.default_dir()


@pytest.fixture(scope="module")
def loaded() -> corpus.Corpus:
    return corpus.load()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vectors")
    generate(out)
    return out


def test_committed_corpus_verifies() -> None:
    assert verify() == []


def test_generation_is_byte_identical_and_matches_the_committed_corpus(
    regenerated: Path, tmp_path: Path
) -> None:
    generate(tmp_path)
    names = sorted(p.name for p in regenerated.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (regenerated / name).read_bytes() == (tmp_path / name).read_bytes(), name
    stale = [n for n in names if (regenerated / n).read_bytes() != (COMMITTED / n).read_bytes()]
    assert not stale, (
        f"committed vectors differ from the generator: {stale[:5]}; run `aha vectors generate`"
    )
    assert names == sorted(p.name for p in COMMITTED.iterdir() if p.suffix != ".md")


def test_the_package_pins_the_digest_of_the_corpus_it_ships(regenerated: Path) -> None:
    assert corpus.read_manifest(regenerated)["digest"] == pin.CORPUS_DIGEST, (
        "conformance/pin.py is stale: run `aha vectors generate` and commit it"
    )
    assert corpus.load().pinned


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "vectors"
    shutil.copytree(COMMITTED, target)
    return target


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def test_a_changed_tensor_byte_is_reported_by_file_name(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    victim = target / "local__causal.safetensors"
    _flip(victim, victim.stat().st_size - 3)  # a data byte of the last tensor
    problems = verify(target, catalog_check=False)
    assert len(problems) == 1 and str(victim) in problems[0] and "/sha256: mismatch" in problems[0]


def test_a_changed_manifest_byte_is_reported(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    manifest = target / corpus.MANIFEST
    text = manifest.read_text()
    manifest.write_text(text.replace('"window": 100', '"window": 101', 1))
    problems = verify(target, catalog_check=False)
    assert len(problems) == 1 and str(manifest) in problems[0] and "digest" in problems[0]


def test_a_malformed_tensor_file_is_rejected_without_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle was used"))
    bad = tmp_path / "bad.safetensors"
    for raw in (
        b"\x00" * 4,
        b"\xff" * 8 + b"{}",
        (8).to_bytes(8, "little") + b'{"a":1}  ',
        safetensors_io.dumps({"x": np.ones(3)})[:-1],
    ):
        bad.write_bytes(raw)
        with pytest.raises(safetensors_io.FormatError, match=r"bad\.safetensors"):
            safetensors_io.load(bad)


def test_files_interoperate_with_the_safetensors_library(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    tensors = {
        "q": np.arange(6.0).reshape(2, 3),
        "m": np.array([True, False]),
        "n": np.array(7, dtype=np.int64),
        "h": np.ones(2, dtype=np.float16),
    }
    ours = tmp_path / "ours.safetensors"
    safetensors_io.save(ours, tensors)
    theirs = tmp_path / "theirs.safetensors"
    save_file(tensors, str(theirs))
    for read in (load_file(str(ours)), safetensors_io.load(theirs)[0]):
        assert set(read) == set(tensors)
        for name, arr in tensors.items():
            assert read[name].dtype == arr.dtype and np.array_equal(read[name], arr)


def test_size_and_count(loaded: corpus.Corpus) -> None:
    size = sum(p.stat().st_size for p in COMMITTED.iterdir())
    assert size < 5 * 2**20, f"{size} bytes"
    assert len(loaded.cases) >= 80


def test_every_flag_is_used_and_defined(loaded: corpus.Corpus) -> None:
    used = {f for case in loaded.cases for f in case.flags}
    assert used == set(FLAGS) == set(loaded.flags)


def test_every_normative_clause_is_pinned(loaded: corpus.Corpus) -> None:
    """By a vector, a conformance property, or a property test of the reference."""
    pinned = {c for case in loaded.cases for c in case.clauses}
    pinned |= {c for prop in PROPERTIES for c in prop.clauses}
    pinned |= {
        c
        for path in (ROOT / "tests").glob("test_*.py")
        for args in re.findall(r"mark\.clause\(([^)]*)\)", path.read_text())
        for c in re.findall(r"[A-Z]+-\d+", args)
    }
    normative = {c for c, is_normative in spec_clauses().items() if is_normative}
    assert not normative - pinned, f"unpinned: {sorted(normative - pinned)}"
    assert not {c for case in loaded.cases for c in case.clauses} - set(spec_clauses())


def test_required_edge_cases_are_present(loaded: corpus.Corpus) -> None:
    cores = [c for c in loaded.cases if c.kind in ("local", "global") and not c.error]
    lengths = {c.inputs["q"].shape[2] for c in cores}
    assert {1, 2, 7, 17, 33, 130} <= lengths
    spans = np.concatenate(
        [  # a 0-d span_scale applies to every element (PLAN-1)
            np.atleast_1d(c.inputs["span_scale"])
            for c in loaded.cases
            if c.kind == "local" and not c.error
        ]
    )
    assert 0.0 in spans and 1.0 in spans and 0.29 in spans
    masked = [c for c in cores if "key_padding_mask" in c.inputs]
    assert any(c.kind == "local" for c in masked) and any(c.kind == "global" for c in masked)
    assert any(c.config.get("causal") for c in cores) and any(
        not c.config.get("causal") for c in cores
    )
    assert max(np.abs(c.inputs["q"]).max() for c in cores) ** 2 >= 1e3
    assert {c.config.get("score_scale", "none") for c in cores} == {"none", "linear", "log"}
    assert {c.config.get("sharpen", "short") for c in cores} == {"short", "long"}
    layers = [c for c in loaded.cases if c.kind == "layer" and not c.error]
    assert any("key_padding_mask" in c.inputs for c in layers)
    assert any("span_scale" in c.inputs for c in layers)
    errors = {c.error for c in loaded.cases if c.error}
    assert errors == {"ConfigError", "ShapeError", "DTypeError", "DomainError", "ParamsError"}


def test_layer_vectors_keep_the_span_margin(loaded: corpus.Corpus) -> None:
    from aha.conformance.oracle import span_margin

    for case in loaded.cases:
        if case.kind == "layer" and not case.error and "span_scale" not in case.inputs:
            assert span_margin(case.aha_config(), case.expected["s"]) >= 0.2, case.id

"""Fuzzing the corpus reader (issue 14): mutated manifests and tensor files, re-signed, must be
either accepted or rejected with problems naming a file; never an exception, never a
traceback, and the CLI exits 0 or 2. Small budget in CI; AHA_FUZZ_EXAMPLES=2000 for a long run.

Crashes found so far, pinned in tests/test_vectors_hostile.py: safetensors ``__metadata__``
that is not a string map (``metadata-not-strings``), NaN literals in the manifest
(``nan-literal``), nesting past the recursion limit (``nested-too-deep``), a flag named by
U+0085 that split a problem's line (``flag-with-a-line-break``, found by this test).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aha.conformance import corpus, safetensors_io
from aha.conformance.cli import main
from aha.conformance.generate import verify

EXAMPLES = int(os.environ.get("AHA_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # CI runs the same examples; a long run sets AHA_FUZZ_EXAMPLES
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
IDS = ("local/T-2", "invalid/local/q-nan", "invalid/config/window-zero")

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shipped = {c.id: c for c in corpus.load().cases}
    out = tmp_path_factory.mktemp("fuzz-base") / "vectors"
    corpus.write(out, [shipped[i] for i in IDS], corpus.load().flags)
    return out


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document, the root excluded."""
    found = []
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    )
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


def _sign(directory: Path, manifest: Any) -> None:
    if isinstance(manifest, dict):
        manifest.pop("digest", None)
        manifest["digest"] = corpus.sha256(corpus._canonical(manifest))
    (directory / corpus.MANIFEST).write_text(json.dumps(manifest))


def _judge(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify never raises; its problems name a file of the corpus; the CLI says 0 or 2."""
    problems = verify(directory, catalog_check=False)
    for problem in problems:
        assert str(directory) in problem, problem
    capsys.readouterr()
    code = main(["vectors", "verify", str(directory)])
    assert code == (2 if problems else 0)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


@FUZZ
@given(data=st.data())
def test_mutated_manifests_are_judged_not_crashed_on(
    data: st.DataObject,
    base: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path_factory.mktemp("fuzz") / "vectors"
    shutil.copytree(base, target)
    manifest = json.loads((target / corpus.MANIFEST).read_text())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(manifest)
        path = data.draw(st.sampled_from(paths), label="path")
        parent: Any = manifest
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
        if action == "replace":
            parent[path[-1]] = data.draw(json_values, label="value")
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8), label="key")] = data.draw(json_values)
        else:
            parent.append(data.draw(json_values, label="value"))
    _sign(target, manifest)
    _judge(target, capsys)


@FUZZ
@given(data=st.data())
def test_mutated_tensor_files_are_judged_not_crashed_on(
    data: st.DataObject,
    base: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bytes flipped, cut or inserted anywhere (the header included); the file re-signed."""
    target = tmp_path_factory.mktemp("fuzz") / "vectors"
    shutil.copytree(base, target)
    manifest = json.loads((target / corpus.MANIFEST).read_text())
    index = data.draw(st.integers(0, len(IDS) - 1), label="case")
    path = target / manifest["cases"][index]["file"]
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(raw)), label="offset")
        edit = data.draw(st.sampled_from(["flip", "cut", "insert"]), label="edit")
        if edit == "flip" and at < len(raw):
            raw[at] ^= data.draw(st.integers(1, 255), label="mask")
        elif edit == "cut":
            del raw[at : at + data.draw(st.integers(1, 64), label="length")]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
    path.write_bytes(bytes(raw))
    manifest["cases"][index]["sha256"] = corpus.sha256(bytes(raw))
    _sign(target, manifest)
    _judge(target, capsys)


@FUZZ
@given(
    header=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    tail=st.binary(max_size=64),
)
def test_a_hostile_safetensors_header_is_a_format_error(
    header: dict[str, Any], tail: bytes
) -> None:
    text = json.dumps(header).encode()
    raw = len(text).to_bytes(8, "little") + text + tail
    try:
        tensors, metadata = safetensors_io.loads(raw, "fuzz.safetensors")
    except safetensors_io.FormatError as exc:
        assert "fuzz.safetensors" in str(exc)
        return
    assert all(isinstance(a, np.ndarray) for a in tensors.values())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())

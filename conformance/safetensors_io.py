"""A strict reader and a deterministic writer of the safetensors format.

Format: an 8-byte little-endian header length N, N bytes of JSON header
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``),
then the raw little-endian data. Nothing is ever unpickled; every header field is checked
before a byte of data is used, and a malformed file raises ``FormatError`` naming it.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
CODES = {dtype: code for code, dtype in DTYPES.items()}
MAX_HEADER = 100 * 2**20


class FormatError(Exception):
    """A tensor file is not well-formed safetensors."""


def dumps(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise ``tensors`` in name order; the same input always gives the same bytes."""
    header: dict[str, object] = {"__metadata__": dict(sorted((metadata or {}).items()))}
    chunks, offset = [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        code = CODES.get(arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype)
        if code is None:
            raise FormatError(f"tensor {name!r}: dtype {arr.dtype} has no safetensors code")
        data = arr.astype(DTYPES[code], copy=False).tobytes()
        header[name] = {
            "dtype": code,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def loads(raw: bytes, name: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse safetensors bytes strictly; returns (tensors, metadata)."""
    if len(raw) < 8:
        raise FormatError(f"{name}: {len(raw)} bytes is too short for a safetensors header")
    (size,) = struct.unpack("<Q", raw[:8])
    if size > min(MAX_HEADER, len(raw) - 8):
        raise FormatError(f"{name}: header length {size} exceeds the file")
    try:
        header = json.loads(raw[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{name}: header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{name}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise FormatError(f"{name}: __metadata__ must map strings to strings")
    data = memoryview(raw)[8 + size :]
    tensors, spans = {}, []
    for key, entry in header.items():
        arr, span = _tensor(name, key, entry, data)
        tensors[key] = arr
        spans.append(span)
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise FormatError(f"{name}: tensor data overlaps or leaves a gap at byte {covered}")
        covered = end
    if covered != len(data):
        raise FormatError(f"{name}: {len(data) - covered} trailing bytes after the last tensor")
    return tensors, metadata


def _tensor(
    name: str, key: str, entry: object, data: memoryview
) -> tuple[np.ndarray, tuple[int, int]]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise FormatError(f"{name}: tensor {key!r} needs exactly dtype, shape, data_offsets")
    dtype = DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    shape, offsets = entry["shape"], entry["data_offsets"]
    if dtype is None:
        raise FormatError(f"{name}: tensor {key!r} has unknown dtype {entry['dtype']!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise FormatError(f"{name}: tensor {key!r} has a bad shape {shape!r}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
        and offsets[1] <= len(data)
    ):
        raise FormatError(f"{name}: tensor {key!r} has bad data_offsets {offsets!r}")
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise FormatError(f"{name}: tensor {key!r} has {end - begin} bytes for shape {shape}")
    arr = np.frombuffer(data[begin:end], dtype=dtype).reshape(tuple(shape)).copy()
    return arr, (begin, end)


def save(
    path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> None:
    path.write_bytes(dumps(tensors, metadata))


def load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    return loads(path.read_bytes(), str(path))

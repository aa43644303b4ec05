"""An implementation of the AHA plan (spec/AHA.md section 3) that does not import aha: it
answers an `aha export` directory with NumPy and the `safetensors` library, the way a C++,
Rust or CUDA implementation would through its own bindings (spec/conformance.md section 6).

    aha export cases/ --capabilities plan
    python external_plan.py cases/ answers/
    aha judge cases/ --outputs answers/

Each case file holds `input.<name>` tensors and, in its metadata, the operation and the
configuration (JSON). For each, a file of the same name goes to the outputs directory with
`output.<name>` tensors, or no tensors and the metadata `error` = "<ErrorType>: <message>"
for an input it rejects (ERR-1, ERR-2).
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


class ShapeError(ValueError):
    pass


class DomainError(ValueError):
    pass


def plan(span_scale: np.ndarray, seq_len: int, config: dict) -> dict[str, np.ndarray]:
    """window, reach, temperature, gain per batch element (PLAN-1 .. PLAN-6)."""
    if span_scale.ndim != 1:
        raise ShapeError(f"span_scale must have rank 1, got shape {span_scale.shape}")
    for b, s in enumerate(span_scale.tolist()):
        if not (math.isfinite(s) and 0.0 <= s <= 1.0):
            raise DomainError(f"span_scale[{b}] must lie in [0, 1], got {s}")
    if seq_len < 1:
        raise ShapeError(f"seq_len must be at least 1, got {seq_len}")
    s = span_scale.astype(np.float64)
    W = config["window"]
    window = np.maximum(config["min_window"], np.floor(np.float64(W) * s)).astype(np.int64)
    reach = np.minimum(window, min(seq_len, config["max_rel_dist"]))
    shift = s if config["sharpen"] == "short" else 1.0 - s
    temperature = np.maximum(
        config["min_temperature"], config["temperature"] + config["temp_scale"] * shift
    )
    ratio = W / window
    gain = {"none": np.ones_like(s), "linear": ratio, "log": 1.0 + np.log(ratio)}
    return {
        "window": window,
        "reach": reach,
        "temperature": temperature,
        "gain": gain[config["score_scale"]],
    }


def answer(case: Path, out: Path) -> None:
    with safe_open(str(case), framework="numpy") as f:
        metadata = f.metadata()
        inputs = {key.removeprefix("input."): f.get_tensor(key) for key in f.keys()}
    if metadata["operation"] != "plan":
        save_file({}, str(out), metadata={"error": "NotImplementedError: only the plan"})
        return
    try:
        result = plan(inputs["span_scale"], int(inputs["seq_len"]), json.loads(metadata["config"]))
    except ValueError as exc:
        save_file({}, str(out), metadata={"error": f"{type(exc).__name__}: {exc}"})
        return
    save_file({f"output.{k}": np.ascontiguousarray(v) for k, v in result.items()}, str(out))


if __name__ == "__main__":
    cases, outputs = Path(sys.argv[1]), Path(sys.argv[2])
    outputs.mkdir(parents=True, exist_ok=True)
    for case in sorted(cases.glob("*.safetensors")):
        answer(case, outputs / case.name)

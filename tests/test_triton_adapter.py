"""The ``triton`` adapter's boundary: loading, capabilities, errors, declines, torch entries."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from aha import reference as ref  # noqa: E402
from aha.adapters import triton as aha_triton  # noqa: E402
from aha.conformance.protocol import load_adapter  # noqa: E402
from aha.reference import AHAConfig, AHAError, DomainError, DTypeError, ShapeError  # noqa: E402

CONFIG = AHAConfig(window=8, max_rel_dist=8)


def arrays(dtype: str = "float32", seq_len: int = 9) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 2, seq_len, 4)).astype(dtype) for _ in range(3))
    return {"q": q, "k": k, "v": v, "rel_bias": rng.standard_normal((2, 15)).astype(dtype)}


def test_loads_by_name_and_claims_what_it_runs() -> None:
    adapter = load_adapter("triton")
    assert adapter.name == "triton"
    on_gpu = adapter.device == "cuda"
    expected = {"local", "global", "causal", "key_padding", "vjp", "float32", "float16"}
    assert set(adapter.capabilities) == expected | ({"bfloat16"} if on_gpu else set())


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU needs no interpreter")
def test_without_gpu_or_interpreter_construction_says_what_to_set() -> None:
    env = dict(os.environ, TRITON_INTERPRET="0")
    done = subprocess.run(
        [sys.executable, "-c", "from aha.adapters.triton import TritonAdapter; TritonAdapter()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "RuntimeError" in done.stderr and "TRITON_INTERPRET=1" in done.stderr


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"k": np.zeros((2, 2, 8, 4), np.float32)}, ShapeError),
        ({"rel_bias": np.zeros((2, 13), np.float32)}, ShapeError),
        ({"v": np.zeros((2, 2, 9, 4), np.float16)}, DTypeError),
        ({"q": np.full((2, 2, 9, 4), np.nan, np.float32)}, DomainError),
        ({"span_scale": np.array([0.5, 1.5])}, DomainError),
        ({"span_scale": np.array([0.5, 0.5, 0.5])}, ShapeError),
        ({"key_padding_mask": np.ones((2, 9), np.int8)}, DTypeError),
    ],
)
def test_errors_are_the_references(bad: dict[str, np.ndarray], error: type[AHAError]) -> None:
    """Same type and message as the reference (ERR-1 .. ERR-8)."""
    args = arrays() | {"span_scale": np.array([0.5, 1.0]), "key_padding_mask": None} | bad
    order = ("q", "k", "v", "span_scale", "rel_bias")
    with pytest.raises(error) as expected:
        ref.local_attention(*(args[n] for n in order), CONFIG, args["key_padding_mask"])
    with pytest.raises(error) as found:
        aha_triton.TritonAdapter().local_attention(
            *(args[n] for n in order), CONFIG, args["key_padding_mask"]
        )
    assert str(found.value) == str(expected.value)


def test_declines_what_it_has_no_kernel_for() -> None:
    adapter = aha_triton.TritonAdapter()
    x = arrays("float64")
    with pytest.raises(NotImplementedError):
        adapter.local_attention(x["q"], x["k"], x["v"], 0.5, x["rel_bias"], CONFIG)
    if adapter.device == "cpu":
        b = {n: torch.from_numpy(a).to(torch.bfloat16) for n, a in arrays().items()}
        with pytest.raises(NotImplementedError, match="TRITON_INTERPRET"):
            aha_triton.local_attention(b["q"], b["k"], b["v"], 0.5, b["rel_bias"], CONFIG)


def test_torch_entries_match_the_adapter() -> None:
    """Tensors in, tensors out, on the kernel's device; span_scale may be a tensor."""
    adapter = aha_triton.TritonAdapter()
    x = arrays()
    mask = np.ones((2, 9), dtype=bool)
    mask[1, 4:] = False
    t = {n: torch.from_numpy(a).to(adapter.device) for n, a in x.items()}
    t_mask = torch.from_numpy(mask).to(adapter.device)
    s = torch.tensor([0.25, 1.0], dtype=torch.float32)
    out = aha_triton.local_attention(t["q"], t["k"], t["v"], s, t["rel_bias"], CONFIG, t_mask)
    assert out.dtype == torch.float32 and out.device.type == adapter.device
    np.testing.assert_array_equal(
        out.cpu().numpy(),
        adapter.local_attention(
            x["q"], x["k"], x["v"], np.array([0.25, 1.0]), x["rel_bias"], CONFIG, mask
        ),
    )
    out = aha_triton.global_attention(t["q"], t["k"], t["v"], t["rel_bias"], CONFIG, t_mask)
    np.testing.assert_array_equal(
        out.cpu().numpy(),
        adapter.global_attention(x["q"], x["k"], x["v"], x["rel_bias"], CONFIG, mask),
    )
    with pytest.raises(DTypeError, match="rel_bias"):
        aha_triton.local_attention(t["q"], t["k"], t["v"], s, t["rel_bias"].double(), CONFIG)
    with pytest.raises(ShapeError, match="key_padding_mask"):
        aha_triton.local_attention(t["q"], t["k"], t["v"], s, t["rel_bias"], CONFIG, t_mask[:, :4])


def test_envelope_is_declared_and_well_formed() -> None:
    """Head dims 1 .. 256 (masked power-of-two tiles); under the interpreter, T ≤ 1100."""
    from aha.conformance import envelope

    adapter = load_adapter("triton")
    env = envelope.of(adapter)
    assert env["head_dims"] == list(range(1, 257))
    assert env["max_seq_len"] == (1100 if adapter.device == "cpu" else None)
    assert env["max_reach"] is None

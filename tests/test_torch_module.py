"""AdaptiveHybridAttention (torch.nn.Module) and the torch adapters against the reference:
the state_dict, the layer in every dtype, training, the span's gradient, errors, and the
harness adapters (torch, torch-flex, torch-sdpa)."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
import torch

from aha import reference as ref
from aha.adapters.torch import (
    AdaptiveHybridAttention,
    SDPAAdapter,
    TorchAdapter,
    TorchFlexAdapter,
    vjp,
)
from aha.adapters.torch._convert import to_numpy, to_torch
from aha.conformance.protocol import load_adapter
from aha.conformance.tolerance import compare
from aha.reference import AHAConfig

DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
}
COMPILES = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")
# D = H·Dh with H, Dh, T, B and R as in test_torch_attention.py: the flex kernels are shared.
B, T, D, H, R = 3, 37, 16, 2, 10
CONFIG = AHAConfig(window=12, max_rel_dist=R, temp_scale=0.75, score_scale="linear", causal=True)


def layer_case(seed: int = 0) -> dict[str, Any]:
    """Small grid-valued params and x (exact in every dtype); element 1 padded after 20,
    element 2 before 4."""
    rng = np.random.default_rng(seed)
    params = {
        k: rng.integers(-8, 9, shape) / 32 for k, shape in ref.param_shapes(D, H, CONFIG).items()
    }
    mask = np.ones((B, T), dtype=bool)
    mask[1, 20:] = False
    mask[2, :4] = False
    x = rng.integers(-64, 65, (B, T, D)) / 32
    # PREC-5: shift span.bias (by a multiple of 1/32, exact in every dtype) so that W·s lands
    # half-way between integers and every implementation's plan agrees.
    _, s = ref.hybrid_layer(x, params, CONFIG, mask)
    target = (np.floor(CONFIG.window * s.mean()) + 0.5) / CONFIG.window
    shift = np.log(target / (1 - target)) - np.log(s / (1 - s)).mean()
    params["span.bias"] = params["span.bias"] + np.round(shift * 32) / 32
    return {"x": x, "params": params, "mask": mask}


def test_state_dict_has_the_reference_names_and_round_trips() -> None:
    params = ref.init_params(D, H, CONFIG, seed=3)
    module = AdaptiveHybridAttention(D, H, CONFIG).double()
    shapes = {k: tuple(t.shape) for k, t in module.state_dict().items()}
    assert shapes == ref.param_shapes(D, H, CONFIG)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    back = {k: t.numpy() for k, t in module.state_dict().items()}
    assert all(np.array_equal(back[k], params[k]) for k in params)
    # The default initialisation is the reference's for the given seed, in float32.
    fresh = AdaptiveHybridAttention(D, H, CONFIG, seed=3).state_dict()
    assert all(np.array_equal(fresh[k].numpy(), params[k].astype(np.float32)) for k in params)


@pytest.mark.clause(
    "LAYER-1",
    "LAYER-2",
    "LAYER-3",
    "LAYER-4",
    "LAYER-5",
    "LAYER-6",
    "LAYER-7",
    "MASK-2",
    "PREC-3",
    "PREC-4",
)
@pytest.mark.parametrize("given_span", [False, True])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_layer_matches_reference(dtype: str, given_span: bool) -> None:
    case = layer_case()
    span = np.array([0.3, 0.77, 1.0]) if given_span else None
    y, s = TorchAdapter("cpu").hybrid_layer(
        case["x"].astype(DTYPES[dtype]),
        {k: a.astype(DTYPES[dtype]) for k, a in case["params"].items()},
        CONFIG,
        case["mask"],
        span,
    )
    assert_layer_conforms(case, span, dtype, y, s)


@pytest.mark.slow
@COMPILES
def test_flex_layer_matches_reference() -> None:
    case = layer_case()
    f32 = {k: a.astype(np.float32) for k, a in case["params"].items()}
    y, s = TorchFlexAdapter("cpu").hybrid_layer(
        case["x"].astype(np.float32), f32, CONFIG, case["mask"]
    )
    assert_layer_conforms(case, None, "float32", y, s)


def assert_layer_conforms(
    case: dict[str, Any], span: Any, dtype: str, y: np.ndarray, s: np.ndarray
) -> None:
    d = DTYPES[dtype]
    y_oracle, s_oracle = ref.hybrid_layer(case["x"], case["params"], CONFIG, case["mask"], span)
    y_base, s_base = ref.hybrid_layer(
        case["x"].astype(d),
        {k: a.astype(d) for k, a in case["params"].items()},
        CONFIG,
        case["mask"],
        span,
        dtype=d,
    )
    assert y.dtype == d and s.dtype == np.float64  # PREC-4
    for name, got, oracle, base in (("y", y, y_oracle, y_base), ("s", s, s_oracle, s_base)):
        result = compare(name, got, oracle, dtype, compare("b", base, oracle, dtype).err)
        assert result.ok, f"{name}: err {result.err:.3g} > bound {result.bound:.3g}"
    if span is None:  # PREC-5: the predicted W·s stays 0.2 away from the floor's edges.
        margin = np.abs(CONFIG.window * s_oracle - np.round(CONFIG.window * s_oracle))
        assert margin.min() > 0.2


def train(temp_scale: float, steps: int) -> tuple[list[float], torch.Tensor]:
    """A classifier over sequences, an AHA layer then mean pooling, trained with Adam on CPU
    (path "auto": dense, since FlexAttention has no CPU backward). Returns the losses and
    span.weight.grad after the last step."""
    torch.manual_seed(0)
    cfg = AHAConfig(window=8, max_rel_dist=8, temp_scale=temp_scale, min_temperature=0.05)
    layer = AdaptiveHybridAttention(D, H, cfg, seed=0)
    head = torch.nn.Linear(D, 2)
    x = torch.randn(8, 12, D)
    labels = (x[:, :, 0].mean(dim=1) > 0).long()
    optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        y, _ = layer(x)
        loss = torch.nn.functional.cross_entropy(head(y.mean(dim=1)), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    grad = layer.span.weight.grad
    assert grad is not None
    return losses, grad


@pytest.mark.clause("GRAD-1", "GRAD-2")
def test_module_trains_and_span_learns_through_the_temperature_only() -> None:
    losses, grad = train(temp_scale=0.5, steps=15)
    assert losses[-1] < 0.7 * losses[0]
    assert grad.abs().sum() > 0
    # With no temperature path, the predicted span gets no gradient at all (GRAD-1): the
    # window, reach and gain are piecewise constant in s.
    _, grad = train(temp_scale=0.0, steps=1)
    assert torch.all(grad == 0)


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-4", "ERR-5", "ERR-6", "ERR-8")
def test_module_rejects_bad_input_with_reference_errors() -> None:
    module = AdaptiveHybridAttention(D, H, CONFIG)
    x = torch.zeros(B, T, D)
    with pytest.raises(ref.ShapeError, match="D = d_model = 16"):
        module(torch.zeros(B, T, D + 1))
    with pytest.raises(ref.ShapeError, match="x must have rank 3"):
        module(torch.zeros(T, D))
    with pytest.raises(ref.DTypeError, match=r"params\['ln_local.weight'\] must have the dtype"):
        module(x.double())
    with pytest.raises(ref.DomainError, match=r"x must be finite, got nan at index \[1, 2, 3\]"):
        module(
            x.index_put((torch.tensor(1), torch.tensor(2), torch.tensor(3)), torch.tensor(np.nan))
        )
    with pytest.raises(ref.DomainError, match=r"span_scale\[2\] must lie in \[0, 1\], got -0.5"):
        module(x, span_scale=torch.tensor([0.5, 0.5, -0.5]))
    with pytest.raises(ref.DTypeError, match="key_padding_mask must have dtype bool"):
        module(x, torch.ones(B, T))
    with pytest.raises(ref.ShapeError, match="multiple of n_heads"):
        AdaptiveHybridAttention(10, 3, CONFIG)


@pytest.mark.clause("GRAD-4")
def test_flex_layer_vjp_declines_on_cpu_before_building_the_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A conformance run asks for hundreds of layer VJPs the flex path cannot run on CPU: each
    declines with the reason before the module (and its init_params) is built."""

    def built(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the layer was built for a VJP that declines")

    monkeypatch.setattr(vjp, "AdaptiveHybridAttention", built)
    case = layer_case()
    f32 = {k: a.astype(np.float32) for k, a in case["params"].items()}
    x = case["x"].astype(np.float32)
    d_y = np.ones_like(x)
    with pytest.raises(NotImplementedError, match="no backward on CPU"):
        TorchFlexAdapter("cpu").hybrid_layer_vjp(x, f32, CONFIG, case["mask"], d_y=d_y)


def test_builtin_names_load_as_adapters() -> None:
    for name, cls in (
        ("torch", TorchAdapter),
        ("torch-flex", TorchFlexAdapter),
        ("torch-sdpa", SDPAAdapter),
    ):
        adapter = load_adapter(name)
        assert isinstance(adapter, cls) and adapter.name == name
    assert "float64" not in TorchFlexAdapter.capabilities
    assert "plan" not in TorchAdapter.capabilities  # the plan is the reference's shared code


def test_adapter_passes_reference_errors_through() -> None:
    case = layer_case()
    with pytest.raises(ref.ParamsError, match=r"params is missing 'span\.bias'"):
        TorchAdapter("cpu").hybrid_layer(
            case["x"], {k: a for k, a in case["params"].items() if k != "span.bias"}, CONFIG
        )


def sdpa_case(span: np.ndarray) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(5)
    q, k, v = (rng.integers(-96, 97, (2, H, T, 8)) / 32 for _ in range(3))
    return q, k, v, span, rng.integers(-96, 97, (H, 2 * R - 1)) / 32


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sdpa_matches_reference_for_a_uniform_plan(dtype: str) -> None:
    d = DTYPES[dtype]
    q, k, v, span, table = sdpa_case(np.array([0.5, 0.5]))
    mask = np.ones((2, T), dtype=bool)
    mask[0, 10:] = False
    got = SDPAAdapter("cpu").local_attention(
        q.astype(d), k.astype(d), v.astype(d), span, table.astype(d), CONFIG, mask
    )
    oracle = ref.local_attention(q, k, v, span, table, CONFIG, mask)
    base = ref.local_attention(
        q.astype(d), k.astype(d), v.astype(d), span, table.astype(d), CONFIG, mask, dtype=d
    )
    assert compare("out", got, oracle, dtype, compare("b", base, oracle, dtype).err).ok


def test_sdpa_declines_a_batch_varying_plan() -> None:
    q, k, v, span, table = sdpa_case(np.array([0.5, 0.9]))
    with pytest.raises(NotImplementedError, match="the plan differs across the batch"):
        SDPAAdapter("cpu").local_attention(q, k, v, span, table, CONFIG)


def test_bfloat16_crosses_the_boundary_exactly() -> None:
    a = (np.arange(-8, 8) / 4).astype(ml_dtypes.bfloat16)
    t = to_torch(a)
    assert t.dtype == torch.bfloat16 and np.array_equal(to_numpy(t), a)

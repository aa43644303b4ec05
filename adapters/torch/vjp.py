"""Vector-Jacobian products of the torch adapters by autograd (GRAD-1 .. GRAD-5).

The forward is the adapter's own (dense or flex path), run with inputs that require grad; the
gradients are ``torch.autograd.grad`` of the outputs against the cotangents. Span scales cross
as float64 tensors, so s receives its gradient through τ's straight-through term (GRAD-2), and
the flex path on CPU, which has no backward, declines with that reason before any other work
(a conformance run asks it for hundreds of VJPs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from aha.reference import AHAConfig

from . import attention
from ._convert import to_numpy, to_torch
from .module import AdaptiveHybridAttention

BRANCH_INPUTS = ("q", "k", "v", "rel_bias")


def local_vjp(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    s: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    d_out: np.ndarray,
    *,
    device: torch.device,
    path: str,
) -> dict[str, np.ndarray]:
    """{"q", "k", "v", "rel_bias", "span_scale"} of <d_out, local_attention(...)> (GRAD-4)."""
    leaves = {n: _leaf(a, device) for n, a in zip(BRANCH_INPUTS, (q, k, v, rel_bias), strict=True)}
    _require_backward(leaves["q"], path)
    span = _leaf(s, device)  # float64, as s crosses (PREC-4)
    with torch.enable_grad():
        out = attention.local(
            leaves["q"],
            leaves["k"],
            leaves["v"],
            span,
            s,
            leaves["rel_bias"],
            config,
            _mask(mask, device),
            path,
        )
        grads = _grad([out], [_cotangent(d_out, out)], [*leaves.values(), span])
    found = dict(zip([*leaves, "span_scale"], grads, strict=True))
    found["span_scale"] = found["span_scale"].astype(np.float64)
    return found


def global_vjp(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    rel_bias: np.ndarray,
    config: AHAConfig,
    mask: np.ndarray | None,
    d_out: np.ndarray,
    *,
    device: torch.device,
    path: str,
) -> dict[str, np.ndarray]:
    """{"q", "k", "v", "rel_bias"} of <d_out, global_attention(...)> (GRAD-4)."""
    leaves = {n: _leaf(a, device) for n, a in zip(BRANCH_INPUTS, (q, k, v, rel_bias), strict=True)}
    _require_backward(leaves["q"], path)
    with torch.enable_grad():
        out = attention.global_(
            leaves["q"],
            leaves["k"],
            leaves["v"],
            leaves["rel_bias"],
            config,
            _mask(mask, device),
            path,
        )
        grads = _grad([out], [_cotangent(d_out, out)], list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


def layer_vjp(
    x: np.ndarray,
    params: dict[str, np.ndarray],
    config: AHAConfig,
    mask: np.ndarray | None,
    s: np.ndarray | None,
    heads: int,
    d_y: np.ndarray,
    d_s: np.ndarray | None,
    *,
    device: torch.device,
    path: str,
) -> dict[str, object]:
    """{"x", "params": {name: array}, "span_scale" when given} of <d_y, y> + <d_s, s> (GRAD-5)."""
    xt = _leaf(x, device)
    _require_backward(xt, path)
    module = AdaptiveHybridAttention(x.shape[-1], heads, config, path=path)
    # assign=True keeps each parameter in the dtype under test (PREC-4).
    module.load_state_dict({n: to_torch(a, device) for n, a in params.items()}, assign=True)
    span = None if s is None else _leaf(s, device)
    with torch.enable_grad():
        y, s_used = module(xt, _mask(mask, device), span)
        outputs, cotangents = [y], [_cotangent(d_y, y)]
        if d_s is not None:
            outputs.append(s_used)
            cotangents.append(torch.as_tensor(d_s, device=device).to(s_used.dtype))
        names = [n for n, _ in module.named_parameters()]
        inputs = [xt, *module.parameters(), *([] if span is None else [span])]
        grads = _grad(outputs, cotangents, inputs)
    found: dict[str, object] = {
        "x": grads[0],
        "params": dict(zip(names, grads[1 : 1 + len(names)], strict=True)),
    }
    if span is not None:
        found["span_scale"] = grads[-1].astype(np.float64)
    return found


def _require_backward(x: Tensor, path: str) -> None:
    """The flex path declines where it has no backward, as its forward would (attend)."""
    if path == "flex":
        with torch.enable_grad():
            attention.require_flex(x, attention.needs_grad(x))


def _leaf(a: np.ndarray, device: torch.device) -> Tensor:
    return to_torch(a, device).requires_grad_(True)


def _mask(mask: np.ndarray | None, device: torch.device) -> Tensor | None:
    return None if mask is None else to_torch(mask, device)


def _cotangent(d: np.ndarray, like: Tensor) -> Tensor:
    """The cotangent in the output's dtype, as the dtype under test (PREC-4)."""
    return to_torch(np.asarray(d), like.device).to(like.dtype)


def _grad(
    outputs: Sequence[Tensor], cotangents: Sequence[Tensor], inputs: list[Tensor]
) -> list[np.ndarray]:
    """autograd's gradients as NumPy arrays; an input the outputs do not reach gets zeros
    (a given span_scale with α = 0; span weights when s is given)."""
    grads = torch.autograd.grad(list(outputs), inputs, list(cotangents), allow_unused=True)
    pairs = zip(grads, inputs, strict=True)
    return [to_numpy(torch.zeros_like(t) if g is None else g) for g, t in pairs]

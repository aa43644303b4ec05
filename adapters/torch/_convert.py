"""NumPy ↔ torch without copies where possible; bfloat16 crosses as ml_dtypes.bfloat16."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import torch

_BF16 = np.dtype(ml_dtypes.bfloat16)


def to_torch(a: Any, device: str | torch.device = "cpu") -> torch.Tensor:
    arr = np.ascontiguousarray(a)
    if arr.dtype == _BF16:
        return torch.from_numpy(arr.view(np.uint16)).view(torch.bfloat16).to(device)
    return torch.from_numpy(arr).to(device)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.uint16).numpy().view(_BF16)
    return t.numpy()

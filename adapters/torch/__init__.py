"""aha.adapters.torch: AHA in PyTorch, as a module, as functions and as harness adapters.

- ``AdaptiveHybridAttention``: the layer as a ``torch.nn.Module`` (LAYER-1 .. LAYER-7);
- ``local_attention`` / ``global_attention``: the branches on tensors [B, H, T, Dh], by the
  ``dense`` or the ``flex`` path;
- ``TorchAdapter`` (dense), ``TorchFlexAdapter`` (flex) and ``SDPAAdapter`` (a peer wrapper of
  ``scaled_dot_product_attention``) for the conformance harness.
"""

from .adapters import TorchAdapter, TorchFlexAdapter
from .attention import PATHS, flex_unavailable, global_attention, local_attention
from .module import AdaptiveHybridAttention
from .sdpa import SDPAAdapter

__all__ = [
    "PATHS",
    "AdaptiveHybridAttention",
    "SDPAAdapter",
    "TorchAdapter",
    "TorchFlexAdapter",
    "flex_unavailable",
    "global_attention",
    "local_attention",
]

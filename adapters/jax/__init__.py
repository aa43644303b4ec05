"""aha.adapters.jax: AHA in JAX.

Pure functions (``local_attention``, ``global_attention``, ``hybrid_layer``) for JAX users, and
the adapters the conformance harness loads: ``jax`` (``JaxAdapter``) and the peer ``jax-dpa``
(``JaxDPAAdapter``, a thin wrapper of ``jax.nn.dot_product_attention``). See docs/adapters/jax.md.
"""

from .adapter import JaxAdapter
from .attention import DevicePlan, global_attention, host_plan, local_attention, masked_softmax
from .dpa import JaxDPAAdapter
from .layer import hybrid_layer

__all__ = [
    "DevicePlan",
    "JaxAdapter",
    "JaxDPAAdapter",
    "global_attention",
    "host_plan",
    "hybrid_layer",
    "local_attention",
    "masked_softmax",
]

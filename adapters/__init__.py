"""aha.adapters: implementations of AHA held to the conformance suite.

Each built-in name maps to ``module:factory``; modules are imported only when asked for, so a
missing framework only matters to the adapter that needs it.
"""

BUILTIN = {
    "numpy": "aha.adapters.reference:ReferenceAdapter",
    "torch": "aha.adapters.torch:TorchAdapter",
    "torch-flex": "aha.adapters.torch:TorchFlexAdapter",
    "torch-sdpa": "aha.adapters.torch:SDPAAdapter",
    "jax": "aha.adapters.jax:JaxAdapter",
    "jax-dpa": "aha.adapters.jax:JaxDPAAdapter",
    "triton": "aha.adapters.triton:TritonAdapter",
}

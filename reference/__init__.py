"""aha.reference: the NumPy reference of AdaptiveHybridAttention, the spec in code.

Read it beside spec/AHA.md; every function cites the clauses it implements.
"""

from .attention import global_attention, local_attention
from .config import AHAConfig
from .errors import AHAError, ConfigError, DomainError, DTypeError, ParamsError, ShapeError
from .gradients import global_attention_vjp, local_attention_vjp
from .layer import hybrid_layer
from .layer_vjp import hybrid_layer_vjp
from .params import init_params, param_shapes
from .plan import Plan, plan, temperature_slope

# The second evaluation order (spec/AHA.md ORDER-1): query blocks, no [T, T] array.
from .scalable import global_attention_blocked, local_attention_blocked
from .scalable_grad import global_attention_vjp_blocked, local_attention_vjp_blocked
from .scalable_layer import hybrid_layer_blocked

SPEC_VERSION = "1.1.0"

__all__ = [
    "SPEC_VERSION",
    "AHAConfig",
    "AHAError",
    "ConfigError",
    "DTypeError",
    "DomainError",
    "ParamsError",
    "Plan",
    "ShapeError",
    "global_attention",
    "global_attention_blocked",
    "global_attention_vjp",
    "global_attention_vjp_blocked",
    "hybrid_layer",
    "hybrid_layer_blocked",
    "hybrid_layer_vjp",
    "init_params",
    "local_attention",
    "local_attention_blocked",
    "local_attention_vjp",
    "local_attention_vjp_blocked",
    "param_shapes",
    "plan",
    "temperature_slope",
]

"""aha.adapters.triton: AHA's local and global branches as one Triton kernel.

Import with TRITON_INTERPRET=1 set beforehand to run the kernel on the CPU (no GPU needed);
docs/adapters/triton.md describes the design.
"""

from .adapter import TritonAdapter
from .attention import global_attention, local_attention

__all__ = ["TritonAdapter", "global_attention", "local_attention"]

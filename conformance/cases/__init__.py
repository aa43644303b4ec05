"""The catalog of golden cases: what each vector pins and which bug classes it targets.

Each case is a keyword record declared by its inputs' recipe, in the module of its spec
section; ``aha vectors generate`` evaluates the reference on it (conformance/generate.py).
A new section is a module with ``cases() -> Iterator[Case]`` added to ``SECTIONS``.
"""

from __future__ import annotations

from ..corpus import Case
from . import errors, global_, kernel, kernel_vjp, layer, local, plan, vjp
from .flags import FLAGS

SECTIONS = (plan, local, global_, layer, vjp, errors, kernel, kernel_vjp)  # manifest order


def catalog() -> list[Case]:
    """Every golden case, in manifest order."""
    return [case for section in SECTIONS for case in section.cases()]


__all__ = ["FLAGS", "SECTIONS", "catalog"]

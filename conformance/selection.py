"""Which checks a run holds, and which of them apply to the implementation
(spec/conformance.md section 2).

A check is one golden vector in one dtype, one property in one dtype, or the input-integrity
check of one operation (PREC-6). Every requested dtype gets its checks, n/a with the reason
where the implementation does not claim it, so a report always shows what was not covered.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import envelope, kernel
from .corpus import Case, Corpus
from .grad_properties import GRAD_PROPERTIES
from .isolation import ISOLATIONS
from .operations import OPERATIONS
from .properties import PROPERTIES, Property
from .protocol import CAPABILITIES, DTYPES

VECTOR, PROPERTY, INTEGRITY = "vector", "property", "integrity"


@dataclass(frozen=True)
class Settings:
    """Everything that decides a run; the command line and the pytest plugin read these
    defaults (the one place they are written)."""

    adapter: str  # how the adapter was named on the command line (for repro commands)
    dtypes: tuple[str, ...] | None = None  # None: every dtype the adapter claims
    max_examples: int = 15  # per property and dtype
    seed: int = 0
    case: str | None = None  # a case id, property name, or glob of either
    vectors: Path | None = None  # None: the corpus shipped with the package
    # Seconds per call: the slowest default-tier case on a loaded CPU, with margin; a hanging
    # implementation costs at most 3 of them (execution.STRIKES), the first at most
    # first_call_limit.
    time_limit: float = 15.0
    # Seconds for the first call of each (operation, dtype), where a JIT-compiled
    # implementation (torch.compile, Triton, XLA) compiles: the first FlexAttention CPU kernel
    # of a process takes 15 to 25 s on 2 cores, more under load. Never less than time_limit
    # (first_call_seconds); no call gets it once one has run past its deadline.
    first_call_limit: float = 60.0
    shrink_time: float = 3.0  # seconds spent shrinking a property's counterexample
    failures_dir: Path = Path("aha-failures")
    properties: bool = True
    isolation: str = "process"  # "process": a worker process; "none": in the harness
    require: frozenset[str] = field(default_factory=frozenset)  # capabilities that must be claimed
    tier: str = "default"  # "kernel" adds the long kernel-tier cases (H2b, kernel.py)
    shrink: bool = True  # shrink a failing property's counterexample (off when judging files)

    def __post_init__(self) -> None:
        """Values are checked before a run starts, each error naming its setting."""
        if self.max_examples < 1:
            raise ValueError(f"max_examples must be at least 1, got {self.max_examples}")
        for name in ("time_limit", "first_call_limit", "shrink_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {value}")
        if self.dtypes is not None:
            unknown = [d for d in self.dtypes if d not in DTYPES]
            if unknown:
                raise ValueError(f"unknown dtype {unknown[0]!r}; choose from {', '.join(DTYPES)}")
            if len(set(self.dtypes)) != len(self.dtypes):
                raise ValueError(f"dtypes must not repeat, got {', '.join(self.dtypes)}")
            if not self.dtypes:
                raise ValueError("dtypes must name at least one dtype")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        unknown = sorted(set(self.require) - CAPABILITIES)
        if unknown:
            raise ValueError(
                f"require names unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}"
            )

    @property
    def first_call_seconds(self) -> float:
        """The deadline of a first call: the allowance, never less than the per-call limit
        (a kernel-tier run raises time_limit past the default allowance)."""
        return max(self.first_call_limit, self.time_limit)


@dataclass(frozen=True)
class Check:
    id: str
    source: str  # VECTOR, PROPERTY or INTEGRITY
    kind: str  # the operation it calls
    dtype: str | None
    clauses: tuple[str, ...]
    flags: tuple[str, ...]
    requires: frozenset[str]
    case: Case | None = None
    prop: Property | None = None
    never: str | None = None  # why it applies to no adapter, when that is so

    def not_applicable(self, adapter: Any) -> str | None:
        """Why this check does not apply to ``adapter``, or None when it does."""
        if self.never:
            return self.never
        missing = sorted(self.requires - set(adapter.capabilities))
        if missing:
            return f"the adapter does not claim {', '.join(missing)}"
        return envelope.outside(adapter, self.case) if self.case else None  # H2b


def requested_dtypes(adapter: Any, settings: Settings) -> tuple[str, ...]:
    """The dtypes of the run: those asked for, else those claimed (else all, each n/a)."""
    claimed = tuple(d for d in DTYPES if d in adapter.capabilities)
    return settings.dtypes or claimed or DTYPES


def plan_checks(adapter: Any, loaded: Corpus, settings: Settings) -> list[Check]:
    """Every check of a run, applicable or not, in a stable order; integrity checks last."""
    dtypes = requested_dtypes(adapter, settings)
    checks: list[Check] = []
    for case in loaded.cases:
        if kernel.in_tier(case, settings.tier):  # H2b: kernel-tier cases with --tier kernel
            checks.extend(_vector_checks(case, dtypes))
    if settings.properties:
        checks.extend(_property_checks(dtypes))
    if settings.case:
        checks = [c for c in checks if _selected(c, str(settings.case))]
    kinds = {c.kind for c in checks if c.kind in OPERATIONS}
    checks.extend(integrity_checks(kinds))
    return checks


def integrity_checks(kinds: set[str]) -> Iterator[Check]:
    """One check per operation the run calls: no call changed an input (PREC-6)."""
    for op in OPERATIONS.values():
        if op.name in kinds and op.arrays:  # an operation given arrays could change them
            yield Check(
                id=f"inputs-unchanged/{op.name}",
                source=INTEGRITY,
                kind=op.name,
                dtype=None,
                clauses=("PREC-6",),
                flags=(),
                requires=frozenset({op.capability, *op.requires}),
            )


def _property_checks(dtypes: tuple[str, ...]) -> Iterator[Check]:
    for prop in (*PROPERTIES, *GRAD_PROPERTIES):
        op = OPERATIONS[prop.kind]
        # An operation with no dtype under test (the plan, PREC-4) runs its property once.
        for dtype in ("float64",) if op.dtype_free else dtypes:
            if prop.dtypes is not None and dtype not in prop.dtypes:
                continue  # e.g. finite differences run in float64 only (H3a)
            requires = {*prop.requires, op.capability, *op.requires}
            if not op.dtype_free:
                requires.add(dtype)
            yield Check(
                id=f"property/{prop.name}@{dtype}",
                source=PROPERTY,
                kind=prop.kind,
                dtype=dtype,
                clauses=prop.clauses,
                flags=(),
                requires=frozenset(requires),
                prop=prop,
            )


def _selected(check: Check, pattern: str) -> bool:
    names = [check.id, check.id.split("@")[0]]
    if check.case:
        names.append(check.case.id)
    if check.prop:
        names += [check.prop.name, f"property/{check.prop.name}"]
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)


def _vector_checks(case: Case, dtypes: tuple[str, ...]) -> Iterator[Check]:
    """One check per selected dtype for valid cases; one for the plan (it has no dtype,
    PREC-4) and for each invalid case, which runs in the first selected dtype it is
    defined in."""
    features = {"key_padding"} if "key_padding_mask" in case.inputs else set()
    if case.config.get("causal") is True:
        features.add("causal")
    op = OPERATIONS.get(case.kind)
    needs = {op.capability, *op.requires} if op else {case.kind}

    def check(check_id: str, dtype: str | None, never: str | None = None) -> Check:
        requires = {*needs, *features} | ({dtype} if dtype else set())
        return Check(
            id=check_id,
            source=VECTOR,
            kind=case.kind,
            dtype=dtype,
            clauses=case.clauses,
            flags=case.flags,
            requires=frozenset(requires),
            case=case,
            never=never,
        )

    if op is None:  # no adapter method takes this case
        yield check(case.id, None, f"no operation calls a {case.kind!r} case")
    elif case.kind == "config":  # the implementation's make_config must reject it (ERR-3, H4)
        yield check(case.id, None)
    elif op.dtype_free:
        yield check(case.id, None)  # no dtype under test (PREC-4): the plan, make_config
    elif case.error:
        usable = [d for d in dtypes if d in case.dtypes]
        yield check(
            case.id,
            usable[0] if usable else None,
            None if usable else f"the case is defined only in {', '.join(case.dtypes)}",
        )
    else:
        for dtype in dtypes:
            never = None if dtype in case.dtypes else f"the case is not defined in {dtype}"
            yield check(f"{case.id}@{dtype}", dtype, never)


def parse_dtypes(text: str | None) -> tuple[str, ...] | None:
    """'float32,float16' → ('float32', 'float16'); None or '' → None (the claimed dtypes).
    Unknown and repeated names are a ValueError naming them."""
    if not text:
        return None
    chosen = tuple(d.strip() for d in text.split(",") if d.strip())
    unknown = [d for d in chosen if d not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype {unknown[0]!r}; choose from {', '.join(DTYPES)}")
    repeated = sorted({d for d in chosen if chosen.count(d) > 1})
    if repeated:
        raise ValueError(f"dtype {repeated[0]!r} is named twice")
    return chosen or None


def parse_capabilities(text: str | None) -> frozenset[str]:
    """'layer,float16' → frozenset; unknown names are a ValueError naming them."""
    chosen = frozenset(c.strip() for c in (text or "").split(",") if c.strip())
    unknown = sorted(chosen - CAPABILITIES)
    if unknown:
        raise ValueError(
            f"unknown capability {unknown[0]!r}; choose from {', '.join(sorted(CAPABILITIES))}"
        )
    return chosen

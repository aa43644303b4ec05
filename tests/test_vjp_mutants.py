"""Every planted gradient bug is rejected by a vjp vector of its flag, and the unbugged
deviant passes them all (GRAD-1 .. GRAD-6)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from aha.conformance import calls, generate, oracle
from aha.conformance.cases import vjp as vjp_cases
from aha.conformance.corpus import Case
from aha.conformance.grad_mutants import GRADIENT_BUGS, GradientBug, GradientDeviant


@cache
def vectors() -> tuple[Case, ...]:
    """The vjp golden cases, built by the reference as `aha vectors generate` builds them."""
    return tuple(generate.build(case) for case in vjp_cases.cases())


def rejects(adapter: Any, case: Case, dtype: str) -> str | None:
    """The failure message of ``case`` in ``dtype``, or None when the adapter passes it."""
    try:
        got = calls.call_adapter(
            adapter, case.kind, case.aha_config(), oracle.cast(case.inputs, dtype)
        )
        calls.expect(case.kind, got, case.expected, dtype, case.baseline_error[dtype])
    except calls.CheckFailed as exc:
        return str(exc)
    return None


@pytest.mark.clause("GRAD-2", "GRAD-3", "GRAD-5", "GRAD-6")
@pytest.mark.parametrize("bug", GRADIENT_BUGS, ids=lambda b: b.name)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_gradient_bug_is_rejected_by_a_vector_of_its_flag(
    bug: GradientBug, dtype: str
) -> None:
    flagged = [case for case in vectors() if bug.name in case.flags]
    assert flagged, f"no vjp vector carries the flag {bug.name}"
    adapter = bug.adapter()
    failures = {case.id: rejects(adapter, case, dtype) for case in flagged}
    assert any(failures.values()), f"{bug.name} passes every vector of its flag: {failures}"


@pytest.mark.clause("GRAD-4", "GRAD-6")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_deviant_without_a_bug_passes_every_vjp_vector(dtype: str) -> None:
    """The control: the mutants' machinery itself is correct, so a rejection is the bug's."""
    adapter = GradientDeviant(GradientBug("none", "no bug", ()))
    failures = {case.id: rejects(adapter, case, dtype) for case in vectors()}
    assert not any(failures.values()), failures

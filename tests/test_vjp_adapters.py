"""The torch and jax adapters' VJPs pass every vjp vector (GRAD-4 .. GRAD-6); the flex path
declines a backward on CPU with its reason."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

from aha.conformance import calls, generate, oracle
from aha.conformance.cases import vjp as vjp_cases
from aha.conformance.corpus import Case

DTYPES = ["float64", "float32"]  # 16-bit: aha conform runs them; here they only cost time


@cache
def vectors() -> tuple[Case, ...]:
    return tuple(generate.build(case) for case in vjp_cases.cases())


@cache
def adapter(name: str) -> Any:
    if name == "torch":
        from aha.adapters.torch import TorchAdapter

        return TorchAdapter("cpu")
    from aha.adapters.jax.adapter import JaxAdapter

    return JaxAdapter()


@pytest.mark.clause("GRAD-4", "GRAD-5", "GRAD-6", "PREC-4")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["torch", "jax"])
def test_adapter_vjps_pass_every_vjp_vector(name: str, dtype: str) -> None:
    pytest.importorskip(name)
    impl = adapter(name)
    for case in vectors():
        got = calls.call_adapter(
            impl, case.kind, case.aha_config(), oracle.cast(case.inputs, dtype)
        )
        comparisons = calls.expect(case.kind, got, case.expected, dtype, case.baseline_error[dtype])
        assert {c.name for c in comparisons} == set(case.expected), case.id


@pytest.mark.clause("GRAD-4")
def test_flex_declines_a_backward_on_cpu() -> None:
    pytest.importorskip("torch")
    from aha.adapters.torch import TorchFlexAdapter

    case = next(c for c in vectors() if c.kind == "local_vjp")
    flex = TorchFlexAdapter("cpu")
    assert "vjp" in flex.capabilities
    with pytest.raises(NotImplementedError, match="no backward on CPU"):
        calls.call_adapter(flex, case.kind, case.aha_config(), oracle.cast(case.inputs, "float32"))


@pytest.mark.clause("GRAD-4", "ERR-4")
def test_adapter_vjp_checks_its_cotangent() -> None:
    pytest.importorskip("torch")
    from aha.reference import ShapeError

    case = next(c for c in vectors() if c.kind == "global_vjp")
    bad = {**case.inputs, "d_out": np.zeros((1, 1, 1, 1))}
    with pytest.raises(ShapeError, match=r"^d_out"):
        calls.call_adapter(adapter("torch"), case.kind, case.aha_config(), bad)

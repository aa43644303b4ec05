"""An implementation that claims training use but not vjp is not covered for gradients, and
every report has a GRAD family (GRAD-4)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aha.conformance.corpus import load
from aha.conformance.execution import PASS, Result
from aha.conformance.protocol import CAPABILITIES
from aha.conformance.report import by_family, verdict
from aha.conformance.selection import Settings, plan_checks

FORWARD = frozenset({"local", "global", "layer", "causal", "key_padding", "float64"})


def passing(kind: str) -> Result:
    return Result(f"vector/{kind}", "vector", kind, "float64", PASS, ("LOCAL-1",), ())


@pytest.mark.clause("GRAD-4")
def test_train_without_vjp_is_named_as_not_covered() -> None:
    assert "train" in CAPABILITIES
    adapter = SimpleNamespace(name="fake", capabilities=FORWARD | {"train"})
    judged = verdict(adapter, Settings(adapter="fake"), [passing("local")])
    assert any("train" in item and "vjp" in item for item in judged.not_covered)
    assert judged.text == "conforms partially"
    with_vjp = SimpleNamespace(name="fake", capabilities=FORWARD | {"train", "vjp"})
    judged = verdict(with_vjp, Settings(adapter="fake"), [passing("local")])
    assert not any("train" in item for item in judged.not_covered)


@pytest.mark.clause("GRAD-4")
def test_every_run_has_vjp_checks_in_the_grad_family() -> None:
    """A forward-only adapter's run still lists the vjp checks (n/a), so GRAD shows."""
    adapter = SimpleNamespace(name="fake", capabilities=FORWARD)
    checks = plan_checks(adapter, load(None), Settings(adapter="fake"))
    vjp = [c for c in checks if c.kind.endswith("_vjp")]
    assert vjp and all("vjp" in c.requires for c in vjp)
    results = [Result(c.id, c.source, c.kind, c.dtype, "n/a", c.clauses, c.flags) for c in checks]
    assert "GRAD" in by_family(results)

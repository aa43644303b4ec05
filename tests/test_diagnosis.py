"""Diagnosis (issue 15): a failing check names the known deviation that reproduces it, the
reference is never diagnosed, and an implementation the project has never seen that deviates
like a zoo deviation gets that deviation named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance import corpus, diagnosis, mutants
from aha.conformance.corpus import Case
from aha.conformance.operations import operation
from aha.conformance.oracle import cast
from aha.conformance.runner import FAIL, plan_checks, run_check
from aha.conformance.zoo import in_process
from aha.reference import AHAConfig, plan

# Deviations in the outputs (PREC-6, an input changed in place, is its integrity check's own).
NUMERIC = sorted(
    n for n, d in mutants.DEVIATIONS.items() if d.knobs is not None and "PREC-6" not in d.clauses
)
ERRORS = sorted(n for n, d in mutants.DEVIATIONS.items() if d.wrapper is not None)


def valid_cases() -> list[Case]:
    """The valid cases of the default run (the long kernel tier is never diagnosed: its inputs
    exceed diagnosis.MAX_ELEMENTS, and a dense replay of T = 16384 would not fit in memory)."""
    return [
        c for c in corpus.load().cases if not c.error and c.kind != "config" and c.tier == "default"
    ]


def failing(adapter: Any, dtype: str = "float64", limit: int = 2) -> list[tuple[Case, dict]]:
    """The first vectors ``adapter`` fails in the conformance run, with its outputs there."""
    settings = in_process(adapter="test", dtypes=(dtype,), properties=False)
    found = []
    for check in plan_checks(adapter, corpus.load(), settings):
        case = check.case
        if case is None or case.error or case.kind == "config":
            continue
        if run_check(check, adapter, settings).status == FAIL:
            x = cast(case.inputs, dtype)
            found.append((case, operation(case.kind).call(adapter, case.aha_config(), x)))
        if len(found) == limit:
            break
    return found


@pytest.mark.clause("LOCAL-1", "PLAN-2", "LAYER-2", "PREC-4")
@pytest.mark.parametrize("name", NUMERIC)
def test_each_zoo_mutant_is_diagnosed_as_itself(name: str) -> None:
    dtype = "float32" if name == "output-not-cast" else "float64"
    cases = failing(mutants.mutant(name), dtype)
    assert cases, f"no vector tells {name} from the reference"
    for case, got in cases:
        x = cast(case.inputs, dtype)
        found = diagnosis.diagnose(case.kind, case.aha_config(), x, got, dtype)
        assert name in [d.name for d in found], (case.id, [d.name for d in found])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_the_reference_is_never_diagnosed(dtype: str) -> None:
    for case in valid_cases():
        if dtype not in case.dtypes:
            continue
        x = cast(case.inputs, dtype)
        got = operation(case.kind).call(ReferenceAdapter(), case.aha_config(), x)
        assert diagnosis.diagnose(case.kind, case.aha_config(), x, got, dtype) == [], case.id


class EdgeIncluded(ReferenceAdapter):
    """Written here, not in the zoo: a loop-per-query local branch whose window test is
    |i − j| <= reach, the mistake LOCAL-1 rules out."""

    name = "edge-included"
    capabilities = frozenset({"local", "float64"})

    def local(self, q: Any, k: Any, v: Any, s: Any, rel_bias: Any, config: Any, mask: Any) -> Any:
        B, _, T, Dh = q.shape
        p, R = plan(s, T, config), config.max_rel_dist
        out = np.zeros_like(q)
        for b in range(B):
            for i in range(T):
                keys = [
                    j
                    for j in range(T)
                    if abs(i - j) <= p.reach[b]
                    and (j <= i or not config.causal)
                    and (mask is None or mask[b, j])
                ]
                if not keys:
                    continue
                distance = np.clip(i - np.array(keys), 1 - R, R - 1) + R - 1
                z = (
                    p.gain[b]
                    * config.softmax_scale(Dh)
                    * np.einsum("hd,hkd->hk", q[b, :, i], k[b][:, keys])
                )
                z = (z + rel_bias[:, distance]) / p.temperature[b]
                w = np.exp(z - z.max(axis=-1, keepdims=True))
                out[b, :, i] = np.einsum("hk,hkd->hd", w / w.sum(-1, keepdims=True), v[b][:, keys])
        return out


class Mirrored(ReferenceAdapter):
    """Written here: a global branch by einsum whose bias index is j − i (LOCAL-2, GLOBAL-2)."""

    name = "mirrored"
    capabilities = frozenset({"global", "float64"})

    def global_(self, q: Any, k: Any, v: Any, rel_bias: Any, config: AHAConfig, mask: Any) -> Any:
        T, R = q.shape[2], config.max_rel_dist
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        bias = rel_bias[:, np.clip(j - i, 1 - R, R - 1) + R - 1]
        z = np.einsum("bhid,bhjd->bhij", q, k) * config.softmax_scale(q.shape[-1]) + bias
        visible = np.ones((1, 1, T, T), bool) if mask is None else mask[:, None, None, :]
        if config.causal:
            visible = visible & (j <= i)
        z = np.where(visible, z, -np.inf)
        peak = np.max(z, axis=-1, keepdims=True)
        w = np.exp(z - np.where(np.isfinite(peak), peak, 0))
        total = w.sum(-1, keepdims=True)
        return np.einsum("bhij,bhjd->bhid", np.divide(w, total, where=total > 0, out=0 * w), v)


class Halved(ReferenceAdapter):
    """A bug no deviation knows: every output halved."""

    name = "halved"
    capabilities = frozenset({"global", "float64"})

    def global_(self, *args: Any) -> Any:
        return super().global_(*args) / 2


@pytest.mark.clause("LOCAL-1", "LOCAL-2", "GLOBAL-2")
@pytest.mark.parametrize(
    ("adapter", "deviation"),
    [(EdgeIncluded(), "window-off-by-one"), (Mirrored(), "bias-sign-flipped")],
)
def test_an_unseen_implementation_gets_its_deviation_named(adapter: Any, deviation: str) -> None:
    cases = failing(adapter)
    assert cases
    for case, got in cases:
        x = cast(case.inputs, "float64")
        found = diagnosis.diagnose(case.kind, case.aha_config(), x, got, "float64")
        assert deviation in [d.name for d in found], case.id
        assert deviation in diagnosis.summary(found)


def test_a_bug_no_deviation_knows_is_said_so() -> None:
    (case, got), *_ = failing(Halved())
    x = cast(case.inputs, "float64")
    found = diagnosis.diagnose(case.kind, case.aha_config(), x, got, "float64")
    assert found == [] and diagnosis.summary(found) == diagnosis.NOTHING


@pytest.mark.clause("ERR-1", "ERR-2")
@pytest.mark.parametrize("name", ERRORS)
def test_each_error_handling_bug_is_diagnosed_as_itself(name: str) -> None:
    failed = [r for r in run_vectors(mutants.mutant(name)) if r.status == FAIL]
    assert failed
    for r in failed:
        assert name in [d["name"] for d in r.diagnosis or []], r.check


def run_vectors(adapter: Any, dtype: str = "float64") -> list[Any]:
    settings = in_process(adapter="test", dtypes=(dtype,), properties=False)
    return [run_check(c, adapter, settings) for c in plan_checks(adapter, corpus.load(), settings)]


@pytest.mark.clause("LOCAL-1", "ERR-2")
def test_the_runner_records_the_diagnosis_of_each_failure() -> None:
    # Kernel-tier cases keep sampled rows only: they are not replayed (diagnosis None).
    failed = [
        r for r in run_vectors(EdgeIncluded()) if r.status == FAIL and "kernel/" not in r.check
    ]
    assert len(failed) > 10 and all(
        "window-off-by-one" in [d["name"] for d in r.diagnosis or []] for r in failed
    )
    unnamed = [r for r in run_vectors(mutants.mutant("message-unnamed")) if r.status == FAIL]
    assert unnamed and all(
        "message-unnamed" in [d["name"] for d in r.diagnosis or []] for r in unnamed
    )


def test_the_runner_never_diagnoses_the_reference() -> None:
    results = run_vectors(ReferenceAdapter(), "float32")
    assert all(r.status != FAIL and r.diagnosis is None for r in results)


TILED = [
    d for d in diagnosis.candidates() if d.name.startswith("tiled:") and d.name.endswith("@16")
]


@pytest.mark.clause("LOCAL-1", "LOCAL-4")
@pytest.mark.parametrize("deviation", TILED, ids=lambda d: d.name)
def test_each_tiled_kernel_bug_the_vectors_catch_is_diagnosed_as_itself(deviation: Any) -> None:
    failed = [
        r for r in run_vectors(deviation.adapter()) if r.status == FAIL and "kernel/" not in r.check
    ]
    for r in failed:
        assert deviation.name in [d["name"] for d in r.diagnosis or []], r.check


@pytest.mark.clause("PREC-6")
def test_replaying_deviations_leaves_the_inputs_unchanged() -> None:
    """q-scaled-in-place writes into its q: each replay gets its own copy of the inputs."""
    (case, got), *_ = failing(EdgeIncluded())
    x = cast(case.inputs, "float64")
    before = {k: np.array(v) for k, v in x.items()}
    assert diagnosis.diagnose(case.kind, case.aha_config(), x, got, "float64")
    assert all(np.array_equal(before[k], x[k]) for k in before)


GRADIENT = [d for d in diagnosis.candidates() if d.name.startswith("grad-")]


@pytest.mark.clause("GRAD-2", "GRAD-3")
@pytest.mark.parametrize("deviation", GRADIENT, ids=lambda d: d.name)
def test_each_gradient_bug_is_diagnosed_as_itself(deviation: Any) -> None:
    failed = [r for r in run_vectors(deviation.adapter()) if r.status == FAIL]
    stored = [r for r in failed if "kernel/" not in r.check]
    assert stored
    for r in stored:
        assert deviation.name in [d["name"] for d in r.diagnosis or []], r.check
    # Kernel-tier cases keep sampled rows only: they are not replayed (diagnosis None).
    assert all(r.diagnosis is None for r in failed if "kernel/" in r.check)

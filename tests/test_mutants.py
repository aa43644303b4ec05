"""Every planted bug (one per flag of the corpus) is rejected by a vector carrying its flag,
and the reference itself passes every vector: the suite can fail, and fails for the right
reason."""

import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance import corpus, mutants
from aha.conformance.cases import FLAGS
from aha.conformance.deviant import DeviantAdapter, Knobs
from aha.conformance.runner import FAIL, PASS, plan_checks, run_check
from aha.conformance.zoo import in_process


def golden_results(adapter: object, dtypes: tuple[str, ...] = ("float64",)) -> list:
    loaded = corpus.load()
    settings = in_process(adapter="test", dtypes=dtypes, properties=False)
    return [run_check(c, adapter, settings) for c in plan_checks(adapter, loaded, settings)]


# The gradient flags (grad-*) are the gradient family's: tests/test_vjp_mutants.py.
OURS = sorted(f for f in FLAGS if f in mutants.DEVIATIONS)


@pytest.mark.parametrize("flag", OURS)
def test_each_planted_bug_is_rejected_by_a_case_of_its_flag(flag: str) -> None:
    results = golden_results(mutants.mutant(flag))
    caught = [r.check for r in results if r.status == FAIL and flag in r.flags]
    assert caught, f"no vector flagged {flag!r} rejects the mutant"


def test_the_reference_passes_every_vector_in_every_dtype() -> None:
    results = golden_results(ReferenceAdapter(), ("float64", "float32", "float16", "bfloat16"))
    assert {r.status for r in results} <= {PASS, "n/a"}
    assert sum(r.status == PASS for r in results) > 200


def test_mutants_are_selectable_by_module_attribute() -> None:
    made = mutants.window_off_by_one()
    assert made.name == "mutant:window-off-by-one"
    with pytest.raises(AttributeError):
        mutants.no_such_bug  # noqa: B018


@pytest.mark.parametrize("name", sorted(mutants.DEVIATIONS))
def test_every_planted_bug_is_rejected_by_the_golden_vectors(name: str) -> None:
    results = golden_results(mutants.mutant(name), ("float64", "float32"))
    assert any(r.status == FAIL for r in results), f"no vector rejects {name!r}"


def test_the_deviant_with_default_knobs_is_the_reference() -> None:
    """Every deviation is its knobs alone: untouched, the deviant passes every vector."""
    results = golden_results(DeviantAdapter(Knobs()), ("float64", "float32", "float16", "bfloat16"))
    assert {r.status for r in results} <= {PASS, "n/a"}
    assert sum(r.status == PASS for r in results) > 200


def test_the_zoo_plants_bugs_of_every_clause_family() -> None:
    families = {c.rsplit("-", 1)[0] for d in mutants.DEVIATIONS.values() for c in d.clauses}
    assert {"PLAN", "MASK", "CAUSAL", "LOCAL", "GLOBAL", "LAYER", "CFG", "PREC", "ERR"} <= families
    assert len(mutants.DEVIATIONS) >= 60
    assert all(f in mutants.DEVIATIONS or f.startswith("grad-") for f in FLAGS)

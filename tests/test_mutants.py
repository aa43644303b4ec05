"""Every planted bug (one per flag of the corpus) is rejected by a vector carrying its flag,
and the reference itself passes every vector: the suite can fail, and fails for the right
reason."""

import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance import corpus, mutants
from aha.conformance.cases import FLAGS
from aha.conformance.runner import FAIL, PASS, Settings, plan_checks, run_check


def golden_results(adapter: object, dtypes: tuple[str, ...] = ("float64",)) -> list:
    loaded = corpus.load()
    settings = Settings(adapter="test", dtypes=dtypes, properties=False)
    return [run_check(c, adapter, settings) for c in plan_checks(adapter, loaded, settings)]


@pytest.mark.parametrize("flag", sorted(FLAGS))
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

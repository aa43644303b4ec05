"""Test-suite setup.

TRITON_INTERPRET must be set before any @triton.jit function is defined, so it is set here,
before anything imports the Triton adapter; AHA_GPU=1 runs the real kernels on a GPU instead.
"""

import os

if os.environ.get("AHA_GPU") != "1":
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault(
    "TORCHINDUCTOR_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "aha-inductor")
)

import pytest

# Tests of the spec itself must say which clauses they pin (STYLE 7); tests/test_spec_links.py
# checks every id named here exists in spec/AHA.md.
SPEC_TEST_PREFIXES = ("test_reference", "test_gradients")


# Families of one test over many mutants, bugs or shapes. The default run (`python -m pytest`,
# which CI runs) keeps every STRIDE-th parameter set of each family, a representative sample
# that still spans the family; the rest are marked slow: `python -m pytest -m slow` runs them,
# `python -m pytest -m ""` runs everything.
SAMPLED = {
    "test_each_zoo_mutant_is_diagnosed_as_itself": 8,
    "test_each_error_handling_bug_is_diagnosed_as_itself": 4,
    "test_each_tiled_kernel_bug_the_vectors_catch_is_diagnosed_as_itself": 4,
    "test_each_gradient_bug_is_diagnosed_as_itself": 3,
    "test_the_reference_is_never_diagnosed": 4,
    "test_every_tile_bug_is_rejected": 5,
    "test_the_correct_tiled_kernel_passes": 2,
    "test_every_planted_bug_is_rejected_by_the_golden_vectors": 3,
    "test_each_planted_bug_is_rejected_by_a_case_of_its_flag": 3,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    seen: dict[str, int] = {}
    for item in items:
        family = getattr(item, "originalname", item.name)
        if family in SAMPLED:
            index = seen[family] = seen.get(family, -1) + 1
            if index % SAMPLED[family]:
                item.add_marker(pytest.mark.slow)
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        if module.startswith(SPEC_TEST_PREFIXES) and item.get_closest_marker("clause") is None:
            raise pytest.UsageError(
                f"{item.nodeid} names no spec clause: add @pytest.mark.clause('ID', ...)"
            )

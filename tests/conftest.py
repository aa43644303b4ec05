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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        if module.startswith(SPEC_TEST_PREFIXES) and item.get_closest_marker("clause") is None:
            raise pytest.UsageError(
                f"{item.nodeid} names no spec clause: add @pytest.mark.clause('ID', ...)"
            )

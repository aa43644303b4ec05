"""The conformance checks as pytest items (see pytest_plugin.py). Absolute imports: pytest
may import this file outside the aha package."""

from typing import Any

import pytest

from aha.conformance.report import failure_lines
from aha.conformance.runner import DECLINED, FAIL, NOT_APPLICABLE, SKIPPED, run_check


def test_conformance(aha_check: Any, aha_adapter: Any, aha_settings: Any) -> None:
    result = run_check(aha_check, aha_adapter, aha_settings)
    if result.status in (NOT_APPLICABLE, DECLINED, SKIPPED):
        pytest.skip(f"{result.status}: {result.message}")
    if result.status == FAIL:
        pytest.fail("\n".join([result.message, *failure_lines(result)]), pytrace=False)

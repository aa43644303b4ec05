"""The error contract reaches implementations (issue 14; ERR-2, ERR-3, ERR-5, PLAN-1): each
adapter below bends one rule and a run of the invalid cases that pin it fails; the reference
passes the same cases."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aha.adapters.reference import ReferenceAdapter
from aha.conformance.cli import main
from aha.conformance.errors_contract import names_argument
from aha.reference import AHAConfig


class LenientConfig(ReferenceAdapter):
    """Its own configuration entry point accepts anything."""

    def make_config(self, fields: dict[str, Any]) -> Any:
        return SimpleNamespace(**fields)


class VagueErrors(ReferenceAdapter):
    """Raises the right type, but the message names no argument ("sequence" holds a q)."""

    def local_attention(self, *args: Any) -> Any:
        try:
            return super().local_attention(*args)
        except (ValueError, TypeError) as exc:
            raise type(exc)("bad input, see sequence docs") from None


class AcceptsMappings(ReferenceAdapter):
    """Takes a dict of fields where the spec requires an AHAConfig."""

    def local_attention(
        self, q: Any, k: Any, v: Any, s: Any, bias: Any, config: Any, m: Any
    ) -> Any:
        if isinstance(config, dict):
            config = AHAConfig.from_dict(config)
        return super().local_attention(q, k, v, s, bias, config, m)


class CastsTheBias(ReferenceAdapter):
    """Casts a rel_bias of another dtype instead of rejecting it."""

    def global_attention(self, q: Any, k: Any, v: Any, bias: Any, config: Any, m: Any) -> Any:
        return super().global_attention(q, k, v, bias.astype(q.dtype), config, m)


def run(adapter: str, case: str, report: Path) -> tuple[int, list[dict[str, Any]]]:
    code = main(
        [
            "conform",
            "--adapter",
            adapter,
            "--isolation",
            "none",
            "--no-properties",
            "--case",
            case,
            "--report",
            str(report),
        ]
    )
    results = json.loads(report.read_text())["results"]
    return code, [r for r in results if r["source"] == "vector"]


@pytest.mark.clause("ERR-2")
def test_naming_is_by_whole_word() -> None:
    assert names_argument("q must have rank 4 [B, H, T, Dh], got shape (2, 5, 4)", "q")
    assert names_argument("params['local.q.weight'] must have the dtype of x", "local.q.weight")
    assert names_argument("AHAConfig.window must be an int in [1, 2147483647], got 0", "window")
    assert names_argument("span_scale[1] must lie in [0, 1], got 1.5", "span_scale[1]")
    assert not names_argument("bad input, see sequence docs", "q")
    assert not names_argument("AHAConfig.min_window must be an int", "window")
    assert not names_argument("qk mismatch", "q")
    assert not names_argument("anything", "")


@pytest.mark.clause("ERR-1", "ERR-2", "ERR-3", "ERR-5", "PLAN-1", "CFG-2")
@pytest.mark.parametrize(
    ("adapter", "case", "why"),
    [
        ("LenientConfig", "invalid/config/*", "accepted invalid input"),
        ("VagueErrors", "invalid/local/q-*", "does not name 'q'"),
        ("AcceptsMappings", "invalid/local/config-mapping", "accepted invalid input"),
        ("CastsTheBias", "invalid/global/rel-bias-float32", "accepted invalid input"),
    ],
)
def test_an_adapter_bending_the_contract_fails(
    adapter: str, case: str, why: str, tmp_path: Path
) -> None:
    code, results = run(f"test_vectors_contract:{adapter}", case, tmp_path / "bent.json")
    assert code == 1 and results
    assert all(r["status"] == "fail" and why in r["message"] for r in results), results
    code, results = run("numpy", case, tmp_path / "reference.json")
    assert code == 0 and results and all(r["status"] == "pass" for r in results)


@pytest.mark.clause("PLAN-1")
def test_a_scalar_span_scale_applies_to_every_element(tmp_path: Path) -> None:
    code, results = run("numpy", "*/scalar-span-scale*", tmp_path / "scalar.json")
    assert code == 0 and len(results) >= 8

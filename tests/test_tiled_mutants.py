"""The default run rejects every planted tile bug at tiles 16, 64, 128 and 256 and accepts the
correct tiled kernel at all of them (issue: kernel-scale conformance, part 4).

Only the default run's kernel family is run here (the checks tiles break), from the shipped
corpus, exactly as ``aha conform`` runs them; a mutant stops at its first rejection.
"""

from __future__ import annotations

from typing import Any

import pytest

from aha.conformance import corpus, runner
from aha.conformance.tiled import TILE_BUGS, Tiled

TILES = (16, 64, 128, 256)
# Cases that reject most bugs first, so a mutant is usually rejected by its first check.
# The checks as the default run has them, run in this process without a per-call deadline:
# the machine is shared, and a timing is no verdict here.
IN_PROCESS: dict[str, Any] = {"isolation": "none", "time_limit": 600.0}
FIRST = ("kernel/local/T1000", "kernel/local/T1100", "kernel/global/T1100")


@pytest.fixture(scope="module")
def loaded() -> corpus.Corpus:
    return corpus.load()


def kernel_checks(loaded: corpus.Corpus, dtypes: tuple[str, ...]) -> list[runner.Check]:
    settings = runner.Settings(
        adapter="tiled", dtypes=dtypes, case="kernel/*", properties=False, **IN_PROCESS
    )
    checks = [c for c in runner.plan_checks(Tiled(16), loaded, settings) if c.case is not None]
    assert checks and all(c.case is not None and c.case.tier == "default" for c in checks)
    rank = {prefix: i for i, prefix in enumerate(FIRST)}
    return sorted(
        checks, key=lambda c: min((r for p, r in rank.items() if c.id.startswith(p)), default=9)
    )


def run(adapter: Tiled, checks: list[runner.Check], dtypes: tuple[str, ...]) -> list[str]:
    settings = runner.Settings(adapter=adapter.name, dtypes=dtypes, properties=False, **IN_PROCESS)
    return [runner.run_check(c, adapter, settings).status for c in checks]


@pytest.mark.clause("LOCAL-1", "LOCAL-4", "LOCAL-5", "GLOBAL-1", "MASK-2", "CAUSAL-1")
@pytest.mark.parametrize("tile", TILES)
def test_the_correct_tiled_kernel_passes(loaded: corpus.Corpus, tile: int) -> None:
    dtypes = ("float64", "float32")
    checks = kernel_checks(loaded, dtypes)
    statuses = run(Tiled(tile), checks, dtypes)
    failed = [c.id for c, s in zip(checks, statuses, strict=True) if s not in ("pass", "n/a")]
    assert not failed, f"tile {tile}: {failed}"
    assert statuses.count("pass") >= 2 * 7


@pytest.mark.clause("LOCAL-1", "LOCAL-2", "LOCAL-4", "LOCAL-5", "GLOBAL-2", "MASK-2", "CAUSAL-1")
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("bug", sorted(TILE_BUGS))
def test_every_tile_bug_is_rejected(loaded: corpus.Corpus, bug: str, tile: int) -> None:
    dtypes = ("float64",)
    mutant = Tiled(tile, bug)
    settings = runner.Settings(adapter=mutant.name, dtypes=dtypes, properties=False, **IN_PROCESS)
    for check in kernel_checks(loaded, dtypes):
        if runner.run_check(check, mutant, settings).status == "fail":
            return
    pytest.fail(f"no default-run kernel check rejects {bug} at tile {tile}")


def test_tiled_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="tile"):
        Tiled(0)
    with pytest.raises(ValueError, match="bug"):
        Tiled(16, "no-such-bug")

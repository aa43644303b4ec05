"""pytest entry point: ``pytest --pyargs aha.conformance --aha-adapter X``.

Each check of ``aha conform`` becomes one test item with the same verdict: a pass passes, a
failure fails with the same message and repro command, n/a and declined are skips that say so.
Registered through the ``pytest11`` entry point, so installing aha-spec makes it available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aha", "AHA conformance (pytest --pyargs aha.conformance)")
    group.addoption(
        "--aha-adapter",
        default=None,
        help="adapter to check (required): a built-in name such as numpy, module:attr or "
        "an entry point",
    )
    group.addoption("--aha-dtype", default=None, help="comma-separated dtypes (default: claimed)")
    group.addoption(
        "--aha-max-examples",
        type=int,
        default=None,
        help="Hypothesis examples per property and dtype (default: as aha conform)",
    )
    group.addoption("--aha-seed", type=int, default=0)
    group.addoption("--aha-case", default=None, help="case id, property name or glob")
    group.addoption("--aha-vectors", type=Path, default=None, help="corpus directory")
    group.addoption(
        "--aha-isolation",
        default=None,
        help="process (default: a worker process) or none (in pytest's process, for a debugger)",
    )
    group.addoption(
        "--aha-time-limit", type=float, default=None, help="seconds per adapter call (default 15)"
    )
    group.addoption(
        "--aha-first-call-limit",
        type=float,
        default=None,
        help="seconds for the first call of each operation and dtype (a JIT compile; default 60)",
    )


NO_ADAPTER = (
    "aha: name the implementation to check: pytest --pyargs aha.conformance --aha-adapter NAME "
    "(a built-in name such as numpy or torch, module:attr, or an entry point of group "
    "aha.adapters)"
)


def pytest_configure(config: pytest.Config) -> None:
    """A run of these checks without an adapter is a usage error (exit 4), not a silent run
    of the reference against itself. The plugin is loaded by every pytest run, so only runs
    that name aha.conformance are asked for one."""
    named = any(str(arg).startswith("aha.conformance") for arg in config.args)
    if named and not config.getoption("aha_adapter"):
        raise pytest.UsageError(NO_ADAPTER)


def _session(config: pytest.Config) -> tuple[Any, Any, list[Any]]:
    """Adapter, settings and checks, built once per pytest session."""
    cached = getattr(config, "_aha_session", None)
    if cached is None:
        from aha.conformance import corpus
        from aha.conformance.generate import load_trusted
        from aha.conformance.protocol import AdapterLoadError, load_adapter
        from aha.conformance.runner import Settings, plan_checks
        from aha.conformance.selection import parse_dtypes

        spec = config.getoption("aha_adapter")
        if not spec:  # the plugin is loaded everywhere; only these tests need an adapter
            pytest.exit(NO_ADAPTER, returncode=pytest.ExitCode.USAGE_ERROR)
        try:
            adapter = load_adapter(spec)
            given = {
                field: config.getoption(f"aha_{field}")
                for field in ("max_examples", "isolation", "time_limit", "first_call_limit")
                if config.getoption(f"aha_{field}") is not None
            }  # the others keep the defaults aha conform has (Settings)
            settings = Settings(
                adapter=spec,
                dtypes=parse_dtypes(config.getoption("aha_dtype")),
                seed=config.getoption("aha_seed"),
                case=config.getoption("aha_case"),
                vectors=config.getoption("aha_vectors"),
                **given,
            )
        except (AdapterLoadError, ValueError) as exc:
            pytest.exit(f"aha: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        try:  # a corpus that cannot be trusted stops the session, exit 2 (spec/vectors.md)
            loaded = load_trusted(settings.vectors)
        except corpus.CorpusError as exc:
            pytest.exit(f"aha: the vectors cannot be trusted: {exc}", returncode=2)
        checks = plan_checks(adapter, loaded, settings)
        cached = (adapter, settings, checks)
        config._aha_session = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "aha_check" in metafunc.fixturenames:
        _, _, checks = _session(metafunc.config)
        metafunc.parametrize("aha_check", checks, ids=[c.id for c in checks])


@pytest.fixture
def aha_adapter(request: pytest.FixtureRequest) -> Any:
    return _session(request.config)[0]


@pytest.fixture
def aha_settings(request: pytest.FixtureRequest) -> Any:
    return _session(request.config)[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    """A corpus named with --aha-vectors is verified before anything is collected: one that
    cannot be trusted ends the session with exit 2 and its problems, no traceback (issue 14)."""
    directory = session.config.getoption("aha_vectors", None)
    if directory is None:
        return
    from aha.conformance.corpus import CorpusError
    from aha.conformance.generate import load_trusted

    try:
        load_trusted(directory)
    except CorpusError as exc:
        pytest.exit(f"aha: the vectors cannot be trusted: {exc}", returncode=2)

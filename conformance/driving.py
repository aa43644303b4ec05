"""Property driving: a property runs under Hypothesis against the implementation, a failure
is shrunk, saved as a one-case corpus and given a repro that calls the implementation under
test (spec/conformance.md sections 2 and 4)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import hypothesis
import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, reject

from . import corpus, diagnosis, strategies
from .calls import CheckFailed
from .cases import FLAGS
from .corpus import Case
from .execution import Calls, Declined, Proxy, Result
from .generate import build
from .operations import CONFIG, operation
from .selection import Check, Settings


def run_property(check: Check, calls: Calls, result: Result, settings: Settings) -> list[Any]:
    """Run a property under Hypothesis; a failure is shrunk and saved as a vector.

    Shrinking stops after ``settings.shrink_time`` seconds: from then on only the smallest
    failing draw so far is checked again (Hypothesis replays it last), every other draw passes.
    When the first ``max_examples`` draws were all declined, the rest are not offered: the
    property is reported declined without Hypothesis drawing ten times more in search of one
    the implementation takes (a partial decline still runs every draw).
    """
    prop, dtype = check.prop, str(check.dtype)
    assert prop is not None
    adapter = Proxy(calls)
    failing: dict[str, Any] = {}
    counts = {"run": 0, "declined": 0}

    def body(draw: tuple[Any, dict[str, Any]]) -> None:
        config, inputs = draw
        if counts["declined"] >= settings.max_examples and counts["declined"] == counts["run"]:
            reject()  # everything so far was declined: stop asking
        counts["run"] += 1
        if (
            failing
            and time.perf_counter() - failing["since"] > settings.shrink_time
            and fingerprint(draw) != failing["fingerprint"]
        ):
            return
        try:
            prop.check(adapter, config, inputs, dtype)
        except Declined:
            counts["declined"] += 1
            reject()
        except CheckFailed as exc:
            failing.update(
                config=config,
                inputs=inputs,
                error=exc,
                fingerprint=fingerprint(draw),
                since=failing.get("since", time.perf_counter()),
            )
            raise CheckFailed(str(exc)) from None

    test = hypothesis.settings(
        max_examples=settings.max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate)
        + ((Phase.shrink,) if settings.shrink else ()),
    )(given(prop.strategy(dtype))(body))
    try:
        hypothesis.seed(settings.seed)(test)()
    except CheckFailed:
        save_counterexample(check, settings, calls.name, failing, result)
        # H6: which known deviation explains the failing draw (diagnosis.py)
        config, inputs = failing["config"], failing["inputs"]
        result.diagnosis = diagnosis.explain_call(calls, check.kind, config, inputs, dtype)
        raise failing["error"] from None
    except Exception as exc:  # Hypothesis' own verdicts (flaky, unsatisfiable) and the rest
        if failing:  # a real failure Hypothesis could not replay: report it all the same
            save_counterexample(check, settings, calls.name, failing, result)
            error = failing["error"]
            raise CheckFailed(
                f"{error} (Hypothesis: {type(exc).__name__}, the failure did not "
                f"reproduce on replay: is the adapter deterministic?)",
                error.comparisons,
                error.error_maps,
            ) from None
        if counts["declined"]:
            raise Declined(f"{counts['declined']} of {counts['run']} examples declined") from None
        raise CheckFailed(f"the property stopped: {type(exc).__name__}: {exc}") from None
    declined = f" ({counts['declined']} declined)" if counts["declined"] else ""
    result.message = f"{counts['run']} examples{declined}"
    return []


def fingerprint(draw: tuple[Any, dict[str, Any]]) -> str:
    config, inputs = draw
    digest = hashlib.sha256(repr(config).encode())
    for name in sorted(inputs):
        values = inputs[name]
        for key, arr in sorted(values.items()) if isinstance(values, dict) else [(name, values)]:
            digest.update(
                key.encode() + repr(np.shape(arr)).encode() + np.ascontiguousarray(arr).tobytes()
            )
    return digest.hexdigest()


def repro_snippet(spec: str, kind: str, config: Any, inputs: dict[str, Any], dtype: str) -> str:
    """Python that rebuilds the inputs, runs the reference (``result``) and then the
    implementation under test on the inputs in ``dtype`` (``got``)."""
    op = operation(kind)
    args = ", ".join(
        "config"
        if name == CONFIG
        else f"x.get({name!r})"
        if name in op.optional
        else f"int(x[{name!r}])"
        if name == "seq_len"
        else f"x[{name!r}]"
        for name in op.inputs
    )
    return "\n".join(
        [
            strategies.repro(config, inputs),
            "",
            "from aha.conformance.oracle import cast",
            "from aha.conformance.protocol import load_adapter",
            "",
            f"adapter = load_adapter({spec!r})  # the implementation under test",
            f"x = cast(inputs, {dtype!r})",
            f"got = adapter.{op.method}({args})",
        ]
    )


def save_counterexample(
    check: Check, settings: Settings, adapter_name: str, failing: dict[str, Any], result: Result
) -> None:
    """Write the shrunk example as a one-case corpus and point the repro command at it."""
    prop, dtype = check.prop, str(check.dtype)
    assert prop is not None
    config, inputs = failing["config"], failing["inputs"]
    digest = fingerprint((config, inputs))[:8]
    case_id = f"shrunk/{prop.name.replace('/', '-')}-{dtype}-{digest}"
    directory = settings.failures_dir / f"{adapter_name}-{case_id.replace('/', '-')}"
    case = Case(
        id=case_id,
        kind=prop.kind,
        description=f"shrunk counterexample of property {prop.name} ({adapter_name}, {dtype})",
        clauses=prop.clauses,
        flags=(),
        config=config.to_dict(),
        inputs=inputs,
        dtypes=(dtype,),
    )
    snippet = repro_snippet(settings.adapter, prop.kind, config, inputs, dtype)
    try:
        corpus.write(directory, [build(case)], FLAGS)
    except Exception as exc:  # the reference rejects the draw: keep the Python repro only
        result.repro = f"# could not save the example ({exc}); reproduce with:\n{snippet}"
        return
    result.saved = str(directory)
    result.repro = (
        f"aha conform --adapter {settings.adapter} --dtype {dtype} --vectors {directory} "
        f"--case {case_id}   # property {prop.name}; inputs in Python:\n{snippet}"
    )

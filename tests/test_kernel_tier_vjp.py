"""The kernel tier's VJP cases (issue 12, item 3): the cotangent from the counter generator,
stored gradients against the dense reference, sampled gradient rows judged for an adapter that
claims vjp, the planted gradient bugs rejected, forged gradients detected by ``aha vectors
verify``, and the envelope (spec/vectors.md, "Kernel tier"; spec/conformance.md, "Tiers")."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from aha import reference as ref
from aha.adapters.reference import ReferenceAdapter
from aha.conformance import corpus, counter, envelope, kernel, runner, schema
from aha.conformance.cases import FLAGS, kernel_vjp
from aha.conformance.counter import Grid
from aha.conformance.generate import verify
from aha.conformance.grad_mutants import GRADIENT_BUGS, GradientBug, GradientDeviant
from aha.conformance.operations import GRAD
from aha.conformance.report import by_family

# In this process, without a per-call deadline: the machine is shared, a timing is no verdict.
IN_PROCESS: dict[str, Any] = {"isolation": "none", "time_limit": 600.0, "properties": False}
VJP_CASES = "kernel/*_vjp/*"
DENSE = {"local_vjp": ref.local_attention_vjp, "global_vjp": ref.global_attention_vjp}


@cache
def shipped() -> corpus.Corpus:
    return corpus.load()


def shipped_case(case_id: str) -> corpus.Case:
    return next(c for c in shipped().cases if c.id == case_id)


DEFAULT_IDS = [k.id for k in kernel_vjp.default_family()]
LONG_IDS = [k.id for k in kernel_vjp.kernel_family()]


def statuses(adapter: Any, dtypes: tuple[str, ...], tier: str = "default") -> dict[str, Any]:
    """{check id: Result} of the kernel VJP vectors, run as ``aha conform`` runs them."""
    settings = runner.Settings(
        adapter=adapter.name, dtypes=dtypes, case=VJP_CASES, tier=tier, **IN_PROCESS
    )
    checks = [c for c in runner.plan_checks(adapter, shipped(), settings) if c.case is not None]
    return {c.id: runner.run_check(c, adapter, settings) for c in checks}


# --- The recipe: d_out is one more generated tensor ---


def test_d_out_is_generated_like_the_other_inputs() -> None:
    case = shipped_case(DEFAULT_IDS[0])
    assert case.generated is not None
    shape = case.generated["shape"]
    B, H, T, Dh = (shape[n] for n in ("B", "H", "T", "Dh"))
    grid = Grid(**case.generated["grids"]["d_out"])
    d_out = case.inputs["d_out"]
    assert d_out.shape == (B, H, T, Dh)
    assert np.array_equal(d_out, counter.tensor(case.seed, "d_out", (B, H, T, Dh), grid))
    assert not np.array_equal(d_out, case.inputs["q"])  # its own stream, not q's
    forward = next(c for c in shipped().cases if c.generated and c.kind == "local")
    assert "d_out" not in forward.inputs and "d_out" not in (forward.generated or {})["grids"]


# --- What is stored: the dense reference's gradients on the sampled rows, small ones whole ---


@pytest.mark.clause("GRAD-4", "ORDER-1")
@pytest.mark.parametrize("case_id", DEFAULT_IDS)
def test_stored_gradients_are_the_dense_reference_on_the_sampled_rows(case_id: str) -> None:
    case = shipped_case(case_id)
    op_args = [case.inputs[n] for n in ("q", "k", "v")]
    if case.kind == "local_vjp":
        op_args.append(case.inputs["span_scale"])
    mask = case.inputs.get("key_padding_mask")
    args = (*op_args, case.inputs["rel_bias"], case.aha_config(), mask, case.inputs["d_out"])
    dense = DENSE[case.kind](*args)
    rows = np.asarray(case.rows)
    assert set(case.expected) == {f"{GRAD}{n}" for n in dense}
    for name, g in dense.items():
        want = g[:, :, rows] if name in ("q", "k", "v") else g
        got = case.expected[f"{GRAD}{name}"]
        assert got.shape == want.shape, name
        assert np.max(np.abs(got - want), initial=0) <= 1e-12 * max(1.0, np.max(np.abs(want)))


def test_sampled_cuts_the_gradient_rows_and_keeps_the_small_gradients() -> None:
    case = shipped_case(DEFAULT_IDS[0])
    shape = (case.generated or {})["shape"]
    B, H, T, Dh = (shape[n] for n in ("B", "H", "T", "Dh"))
    full = np.arange(T, dtype=np.float64)[None, None, :, None] * np.ones((B, H, 1, Dh))
    table, span = np.ones((H, 7)), np.ones(B)
    got = {f"{GRAD}q": full, f"{GRAD}k": full, f"{GRAD}v": full[:, :, :-1]}
    got |= {f"{GRAD}rel_bias": table, f"{GRAD}span_scale": span}
    cut = kernel.sampled(case, got)
    for name in ("q", "k"):
        assert cut[f"{GRAD}{name}"][0, 0, :, 0].tolist() == list(case.rows or ())
    assert cut[f"{GRAD}v"] is got[f"{GRAD}v"]  # a wrong shape is left for the comparison
    assert cut[f"{GRAD}rel_bias"] is table and cut[f"{GRAD}span_scale"] is span


# --- Judged for an adapter claiming vjp, under GRAD ---


@pytest.mark.clause("GRAD-4", "GRAD-6")
def test_the_reference_adapter_passes_the_default_kernel_vjp_cases() -> None:
    dtypes = ("float64", "float32", "float16", "bfloat16")
    results = statuses(ReferenceAdapter(), dtypes)
    assert len(results) == len(DEFAULT_IDS) * len(dtypes)
    failed = {i: r.message for i, r in results.items() if r.status != runner.PASS}
    assert not failed, failed
    for r in results.values():  # every stored gradient was compared, on its stored shape
        case = shipped_case(r.check.split("@")[0])
        assert {c["output"] for c in r.comparisons} == set(case.expected), r.check
    family = by_family(list(results.values()))
    assert family["GRAD"]["pass"] == len(results)


@pytest.mark.slow
@pytest.mark.clause("GRAD-4", "GRAD-6")
def test_the_reference_adapter_passes_the_long_kernel_vjp_cases() -> None:
    results = statuses(ReferenceAdapter(), ("float64", "float32"), tier="kernel")
    assert len(results) == 2 * (len(DEFAULT_IDS) + len(LONG_IDS))
    failed = {i: r.message for i, r in results.items() if r.status != runner.PASS}
    assert not failed, failed


@pytest.mark.clause("GRAD-6")
def test_a_wrong_gradient_row_fails_the_check_naming_the_gradient() -> None:
    """The harness compares the sampled rows of the adapter's whole gradient: a wrong key row
    of dk fails the local cases where it is sampled, and passes where it is not."""
    case = shipped_case("kernel/local_vjp/T113-Dh12-causal-left-padding")
    T = int((case.generated or {})["shape"]["T"])
    unsampled = next(j for j in range(T) if j not in set(case.rows or ()))

    class OneRowOff(ReferenceAdapter):
        name = "one-row-off"

        def __init__(self, row: int) -> None:
            self.row = row

        def local_vjp(self, *args: Any) -> dict[str, np.ndarray]:
            grads = super().local_vjp(*args)
            grads["k"][:, :, self.row] += 0.5
            return grads

    local = {f"{k.id}@float64" for k in kernel_vjp.default_family() if k.kind == "local_vjp"}
    judged = statuses(OneRowOff(16), ("float64",))  # 16: a tile edge, sampled in every case
    failing = {i for i, r in judged.items() if r.status == runner.FAIL}
    assert failing == local, failing
    assert all(judged[i].message.startswith(f"{GRAD}k: ") for i in failing)
    judged = statuses(OneRowOff(unsampled), ("float64",))
    assert judged[f"{case.id}@float64"].status == runner.PASS


# --- The planted gradient bugs (conformance/grad_mutants.py) ---


@pytest.mark.clause("GRAD-2", "GRAD-3", "GRAD-6")
@pytest.mark.parametrize("bug", GRADIENT_BUGS, ids=lambda b: b.name)
def test_each_flagged_kernel_vjp_case_rejects_its_gradient_bug(bug: GradientBug) -> None:
    flagged = {k.id for k in kernel_vjp.default_family() if bug.name in k.flags}
    assert flagged, f"no default kernel VJP case carries the flag {bug.name}"
    results = statuses(bug.adapter(), ("float64", "float32"))
    passed = sorted(
        i for i, r in results.items() if i.split("@")[0] in flagged and r.status != runner.FAIL
    )
    assert not passed, f"{bug.name} passes {passed}"


@pytest.mark.clause("GRAD-3")
@pytest.mark.parametrize(
    "bug, gradient", [("grad-dq-first-tile", "q"), ("grad-bias-misplaced", "rel_bias")]
)
def test_tile_and_distance_bugs_fail_on_their_own_gradient(bug: str, gradient: str) -> None:
    """dq from the first key tile only shows in grad.q's rows; the bias gradient scattered to
    j − i in the whole grad.rel_bias."""
    results = statuses(GradientBug(bug, "", ()).adapter(), ("float32",))
    for check, r in results.items():
        assert r.status == runner.FAIL, check
        bad = {c["output"] for c in r.comparisons if not c["ok"]}
        assert f"{GRAD}{gradient}" in bad, (check, bad)


@pytest.mark.clause("GRAD-4", "GRAD-6")
def test_the_deviant_without_a_bug_passes_every_kernel_vjp_case() -> None:
    """The control: a rejection above is the bug's, not the mutants' machinery's."""
    results = statuses(GradientDeviant(GradientBug("none", "no bug", ())), ("float64", "float32"))
    assert len(results) == 2 * len(DEFAULT_IDS)
    assert all(r.status == runner.PASS for r in results.values()), results


@pytest.mark.slow
@pytest.mark.clause("GRAD-3")
@pytest.mark.parametrize("bug", ["grad-dq-first-tile", "grad-bias-misplaced"])
def test_the_long_kernel_vjp_cases_reject_the_tile_bugs(bug: str) -> None:
    """The mutants' backward is dense ([T, T] arrays): the long cases up to T = 2049."""
    adapter = GradientBug(bug, "", ()).adapter()
    settings = runner.Settings(
        adapter=adapter.name, dtypes=("float32",), case=VJP_CASES, tier="kernel", **IN_PROCESS
    )
    checks = [
        c
        for c in runner.plan_checks(adapter, shipped(), settings)
        if c.case is not None and c.case.tier == "kernel" and c.case.rows is not None
        if (c.case.generated or {})["shape"]["T"] <= 2049
    ]
    assert len(checks) == 3
    assert all(runner.run_check(c, adapter, settings).status == runner.FAIL for c in checks)


# --- aha vectors verify: forged gradients are detected ---


def _forge_rows(case: corpus.Case) -> corpus.Case:
    rows = tuple(case.rows or ())[1:]
    expected = {n: (a[:, :, 1:] if n in kernel.ON_ROWS else a) for n, a in case.expected.items()}
    return dataclasses.replace(case, rows=rows, expected=expected)


def _nudge(name: str, index: tuple[int, ...]) -> Callable[[corpus.Case], corpus.Case]:
    def forge(case: corpus.Case) -> corpus.Case:
        a = case.expected[name].copy()
        a[index] += 1e-6 * max(1.0, float(np.max(np.abs(a))))
        return dataclasses.replace(case, expected={**case.expected, name: a})

    return forge


def _baseline(dtype: str, name: str) -> Callable[[corpus.Case], corpus.Case]:
    def forge(case: corpus.Case) -> corpus.Case:
        errors = {d: dict(e) for d, e in case.baseline_error.items()}
        errors[dtype][name] *= 2
        return dataclasses.replace(case, baseline_error=errors)

    return forge


def _without(name: str) -> Callable[[corpus.Case], corpus.Case]:
    def forge(case: corpus.Case) -> corpus.Case:
        expected = {n: a for n, a in case.expected.items() if n != name}
        errors = {
            d: {n: x for n, x in e.items() if n != name} for d, e in case.baseline_error.items()
        }
        return dataclasses.replace(case, expected=expected, baseline_error=errors)

    return forge


def _grids(change: Callable[[dict[str, Any]], None]) -> Callable[[corpus.Case], corpus.Case]:
    def forge(case: corpus.Case) -> corpus.Case:
        recipe = json.loads(json.dumps(case.generated))
        change(recipe["grids"])
        return dataclasses.replace(case, generated=recipe)

    return forge


FORGERIES: dict[str, tuple[Callable[[corpus.Case], corpus.Case], str]] = {
    "a dk row off by 1e-6": (_nudge(f"{GRAD}k", (1, 1, 9, 3)), f"tensors/expected.{GRAD}k"),
    "a dq row off by 1e-6": (_nudge(f"{GRAD}q", (0, 0, 0, 0)), f"tensors/expected.{GRAD}q"),
    "a bias-table entry": (_nudge(f"{GRAD}rel_bias", (1, 99)), f"tensors/expected.{GRAD}rel_bias"),
    "the span gradient": (_nudge(f"{GRAD}span_scale", (1,)), f"tensors/expected.{GRAD}span_scale"),
    "a row left out": (_forge_rows, "/rows: "),
    "a doubled baseline": (_baseline("float32", f"{GRAD}v"), f"baseline_error/float32/{GRAD}v"),
    "a gradient left out": (_without(f"{GRAD}rel_bias"), "/tensors: "),
    "another d_out grid": (
        _grids(lambda g: g.update(d_out={"limit": 95, "exponent": 5, "offset": 0.0})),
        f"tensors/expected.{GRAD}q",
    ),
}


@pytest.fixture(scope="module")
def vjp_case() -> corpus.Case:
    return shipped_case("kernel/local_vjp/T113-Dh12-causal-left-padding")


def test_the_shipped_default_vjp_cases_verify(tmp_path: Path) -> None:
    """The control of the forgeries: the same cases, written unchanged, verify."""
    corpus.write(tmp_path, [shipped_case(i) for i in DEFAULT_IDS], FLAGS)
    assert verify(tmp_path, catalog_check=False) == []


@pytest.mark.parametrize("what", sorted(FORGERIES))
def test_a_forged_gradient_is_found_by_verify(
    what: str, vjp_case: corpus.Case, tmp_path: Path
) -> None:
    """Re-signed forgeries (checksums and digest recomputed by the writer) fail the
    re-derivation, naming the field."""
    forge, field = FORGERIES[what]
    corpus.write(tmp_path, [forge(vjp_case)], FLAGS)
    problems = verify(tmp_path, catalog_check=False)
    assert problems and all(vjp_case.id in p for p in problems), problems
    assert any(field in p for p in problems), problems


def test_a_forward_case_with_a_cotangent_grid_is_found(tmp_path: Path) -> None:
    """An extra generated tensor every call would ignore is a silent forgery: named."""
    forward = shipped_case("kernel/local/T300-near-float16-max")
    grid = {"limit": 96, "exponent": 5, "offset": 0.0}
    corpus.write(tmp_path, [_grids(lambda g: g.update(d_out=grid))(forward)], FLAGS)
    problems = verify(tmp_path, catalog_check=False)
    assert len(problems) == 1 and "/generated/grids: " in problems[0], problems


def test_the_schema_requires_the_cotangent_grid_of_a_vjp_case() -> None:
    manifest = json.loads((corpus.default_dir() / corpus.MANIFEST).read_text())
    assert schema.problems(manifest) == []
    index = next(i for i, c in enumerate(manifest["cases"]) if c["id"] == DEFAULT_IDS[0])
    del manifest["cases"][index]["generated"]["grids"]["d_out"]
    assert schema.problems(manifest) == [
        (f"/cases/{index}/generated/grids/d_out", "is required but missing")
    ]


# --- The envelope applies to them as to the forward kernel cases ---


def probe(env: dict[str, Any] | None) -> SimpleNamespace:
    capabilities = {"local", "global", "vjp", "causal", "key_padding", "float64"}
    return SimpleNamespace(name="probe", capabilities=frozenset(capabilities), envelope=env)


def test_a_kernel_vjp_check_outside_the_envelope_is_not_applicable() -> None:
    long = shipped_case("kernel/local_vjp/T4095-Dh24-causal-reach-520")
    assert envelope.outside(probe(None), long) is None
    assert envelope.outside(probe({"max_seq_len": 4095, "head_dims": [24]}), long) is None
    reason = envelope.outside(
        probe({"max_seq_len": 2048, "head_dims": [64, 128], "max_reach": 512}), long
    )
    assert reason is not None and reason.startswith(envelope.PREFIX)
    for part in (
        "T = 4095 > max_seq_len 2048",
        "Dh = 24 not in head_dims",
        "reach 520 > max_reach 512",
    ):
        assert part in reason, reason
    settings = runner.Settings(adapter="probe", dtypes=("float64",), tier="kernel", **IN_PROCESS)
    adapter = probe({"max_seq_len": 1100})
    checks = [c for c in runner.plan_checks(adapter, shipped(), settings) if c.case is not None]
    vjp = {
        c.case.id: c.not_applicable(adapter) for c in checks if c.kind.endswith("_vjp") and c.case
    }
    assert all(vjp[i] is None for i in DEFAULT_IDS)
    outside = [i for i in LONG_IDS if shipped_case(i).generated["shape"]["T"] > 1100]
    assert outside and all(str(vjp[i]).startswith(envelope.PREFIX) for i in outside)


# --- The catalog covers what the issue names ---


def test_the_vjp_cases_cover_the_shapes_the_issue_names() -> None:
    default, long = kernel_vjp.default_family(), kernel_vjp.kernel_family()
    every = (*default, *long)
    assert all(k.tier == "default" and k.T <= 300 for k in default)
    assert all(k.tier == "kernel" and k.T > 1000 for k in long)
    Ts = {k.T for k in every}
    for tile in (64, 128, 256):
        assert any(t < tile for t in Ts) and any(t > tile for t in Ts), tile
    assert {113, 203} <= Ts and Ts & {1023, 1024, 1025} and any(t % 2 for t in Ts if t > 2048)
    assert {"local_vjp", "global_vjp"} == {k.kind for k in default} == {k.kind for k in long}
    assert all(k.Dh & (k.Dh - 1) for k in every)  # no head dim is a power of two
    real = [r for k in every for r in k.real or ()]
    assert any(start > 0 for start, _ in real)  # left padding
    assert any(start == end for start, end in real)  # a fully padded sequence
    assert any(k.config.get("causal") and k.real for k in every)
    reaches = [
        ref.plan(np.array(k.span_scale), k.T, ref.AHAConfig.from_dict(k.config)).reach
        for k in every
        if k.span_scale
    ]
    assert any(len(set(r.tolist())) == len(r) > 2 for r in reaches)  # a batch of reaches
    assert any(max(r) > 256 for r in reaches) and any(64 < min(r) < 128 for r in reaches)


@pytest.mark.clause("GRAD-6", "PREC-5")
def test_span_scales_sit_mid_piece_and_temperatures_away_from_the_clamp() -> None:
    for k in (*kernel_vjp.default_family(), *kernel_vjp.kernel_family()):
        if k.span_scale is None:
            continue
        config = ref.AHAConfig.from_dict(k.config)
        s = np.array(k.span_scale)
        assert np.all(config.window * s % 1 == 0.5), k.id
        free = config.temperature + config.temp_scale * s  # sharpen "long" uses 1 − s
        if config.sharpen == "long":
            free = config.temperature + config.temp_scale * (1 - s)
        assert np.all(np.abs(free - config.min_temperature) > 0.05), k.id

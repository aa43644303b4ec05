"""`aha plot` draws readable pictures: PNG or SVG files that decode, are not blank, and show
the weights the reference gives at each drawn span scale (LOCAL-1, GLOBAL-1, PLAN-1)."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from aha.conformance import corpus, plot
from aha.conformance.cli import main
from aha.reference import AHAConfig, local_attention
from aha.reference import plan as reference_plan
from aha.reference.attention import bias_index


def decoded_png(path: Path) -> np.ndarray:
    """The pixels of a PNG file, decoded by matplotlib (Pillow underneath)."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    return imread(path)


def assert_not_blank(pixels: np.ndarray) -> None:
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 200, pixels.shape
    assert pixels[..., :3].std() > 0.05, "the image is (nearly) one colour"


def test_default_plot_is_a_png_that_is_not_blank(tmp_path: Path, capsys) -> None:
    out = tmp_path / "attn.png"
    assert main(["plot", "--out", str(out), "--heads", "2", "--seq-len", "24"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert_not_blank(decoded_png(out))


def test_svg_on_request_by_flag_or_suffix(tmp_path: Path) -> None:
    assert main(["plot", "--only", "plan", "--out", str(tmp_path / "p"), "--format", "svg"]) == 0
    assert main(["plot", "--only", "plan", "--out", str(tmp_path / "q.svg")]) == 0
    for name in ("p.svg", "q.svg"):
        text = (tmp_path / name).read_text()
        assert "<svg" in text and "</svg>" in text


@pytest.mark.parametrize("case_id", ["layer/padding", "plan/temperature-clamp-long"])
def test_golden_cases_of_each_drawable_kind(tmp_path: Path, case_id: str) -> None:
    out = tmp_path / "case.png"
    assert main(["plot", "--case", case_id, "--out", str(out)]) == 0
    assert_not_blank(decoded_png(out))


def test_a_saved_counterexample_directory(tmp_path: Path) -> None:
    """A failure saved by `aha conform` is a one-case corpus (spec/vectors.md)."""
    case = next(c for c in corpus.load().cases if c.id == "local/causal")
    saved = tmp_path / "numpy-local-causal"
    corpus.write(saved, [case], corpus.load().flags)
    out = tmp_path / "cx.png"
    assert main(["plot", "--vectors", str(saved), "--only", "attention", "--out", str(out)]) == 0
    assert_not_blank(decoded_png(out))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--case", "invalid/local/k-shape"], "no attention weights"),
        (["--case", "no/such-case"], "no case 'no/such-case'"),
        (["--span-scales", "0.5,1.5"], "span scales must be one or more values in [0, 1]"),
        (["--config", '{"window": 0}'], "AHAConfig.window must be"),
        (["--format", "svg", "--out", "x.png", "--config", "[]"], "must be a JSON object"),
    ],
)
def test_what_cannot_be_drawn_is_named(argv: list[str], message: str, capsys) -> None:
    assert main(["plot", *argv]) == 2
    assert message in capsys.readouterr().err


def test_each_local_row_shows_its_own_band() -> None:
    """Row r holds the weights at span scale r: zero outside |i − j| < ρ(s_r) (LOCAL-1), each
    visible row summing to 1; the global row sees every key (GLOBAL-1)."""
    config = AHAConfig(window=12, max_rel_dist=12)
    scene = plot.random_scene(config, seq_len=20, heads=2, head_dim=4, span_scales=(1.0, 0.25))
    w_global, w_local = plot.weights(scene)
    reach = reference_plan(np.array(scene.span_scales), 20, config).reach
    assert scene.span_scales == (0.25, 1.0) and reach.tolist() == [3, 12]
    offset = np.abs(np.subtract.outer(np.arange(20), np.arange(20)))
    for row, rho in enumerate(reach):
        assert np.all(w_local[row][:, offset >= rho] == 0)
        assert np.all(w_local[row][:, offset < rho] > 0)
        np.testing.assert_allclose(w_local[row].sum(-1), 1.0)
    assert np.all(w_global > 0)


def test_random_scene_bias_shapes_differ_per_head() -> None:
    """The drawn heads show distinct biases (flat, decaying, one-sided): LOCAL-2."""
    scene = plot.random_scene(AHAConfig(window=8, max_rel_dist=8), seq_len=8, heads=3)
    table = scene.local.rel_bias
    offsets = bias_index(8, 8)  # table column of query i, key j
    assert np.all(table[0] == 0)
    assert table[1][offsets[4, 4]] == 0 and table[1][offsets[7, 0]] < table[1][offsets[4, 3]]
    assert table[2][offsets[5, 0]] > 0 > table[2][offsets[0, 5]]  # earlier keys favoured


def test_a_local_case_marks_its_own_span_scale() -> None:
    case = next(c for c in corpus.load().cases if c.id == "local/batch-distinct-span-and-padding")
    scene = plot.case_scene(case, batch=1)
    own = float(case.inputs["span_scale"][1])
    assert scene.own_scale == own and own in scene.span_scales
    assert scene.mask is not None and scene.mask.shape == (1, scene.seq_len)


def test_the_readme_pictures_exist_and_are_not_blank() -> None:
    """The README shows a picture by `aha plot` and a view of a report (docs/images/)."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    for name in ("aha-plot.png", "report.png"):
        assert f"(docs/images/{name})" in readme
        assert_not_blank(decoded_png(root / "docs" / "images" / name))
    assert "bash docs/images/regenerate.sh" in readme


def test_long_sequences_are_max_pooled_per_block() -> None:
    """Above MAX_PIXELS positions a picture cell is the largest weight of its block, so a
    band one key wide stays visible (LOCAL-1)."""
    config = AHAConfig(window=4, max_rel_dist=4)
    scene = plot.random_scene(config, seq_len=40, heads=1, head_dim=4, span_scales=(0.25,))
    _, pooled = plot.weights(scene, heads=1, side=16)  # blocks of 3 positions: 14 × 14
    loc = scene.local
    _, full = local_attention(loc.q, loc.k, loc.v, 0.25, loc.rel_bias, config, return_weights=True)
    padded = np.zeros((42, 42))
    padded[:40, :40] = full[0, 0]
    np.testing.assert_array_equal(pooled[0, 0], padded.reshape(14, 3, 14, 3).max(axis=(1, 3)))


def test_a_sequence_too_long_to_draw_is_named(capsys) -> None:
    assert main(["plot", "--seq-len", str(plot.MAX_SEQ_LEN + 1), "--heads", "1"]) == 2
    assert f"T={plot.MAX_SEQ_LEN + 1} is longer than aha plot draws" in capsys.readouterr().err

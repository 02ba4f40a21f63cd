"""evaluate --compare: the paired test against known cases, and the command on two small models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cephview.cli import main
from cephview.model.compare import bootstrap_mean_interval, holm_adjust, paired_test, per_image_mre

# Darwin's paired plant heights (cross- minus self-fertilised, eighths of an inch), the example
# of scipy.stats.wilcoxon's documentation: W = 24, exact two-sided p = 0.04126.
DARWIN = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75], dtype=float)


def test_wilcoxon_on_darwins_data():
    base = np.linspace(10, 20, DARWIN.size)
    t = paired_test(base, base + DARWIN)
    assert t.statistic == 24 and t.p_value == pytest.approx(0.041259765625)
    assert t.mean_difference == pytest.approx(DARWIN.mean()) and t.b_better == 2
    assert t.ci_low < DARWIN.mean() < t.ci_high


def test_identical_models_are_not_different_and_a_constant_shift_is():
    a = np.random.default_rng(0).uniform(0.5, 2.0, 40)
    same = paired_test(a, a.copy())
    assert same.p_value == 1.0 and same.mean_difference == 0.0
    shifted = paired_test(a, a - 0.1)
    assert shifted.p_value < 1e-6 and shifted.b_better == 40
    assert shifted.ci_low == pytest.approx(-0.1) and shifted.ci_high == pytest.approx(-0.1)


def test_bootstrap_interval_covers_the_mean_at_about_the_normal_width():
    d = np.random.default_rng(1).normal(0.3, 1.0, 400)
    low, high = bootstrap_mean_interval(d, 4000, seed=2)
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert low < d.mean() < high
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_holm_adjustment():
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5]) == [0.5]


def test_per_image_mre_leaves_out_missing_landmarks():
    errors = np.array([[1.0, 3.0, np.nan], [np.nan, np.nan, np.nan]])
    out = per_image_mre(errors)
    assert out[0] == 2.0 and np.isnan(out[1])


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from cephview.core.synthetic import write_synthetic_dataset

    folder = tmp_path_factory.mktemp("images")
    write_synthetic_dataset(folder, 4, seed=7, width=240, height=300)
    return folder


@pytest.mark.slow
def test_evaluate_compare_prints_one_table_and_the_paired_test(image_folder, tiny_model_path, tmp_path, capsys):
    from cephview.model.modelfile import load_model, save_model

    other = load_model(tiny_model_path)
    other.meta["version"] = "tiny-other"
    net = other.stages["global"][1]
    for p in net.head.parameters():
        p.data.mul_(-1.0)  # another network: other predictions
    save_model(other, tmp_path / "other.pt")
    js = tmp_path / "c.json"
    code = main(["evaluate", "--images", str(image_folder), "--annotations", str(image_folder / "landmarks.csv"),
                 "--compare", str(tiny_model_path), str(tmp_path / "other.pt"), "--json", str(js)])
    out = capsys.readouterr().out
    assert code == 0
    assert "tiny.pt" in out and "other.pt" in out and "MRE px" in out
    assert "tiny.pt vs other.pt" in out and "Wilcoxon" in out
    data = json.loads(js.read_text())
    assert [m["version"] for m in data["models"]] == ["tiny-test", "tiny-other"]
    assert len(data["models"][0]["per_image_mre"]) == 4 and len(data["pairs"]) == 1
    a, b = (np.array(m["per_image_mre"]) for m in data["models"])
    assert data["pairs"][0]["mean_difference"] == pytest.approx(float(np.mean(b - a)))


def test_compare_needs_two_models(image_folder, tiny_model_path, capsys):
    code = main(["evaluate", "--images", str(image_folder), "--annotations", str(image_folder / "landmarks.csv"),
                 "--compare", str(tiny_model_path)])
    assert code == 2 and "at least two" in capsys.readouterr().err

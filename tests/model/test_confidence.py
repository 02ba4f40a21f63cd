"""Confidence: the metrics, the calibration model and its file, the shape model, the refinement guard."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cephview.core.errors import ModelFileError
from cephview.core.schema import load_schema
from cephview.model.confidence import (
    ConfidenceCalibration,
    HeatmapMass,
    calibration_for,
    calibration_path,
    fit_calibration,
    load_calibration,
)
from cephview.model.confidence_metrics import (
    catch_rate,
    confidence_report,
    expected_calibration_error,
    failure_auc,
    reliability,
)
from cephview.model.confidence_signals import RawSignals, ShapeModel, align_to, features
from cephview.model.predictor import MAX_REFINE_SHIFT_MM, Predictor

CODES = load_schema("isbi2015").codes


# ---------------------------------------------------------------------------- metrics
def test_auc_counts_how_often_a_failure_is_less_confident_than_a_success():
    conf = np.array([0.1, 0.2, 0.9, 0.8, 0.3])
    errors = np.array([5.0, 1.0, 0.5, 6.0, 0.2])  # failures (> 4 mm): 0.1 and 0.8
    # pairs (failure, success): 0.1 below all three successes; 0.8 below only 0.9 -> 4 of 6
    assert failure_auc(conf, errors, 4.0) == pytest.approx(4 / 6)
    assert failure_auc(conf, np.zeros(5), 4.0) != failure_auc(conf, np.zeros(5), 4.0)  # NaN: no failure


def test_catch_rate_is_the_share_of_failures_among_the_least_confident_tenth():
    conf = np.linspace(0.0, 1.0, 100)
    errors = np.zeros(100)
    errors[[0, 5, 50, 99]] = 10.0  # two of four among the 10 least confident
    assert catch_rate(conf, errors) == pytest.approx(0.5)


def test_calibration_error_is_zero_when_each_bin_holds_its_promise_and_large_when_not():
    conf = np.repeat([0.25, 0.75], 100)
    errors = np.concatenate([np.r_[np.zeros(25), np.full(75, 3.0)], np.r_[np.zeros(75), np.full(25, 3.0)]])
    assert expected_calibration_error(conf, errors) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(200, 0.99), errors) == pytest.approx(0.49)
    bins = reliability(conf, errors)
    assert [b.count for b in bins if b.count] == [100, 100]
    report = confidence_report(conf, errors)
    assert report.count == 200 and report.within_2mm == pytest.approx(0.5) and report.gross == 0


# ---------------------------------------------------------------------------- calibration model
def synthetic_samples(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    landmark = rng.integers(0, len(CODES), n)
    signal = rng.normal(0, 1, n)
    noise = rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-(1.5 + 2.0 * signal - 0.5 * (landmark == 3))))
    within = rng.uniform(0, 1, n) < p
    return np.stack([signal, noise], axis=1), landmark, within


def test_the_fit_finds_the_signal_and_ignores_the_noise():
    x, landmark, within = synthetic_samples()
    cal = fit_calibration(x, landmark, within, ("refine_mass", "global_mass"), CODES)
    assert cal.coef[0] / cal.scale[0] > 1.5 and abs(cal.coef[1]) < 0.2
    p = cal.probability_for(x, landmark)
    assert abs(p.mean() - within.mean()) < 0.01  # calibrated in the large
    assert cal.intercept[3] < np.median(cal.intercept)  # the harder landmark


def test_a_calibration_file_round_trips_and_a_malformed_one_is_an_error(tmp_path):
    x, landmark, within = synthetic_samples(500)
    cal = fit_calibration(x, landmark, within, ("refine_mass", "global_mass"), CODES)
    path = tmp_path / "m.confidence.json"
    cal.save(path)
    again = load_calibration(path)
    assert again.features == cal.features and np.allclose(again.coef, cal.coef, atol=1e-5)
    data = json.loads(path.read_text())
    for broken in (
        {**data, "coef": data["coef"][:1]},
        {**data, "intercept": data["intercept"] + [0.0]},
        {**data, "features": ["refine_mass", "telepathy"]},
        {**data, "scale": [0.0, 1.0]},
        {k: v for k, v in data.items() if k != "mean"},
        {**data, "format": "something else"},
        {**data, "features": ["refine_mass", "shape_residual_mm"]},  # shape signal without a shape model
    ):
        path.write_text(json.dumps(broken))
        with pytest.raises(ModelFileError, match="m.confidence.json"):
            load_calibration(path)
    path.write_text("{ not json")
    with pytest.raises(ModelFileError, match="m.confidence.json"):
        load_calibration(path)


def test_the_model_file_finds_its_calibration_beside_it_and_a_broken_one_stops_it(tiny_model_path, tmp_path):
    from cephview.model.modelfile import load_model

    own = tmp_path / "mine.pt"
    shutil.copy(tiny_model_path, own)
    model = load_model(own)
    # No file of its own: the shipped model's, for the same landmarks.
    assert isinstance(calibration_for(model), ConfidenceCalibration)
    calibration_path(own).write_text('{"format": "cephview-confidence", "features": []}')
    with pytest.raises(ModelFileError, match="mine.confidence.json"):
        Predictor(model)


# ---------------------------------------------------------------------------- signals
def raw_signals(k: int = 19, shift_mm: float = 0.5) -> RawSignals:
    rng = np.random.default_rng(1)
    g = rng.uniform(100, 1000, (k, 2))
    refined = (g + [shift_mm / 0.1, 0.0])[None]
    return RawSignals(refined[0], g, np.full(k, 0.8), np.full(k, 20.0), np.zeros(k), refined,
                      np.full((1, k), 0.7), np.full((1, k), 10.0), np.zeros(k), 1.0)


def test_features_are_in_training_millimetres_whatever_the_pixel_size():
    raw = raw_signals(shift_mm=2.0)
    x = features(raw, ("stage_shift_mm", "refine_mass"))
    assert np.allclose(x[:, 0], np.log1p(2.0)) and np.allclose(x[:, 1], np.log(0.7 / 0.3))
    half = raw_signals(shift_mm=1.0)  # the same anatomy on a device drawing it at half the size
    half.anatomy_scale = 0.5
    assert np.allclose(features(half, ("stage_shift_mm",))[:, 0], np.log1p(2.0))
    with pytest.raises(ValueError, match="global_view_shift_mm"):
        features(raw, ("global_view_shift_mm",))


def test_heatmap_mass_is_the_fallback_without_a_calibration():
    raw = raw_signals()
    assert np.allclose(HeatmapMass().probability(raw), 0.7)


def test_the_shape_model_points_at_the_displaced_landmark(isbi_root):
    from cephview.core.datasets import read_isbi2015

    shapes = np.stack([item.points for item in read_isbi2015(isbi_root, "train").images[:100]])
    model = ShapeModel.fit(shapes)
    truth = read_isbi2015(isbi_root, "train").images[120].points
    moved = truth.copy()
    moved[1] += [80.0, 0.0]  # nasion 8 mm forward
    growth = model.residual_px(moved) - model.residual_px(truth)
    assert int(np.argmax(growth)) == 1 and growth[1] > 30.0  # most of the 80 px shows at nasion
    aligned, scale = align_to(moved * 0.5 + 7.0, moved)
    assert scale == pytest.approx(2.0) and np.allclose(aligned, moved)


def test_a_refinement_that_jumps_far_from_the_whole_image_estimate_is_not_trusted():
    g = np.zeros((3, 2))
    refined = np.array([[10.0, 0.0], [(MAX_REFINE_SHIFT_MM + 0.5) / 0.1, 0.0], [40.0, 0.0]])
    assert Predictor._trusted_refinement(g, refined, 1.0).tolist() == [1.0, 0.0, 1.0]
    # on a device drawing the head at half size, 40 px is 8 mm of anatomy
    assert Predictor._trusted_refinement(g, refined, 0.5).tolist() == [1.0, 0.0, 0.0]


def test_the_two_part_model_ranks_rare_far_errors_first_and_stays_a_probability_within_2_mm(tmp_path):
    """Landmarks 1-4 are often a little off, whatever the signal says; landmarks 5 and 6 rarely
    off, but then far off, and the signal tells when. The two-part model puts the far errors
    below the small ones (one logistic model for P(within 2 mm) fills its least confident tenth
    with the small ones), its probability of being within 2 mm holds on average, and the file
    keeps both parts."""
    from cephview.model.confidence import fit_two_part

    rng = np.random.default_rng(1)
    n = 6000
    landmark = rng.integers(0, len(CODES), n)
    signal = rng.normal(0, 1, n)
    errors = rng.gamma(2.0, 0.4, n)
    often = np.isin(landmark, [1, 2, 3, 4]) & (rng.uniform(0, 1, n) < 0.6)
    errors[often] = rng.uniform(2.2, 3.8, often.sum())
    far = np.isin(landmark, [5, 6]) & (signal < -1.0)
    errors[far] = rng.uniform(5.0, 9.0, far.sum())
    x = np.stack([signal, rng.normal(0, 1, n)], axis=1)
    cal = fit_two_part(x, landmark, errors, ("refine_mass", "global_mass"), CODES)
    p = cal.probability_for(x, landmark)
    assert abs(p.mean() - (errors <= 2.0).mean()) < 0.01
    one_part = fit_calibration(x, landmark, errors <= 2.0, ("refine_mass", "global_mass"), CODES)
    assert catch_rate(p, errors) > catch_rate(one_part.probability_for(x, landmark), errors) + 0.15
    path = tmp_path / "two.confidence.json"
    cal.save(path)
    again = load_calibration(path)
    assert np.allclose(again.probability_for(x[:50], landmark[:50]), p[:50], atol=1e-5)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "gross_intercept": data["gross_intercept"][:3]}))
    with pytest.raises(ModelFileError, match="gross-error part"):
        load_calibration(path)


def test_a_film_facing_the_other_way_has_the_same_shape_residual(isbi_root):
    """The points of a left-facing film are the training shapes' mirror image: no rotation
    aligns them, so without trying the mirror every landmark looked 30-160 mm off."""
    from cephview.core.datasets import read_isbi2015

    train = read_isbi2015(isbi_root, "train").images
    shape = ShapeModel.fit(np.stack([item.points for item in train[:100]]))
    truth = train[120].points
    mirrored = truth * np.array([-1.0, 1.0]) + np.array([1935.0, 0.0])
    assert np.allclose(shape.residual_px(mirrored), shape.residual_px(truth), atol=1e-6)


@pytest.mark.slow
def test_the_shipped_confidence_is_the_same_for_a_mirrored_film_and_finite_without_refinement(isbi_root):
    from cephview.core.radiograph import load_radiograph

    predictor = Predictor.from_file()
    pixels = load_radiograph(isbi_root / "RawImage" / "Test1Data" / "151.jpg").model_pixels
    right = predictor.predict(pixels)
    left = predictor.predict(np.ascontiguousarray(pixels[:, ::-1]))
    assert (right.facing, left.facing) == ("right", "left")
    assert np.allclose(left.confidence, right.confidence, atol=0.01)
    # Without the refinement stage the refinement's signals come from the whole-image map.
    whole_only = predictor.predict(pixels, refine=False).confidence
    assert np.isfinite(whole_only).all() and ((whole_only > 0) & (whole_only < 1)).all()


def test_without_refinement_the_patch_maps_second_peak_is_the_whole_image_maps(tiny_model_path):
    """As the refinement's other signals: a calibration using refine_second still gives a
    confidence when the refinement is left out (``predict --no-refine``, a one-stage model)."""
    from cephview.model.confidence import fit_calibration
    from cephview.model.modelfile import load_model

    raw = raw_signals()
    raw.refine_second = np.full((1, 19), 0.25)
    raw.global_second = np.full(19, 0.5)
    assert np.allclose(features(raw, ("refine_second",))[:, 0], 0.25)
    raw.refined_points = None
    assert np.allclose(features(raw, ("refine_second",))[:, 0], 0.5)

    model = load_model(tiny_model_path)
    codes = load_schema(model.schema).codes
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (400, 1))
    landmark = rng.integers(0, len(codes), 400)
    cal = fit_calibration(x, landmark, x[:, 0] < 0.5, ("refine_second",), codes)
    predictor = Predictor(model, calibration=cal)
    pixels = (rng.uniform(0, 255, (320, 288))).astype(np.uint8)
    for refine in (True, False):
        conf = predictor.predict(pixels, refine=refine).confidence
        assert conf.shape == (len(codes),) and np.isfinite(conf).all(), refine


def test_the_ensemble_bench_keeps_the_points_of_fewer_images_apart(tiny_model_path, tmp_path):
    """``bench_confidence.py --ensemble`` caches each model's points per set; ``--n`` scores the
    first N images of a set of the same name, which must not get the points of another N."""
    import importlib.util
    import sys
    from pathlib import Path

    from PIL import Image

    from cephview.model.modelfile import load_model

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_confidence.py"
    spec = importlib.util.spec_from_file_location("bench_confidence", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    from confidence_sets import SignalSet  # scripts/, on the path the script set

    rng = np.random.default_rng(3)
    names = []
    for i in range(2):
        names.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 255, (320, 288), dtype=np.uint8)).save(names[-1])
    model = load_model(tiny_model_path)
    k = len(load_schema(model.schema).codes)

    def test1(n: int) -> SignalSet:
        return SignalSet("ISBI Test1", [], np.zeros((n, k, 2)), np.zeros((n, k)), names[:n])

    both = bench.ensemble_points(model, test1(2), tmp_path)
    first = bench.ensemble_points(model, test1(1), tmp_path)
    assert both.shape == (2, k, 2) and first.shape == (1, k, 2)
    assert np.allclose(first[0], both[0], atol=1e-3)

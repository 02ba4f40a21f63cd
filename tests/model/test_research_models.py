"""The research architectures on synthetic cephalograms: regression, plain heatmaps, the CVM head,
transfer initialisation and head-first epochs (mechanics, not accuracy)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets import AnnotatedImage, LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.model.config import StageConfig, TrainConfig
from cephview.model.modelfile import build_network, load_model
from cephview.model.predictor import Predictor
from cephview.model.train import fit

STAGES = [3, 3, 5, 5, 6, None]  # CVM stages of the six images (synthetic labels: mechanics only)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from cephview.core.synthetic import synthetic_cephalogram

    folder = tmp_path_factory.mktemp("synthetic")
    items = []
    for seed, stage in enumerate(STAGES):
        image, points = synthetic_cephalogram(seed, width=240, height=300)
        path = folder / f"{seed:03d}.png"
        cv2.imwrite(str(path), image)
        items.append(AnnotatedImage(path, points.copy(), Calibration.isotropic(0.4, CalibrationSource.USER),
                                    cvm_stage=stage))
    return LandmarkDataset(load_schema("isbi2015"), items, "synthetic with CVM stages")


def one_stage(architecture: str, **kw) -> TrainConfig:
    stage = StageConfig(kind="global", architecture=architecture, encoder="resnet18", input_width=64,
                        input_height=64, output_stride=kw.pop("output_stride", 2), sigma=1.5,
                        cvm_classes=kw.pop("cvm_classes", 0))
    kw = {"epochs_global": 1, "batch_size_global": 2, "val_fraction": 0.34, "pretrained": False, **kw}
    return TrainConfig(stages=["global"], global_stage=stage, **kw)


@pytest.mark.slow
def test_regression_model_trains_predicts_and_has_no_confidence(dataset, tmp_path):
    model = fit(dataset, one_stage("regression", epochs_global=2), tmp_path / "r.pt")
    loaded = load_model(tmp_path / "r.pt")
    assert loaded.stages["global"][0].architecture == "regression" and "refine" not in loaded.stages
    assert np.isfinite(loaded.meta["validation"]["global"]["mre"])
    image = cv2.imread(str(dataset.images[0].image_path), cv2.IMREAD_GRAYSCALE)
    pred = Predictor(loaded).predict(image)
    assert pred.points.shape == (19, 2) and np.isnan(pred.confidence).all()
    assert (pred.points[:, 0] >= 0).all() and (pred.points[:, 0] <= 239).all()
    # a mirrored image read as facing left gives the mirrored points
    left = Predictor(loaded).predict(np.ascontiguousarray(image[:, ::-1]), facing="left")
    assert np.allclose(left.points[:, 0], 239 - pred.points[:, 0], atol=1.0)
    assert np.allclose(left.points[:, 1], pred.points[:, 1], atol=1.0)
    assert model.version == loaded.version


def test_regression_output_maps_back_to_the_image_exactly():
    """A regression output at a known input position lands at the original pixel it came from."""
    from cephview.model import coords
    from cephview.model.regression import output_to_heatmap_points
    from cephview.model.samples import global_base_transform

    stage = StageConfig(kind="global", architecture="regression", input_width=256, input_height=256)
    base = global_base_transform(1935, 2400, stage)
    original = np.array([[800.0, 1200.0], [10.0, 2300.0]])
    frac = coords.apply(base, original) / np.array([256.0, 256.0])
    hm = output_to_heatmap_points(frac, stage)
    back = coords.apply(coords.invert(coords.input_to_heatmap(stage.output_stride) @ base), hm)
    assert np.allclose(back, original, atol=1e-6)


@pytest.mark.slow
def test_plain_heatmap_network_trains_at_stride_4(dataset, tmp_path):
    fit(dataset, one_stage("heatmap", output_stride=4), tmp_path / "h.pt")
    loaded = load_model(tmp_path / "h.pt")
    cfg, net = loaded.stages["global"]
    assert cfg.architecture == "heatmap" and net(torch.zeros(1, 1, 64, 64)).shape == (1, 19, 16, 16)
    pred = Predictor(loaded).predict(np.zeros((300, 240), np.uint8))
    assert pred.points.shape == (19, 2) and np.isfinite(pred.confidence).all()


@pytest.mark.slow
def test_cvm_head_trains_with_class_weights_and_reports_macro_f1(dataset, tmp_path):
    model = fit(dataset, one_stage("regression", cvm_classes=6, epochs_global=2), tmp_path / "c.pt")
    cvm = load_model(tmp_path / "c.pt").meta["cvm"]
    assert set(cvm) >= {"macro_f1", "recall", "accuracy", "confusion", "count"}
    # the validation images with a stage, each counted once in the confusion matrix
    assert sum(map(sum, cvm["confusion"])) == cvm["count"] >= 1
    assert set(cvm["recall"]) == {f"CS{i}" for i in range(1, 7)}
    history = model.meta["history"]["global"]
    assert all("cvm" in h for h in history)
    net = model.stages["global"][1]
    _, logits = net(torch.zeros(2, 1, 64, 64), with_cvm=True)
    assert logits.shape == (2, 6)


def test_cvm_head_without_stages_in_the_data_is_a_clear_error(dataset, tmp_path):
    unlabelled = LandmarkDataset(dataset.schema, [
        AnnotatedImage(it.image_path, it.points, it.calibration) for it in dataset.images], "no stages")
    with pytest.raises(CephviewError, match="no training image has a CVM stage"):
        fit(unlabelled, one_stage("regression", cvm_classes=6), tmp_path / "x.pt")


@pytest.mark.slow
def test_transfer_takes_the_encoder_of_another_architecture(dataset, tmp_path):
    source = tmp_path / "source.pt"
    fit(dataset, one_stage("heatmap", output_stride=4), source)
    cfg = one_stage("unet", epochs_global=0, transfer_from=str(source))
    cfg.global_stage.input_width = cfg.global_stage.input_height = 96  # another input size too
    model = fit(dataset, cfg, tmp_path / "t.pt")
    theirs = load_model(source).stages["global"][1].state_dict()
    ours = model.stages["global"][1].state_dict()
    encoder = [k for k in ours if k.startswith("encoder.")]
    assert encoder and all(torch.equal(ours[k], theirs[k]) for k in encoder)
    assert not any(k.startswith("up") for k in theirs)  # the U-Net decoder had nothing to take
    summary = model.meta["transfer"]["stages"]["global"]
    assert summary["tensors"] == len(encoder) and summary["by_module"] == {"encoder": len(encoder)}
    cfg = one_stage("unet", epochs_global=0, transfer_from=str(source))
    cfg.global_stage.encoder = "efficientnet_lite0"
    with pytest.raises(CephviewError, match="none of its global stage's weights fits"):
        fit(dataset, cfg, tmp_path / "u.pt")


@pytest.mark.slow
def test_head_first_epochs_leave_the_encoder_as_it_started(dataset, tmp_path):
    cfg = one_stage("heatmap", output_stride=4, head_only_epochs=1, val_fraction=0.0)
    torch.manual_seed(cfg.seed)  # fit seeds torch the same way before it builds the network
    start = build_network(cfg.global_stage, 19).state_dict()
    model = fit(dataset, cfg, tmp_path / "h.pt")
    end = model.stages["global"][1].state_dict()
    assert all(torch.equal(start[k], end[k]) for k in start if k.startswith("encoder."))
    assert any(not torch.equal(start[k], end[k]) for k in start if k.startswith(("decoder.", "head.")))

"""The Training tab: fine-tuning from the GUI in a worker process, with tiny models and synthetic images.

Mechanics only (the accuracy of fine-tuning is the core's and the benchmark's business): a run
adds a version and switches predictions to it, a cancelled run changes nothing, a version that is
not better is kept aside until "Use new model anyway", "Restore this version" goes back, and the
review stays usable (event-loop latency measured) while a model trains.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import GapMeter

from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.core.schema import load_schema
from cephview.core.store import ProjectStore
from cephview.core.synthetic import write_synthetic_dataset

CODES = load_schema("isbi2015").codes
REVIEWED, UNREVIEWED = 6, 2
AI_OFFSET = 6.0
RUN_TIMEOUT_MS = 600_000  # a spawned process on a loaded 2-core machine, at low priority


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    """An untrained tiny two-stage model carrying its (tiny) training recipe."""
    import torch

    from cephview.model.config import tiny_train_config
    from cephview.model.modelfile import save_model, untrained_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("base") / "base.pt"
    save_model(untrained_model(tiny_train_config(), meta={"version": "tiny-base"}), path)
    return path


def make_project(folder: Path) -> list[str]:
    """REVIEWED images marked reviewed (S left as the AI put it, Se accepted, the rest corrected
    AI_OFFSET px), then UNREVIEWED images with AI positions only. Returns the keys in order."""
    data = write_synthetic_dataset(folder, REVIEWED + UNREVIEWED, seed=5, width=192, height=240)
    keys = []
    with ProjectStore.open(folder) as store:
        for i, item in enumerate(data.images):
            rel = store.add_image(item.image_path).rel_path
            ann = ImageAnnotation.empty(rel, "isbi2015")
            ann.calibration = item.calibration
            for k, code in enumerate(CODES):
                x, y = item.points[k]
                lm = ann.landmarks[code].with_prediction(x + AI_OFFSET, y, 0.5, "tiny-base")
                if i < REVIEWED and k == 1:
                    lm = lm.accepted()
                elif i < REVIEWED and k > 1:
                    lm = lm.moved_to(x, y)
                ann.landmarks[code] = lm
            ann.reviewed = i < REVIEWED
            store.save_annotation(ann)
            keys.append(rel)
    return keys


def models_snapshot(folder: Path) -> dict[str, str]:
    models = folder / "models"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(models.rglob("*")) if p.is_file()} \
        if models.exists() else {}


@pytest.fixture
def training_window(make_window, base_model, tmp_path, qtbot):
    """The main window on the synthetic project, the Training tab in front, no prediction running."""
    folder = tmp_path / "project"
    keys = make_project(folder)
    window = make_window(model_path=base_model)
    assert window.open_paths([folder])
    window.docks["training"].raise_()
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=60_000)
    qtbot.waitUntil(lambda: window.training.training_images > 0, timeout=10_000)
    return window, folder, keys


def wait_idle(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: not panel.service.busy, timeout=RUN_TIMEOUT_MS)


# ---------------------------------------------------------------------------- counts (no training)
def test_counts_only_the_clinicians_landmarks(training_window):
    window, folder, keys = training_window
    panel = window.training
    assert panel.training_images == REVIEWED
    # S stayed an AI position on every reviewed image: it teaches nothing and is not counted.
    assert panel.training_landmarks == REVIEWED * (len(CODES) - 1)
    assert panel.stats.reviewed == REVIEWED * (len(CODES) - 1) and panel.stats.corrected == REVIEWED * (len(CODES) - 2)
    assert "6</b> of 8 images marked reviewed" in panel.summary.text()
    mm = load_calibration_mm(folder, keys[0])
    assert panel.corrections.unit == "mm"
    assert panel.corrections.mean_of(CODES[2]) == pytest.approx(AI_OFFSET * mm, abs=0.01)
    assert panel.corrections.mean_of(CODES[1]) == 0.0  # accepted: the AI was right
    assert panel.corrections.mean_of(CODES[0]) is None  # never reviewed
    assert [panel.versions.item(r, 1).text() for r in range(panel.versions.rowCount())] == ["base"]
    assert panel.versions.item(0, 0).text() == "\u25cf" and not panel.restore_button.isEnabled()
    assert panel.epochs.value() == 10 and panel.lr.value() == pytest.approx(2e-4)  # FinetuneSettings defaults
    assert panel.form.adapt_scale.isChecked() and panel.settings().adapt_scale
    panel.form.adapt_scale.setChecked(False)
    assert not panel.settings().adapt_scale
    panel.form.adapt_scale.setChecked(True)


def test_a_reviewed_landmark_that_breaks_the_proportions_is_pointed_out(training_window, monkeypatch):
    window, folder, keys = training_window
    panel = window.training
    assert panel.suspect_list == [] and panel.suspects.isHidden()
    assert window.project.open_image(keys[2])  # a reviewed image; the clinician drops Go far off
    w, h = window.session.image_size()
    go = window.session.landmark("Go")
    asked = []  # the window asks first; this clinician insists on the position
    monkeypatch.setattr("cephview.gui.dialogs.ask_confirm_outlier", lambda parent, code, dev: asked.append(code) or True)
    assert window.controller.move("Go", go.x - 0.6 * w, go.y - 0.6 * h)
    assert asked == ["Go"]
    panel.refresh()
    assert panel.suspect_list == [(Path(keys[2]).name, "Go")]
    assert not panel.suspects.isHidden() and f"{Path(keys[2]).name} Go" in panel.suspects.text()
    assert panel.training_images == REVIEWED  # pointed out, not dropped
    window.act.undo.trigger()
    panel.refresh()
    assert panel.suspect_list == [] and panel.suspects.isHidden()


def load_calibration_mm(folder: Path, key: str) -> float:
    with ProjectStore.open(folder, create=False) as store:
        return store.load_annotation(key).calibration.col_mm


# ---------------------------------------------------------------------------- a run that helps
@pytest.mark.slow
def test_run_adds_a_version_switches_predictions_and_keeps_the_review_usable(training_window, qtbot, monkeypatch):
    window, folder, keys = training_window
    # (50, 60) is far from where Po belongs: the window asks first, and this clinician saves it
    monkeypatch.setattr("cephview.gui.dialogs.ask_confirm_outlier", lambda *a: True)
    panel = window.training
    open_key = window.session.rel_path
    assert open_key == keys[REVIEWED]  # the first image still to review
    panel.epochs.setValue(1)
    panel.lr.setValue(0.001)
    epochs_seen = []
    panel.service.progress.connect(lambda p: p.train is not None and p.train.finished_epoch and epochs_seen.append(p))
    meter = GapMeter()
    meter.start()
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        assert panel.start_finetune()
        assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
        # Review while it trains: a correction on the open image, then the next image opens.
        qtbot.waitUntil(lambda: panel.phase.text().startswith("Training"), timeout=RUN_TIMEOUT_MS)
        with meter.paused():
            assert window.controller.move(CODES[3], 50.0, 60.0)
            window.project.step_image(1)
            assert window.session.rel_path == keys[REVIEWED + 1]
            window.project.step_image(-1)
    meter.stop()
    meter.check("while fine-tuning in a process")

    result = finished.args[0]
    assert result is not None and result.version.version == "v1" and epochs_seen
    assert {p.train.stage for p in epochs_seen} == {"global", "refine"}
    assert len(panel.plot.losses["global"]) == 1
    assert result.promoted, result.summary()  # an untrained model: one epoch is far better
    assert "v1 is now the active model" in panel.result_label.text()
    assert not panel.use_anyway_button.isVisible()
    rows = {panel.versions.item(r, 1).text(): panel.versions.item(r, 0).text() for r in range(panel.versions.rowCount())}
    assert rows == {"base": "", "v1": "\u25cf"}

    # Predictions follow the registry: the worker now loads v1, and the unreviewed images are done again.
    wait_idle(qtbot, panel)
    from cephview.model.registry import ModelRegistry

    with ProjectStore.open(folder, create=False) as store:
        registry = ModelRegistry(store, window.model_path)
        assert registry.active == "v1"
        assert window.model_follower.in_use == registry.active_path().resolve()
        new_version = registry.get("v1").model_version
        for key in keys[REVIEWED:]:
            ann = store.load_annotation(key)
            ai = [lm for lm in ann.landmarks.values() if lm.status is LandmarkStatus.AI]
            assert ai and all(lm.model_version == new_version for lm in ai)
        moved = store.load_annotation(open_key).landmarks[CODES[3]]
        assert moved.status is LandmarkStatus.CORRECTED and (moved.x, moved.y) == (50.0, 60.0)
        assert moved.model_version == "tiny-base"  # a reviewed record keeps the AI position it was judged on
        for key in keys[:REVIEWED]:  # marked reviewed: untouched
            assert store.load_annotation(key).landmarks[CODES[0]].model_version == "tiny-base"
    # The open image was read again, and a new prediction comes from v1.
    assert window.session.landmark(CODES[5]).model_version == new_version
    with qtbot.waitSignal(window.prediction.succeeded, timeout=60_000) as predicted:
        window.predictions.predict_current()
    assert predicted.args[0].model_version == new_version


# ---------------------------------------------------------------------------- cancel
def landmark_records(store: ProjectStore, keys: list[str]) -> list[dict]:
    """Every landmark record (the window saves zoom and window/level too: display, not data)."""
    return [store.load_annotation(k).landmarks for k in keys]


@pytest.mark.slow
def test_cancel_leaves_the_current_model_untouched(training_window, qtbot):
    window, folder, keys = training_window
    panel = window.training
    with ProjectStore.open(folder, create=False) as store:
        before = (store.get_setting("model_registry"), landmark_records(store, keys))
    panel.epochs.setValue(200)
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.start_finetune()
        qtbot.waitUntil(lambda: panel.phase.text().startswith("Training"), timeout=RUN_TIMEOUT_MS)
        panel.cancel_button.click()
    assert finished.args[0] is None
    wait_idle(qtbot, panel)
    assert "unchanged" in panel.phase.text() and panel.progress.format() == "cancelled"
    with ProjectStore.open(folder, create=False) as store:
        assert (store.get_setting("model_registry"), landmark_records(store, keys)) == before
    assert models_snapshot(folder) == {}  # no version, no leftover checkpoint
    assert [panel.versions.item(r, 1).text() for r in range(panel.versions.rowCount())] == ["base"]
    assert panel.start_button.isEnabled()


# ---------------------------------------------------------------------------- not better, use anyway, restore
@pytest.mark.slow
def test_a_version_not_better_is_kept_aside_until_used_anyway_and_restore_goes_back(training_window, qtbot, monkeypatch):
    from cephview.model.finetune.settings import FinetuneSettings
    from cephview.model.registry import ModelRegistry

    window, folder, keys = training_window
    panel = window.training
    # 0 epochs: the new model equals the current one, so it cannot measure better (deterministic).
    monkeypatch.setattr(panel, "settings", lambda: FinetuneSettings(epochs=0))
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.start_finetune()
    result = finished.args[0]
    assert not result.promoted and result.reason == "not better on the held-out images"
    assert result.before.mre == result.after.mre
    text = panel.result_label.text()
    assert "current (base)" in text and "new (v1)" in text and "kept aside" in text
    assert panel.use_anyway_button.isVisible() and panel.use_anyway_button.isEnabled()
    base_path = Path(window.model_path).resolve()
    assert window.model_follower.in_use == base_path

    with qtbot.waitSignal(panel.activeModelChanged, timeout=10_000) as changed:
        panel.use_anyway_button.click()
    with ProjectStore.open(folder, create=False) as store:
        registry = ModelRegistry(store, window.model_path)
        assert registry.active == "v1" and registry.get("v1").forced
        v1 = registry.path("v1")
    assert Path(changed.args[0]) == v1
    assert window.model_follower.in_use == v1.resolve()
    assert not panel.use_anyway_button.isEnabled()
    assert "by hand" in panel.versions.item(1, 6).text()
    wait_idle(qtbot, panel)  # the unreviewed images were predicted again with v1

    panel.versions.select_version("base")
    assert panel.restore_button.isEnabled()
    panel.restore_button.click()
    with ProjectStore.open(folder, create=False) as store:
        assert ModelRegistry(store, window.model_path).active == "base"
    assert window.model_follower.in_use == base_path
    assert panel.versions.item(0, 0).text() == "\u25cf" and panel.versions.item(1, 0).text() == ""
    wait_idle(qtbot, panel)
    assert sorted(models_snapshot(folder)) == ["v1.pt"]  # every version is kept


@pytest.mark.slow
def test_a_run_finishing_while_another_project_is_open_still_updates_its_own_project(
        training_window, qtbot, monkeypatch, tmp_path):
    """The clinician opens another project during a run: the promoted model still re-predicts the
    unreviewed images of the project it was trained for, and nothing of the open one changes."""
    from cephview.model.finetune.settings import FinetuneSettings
    from cephview.model.registry import ModelRegistry

    window, folder, keys = training_window
    panel = window.training
    monkeypatch.setattr(panel, "settings", lambda: FinetuneSettings(epochs=0, force=True))
    other = tmp_path / "other"
    other_keys = make_project(other)
    with qtbot.waitSignal(panel.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        assert panel.start_finetune()
        assert window.open_paths([other])
    assert finished.args[0].promoted
    wait_idle(qtbot, panel)
    with ProjectStore.open(folder, create=False) as store:
        registry = ModelRegistry(store, window.model_path)
        assert registry.active == "v1"
        new_version = registry.get("v1").model_version
        for key in keys[REVIEWED:]:
            assert store.load_annotation(key).landmarks[CODES[0]].model_version == new_version
        assert store.load_annotation(keys[0]).landmarks[CODES[0]].model_version == "tiny-base"  # reviewed: kept
    with ProjectStore.open(other, create=False) as store:
        assert all(store.load_annotation(k).landmarks[CODES[0]].model_version == "tiny-base" for k in other_keys)


@pytest.mark.slow
def test_reopening_the_project_follows_its_active_version(make_window, base_model, tmp_path, qtbot):
    """The inference worker uses the registry's active model as soon as a project opens."""
    from cephview.model.finetune.run import finetune_project
    from cephview.model.finetune.settings import FinetuneSettings
    from cephview.model.registry import ModelRegistry

    folder = tmp_path / "project"
    make_project(folder)
    with ProjectStore.open(folder) as store:
        registry = ModelRegistry(store, base_model)
        finetune_project(store, FinetuneSettings(epochs=0, force=True, device="cpu"), registry=registry)
        v1 = registry.path("v1").resolve()
        v1_version = registry.get("v1").model_version
    window = make_window(model_path=base_model)
    assert window.open_paths([folder])
    assert window.model_follower.in_use == v1
    with qtbot.waitSignal(window.prediction.succeeded, timeout=60_000) as predicted:
        window.predictions.predict_current()
    assert predicted.args[0].model_version == v1_version
    window.project.close_project()  # no project: back to the window's own model
    assert window.model_follower.in_use == Path(base_model).resolve()


# ---------------------------------------------------------------------------- the thread fallback
@pytest.mark.slow
def test_thread_mode_runs_the_same_job(base_model, tmp_path, qtbot):
    from cephview.gui.training_worker import TrainingService
    from cephview.model.finetune.jobs import FinetuneJob
    from cephview.model.finetune.settings import FinetuneSettings

    folder = tmp_path / "project"
    make_project(folder)
    service = TrainingService("thread")
    try:
        with qtbot.waitSignal(service.finished, timeout=RUN_TIMEOUT_MS) as done:
            service.start(FinetuneJob(str(folder), FinetuneSettings(epochs=0, device="cpu"), str(base_model)))
        assert done.args[0].version.version == "v1" and not service.busy
        assert np.isfinite(done.args[0].after.mre)
    finally:
        service.shutdown()

"""Background inference: the GUI stays responsive, stale results are stored but not drawn,
cancel drops a result, a broken model becomes a dialog (never fake landmarks)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from cephview.model.predictor import Predictor
from gui_helpers import FakePredictor, GapMeter


class HeavyPredictor:
    """The real (tiny) model, run repeatedly for two seconds, so there is something to measure."""

    def __init__(self, path) -> None:
        self.inner = Predictor.from_file(path)
        self.seconds = 0.0

    def predict(self, image):
        t = time.perf_counter()
        pred = self.inner.predict(image)
        while time.perf_counter() - t < 2.0:
            pred = self.inner.predict(image)
        self.seconds = time.perf_counter() - t
        return pred


def test_event_loop_latency_during_prediction(make_window, project_dir, qtbot, tiny_model_path):
    heavy = {}

    def factory():
        heavy["p"] = HeavyPredictor(tiny_model_path)
        return heavy["p"]

    window = make_window(predictor_factory=factory)
    meter = GapMeter()
    assert window.open_paths([sorted(project_dir.iterdir())[0]])
    assert window.prediction.busy
    meter.start()
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=180_000)
    meter.stop()
    assert heavy["p"].seconds > 1.5, "prediction too short for the measurement to mean anything"
    meter.check(f"during a {heavy['p'].seconds:.1f} s prediction")


def test_result_for_an_image_left_behind_is_stored_not_drawn(make_window, project_dir, qtbot):
    gates = [threading.Event(), threading.Event()]
    fake = FakePredictor(gates)
    window = make_window(predictor_factory=lambda: fake)
    first, second = sorted(p.name for p in project_dir.iterdir() if p.suffix in (".jpg", ".png"))
    assert window.open_paths([project_dir])
    assert window.session.rel_path == first
    qtbot.waitUntil(fake.started.is_set, timeout=10_000)
    assert window.open_image(second)  # the user moves on while the first prediction runs
    assert window.prediction.pending_paths() == [first, second]
    gates[0].set()
    store = window.session.store
    qtbot.waitUntil(lambda: store.load_annotation(first).has_prediction, timeout=10_000)
    # stored for the first image, with call 0's points ...
    stored = store.load_annotation(first)
    assert stored.landmarks["S"].ai_x == pytest.approx(fake.points(0)[0, 0])
    assert window.worklist.status_of(first) == "predicted"
    # ... but nothing drawn on the second: no positions, no visible markers, no heatmap
    assert window.session.rel_path == second
    assert not window.session.annotation.has_prediction
    assert not any(m.isVisible() for m in window.layer.markers.values())
    assert window.session.heatmaps() is None
    gates[1].set()
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    s = window.session.landmark("S")
    assert (s.x, s.y) == tuple(fake.points(1)[0])
    assert window.layer.markers["S"].isVisible()
    assert window.layer.markers["S"].pos().x() == pytest.approx(fake.points(1)[0, 0])


def test_cancel_drops_the_running_result(make_window, project_dir, qtbot):
    gates = [threading.Event()]
    fake = FakePredictor(gates)
    window = make_window(predictor_factory=lambda: fake)
    window.open_paths([sorted(project_dir.iterdir())[0]])
    qtbot.waitUntil(fake.started.is_set, timeout=10_000)
    assert window.cancel_button.isVisibleTo(window)
    window.cancel_button.click()
    gates[0].set()
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)
    qtbot.wait(50)
    assert not window.session.annotation.has_prediction
    assert not window.session.store.load_annotation(window.session.rel_path).has_prediction
    assert not window.cancel_button.isVisibleTo(window)
    # on demand again: it runs
    window.act.predict.trigger()
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)


def test_missing_model_shows_a_dialog_and_no_landmarks(make_window, project_dir, qtbot, tmp_path):
    window = make_window(model_path=tmp_path / "absent.pt")
    window.open_paths([sorted(project_dir.iterdir())[0]])
    qtbot.waitUntil(lambda: window.last_dialog is not None, timeout=30_000)
    box = window.last_dialog
    assert "model" in box.windowTitle().lower()
    assert "absent.pt" in box.text() and "not found" in box.text()
    assert "Choose landmark model" in box.informativeText()
    assert not window.session.annotation.has_prediction
    assert window.prediction.model_failed
    box.close()
    # opening another image does not nag again; choosing a model does
    assert not window.prediction.busy


def test_prediction_error_marks_the_image_and_explains(make_window, project_dir, qtbot):
    class Broken:
        def predict(self, image):
            raise RuntimeError("out of memory")

    window = make_window(predictor_factory=lambda: Broken())
    window.open_paths([sorted(project_dir.iterdir())[0]])
    qtbot.waitUntil(lambda: window.last_dialog is not None, timeout=10_000)
    rel = window.session.rel_path
    assert "out of memory" in window.last_dialog.text()
    assert "by hand" in window.last_dialog.informativeText()
    record = window.session.store.image(rel)
    assert record.status.value == "error" and "out of memory" in record.error
    assert window.worklist.status_of(rel) == "error"


def test_predictor_is_loaded_once_in_the_worker_thread(make_window, project_dir, qtbot):
    threads, made = [], []

    def factory():
        threads.append(threading.current_thread())
        made.append(FakePredictor())
        return made[-1]

    window = make_window(predictor_factory=factory)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    window.step_image(1)
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert len(made) == 1 and made[0].calls == 2
    assert threads[0] is not threading.main_thread()
    assert np.isfinite(window.session.heatmaps().heatmaps).all()


def test_predict_all_fills_the_project_in_the_background(make_window, project_dir, qtbot, tmp_path, monkeypatch):
    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert window.predict_all() == 1  # the open image is done; the other is read by the worker
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)
    statuses = {r.name: r.status.value for r in window.session.store.images()}
    assert set(statuses.values()) == {"predicted"}
    assert all(window.worklist.status_of(name) == "predicted" for name in statuses)
    out = tmp_path / "project.csv"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(out))
    assert window.export_project_csv() == str(out)
    import csv

    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == 2 * len(window.session.codes())
    assert {r["image"] for r in rows} == set(statuses)

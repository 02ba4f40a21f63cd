"""Background inference: the GUI stays responsive, stale results are stored but not drawn,
cancel drops a result, a broken model becomes a dialog (never fake landmarks)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from gui_helpers import FakePredictor, GapMeter

from cephview.model.predictor import Predictor


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


@pytest.mark.slow
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
    assert window.project.open_image(second)  # the user moves on while the first prediction runs
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
    assert window.status.cancel_button.isVisibleTo(window)
    window.status.cancel_button.click()
    gates[0].set()
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)
    qtbot.wait(50)
    assert not window.session.annotation.has_prediction
    assert not window.session.store.load_annotation(window.session.rel_path).has_prediction
    assert not window.status.cancel_button.isVisibleTo(window)
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
    window.project.step_image(1)
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert len(made) == 1 and made[0].calls == 2
    assert threads[0] is not threading.main_thread()
    assert np.isfinite(window.session.heatmaps().heatmaps).all()


def test_predict_all_fills_the_project_in_the_background(make_window, project_dir, qtbot, tmp_path, monkeypatch):
    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert window.predictions.predict_all() == 1  # the open image is done; the other is read by the worker
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)
    statuses = {r.name: r.status.value for r in window.session.store.images()}
    assert set(statuses.values()) == {"predicted"}
    assert all(window.worklist.status_of(name) == "predicted" for name in statuses)
    out = tmp_path / "project.csv"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(out))
    assert window.exports.export_project_csv() == str(out)
    import csv

    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == 2 * len(window.session.codes())
    assert {r["image"] for r in rows} == set(statuses)


def test_predicting_again_leaves_reviewed_landmarks_whole(make_window, project_dir, qtbot):
    """"Find landmarks again" (or a new model) gives new AI positions to untouched landmarks only:
    an accepted or corrected landmark keeps the AI position the clinician judged, so its
    correction distance keeps measuring that model (the Training tab's figures)."""
    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    assert window.open_paths([sorted(project_dir.iterdir())[0]])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    codes = window.session.codes()
    window.session.select(codes[0])
    assert window.controller.accept_selected()
    assert window.controller.move(codes[1], 50.0, 60.0)
    window.predictions.predict_current()
    store, key = window.session.store, window.session.rel_path
    qtbot.waitUntil(lambda: store.load_annotation(key).landmarks[codes[2]].model_version == "fake-1", timeout=10_000)
    stored = store.load_annotation(key).landmarks
    first, second = fake.points(0), fake.points(1)
    assert stored[codes[0]].status.value == "accepted" and stored[codes[0]].model_version == "fake-0"
    assert (stored[codes[0]].ai_x, stored[codes[0]].x) == (first[0, 0], first[0, 0])
    assert stored[codes[1]].status.value == "corrected" and stored[codes[1]].ai_x == first[1, 0]
    assert (stored[codes[2]].ai_x, stored[codes[2]].x) == (second[2, 0], second[2, 0])  # untouched: new
    assert window.session.annotation.landmarks[codes[0]] == stored[codes[0]]  # the window agrees


def test_a_failed_second_prediction_leaves_a_reviewed_image_as_it_was(make_window, project_dir, qtbot):
    """"Find landmarks again" failing (a model that now breaks) must not mark a reviewed image as
    an error: its review stays, and so does its place in the training data."""
    class FailsSecondTime(FakePredictor):
        def predict(self, image):
            if self.calls:
                raise RuntimeError("out of memory")
            return super().predict(image)

    window = make_window(predictor_factory=lambda: FailsSecondTime())
    assert window.open_paths([sorted(project_dir.iterdir())[0]])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert window.controller.accept_all()
    window.act.reviewed.setChecked(True)
    store, key = window.session.store, window.session.rel_path
    assert store.image(key).status.value == "reviewed"
    window.predictions.predict_current()
    qtbot.waitUntil(lambda: window.last_dialog is not None, timeout=10_000)
    assert "out of memory" in window.last_dialog.text()
    assert store.image(key).status.value == "reviewed" and store.image(key).error is None
    assert window.worklist.status_of(key) == "reviewed"


def test_the_image_on_screen_goes_before_find_all(make_window, tmp_path, qtbot):
    """"Find landmarks on all images" queues the whole project; opening one of the waiting images
    predicts it next, not after all the others."""
    from gui_helpers import write_cephalograms

    folder = tmp_path / "many"
    write_cephalograms(folder, 5)
    gates = [threading.Event()] + [threading.Event() for _ in range(6)]
    for gate in gates[1:]:
        gate.set()
    fake = FakePredictor(gates)
    window = make_window(predictor_factory=lambda: fake)
    order = []
    window.prediction.succeeded.connect(lambda result: order.append(result.rel_path))
    assert window.open_paths([folder])
    first = window.session.rel_path
    qtbot.waitUntil(fake.started.is_set, timeout=10_000)  # the open image is being predicted (gated)
    assert window.predictions.predict_all() >= 4
    last = window.prediction.pending_paths()[-1]
    assert window.project.open_image(last)
    gates[0].set()
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    assert order[0] == first and order[1] == last, order


def test_find_all_reports_its_failures_in_one_dialog(make_window, tmp_path, qtbot):
    """Three truncated JPEGs among the images: one summary when the batch ends, not three dialogs,
    and each failed image marked in the worklist."""
    from gui_helpers import write_cephalograms

    folder = tmp_path / "batch"
    import cv2

    write_cephalograms(folder, 2)
    noise = np.random.default_rng(0).integers(0, 255, (600, 500), dtype=np.uint8)
    data = cv2.imencode(".jpg", noise)[1].tobytes()
    for i in range(3):
        (folder / f"cut{i}.jpg").write_bytes(data[: len(data) // 3])  # the header reads, the pixels do not
    window = make_window(predictor_factory=FakePredictor)
    shown = []
    real_show_error = window.show_error
    window.show_error = lambda *args: (shown.append(args), real_show_error(*args))
    assert window.open_paths([folder])
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    assert window.predictions.predict_all() >= 3
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=5_000)
    qtbot.wait(100)
    titles = [args[0] for args in shown]
    assert titles == ["Landmarks not found on 3 image(s)"], titles
    assert shown[0][1].count("cut") == 3 and "cut0.jpg: /" not in shown[0][1]  # each file named once
    assert all(window.worklist.status_of(f"cut{i}.jpg") == "error" for i in range(3))


def test_a_request_made_after_a_model_change_uses_the_new_model(qapp, qtbot):
    """Another project opens while a batch of the first waits: its image jumps the queue, and must
    still be predicted with its own project's model, not the one loaded before the change."""
    from cephview.gui.worker import PredictionService

    gate = threading.Event()
    old, new = FakePredictor([gate]), FakePredictor()
    service = PredictionService(predictor_factory=lambda: old)
    try:
        results = []
        service.succeeded.connect(lambda r: results.append((r.rel_path, r.model_version)))
        image = np.zeros((64, 64), np.uint8)
        for i in range(4):
            service.request(f"A/{i}.png", image, urgent=False)
        qtbot.waitUntil(old.started.is_set, timeout=10_000)
        service.cancel()
        service.set_model(lambda: new)
        service.request("B/first.png", image)
        gate.set()
        qtbot.waitUntil(lambda: not service.busy, timeout=10_000)
        assert results == [("B/first.png", "fake-0")] and new.calls == 1 and old.calls == 1
    finally:
        service.shutdown()

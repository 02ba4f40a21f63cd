"""Undo commands against the session and a real store, without any window."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import write_cephalograms

from cephview.core.annotations import LandmarkStatus
from cephview.core.calibration import Calibration
from cephview.core.radiograph import Radiograph
from cephview.core.store import ProjectStore
from cephview.gui.prediction import PredictionResult
from cephview.gui.review_controller import ReviewController
from cephview.gui.session import ReviewSession


@pytest.fixture
def review(qapp, tmp_path):
    folder = tmp_path / "p"
    files = write_cephalograms(folder, 2)
    store = ProjectStore.open(folder)
    records = [store.add_image(f) for f in files]
    session = ReviewSession()
    session.set_store(store)
    controller = ReviewController(session)
    grey = np.zeros((600, 500), np.uint8)
    radiograph = Radiograph(None, "synthetic", grey, grey, grey, 8, "MONOCHROME2")
    session.open_image(records[0].rel_path, radiograph)
    codes = session.codes()
    k = np.arange(len(codes), dtype=float)
    result = PredictionResult(
        records[0].rel_path, codes, np.stack([50 + 10 * k, 60 + 20 * k], 1), np.full(len(codes), 0.5),
        np.zeros((len(codes), 4, 4), np.float32), np.eye(3), "v1",
    )
    session.apply_prediction(result)
    changes = []
    session.landmarksChanged.connect(changes.append)
    yield session, controller, store, records, changes
    store.close()


def test_accept_all_and_reset_all_are_one_command_each(review):
    session, controller, store, records, changes = review
    controller.move("S", 10, 20)
    assert controller.accept_all()
    stack = controller.active_stack
    assert stack.count() == 2 and stack.text(1) == f"Accept all ({len(session.codes()) - 1})"
    assert session.landmark("S").status is LandmarkStatus.CORRECTED  # a correction is not undone by accept-all
    assert all(session.landmark(c).status is LandmarkStatus.ACCEPTED for c in session.codes() if c != "S")
    assert not controller.accept_all()  # nothing left: no empty undo entry
    assert stack.count() == 2
    assert controller.reset_all()
    assert all(lm.status is LandmarkStatus.AI for lm in session.annotation.landmarks.values())
    assert session.landmark("S").x == 50
    stack.undo()
    assert session.landmark("S").x == 10
    stack.undo()
    stored = store.load_annotation(records[0].rel_path)
    assert all(lm.status is not LandmarkStatus.ACCEPTED for lm in stored.landmarks.values())
    assert stored.landmarks["S"].status is LandmarkStatus.CORRECTED


def test_views_are_told_what_changed(review):
    session, controller, store, records, changes = review
    controller.move("N", 1e6, -5)  # clamped inside the image
    assert changes[-1] == ["N"]
    n = session.landmark("N")
    assert (n.x, n.y) == (499.0, 0.0)
    session.select("Or")
    controller.mark_missing()
    assert session.landmark("Or").status is LandmarkStatus.MISSING
    controller.active_stack.undo()
    assert session.landmark("Or").status is LandmarkStatus.AI


def test_undo_after_switching_image_edits_the_image_it_belongs_to(review):
    session, controller, store, records, changes = review
    controller.move("S", 111, 222)
    stack_a = controller.active_stack
    grey = np.zeros((600, 500), np.uint8)
    session.open_image(records[1].rel_path, Radiograph(None, "synthetic", grey, grey, grey, 8, "MONOCHROME2"))
    assert controller.active_stack is not stack_a and controller.active_stack.count() == 0
    stack_a.undo()  # e.g. from the history of the other image
    assert store.load_annotation(records[0].rel_path).landmarks["S"].x == 50
    assert session.landmark("S").status is LandmarkStatus.MISSING  # second image untouched


def test_calibration_and_cvm_commands(review):
    session, controller, store, records, changes = review
    rel = records[0].rel_path
    cal = Calibration.from_ruler((0, 0), (100, 0), 10.0)
    assert controller.set_calibration(cal)
    assert store.load_annotation(rel).calibration == cal
    assert controller.set_cvm_stage("CS3")
    assert store.load_annotation(rel).cvm_stage == "CS3"
    controller.active_stack.undo()
    controller.active_stack.undo()
    ann = store.load_annotation(rel)
    assert ann.cvm_stage is None and not ann.calibration.is_calibrated


def test_place_mode_places_and_moves_on(review):
    session, controller, store, records, changes = review
    session.select("S")
    assert not controller.place_at(5, 5)  # a plain click never moves a placed landmark
    controller.view_state.set_place_mode(True)
    assert controller.place_at(5, 5)
    assert session.landmark("S").status is LandmarkStatus.CORRECTED
    assert session.selected == session.codes()[1]


def test_an_edit_the_store_refuses_did_not_happen(review, monkeypatch):
    """A locked database: the edit is reported, nothing shows it, it never reaches the undo stack
    (whose redo steps stay), and the record in memory still matches the store."""
    import sqlite3

    session, controller, store, records, changes = review
    key, code = records[0].rel_path, session.codes()[0]
    assert controller.move(code, 100.0, 110.0) and controller.move(code, 200.0, 210.0)
    stack = controller.active_stack
    stack.undo()
    assert session.landmark(code).x == 100.0 and stack.canRedo()
    before = session.landmark(code)
    failures = []
    session.saveFailed.connect(failures.append)

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "save_landmarks", locked)
    changes.clear()
    assert not controller.move(code, 300.0, 310.0)
    assert len(failures) == 1 and "not saved (database is locked)" in failures[0]
    assert session.landmark(code) == before == store.load_annotation(key).landmarks[code]
    assert changes == [] and stack.count() == 2 and stack.canRedo()  # the redo step survives
    stack.undo()  # refused too: the data stays, and says so
    assert len(failures) == 2 and failures[1].startswith(f"Undo Move {code}: not saved")
    assert session.landmark(code) == before == store.load_annotation(key).landmarks[code]
    monkeypatch.undo()
    stack.redo()
    assert controller.move(code, 300.0, 310.0)  # the same edit, once the store takes it
    assert store.load_annotation(key).landmarks[code].x == 300.0 and len(failures) == 2


def test_a_prediction_arriving_in_one_window_keeps_what_another_window_saved(qapp, tmp_path):
    """Window B has the image open; window A (another connection, as another process) corrects S,
    writes a note and marks the image reviewed; then B's prediction arrives: only untouched
    landmarks take it, A's edits stay in the store and in B."""
    from dataclasses import replace

    from cephview.core.annotations import utc_now

    folder = tmp_path / "p"
    files = write_cephalograms(folder, 1)
    store_b = ProjectStore.open(folder)
    record = store_b.add_image(files[0])
    store_a = ProjectStore.open(folder, create=False)
    try:
        session = ReviewSession()
        session.set_store(store_b)
        grey = np.zeros((600, 500), np.uint8)
        session.open_image(record.rel_path, Radiograph(None, "synthetic", grey, grey, grey, 8, "MONOCHROME2"))
        codes = session.codes()
        s = store_a.load_annotation(record.rel_path).landmarks["S"]
        store_a.save_landmark(record.rel_path, replace(s, x=11.0, y=12.0, status=LandmarkStatus.MANUAL, edited_at=utc_now()))
        store_a.set_image_fields(record.rel_path, notes="check S", reviewed=True)
        k = np.arange(len(codes), dtype=float)
        session.apply_prediction(PredictionResult(
            record.rel_path, codes, np.stack([50 + k, 60 + k], 1), np.full(len(codes), 0.5),
            np.zeros((len(codes), 4, 4), np.float32), np.eye(3), "v1"))
        for ann in (store_a.load_annotation(record.rel_path), session.annotation):
            assert (ann.landmarks["S"].x, ann.landmarks["S"].status) == (11.0, LandmarkStatus.MANUAL)
            assert ann.notes == "check S" and ann.reviewed
            assert ann.landmarks["N"].status is LandmarkStatus.AI and ann.landmarks["N"].x == 50 + codes.index("N")
    finally:
        store_a.close()
        store_b.close()


def test_an_edit_a_database_login_may_not_make_is_reported_not_applied(qapp, tmp_path, postgres_server, pg_url):
    """A PostgreSQL project opened with a login that may only read: the server's refusal is the
    session's one-line report, and neither the window's record nor the database changes."""
    import uuid

    owner = ProjectStore.open(pg_url)
    record = owner.add_image(write_cephalograms(tmp_path / "films", 1)[0])
    owner.close()
    role, dbname = f"viewer_{uuid.uuid4().hex[:8]}", pg_url.rsplit("/", 1)[1]
    postgres_server.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'look-only'")
    postgres_server.admin(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", dbname=dbname)
    store = ProjectStore.open(postgres_server.url(dbname, user=role, password="look-only"), create=False)
    try:
        session = ReviewSession()
        session.set_store(store)
        controller = ReviewController(session)
        grey = np.zeros((600, 500), np.uint8)
        session.open_image(record.rel_path, Radiograph(None, "synthetic", grey, grey, grey, 8, "MONOCHROME2"))
        code = session.codes()[0]
        failures = []
        session.saveFailed.connect(failures.append)
        before = session.landmark(code)
        assert not controller.move(code, 100.0, 110.0)
        assert len(failures) == 1 and "may not change the project" in failures[0] and "\n" not in failures[0]
        assert session.landmark(code) == before == store.load_annotation(record.rel_path).landmarks[code]
    finally:
        store.close()

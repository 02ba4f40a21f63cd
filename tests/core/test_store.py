"""ProjectStore on real SQLite files: images, annotations, status, settings, migrations, damage."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import CephviewError
from cephview.core.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION, ImageStatus, ProjectStore, sha256_file


def write_png(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def project(tmp_path: Path):
    folder = tmp_path / "proj"
    write_png(folder / "a.png")
    with ProjectStore.open(folder) as store:
        yield store


def predicted_annotation(rel: str) -> ImageAnnotation:
    ann = ImageAnnotation.empty(rel, "isbi2015")
    for i, code in enumerate(list(ann.landmarks)):
        ann.landmarks[code] = ann.landmarks[code].with_prediction(10 + i, 20 + i, 0.5, "m1")
    return ann


# ---- opening ------------------------------------------------------------------------------
def test_open_creates_wal_database(tmp_path: Path):
    with ProjectStore.open(tmp_path / "new") as store:
        assert store.path == (tmp_path / "new" / DB_NAME).resolve()
        assert store.schema_version == SCHEMA_VERSION
        assert store._query("PRAGMA synchronous")[0][0] == 2  # FULL
        assert store.integrity_check() == "ok"
    conn = sqlite3.connect(tmp_path / "new" / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_open_without_create_needs_existing_project(tmp_path: Path):
    with pytest.raises(CephviewError, match="not a cephview project"):
        ProjectStore.open(tmp_path, create=False)
    ProjectStore.open(tmp_path).close()
    ProjectStore.open(tmp_path, create=False).close()


def test_not_sqlite_file_gives_clear_error(tmp_path: Path):
    (tmp_path / DB_NAME).write_text("image,landmark,x_px,y_px\n" * 100)
    with pytest.raises(CephviewError, match="not a readable cephview project database"):
        ProjectStore.open(tmp_path)


@pytest.mark.slow
def test_damaged_database_gives_clear_error(tmp_path: Path):
    with ProjectStore.open(tmp_path) as store:
        for i in range(200):
            write_png(tmp_path / f"img{i}.png", 32, 32, seed=i)
            store.add_image(tmp_path / f"img{i}.png")
    db = tmp_path / DB_NAME
    data = bytearray(db.read_bytes())
    assert len(data) > 4 * 4096
    data[2 * 4096 : 4 * 4096] = b"\xa5" * (2 * 4096)  # overwrite two pages in the middle
    db.write_bytes(bytes(data))
    with pytest.raises(CephviewError, match="damaged|not a readable") as info:
        ProjectStore.open(tmp_path)
    assert "\n" not in str(info.value)  # one line for the CLI and the dialog


def test_newer_database_is_refused(tmp_path: Path):
    ProjectStore.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CephviewError, match="newer cephview"):
        ProjectStore.open(tmp_path)


def test_v1_database_is_upgraded_and_keeps_data(tmp_path: Path):
    write_png(tmp_path / "a.png")
    conn = sqlite3.connect(tmp_path / DB_NAME)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO images (rel_path, sha256, width, height, added_at, status, schema, notes)"
        " VALUES ('a.png', ?, 64, 48, '2024-01-01T00:00:00+00:00', 'predicted', 'isbi2015', 'old')",
        (sha256_file(tmp_path / "a.png"),),
    )
    conn.execute("INSERT INTO landmarks (image_id, code, x, y, ai_x, ai_y, confidence, status)"
                 " VALUES (1, 'S', 1.5, 2.5, 1.5, 2.5, 0.7, 'ai')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with ProjectStore.open(tmp_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        ann = store.load_annotation("a.png")
        assert ann.notes == "old" and ann.landmarks["S"].x == 1.5 and ann.landmarks["S"].confidence == 0.7
        assert store.image("a.png").status == "predicted"
        store.set_setting("active_model", "m2")  # v2 table exists
        assert store.add_image(tmp_path / "a.png").id == 1  # found again, not duplicated


# ---- images -------------------------------------------------------------------------------
def test_add_image_inside_and_outside(project: ProjectStore, tmp_path: Path):
    rec = project.add_image(project.folder / "a.png")
    assert rec.rel_path == "a.png" and (rec.width, rec.height, rec.format) == (64, 48, "png")
    assert rec.status == ImageStatus.NOT_PREDICTED == "not_predicted"
    assert rec.sha256 == sha256_file(project.folder / "a.png") and rec.added_at
    assert project.resolve(rec) == project.folder / "a.png"

    sub = project.add_image(write_png(project.folder / "sub" / "b.png", seed=1))
    assert sub.rel_path == "sub/b.png"
    outside = project.add_image(write_png(tmp_path / "elsewhere" / "c.png", seed=2))
    assert Path(outside.rel_path).is_absolute()
    assert project.resolve(outside) == (tmp_path / "elsewhere" / "c.png").resolve()
    assert [r.rel_path for r in project.images()] == sorted([rec.rel_path, sub.rel_path, outside.rel_path])


def test_readding_returns_existing_record(project: ProjectStore):
    first = project.add_image(project.folder / "a.png")
    again = project.add_image(project.folder / "a.png")
    assert again == first and len(project.images()) == 1
    assert project.image("a.png") == first
    assert project.image(project.folder / "a.png") == first  # absolute path inside works as key
    assert project.image("nope.png") is None


def test_readding_an_unchanged_file_does_not_read_it_again(project: ProjectStore, monkeypatch):
    """Re-opening a folder of large DICOM files must not hash them all again; a file rewritten
    since (even with the same bytes) is hashed again."""
    import os

    import cephview.core.store as store_module

    first = project.add_image(project.folder / "a.png")
    reads = []
    real = store_module.sha256_file
    monkeypatch.setattr(store_module, "sha256_file", lambda p: reads.append(p) or real(p))
    assert project.add_image(project.folder / "a.png") == first and reads == []
    path = project.folder / "a.png"
    stat = path.stat()
    path.write_bytes(path.read_bytes())  # rewritten in place, same content
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old modification time
    assert project.add_image(path) == first and len(reads) == 1


def test_moved_file_is_found_by_hash(project: ProjectStore):
    rec = project.add_image(project.folder / "a.png")
    project.save_annotation(predicted_annotation(rec.rel_path))
    (project.folder / "archive").mkdir()
    (project.folder / "a.png").rename(project.folder / "archive" / "a2.png")
    moved = project.add_image(project.folder / "archive" / "a2.png")
    assert moved.id == rec.id and moved.rel_path == "archive/a2.png"
    assert project.load_annotation("archive/a2.png").landmarks["S"].ai_x == 10.0
    assert project.find_by_hash(rec.sha256) == moved
    assert project.find_by_hash("0" * 64) is None


def test_swapped_file_names_keep_each_patients_landmarks(project: ProjectStore):
    """smith.png and jones.png swap names on disk: the landmarks follow the pixels."""
    folder = project.folder
    smith, jones = write_png(folder / "smith.png", seed=1), write_png(folder / "jones.png", seed=2)
    for name, x in (("smith.png", 111.0), ("jones.png", 222.0)):
        project.add_image(folder / name)
        project.save_landmark(name, LandmarkAnnotation("S").moved_to(x, 5))
        project.set_image_fields(name, reviewed=True)
    tmp = folder / "tmp.png"
    smith.rename(tmp)
    jones.rename(smith)
    tmp.rename(jones)
    for name in ("smith.png", "jones.png"):  # re-opening the folder adds every file again
        project.add_image(folder / name)
    assert project.load_annotation("smith.png").landmarks["S"].x == 222.0  # Jones's pixels, Jones's landmarks
    assert project.load_annotation("jones.png").landmarks["S"].x == 111.0
    for name in ("smith.png", "jones.png"):
        record = project.image(name)
        assert record.sha256 == sha256_file(folder / name) and record.status == "reviewed"


def test_changed_pixels_keep_the_landmarks_but_need_a_new_review(project: ProjectStore):
    rec = project.add_image(project.folder / "a.png")
    project.save_landmark("a.png", LandmarkAnnotation("S").moved_to(7, 8))
    project.set_image_fields("a.png", reviewed=True)
    write_png(project.folder / "a.png", width=80, height=60, seed=9)  # re-exported under the same name
    again = project.add_image(project.folder / "a.png")
    assert again.id == rec.id and (again.width, again.height) == (80, 60)
    ann = project.load_annotation("a.png")
    assert (ann.landmarks["S"].x, ann.landmarks["S"].y) == (7, 8)  # nothing lost
    # An error entry (out of training) until someone edits it: the landmarks fit other pixels.
    assert not ann.reviewed and again.status == "error" and "pixels changed" in again.error
    project.save_landmark("a.png", LandmarkAnnotation("S").moved_to(9, 9))
    assert project.image("a.png").status == "in_review" and project.image("a.png").error is None
    (project.folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image any more")
    broken = project.add_image(project.folder / "a.png")
    assert broken.status == "error" and "not a readable image" in broken.error


def test_copy_with_original_present_is_its_own_record(project: ProjectStore):
    rec = project.add_image(project.folder / "a.png")
    (project.folder / "copy.png").write_bytes((project.folder / "a.png").read_bytes())
    copy = project.add_image(project.folder / "copy.png")
    assert copy.id != rec.id and copy.sha256 == rec.sha256


def test_unreadable_file_is_added_with_error(project: ProjectStore):
    (project.folder / "notes.png").write_text("not an image")
    rec = project.add_image(project.folder / "notes.png")
    assert rec.status == "error" and "not a readable image" in rec.error
    with pytest.raises(CephviewError, match="no such image"):
        project.add_image(project.folder / "absent.png")


def test_dicom_size_is_read_from_header(project: ProjectStore):
    from pydicom.data import get_testdata_file

    rec = project.add_image(get_testdata_file("CT_small.dcm"))
    assert (rec.format, rec.width, rec.height) == ("dicom", 128, 128)


def test_remove_image_drops_its_annotation(project: ProjectStore):
    rec = project.add_image(project.folder / "a.png")
    project.save_annotation(predicted_annotation(rec.rel_path))
    project.remove_image("a.png")
    assert project.image("a.png") is None
    assert project._query("SELECT COUNT(*) FROM landmarks")[0][0] == 0


# ---- annotations and status ---------------------------------------------------------------
def test_unsaved_image_loads_as_empty_record(project: ProjectStore):
    assert project.load_annotation("a.png") is None  # not added yet
    project.add_image(project.folder / "a.png")
    ann = project.load_annotation("a.png")
    assert ann.schema == "isbi2015" and len(ann.landmarks) == 19
    assert all(lm.status is LandmarkStatus.MISSING for lm in ann.landmarks.values())


def test_annotation_round_trip(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    ann = predicted_annotation("a.png")
    ann.landmarks["N"] = ann.landmarks["N"].moved_to(40.25, 50.75)
    ann.calibration = Calibration(0.1, 0.12, CalibrationSource.RULER)
    ann.cvm_stage, ann.notes, ann.view = "CS3", "ünïcode note", {"invert": True, "window": [100, 200]}
    project.save_annotation(ann)
    loaded = project.load_annotation("a.png")
    assert loaded == ann


def test_status_follows_the_workflow(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    ann = predicted_annotation("a.png")
    project.save_annotation(ann)
    assert project.image("a.png").status == "predicted"
    project.save_landmark("a.png", ann.landmarks["S"].moved_to(1, 2))
    assert project.image("a.png").status == "in_review"
    project.set_image_fields("a.png", reviewed=True)
    assert project.image("a.png").status == "reviewed"
    assert project.load_annotation("a.png").reviewed
    project.set_image_fields("a.png", reviewed=False)
    assert project.image("a.png").status == "in_review"


def test_error_status_until_superseded(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    project.set_status("a.png", "error", "model file missing")
    project.set_image_fields("a.png", notes="still failing")
    rec = project.image("a.png")
    assert (rec.status, rec.error) == ("error", "model file missing")
    project.save_annotation(predicted_annotation("a.png"))
    rec = project.image("a.png")
    assert (rec.status, rec.error) == ("predicted", None)
    with pytest.raises(ValueError):
        project.set_status("a.png", "bogus")


def test_save_landmark_updates_one_point(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    project.save_landmark("a.png", LandmarkAnnotation("Me").moved_to(7, 8))
    ann = project.load_annotation("a.png")
    me = ann.landmarks["Me"]
    assert me.status is LandmarkStatus.MANUAL and (me.x, me.y) == (7, 8)
    assert ann.landmarks["S"].status is LandmarkStatus.MISSING
    assert project.image("a.png").status == "in_review"


def test_save_landmarks_leaves_the_others_as_stored(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    project.save_annotation(predicted_annotation("a.png"))
    project.save_landmarks("a.png", [LandmarkAnnotation("S").moved_to(1, 2), LandmarkAnnotation("N").moved_to(3, 4)])
    ann = project.load_annotation("a.png")
    assert (ann.landmarks["S"].x, ann.landmarks["N"].y) == (1, 4)
    assert ann.landmarks["Me"].status is LandmarkStatus.AI and ann.landmarks["Me"].model_version == "m1"


def test_update_annotation_keeps_an_edit_made_by_another_process_meanwhile(project: ProjectStore):
    """A background re-prediction (read, change, write) and a clinician's edit through another
    connection at the same time: the edit waits for the update's transaction and both survive."""
    project.add_image(project.folder / "a.png")
    project.save_annotation(predicted_annotation("a.png"))
    other = ProjectStore.open(project.folder)  # as the GUI process would have it
    edit_done = threading.Event()

    def clinician_edit() -> None:
        other.save_landmark("a.png", LandmarkAnnotation("S").moved_to(99, 98))
        edit_done.set()

    def repredict(ann: ImageAnnotation) -> ImageAnnotation:
        threading.Thread(target=clinician_edit).start()
        assert not edit_done.wait(0.5), "the edit got in while the update held the record"
        return ann.with_prediction(["Me"], [(5.0, 6.0)], [0.9], "m2")

    try:
        saved = project.update_annotation("a.png", repredict)
        assert edit_done.wait(10)
        ann = project.load_annotation("a.png")
        assert (ann.landmarks["S"].x, ann.landmarks["S"].y) == (99, 98)  # the edit, not lost
        assert ann.landmarks["Me"].model_version == "m2" and saved.landmarks["Me"].x == 5.0
        assert project.update_annotation("a.png", lambda a: None) is None  # nothing to save
        with pytest.raises(CephviewError, match="add the image first"):
            project.update_annotation("ghost.png", lambda a: a)
    finally:
        other.close()


def test_edits_on_unknown_image_are_refused(project: ProjectStore):
    with pytest.raises(CephviewError, match="add the image first"):
        project.save_annotation(ImageAnnotation.empty("ghost.png", "isbi2015"))
    with pytest.raises(CephviewError):
        project.save_landmark("ghost.png", LandmarkAnnotation("S"))


def test_failed_save_leaves_previous_record(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    good = predicted_annotation("a.png")
    project.save_annotation(good)
    bad = predicted_annotation("a.png")
    bad.notes = "half saved?"
    bad.landmarks["S"] = LandmarkAnnotation("S", 1, 1, status="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        project.save_annotation(bad)
    assert project.load_annotation("a.png") == good


def test_set_image_fields_changes_only_what_is_given(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    cal = Calibration(0.1, 0.1, CalibrationSource.DETECTOR)
    project.set_image_fields("a.png", cvm_stage="CS2", notes="n", calibration=cal, view={"gamma": 1.2})
    project.set_image_fields("a.png", notes="changed")
    ann = project.load_annotation("a.png")
    assert (ann.cvm_stage, ann.notes, ann.calibration, ann.view) == ("CS2", "changed", cal, {"gamma": 1.2})
    project.set_image_fields("a.png", cvm_stage=None)
    assert project.load_annotation("a.png").cvm_stage is None
    with pytest.raises(ValueError, match="CVM stage"):
        project.set_image_fields("a.png", cvm_stage="CS9")


def test_writes_from_another_thread(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    errors: list[Exception] = []

    def work() -> None:
        try:
            project.save_annotation(predicted_annotation("a.png"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert not errors and project.image("a.png").status == "predicted"


def test_all_annotations(project: ProjectStore):
    project.add_image(project.folder / "a.png")
    project.add_image(write_png(project.folder / "b.png", seed=3))
    assert [a.image for a in project.all_annotations()] == ["a.png", "b.png"]


# ---- settings -----------------------------------------------------------------------------
def test_settings_persist(tmp_path: Path):
    with ProjectStore.open(tmp_path) as store:
        assert store.get_setting("active_model") is None
        assert store.get_setting("recent_models", []) == []
        store.set_setting("recent_models", ["a.cvm", "b.cvm"])
        store.set_setting("active_model", "v3")
        store.set_setting("active_model", "v4")
        assert store.default_schema == "isbi2015"
        store.set_setting("schema", "aariz")
    with ProjectStore.open(tmp_path) as store:
        assert store.get_setting("recent_models") == ["a.cvm", "b.cvm"]
        assert store.get_setting("active_model") == "v4"
        assert store.default_schema == "aariz"
        store.set_setting("active_model", None)
        assert store.get_setting("active_model", "none") == "none"


class _CommitFails:
    """A connection whose next COMMIT fails, as on an I/O error or a full disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)


def test_failed_commit_is_rolled_back_and_later_edits_work(tmp_path: Path):
    with ProjectStore.open(tmp_path / "p") as store:
        real = store._conn
        store._conn = _CommitFails(real)  # type: ignore[assignment]
        with pytest.raises(sqlite3.OperationalError):
            store.set_setting("k", 1)
        store._conn = real
        assert not real.in_transaction
        assert store.get_setting("k") is None
        store.set_setting("k", 2)
        assert store.get_setting("k") == 2


def _open_after(barrier, folder: str, results) -> None:
    barrier.wait()
    try:
        ProjectStore.open(folder).close()
        results.put("ok")
    except Exception as exc:  # reported to the test
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_two_processes_can_create_the_same_project_at_once(tmp_path: Path):
    """Two windows opening one new folder: both get the project, neither a "damaged database"."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for trial in range(4):
        folder = tmp_path / f"p{trial}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_after, args=(barrier, str(folder), results)) for _ in range(2)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok", "ok"], outcomes
        with ProjectStore.open(folder) as store:
            assert store.schema_version == SCHEMA_VERSION

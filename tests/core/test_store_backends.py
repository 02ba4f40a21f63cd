"""The project store's behaviour on both backends: a SQLite folder and a PostgreSQL database.

The same tests run against a real SQLite file and a real PostgreSQL server (started by the
``postgres_server`` fixture; skipped with the reason where its binaries are missing). Keys are
taken from the records the store returns, since a database project stores absolute paths.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import CephviewError
from cephview.core.store import SCHEMA_VERSION, EditConflict, ProjectStore, sha256_file


def write_png(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "project")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "project"  # the SQLite project's folder holds the images too
    write_png(folder / "a.png")
    return folder


@pytest.fixture
def store(location: str, images: Path):
    with ProjectStore.open(location, user="dr.a@chair1") as s:
        yield s


def predicted(rel: str) -> ImageAnnotation:
    ann = ImageAnnotation.empty(rel, "isbi2015")
    for i, code in enumerate(list(ann.landmarks)):
        ann.landmarks[code] = ann.landmarks[code].with_prediction(10 + i, 20 + i, 0.5, "m1")
    return ann


# ---- opening ------------------------------------------------------------------------------
@pytest.mark.slow
def test_open_creates_the_schema_and_reopens(location: str):
    with ProjectStore.open(location) as s:
        assert s.schema_version == SCHEMA_VERSION and s.integrity_check() == "ok"
        s.set_setting("k", [1, 2])
    with ProjectStore.open(location, create=False) as s:
        assert s.get_setting("k") == [1, 2] and s.location == location


def test_open_without_create_needs_an_existing_project(location: str):
    with pytest.raises(CephviewError, match="not a cephview project"):
        ProjectStore.open(location, create=False)


# ---- images -------------------------------------------------------------------------------
def test_add_image_and_find_it_again(store: ProjectStore, images: Path):
    rec = store.add_image(images / "a.png")
    assert (rec.width, rec.height, rec.format, rec.status) == (64, 48, "png", "not_predicted")
    assert rec.sha256 == sha256_file(images / "a.png")
    assert store.add_image(images / "a.png") == rec and len(store.images()) == 1
    assert store.image(rec.rel_path) == rec and store.find_by_hash(rec.sha256) == rec
    assert store.resolve(rec) == images / "a.png"
    notes = images / "notes.png"
    notes.write_text("not an image")
    bad = store.add_image(notes)
    assert bad.status == "error" and "not a readable image" in bad.error


def test_moved_file_is_found_by_hash(store: ProjectStore, images: Path):
    rec = store.add_image(images / "a.png")
    store.save_annotation(predicted(rec.rel_path))
    (images / "archive").mkdir()
    (images / "a.png").rename(images / "archive" / "a2.png")
    moved = store.add_image(images / "archive" / "a2.png")
    assert moved.id == rec.id and moved.rel_path.endswith("archive/a2.png")
    assert store.load_annotation(moved.rel_path).landmarks["S"].ai_x == 10.0


def test_swapped_names_keep_each_patients_landmarks(store: ProjectStore, images: Path):
    smith, jones = write_png(images / "smith.png", seed=1), write_png(images / "jones.png", seed=2)
    keys = {}
    for path, x in ((smith, 111.0), (jones, 222.0)):
        keys[path.name] = store.add_image(path).rel_path
        store.save_landmark(keys[path.name], LandmarkAnnotation("S").moved_to(x, 5))
    tmp = images / "tmp.png"
    smith.rename(tmp)
    jones.rename(smith)
    tmp.rename(jones)
    for path in (smith, jones):
        store.add_image(path)
    assert store.load_annotation(keys["smith.png"]).landmarks["S"].x == 222.0
    assert store.load_annotation(keys["jones.png"]).landmarks["S"].x == 111.0


def test_changed_pixels_need_a_new_review(store: ProjectStore, images: Path):
    key = store.add_image(images / "a.png").rel_path
    store.save_landmark(key, LandmarkAnnotation("S").moved_to(7, 8))
    store.set_image_fields(key, reviewed=True)
    write_png(images / "a.png", 80, 60, seed=9)
    again = store.add_image(images / "a.png")
    assert again.status == "error" and "pixels changed" in again.error
    assert store.load_annotation(key).landmarks["S"].x == 7 and not store.load_annotation(key).reviewed


def test_remove_image_drops_its_annotation(store: ProjectStore, images: Path):
    key = store.add_image(images / "a.png").rel_path
    store.save_annotation(predicted(key))
    store.remove_image(key)
    assert store.image(key) is None and store._query("SELECT COUNT(*) FROM landmarks")[0][0] == 0


def test_load_warning_round_trip_written_only_when_it_changes(store: ProjectStore, images: Path, location: str):
    key = store.add_image(images / "a.png").rel_path
    assert store.image(key).warning is None
    token = store.change_token()
    assert not store.set_load_warning(key, None)  # a clean file opened again: nothing written
    assert store.change_token() == token
    damage = "JPEG data is damaged (Corrupt JPEG data: premature end of data segment)"
    assert store.set_load_warning(key, damage)
    assert store.image(key).warning == damage and store.images()[0].warning == damage
    assert store.history(key)[0].what == "warning" and store.history(key)[0].detail == {"warning": damage}
    token = store.change_token()
    assert not store.set_load_warning(key, damage)  # the damaged file opened again: no write either
    assert store.change_token() == token
    with ProjectStore.open(location, create=False) as other:  # stored, for every window and workstation
        assert other.image(key).warning == damage
        assert not other.set_load_warning(key, damage)
    assert store.set_load_warning(key, "")  # a clean load (the file replaced by an intact copy) clears it
    assert store.image(key).warning is None and store.image(key).status == "not_predicted"
    with pytest.raises(CephviewError, match="not in this project"):
        store.set_load_warning(str(images / "absent.png"), damage)


def _v5_project(location: str, images: Path) -> None:
    """A project database as cephview wrote it before load warnings (version 5), one image, one landmark."""
    from cephview.core.store_postgres import pg_ddl
    from cephview.core.store_schema import MIGRATIONS

    insert_image = ("INSERT INTO images (rel_path, sha256, width, height, added_at, status, schema, format)"
                    " VALUES (?, ?, 64, 48, '2025-01-01', 'in_review', 'isbi2015', 'png')")
    insert_landmark = "INSERT INTO landmarks (image_id, code, x, y, status) VALUES (1, 'S', 10.5, 20.25, 'manual')"
    values = (str(images / "a.png") if location.startswith("postgres") else "a.png", sha256_file(images / "a.png"))
    if location.startswith("postgres"):
        import psycopg

        from cephview.core.store_postgres import pg_sql

        with psycopg.connect(location, autocommit=True) as conn:
            for statements in MIGRATIONS[:5]:
                for statement in statements:
                    conn.execute(pg_ddl(statement))
            conn.execute("CREATE TABLE cephview_schema (version BIGINT NOT NULL)")
            conn.execute("INSERT INTO cephview_schema (version) VALUES (5)")
            conn.execute(pg_sql(insert_image), values)
            conn.execute(insert_landmark)
        return
    import sqlite3

    folder = Path(location)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "cephview.sqlite")
    for statements in MIGRATIONS[:5]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(insert_image, values)
    conn.execute(insert_landmark)
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()


def test_a_version_5_project_gets_load_warnings_and_keeps_its_data(location: str, images: Path):
    _v5_project(location, images)
    with ProjectStore.open(location, create=False) as s:
        assert s.schema_version == SCHEMA_VERSION == 6
        (record,) = s.images()
        assert (record.status, record.format, record.warning) == ("in_review", "png", None)
        lm = s.load_annotation(record.rel_path).landmarks["S"]
        assert (lm.x, lm.y, lm.status) == (10.5, 20.25, LandmarkStatus.MANUAL)
        assert s.set_load_warning(record.rel_path, "JPEG data is damaged")
        assert s.add_image(images / "a.png").warning == "JPEG data is damaged"  # found again, same record


# ---- annotations --------------------------------------------------------------------------
def test_annotation_round_trip_and_status(store: ProjectStore, images: Path):
    key = store.add_image(images / "a.png").rel_path
    ann = predicted(key)
    ann.landmarks["N"] = ann.landmarks["N"].moved_to(40.25, 50.75)
    ann.calibration = Calibration(0.1, 0.12, CalibrationSource.RULER)
    ann.cvm_stage, ann.notes, ann.view = "CS3", "ünïcode note", {"invert": True}
    store.save_annotation(ann)
    assert store.load_annotation(key) == ann
    assert store.image(key).status == "in_review"
    store.set_image_fields(key, reviewed=True)
    assert store.image(key).status == "reviewed"
    store.set_image_fields(key, reviewed=False, cvm_stage=None)
    rec = store.image(key)
    assert rec.status == "in_review" and store.load_annotation(key).cvm_stage is None


def test_error_status_until_superseded(store: ProjectStore, images: Path):
    key = store.add_image(images / "a.png").rel_path
    store.set_status(key, "error", "model file missing")
    store.set_image_fields(key, notes="still failing")
    assert (store.image(key).status, store.image(key).error) == ("error", "model file missing")
    store.save_annotation(predicted(key))
    assert (store.image(key).status, store.image(key).error) == ("predicted", None)


def test_save_landmarks_leaves_the_others(store: ProjectStore, images: Path):
    key = store.add_image(images / "a.png").rel_path
    store.save_annotation(predicted(key))
    store.save_landmarks(key, [LandmarkAnnotation("S").moved_to(1, 2), LandmarkAnnotation("N").moved_to(3, 4)])
    ann = store.load_annotation(key)
    assert (ann.landmarks["S"].x, ann.landmarks["N"].y) == (1, 4)
    assert ann.landmarks["Me"].status is LandmarkStatus.AI and ann.landmarks["Me"].model_version == "m1"


def test_failed_save_leaves_the_previous_record(store: ProjectStore, images: Path):
    key = store.add_image(images / "a.png").rel_path
    good = predicted(key)
    store.save_annotation(good)
    bad = predicted(key)
    bad.notes = "half saved?"
    bad.landmarks["S"] = LandmarkAnnotation("S", 1, 1, status="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.save_annotation(bad)
    assert store.load_annotation(key) == good
    store.set_setting("still", "works")  # no transaction left open
    assert store.get_setting("still") == "works"


def test_update_annotation_keeps_an_edit_made_meanwhile(store: ProjectStore, location: str, images: Path):
    """A re-prediction (read, change, write) and another connection's edit at once: both survive."""
    key = store.add_image(images / "a.png").rel_path
    store.save_annotation(predicted(key))
    other = ProjectStore.open(location, create=False, user="dr.b@chair2")
    edit_done = threading.Event()

    def clinician_edit() -> None:
        other.save_landmark(key, LandmarkAnnotation("S").moved_to(99, 98))
        edit_done.set()

    def repredict(ann: ImageAnnotation) -> ImageAnnotation:
        threading.Thread(target=clinician_edit).start()
        assert not edit_done.wait(0.5), "the edit got in while the update held the record"
        return ann.with_prediction(["Me"], [(5.0, 6.0)], [0.9], "m2")

    try:
        store.update_annotation(key, repredict)
        assert edit_done.wait(10)
        ann = store.load_annotation(key)
        assert (ann.landmarks["S"].x, ann.landmarks["Me"].model_version) == (99, "m2")
    finally:
        other.close()


def test_update_setting_from_two_connections_loses_nothing(store: ProjectStore, location: str):
    others = [ProjectStore.open(location, create=False) for _ in range(2)]
    try:
        def bump(s: ProjectStore) -> None:
            for _ in range(15):
                s.update_setting("n", lambda n: n + 1, 0)

        threads = [threading.Thread(target=bump, args=(s,)) for s in others]
        for t in threads:
            t.start()
        bump(store)
        for t in threads:
            t.join(60)
        assert store.get_setting("n") == 45
    finally:
        for s in others:
            s.close()


# ---- who changed what, conflicts, changes of other workstations ----------------------------
def test_each_edit_records_who_and_when(store: ProjectStore, images: Path, location: str):
    key = store.add_image(images / "a.png").rel_path
    start = store.change_token()
    store.save_landmark(key, LandmarkAnnotation("S").moved_to(3, 4))
    with ProjectStore.open(location, create=False, user="dr.b@chair2") as other:
        other.set_image_fields(key, notes="seen")
    changes, token = store.changes_since(start)
    assert [(c.what, c.edited_by) for c in changes] == [("landmark", "dr.a@chair1"), ("fields", "dr.b@chair2")]
    assert changes[0].detail == {"code": "S", "x": 3.0, "y": 4.0, "status": "manual"}
    assert all(c.rel_path == key and c.edited_at for c in changes)
    assert store.changes_since(token) == ([], token)
    assert [c.what for c in store.history(key)][:2] == ["fields", "landmark"]
    assert store._query("SELECT edited_by FROM landmarks WHERE code = 'S'")[0][0] == "dr.a@chair1"


def test_a_stale_edit_is_refused_and_names_the_other_value(store: ProjectStore, images: Path, location: str):
    key = store.add_image(images / "a.png").rel_path
    store.save_annotation(predicted(key))
    loaded = store.landmark_versions(key)  # this window opens the image
    with ProjectStore.open(location, create=False, user="dr.b@chair2") as other:
        other.save_landmark(key, LandmarkAnnotation("S").moved_to(50, 60))  # the other chair moves S
    with pytest.raises(EditConflict, match=r"S is now at \(50.0, 60.0\) set by dr.b@chair2") as info:
        store.save_landmarks(key, [LandmarkAnnotation("S").moved_to(1, 1), LandmarkAnnotation("N").moved_to(2, 2)],
                             expected=loaded)
    assert info.value.current["S"].x == 50 and info.value.edited_by["S"] == "dr.b@chair2"
    ann = store.load_annotation(key)
    assert ann.landmarks["S"].x == 50 and ann.landmarks["N"].status is LandmarkStatus.AI  # nothing applied
    # N was not touched by the other chair: an edit based on the loaded versions of N goes through
    versions = store.save_landmarks(key, [LandmarkAnnotation("N").moved_to(2, 2)], expected=loaded)
    assert versions == {"N": loaded["N"] + 1}
    # a re-prediction that leaves S as it is does not make S look changed
    store.update_annotation(key, lambda a: a.with_prediction(["Me"], [(1.0, 1.0)], [0.9], "m2"))
    assert store.landmark_versions(key)["S"] == info.value.versions["S"]


def test_wait_for_changes_hears_another_connection(store: ProjectStore, images: Path, location: str):
    key = store.add_image(images / "a.png").rel_path
    token = store.change_token()
    with ProjectStore.open(location, create=False, user="dr.b@chair2") as other:
        timer = threading.Timer(0.3, lambda: other.save_landmark(key, LandmarkAnnotation("Me").moved_to(5, 5)))
        timer.start()
        changes, token = store.wait_for_changes(token, timeout=10)
        timer.join()
    assert [c.detail.get("code") for c in changes] == ["Me"]


def test_image_roots_find_a_file_under_another_mount(store: ProjectStore, images: Path, tmp_path: Path, location):
    """Another workstation mounts the image share elsewhere: found by hash, nothing relinked."""
    shared = tmp_path / "share" / "2024"
    rec = store.add_image(write_png(shared / "p1.png", seed=5))
    mount = tmp_path / "other-mount"
    (tmp_path / "share").rename(mount)
    with ProjectStore.open(location, create=False, image_roots=[mount]) as workstation2:
        assert workstation2.resolve(rec) == mount / "2024" / "p1.png"
        assert workstation2.resolve(rec.rel_path) == mount / "2024" / "p1.png"
        again = workstation2.add_image(mount / "2024" / "p1.png")
        assert again.id == rec.id
    if store.shared:  # another workstation's path of the same file stays as it was
        assert store.image(rec.rel_path) is not None


def test_files_are_hashed_and_searched_before_the_write_lock(store: ProjectStore, images: Path, tmp_path: Path,
                                                              monkeypatch):
    """Reading whole files and walking image roots take seconds: the other workstations' edits
    must not wait for them (the project's write lock is taken only for the database work)."""
    import cephview.core.store as store_module

    calls: list[tuple[str, int]] = []
    real_hash, real_find = store_module.sha256_file, store_module.find_in_roots
    monkeypatch.setattr(store_module, "sha256_file",
                        lambda *a: (calls.append(("hash", store._tx_depth)), real_hash(*a))[1])
    monkeypatch.setattr(store_module, "find_in_roots",
                        lambda *a: (calls.append(("find", store._tx_depth)), real_find(*a))[1])
    a, b = images / "a.png", write_png(images / "b.png", seed=3)
    rec_a, rec_b = store.add_image(a), store.add_image(b)
    store.save_landmark(rec_a.rel_path, LandmarkAnnotation("S", 1.0, 2.0, status=LandmarkStatus.MANUAL))
    pixels_a, pixels_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(pixels_b)  # the names swapped: each file's record follows its pixels
    b.write_bytes(pixels_a)
    store.add_image(a)
    assert store.load_annotation(rec_b.rel_path).landmarks["S"].x == 1.0
    # a file moved to another mount, found under an image root
    roots = tmp_path / "mount"
    write_png(roots / "c.png", seed=4)
    store.image_roots = [roots]
    moved = store.add_image(roots / "c.png")
    (roots / "c.png").rename(roots / "d.png")
    write_png(tmp_path / "elsewhere" / "d.png", seed=4)
    store.add_image(tmp_path / "elsewhere" / "d.png")
    assert moved.rel_path
    assert {kind for kind, _ in calls} == {"hash", "find"}
    assert all(depth == 0 for _, depth in calls), calls


# ---- order of names -----------------------------------------------------------------------
# Names a language's collation orders otherwise than bytes do: case and "_" ignored at first,
# "é" next to "e", where byte (codepoint) order puts capitals first and "é" after "z".
NAMES = ["a_2.png", "A1.png", "b.png", "B.png", "é.png", "e.png", "z10.png", "Z9.png", "zeta.png"]


@pytest.fixture
def pg_language_url(postgres_server):
    """A project database whose collation is a language's (en_US where installed), as a server
    set up in the practice's language has it."""
    from pg_server import language_locale

    locale = language_locale()
    if locale is None:
        pytest.skip("no language locale installed (`locale -a` lists only C/POSIX ones, which sort by bytes, "
                    "so the server's order could not differ); Debian: apt-get install locales, enable "
                    "en_US.UTF-8 in /etc/locale.gen, run locale-gen")
    url = postgres_server.new_database(locale=locale)
    yield url
    postgres_server.drop_database(url)


def test_both_backends_list_names_in_byte_order(pg_language_url: str, tmp_path: Path):
    import psycopg

    byte_order = sorted(NAMES)  # Python compares codepoints: the order of their UTF-8 bytes
    with psycopg.connect(pg_language_url) as conn:  # the database's own order of text differs
        server_order = [r[0] for r in conn.execute("SELECT n FROM unnest(%s::text[]) AS n ORDER BY n", (NAMES,))]
    assert server_order != byte_order, "the database's collation sorts by bytes: this test would prove nothing"

    folder = tmp_path / "project"
    for seed, name in enumerate(NAMES):
        write_png(folder / name, seed=seed)
    listed = []
    for location in (str(folder), pg_language_url):
        with ProjectStore.open(location) as s:
            for name in reversed(NAMES):  # added in neither order
                key = s.add_image(folder / name).rel_path
                s.set_visit(key, patient_id="P-1")  # undated films of one patient: by path
                s.put_file(name, folder / name)
            listed.append(([Path(r.rel_path).name for r in s.images()],
                           [Path(r.rel_path).name for r in s.patient_films("P-1")],
                           s.file_names()))
    sqlite, postgres = listed
    assert sqlite == postgres == (byte_order, byte_order, byte_order)


def test_the_stores_sql_orders_text_in_byte_order():
    """Every ORDER BY on a text column says COLLATE BINARY (``COLLATE "C"`` on PostgreSQL): a new
    query that forgets it would list names in the server's language order there."""
    import re

    import cephview.core as core
    from cephview.core.store_schema import MIGRATIONS

    ddl = " ".join(statement for migration in MIGRATIONS for statement in migration)
    text_columns = set(re.findall(r"(\w+) TEXT\b", ddl))
    assert {"rel_path", "name", "acquired_on"} <= text_columns
    clauses = []
    for source in Path(core.__file__).parent.rglob("*.py"):
        clauses += re.findall(r"ORDER BY (.*?)(?:\bLIMIT\b|[\"')]|$)", source.read_text(encoding="utf-8"), re.M)
    assert len(clauses) >= 4
    for clause in clauses:
        for item in clause.split(","):
            words = item.split()
            if words[0] in text_columns and words[1:3] != ["IS", "NULL"]:
                assert words[1:3] == ["COLLATE", "BINARY"], f"ORDER BY {clause}: {words[0]} without COLLATE BINARY"

"""``cephview project init|add|import|export|history`` on a folder and on a PostgreSQL database,
and the one-line refusals of locations that cannot be opened."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cephview.cli import main
from cephview.core.store import ProjectStore


def write_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (60, 80), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "project")
    return request.getfixturevalue("pg_url")


def write_csv(path: Path, rows: list[list[str]], header=("image", "landmark", "x_px", "y_px", "status")) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([list(header), *rows])
    return path


def test_init_add_import_export_history(location: str, tmp_path: Path, capsys):
    films = tmp_path / "films"
    write_png(films / "p1.png", 1)
    write_png(films / "p2.png", 2)
    assert main(["project", "init", location]) == 0
    assert main(["project", "add", location, str(films), "--user", "dr.a"]) == 0
    with ProjectStore.open(location, create=False, user="model") as store:  # AI positions on p1
        key = next(r.rel_path for r in store.images() if r.name == "p1.png")
        store.update_annotation(key, lambda a: a.with_prediction(["S", "N"], [(11.0, 21.0), (31.0, 6.0)],
                                                                 [0.9, 0.8], "m1"))
    good = write_csv(tmp_path / "good.csv", [["p1.png", "S", "10.5", "20", "manual"], ["p1.png", "N", "30", "5", ""],
                                            ["p2.png", "Me", "", "", "missing"]])
    assert main(["project", "import", location, str(good), "--user", "dr.b"]) == 0
    assert "3 landmark(s) of 2 image(s) imported" in capsys.readouterr().out

    out = tmp_path / "export.csv"
    assert main(["project", "export", location, "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    by = {(r["image"], r["landmark"]): r for r in rows}
    assert len(rows) == 2 * 19 and "patient_id" not in rows[0]
    assert (by["p1.png", "S"]["x_px"], by["p1.png", "S"]["status"]) == ("10.500", "manual")
    assert (by["p1.png", "S"]["ai_x_px"], by["p1.png", "S"]["confidence"]) == ("11.000", "0.9000")  # AI kept
    assert by["p2.png", "Me"]["status"] == "missing" and by["p2.png", "S"]["x_px"] == ""
    assert main(["project", "history", location, key]) == 0
    history = capsys.readouterr().out
    assert "dr.b" in history and "code=S" in history and "dr.a" in history  # imported by b, added by a


def test_a_bad_row_refuses_the_whole_file(location: str, tmp_path: Path, capsys):
    write_png(tmp_path / "films" / "p1.png", 1)
    assert main(["project", "init", location]) == 0
    assert main(["project", "add", location, str(tmp_path / "films")]) == 0
    cases = {
        "number": [["p1.png", "S", "1", "2", ""], ["p1.png", "N", "x", "2", ""]],
        "image": [["p1.png", "S", "1", "2", ""], ["ghost.png", "N", "1", "2", ""]],
        "landmark": [["p1.png", "S", "1", "2", ""], ["p1.png", "Qq", "1", "2", ""]],
        "outside": [["p1.png", "S", "1", "2", ""], ["p1.png", "N", "500", "2", ""]],
        "status": [["p1.png", "S", "1", "2", ""], ["p1.png", "N", "1", "2", "approved"]],
    }
    for name, rows in cases.items():
        capsys.readouterr()
        assert main(["project", "import", location, str(write_csv(tmp_path / f"{name}.csv", rows))]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert err[0].startswith(f"cephview: error: {name}.csv line 3:") and "nothing was imported" in err[0], err
    with ProjectStore.open(location, create=False) as store:
        ann = store.all_annotations()[0]
        assert all(lm.x is None for lm in ann.landmarks.values())  # no row of any refused file applied


@pytest.mark.parametrize("bad", [
    "postgresql://nobody@127.0.0.1:1/none",  # nothing listens on port 1
    "postgresql://u@127.0.0.1:5432/db?sslmode=bogus",  # a URL libpq refuses
    "postgresq://host/db",  # a typo of the scheme: never a folder of that name
    "postgresql:/host/db",
])
def test_a_location_that_cannot_be_opened_is_one_line(bad: str, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["project", "export", bad, "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cephview: error: ") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []  # no local project made instead


def test_refused_login_is_one_line_without_the_password(postgres_server, pg_url: str, capsys):
    wrong = pg_url.replace(":chair-side-secret@", ":wrong-password@")
    assert main(["project", "init", wrong]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "password authentication failed" in err and "wrong-password" not in err
    empty = pg_url  # a database that is no project yet: refused without init
    assert main(["models", "--project", empty]) == 2
    assert "not a cephview project" in capsys.readouterr().err


def test_models_lists_the_base_model_of_a_database_project(pg_url: str, capsys):
    assert main(["project", "init", pg_url]) == 0
    assert main(["models", "--project", pg_url]) == 0
    assert "base" in capsys.readouterr().out


def test_export_then_import_is_a_round_trip(location: str, tmp_path: Path):
    """AI positions, reviewed statuses and never-placed landmarks come back as they were exported:
    into the same project, and into another project holding the same films."""
    from cephview.core.annotations import LandmarkStatus

    films = tmp_path / "films"
    write_png(films / "p1.png", 1)
    write_png(films / "p2.png", 2)
    assert main(["project", "init", location]) == 0
    assert main(["project", "add", location, str(films)]) == 0
    with ProjectStore.open(location, create=False, user="model") as store:
        key = next(r.rel_path for r in store.images() if r.name == "p1.png")
        store.update_annotation(key, lambda a: a.with_prediction(["S", "N", "Or", "Po"], [
            (11.0, 21.0), (31.0, 6.0), (40.0, 30.0), (50.0, 40.0)], [0.9, 0.8, 0.7, 0.6], "m1"))
        ann = store.load_annotation(key)
        store.save_landmarks(key, [ann.landmarks["S"].moved_to(12.5, 22.0), ann.landmarks["N"].accepted(),
                                   ann.landmarks["Po"].marked_missing()])
    first = tmp_path / "first.csv"
    assert main(["project", "export", location, "--out", str(first)]) == 0
    by = {(r["image"], r["landmark"]): r for r in csv.DictReader(first.open())}
    assert [by["p1.png", c]["status"] for c in ("S", "N", "Or", "Po")] == ["corrected", "accepted", "ai", "missing"]
    assert by["p1.png", "Me"]["status"] == "" and by["p2.png", "S"]["status"] == ""  # nobody placed them

    assert main(["project", "import", location, str(first)]) == 0  # back into the same project
    again = tmp_path / "again.csv"
    assert main(["project", "export", location, "--out", str(again)]) == 0
    assert again.read_text() == first.read_text()

    other = str(tmp_path / "other") if "://" not in location else location
    if "://" in location:  # a database holds one project: start it again from the films
        with ProjectStore.open(location, create=False) as store:
            for record in store.images():
                store.remove_image(record.rel_path)
    else:
        assert main(["project", "init", other]) == 0
    assert main(["project", "add", other, str(films)]) == 0
    assert main(["project", "import", other, str(first)]) == 0
    copy = tmp_path / "copy.csv"
    assert main(["project", "export", other, "--out", str(copy)]) == 0
    assert copy.read_text() == first.read_text()
    with ProjectStore.open(other, create=False) as store:
        lms = store.load_annotation(next(r.rel_path for r in store.images() if r.name == "p1.png")).landmarks
        assert lms["Or"].status is LandmarkStatus.AI and lms["Or"].edited_at is None and lms["Or"].ai_x == 40.0
        assert lms["Me"].status is LandmarkStatus.MISSING and lms["Me"].edited_at is None  # still unplaced
        assert lms["Po"].edited_at is not None  # declared missing by the clinician


def test_a_position_without_status_is_judged_against_the_ai_position(location: str, tmp_path: Path):
    write_png(tmp_path / "films" / "p1.png", 1)
    assert main(["project", "init", location]) == 0
    assert main(["project", "add", location, str(tmp_path / "films")]) == 0
    with ProjectStore.open(location, create=False, user="model") as store:
        key = store.images()[0].rel_path
        store.update_annotation(key, lambda a: a.with_prediction(["S", "N"], [(11.0, 21.0), (31.0, 6.0)],
                                                                 [0.9, 0.8], "m1"))
    rows = [["p1.png", "S", "11", "21", ""], ["p1.png", "N", "30", "5", ""], ["p1.png", "Or", "20", "20", ""]]
    assert main(["project", "import", location, str(write_csv(tmp_path / "r.csv", rows))]) == 0
    with ProjectStore.open(location, create=False) as store:
        lms = store.load_annotation(key).landmarks
        assert [lms[c].status.value for c in ("S", "N", "Or")] == ["accepted", "corrected", "manual"]
        assert (lms["N"].ai_x, lms["N"].confidence, lms["N"].model_version) == (31.0, 0.8, "m1")  # AI kept

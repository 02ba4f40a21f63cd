"""``cephview measure`` / ``report`` / ``info`` on the images of a project: the project's reviewed
landmarks and calibration by default, the source said in one line, no header-only CSV."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from cephview.analysis import compute_measurements
from cephview.cli import main
from cephview.core.annotations import ImageAnnotation
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.store import ProjectStore


@pytest.fixture
def project(tmp_path):
    """A project folder of two synthetic cephalograms, image 0 reviewed there: its B moved by 25 px
    and a ruler calibration; image 1 never opened."""
    from cephview.core.synthetic import write_synthetic_dataset

    source = tmp_path / "source"
    ds = write_synthetic_dataset(source, 2, seed=5, width=240, height=300)
    folder = tmp_path / "clinic"
    folder.mkdir()
    for i in range(2):
        shutil.copy(source / f"synthetic_{i:04d}.png", folder)
    with ProjectStore.open(folder) as store:
        rec = store.add_image(folder / "synthetic_0000.png")
        store.add_image(folder / "synthetic_0001.png")
        ann = ImageAnnotation.empty(rec.rel_path, "isbi2015").with_prediction(
            ds.schema.codes, ds.images[0].points, [0.9] * len(ds.schema.codes), "test-model")
        ann.landmarks["B"] = ann.landmarks["B"].moved_to(ann.landmarks["B"].x + 25, ann.landmarks["B"].y)
        ann.calibration = Calibration.isotropic(0.25, CalibrationSource.RULER)
        store.save_annotation(ann)
        reviewed = store.load_annotation(rec.rel_path)
    return folder, reviewed


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_measure_on_a_project_image_uses_its_reviewed_landmarks_and_calibration(project, tmp_path, capsys):
    folder, reviewed = project
    out = tmp_path / "m.csv"
    code = main(["measure", str(folder / "synthetic_0000.png"), "--analyses", "steiner", "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "synthetic_0000.png: landmarks: project (reviewed 1/19); calibration: ruler (0.25 mm/px)" in stdout
    expected = {r.name: r for r in compute_measurements(reviewed, reviewed.calibration, ["Steiner"])}
    rows = {r["measurement"]: r for r in _rows(out)}
    assert float(rows["SNB"]["value"]) == pytest.approx(expected["SNB"].value, abs=0.011)
    assert rows["SNB"]["status"] == "provisional"  # 18 landmarks still unreviewed
    mm = next(r for r in rows.values() if r["unit"] == "mm")  # the project's ruler calibration
    assert mm["value"]


def test_measure_ignore_project_predicts_with_the_model(project, tiny_model_path, tmp_path, capsys):
    folder, _ = project
    out = tmp_path / "m.csv"
    code = main(["measure", str(folder / "synthetic_0000.png"), "--ignore-project", "--model", str(tiny_model_path),
                 "--analyses", "steiner", "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "landmarks: model (AI, not reviewed); calibration: none" in stdout


def test_report_on_a_project_image_uses_the_project(project, tmp_path, capsys, qapp):
    folder, _ = project
    out = tmp_path / "r.pdf"
    code = main(["report", str(folder / "synthetic_0000.png"), "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "landmarks: project (reviewed 1/19)" in stdout and out.read_bytes().startswith(b"%PDF")


def test_measure_writes_no_header_only_csv_when_every_input_fails(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "m.csv"
    code = main(["measure", str(bad), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and "bad.png" in err
    assert not out.exists()


def test_predict_writes_no_header_only_csv_when_every_input_fails(tmp_path, tiny_model_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "p.csv"
    code = main(["predict", str(bad), "--model", str(tiny_model_path), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and "bad.png" in err
    assert not out.exists()


def test_info_on_several_inputs_names_each_file(project, capsys):
    folder, _ = project
    paths = [folder / "synthetic_0000.png", folder / "synthetic_0001.png"]
    assert main(["info", *map(str, paths)]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["path"] for e in entries] == [str(p) for p in paths]
    assert main(["info", str(paths[0])]) == 0  # one input: as before, no path unless asked
    assert "path" not in json.loads(capsys.readouterr().out)

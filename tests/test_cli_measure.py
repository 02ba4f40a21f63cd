"""``cephview measure`` and ``cephview report``: CSV contract, landmark sources, batch errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cephview.analysis import CSV_HEADER, compute_measurements
from cephview.cli import main
from cephview.core.calibration import Calibration, CalibrationSource

N_IMAGES = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from cephview.core.synthetic import write_synthetic_dataset

    folder = tmp_path_factory.mktemp("measure")
    ds = write_synthetic_dataset(folder, N_IMAGES, seed=3, width=240, height=300)
    return folder, ds


@pytest.fixture
def qt(request):
    """The Qt application of pytest-qt; skips where Qt is not installed (measure needs no Qt)."""
    pytest.importorskip("PySide6")
    pytest.importorskip("pytestqt")
    return request.getfixturevalue("qapp")


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CSV_HEADER
        return list(reader)


def points_of(ds, i: int) -> dict[str, tuple[float, float]]:
    return {code: (float(x), float(y)) for code, (x, y) in zip(ds.schema.codes, ds.images[i].points)}


def test_measure_from_csv_matches_compute_measurements(dataset, tmp_path, capsys):
    folder, ds = dataset
    out = tmp_path / "m.csv"
    code, _, err = run(["measure", folder, "--annotations", folder / "landmarks.csv",
                        "--analyses", "steiner,downs", "--out", out], capsys)
    assert code == 0, err
    rows = read_rows(out)
    per_image = len(compute_measurements(points_of(ds, 0), None, ["Steiner", "Downs"]))
    assert len(rows) == N_IMAGES * per_image
    assert {r["image"] for r in rows} == {f"synthetic_{i:04d}.png" for i in range(N_IMAGES)}
    assert {r["analysis"] for r in rows} == {"Steiner", "Downs"}
    for i in range(N_IMAGES):
        # the CSV's positions are rounded to 0.001 px: compare with the value at 0.01 deg
        expected = next(r for r in compute_measurements(points_of(ds, i), None, ["Steiner"]) if r.name == "SNA")
        row = next(r for r in rows if r["image"] == f"synthetic_{i:04d}.png" and r["measurement"] == "SNA")
        assert float(row["value"]) == pytest.approx(expected.value, abs=0.011)
        assert row["unit"] == "deg" and row["norm_mean"] == "82.00" and row["status"] == "final"
    # the PNGs carry no pixel size: distances stay in px, without a norm
    u1 = next(r for r in rows if r["measurement"] == "U1-NA (px)")  # named by the unit it has
    assert u1["unit"] == "px" and u1["norm_mean"] == ""


def test_measure_with_pixel_size_reports_mm(dataset, tmp_path, capsys):
    folder, ds = dataset
    out = tmp_path / "m.csv"
    image = folder / "synthetic_0001.png"
    code, _, _ = run(["measure", image, "--annotations", folder / "landmarks.csv", "--analyses", "Steiner",
                      "--mm-per-px", "0.5", "--out", out], capsys)
    assert code == 0
    rows = {r["measurement"]: r for r in read_rows(out)}
    expected = {r.name: r for r in compute_measurements(
        points_of(ds, 1), Calibration.isotropic(0.5, CalibrationSource.USER), ["Steiner"])}
    assert rows["U1-NA (mm)"]["unit"] == "mm"
    assert float(rows["U1-NA (mm)"]["value"]) == pytest.approx(expected["U1-NA (mm)"].value, abs=0.011)


def test_unreviewed_rows_in_the_csv_give_provisional_values(dataset, tmp_path, capsys):
    folder, ds = dataset
    ann_csv = tmp_path / "ai.csv"
    with ann_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x_px", "y_px", "confidence", "status"])
        for code, (x, y) in points_of(ds, 0).items():
            w.writerow(["synthetic_0000.png", code, x, y, 0.8, "ai" if code == "A" else "accepted"])
    out = tmp_path / "m.csv"
    code, _, _ = run(["measure", folder / "synthetic_0000.png", "--annotations", ann_csv,
                      "--analyses", "steiner", "--out", out], capsys)
    assert code == 0
    status = {r["measurement"]: r["status"] for r in read_rows(out)}
    assert status["SNA"] == "provisional" and status["SNB"] == "final"


def test_bad_inputs_exit_2_and_the_batch_goes_on(dataset, tmp_path, capsys):
    folder, _ = dataset
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    missing = tmp_path / "missing.png"
    out = tmp_path / "m.csv"
    code, _, err = run(["measure", folder / "synthetic_0000.png", corrupt, missing, "--annotations",
                        folder / "landmarks.csv", "--analyses", "steiner", "--out", out], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("cephview: error: ") for line in lines)
    assert "2 of 3 inputs failed" in lines[-1]
    assert {r["image"] for r in read_rows(out)} == {"synthetic_0000.png"}


def test_image_without_landmarks_in_the_csv_is_named(dataset, tmp_path, capsys):
    from cephview.core.synthetic import write_synthetic_dataset

    other = tmp_path / "other"
    write_synthetic_dataset(other, 1, seed=99, width=240, height=300, csv_name="unused.csv")
    stranger = other / "stranger.png"
    (other / "synthetic_0000.png").rename(stranger)
    code, _, err = run(["measure", stranger, "--annotations", dataset[0] / "landmarks.csv",
                        "--out", tmp_path / "m.csv"], capsys)
    assert code == 2 and "no landmarks for stranger.png" in err


@pytest.mark.parametrize("extra, message", [
    (["--analyses", "steiner,nonsense"], "unknown analysis 'nonsense'"),
    (["--norms", "martian"], "unknown norm set 'martian'"),
    (["--schema", "foo"], "unknown landmark schema 'foo'"),
])
def test_bad_options_are_one_line(dataset, tmp_path, capsys, extra, message):
    folder, _ = dataset
    code, _, err = run(["measure", folder, "--annotations", folder / "landmarks.csv", "--out",
                        tmp_path / "m.csv", *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_unreadable_annotations_csv_is_one_line(dataset, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("image,landmark,x_px,y_px\nsynthetic_0000.png,S,abc,1\n")
    code, _, err = run(["measure", dataset[0], "--annotations", bad, "--out", tmp_path / "m.csv"], capsys)
    assert code == 2 and err.count("\n") == 1 and "not a number" in err


def test_measure_with_the_model_marks_values_provisional(dataset, tiny_model_path, tmp_path, capsys):
    folder, _ = dataset
    out = tmp_path / "m.csv"
    code, _, err = run(["measure", folder / "synthetic_0000.png", "--model", tiny_model_path,
                        "--analyses", "steiner", "--out", out], capsys)
    assert code == 0, err
    statuses = {r["status"] for r in read_rows(out)}
    assert "final" not in statuses and "provisional" in statuses


def test_report_writes_a_pdf(qt, dataset, tmp_path, capsys):
    folder, _ = dataset
    out = tmp_path / "r.pdf"
    code, _, err = run(["report", folder / "synthetic_0002.png", "--annotations", folder / "landmarks.csv",
                        "--analyses", "steiner,tweed", "--out", out], capsys)
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("target, message", [("folder", "is a folder"), ("missing", "no such file")])
def test_report_on_bad_input_is_one_line(qt, dataset, tmp_path, capsys, target, message):
    folder, _ = dataset
    path = folder if target == "folder" else tmp_path / "missing.png"
    out = tmp_path / "r.pdf"
    code, _, err = run(["report", path, "--annotations", folder / "landmarks.csv", "--out", out], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not out.exists()


def test_report_into_a_missing_folder_is_one_line(qt, dataset, tmp_path, capfd):
    folder, _ = dataset
    out = tmp_path / "nowhere" / "r.pdf"
    code = main(["report", str(folder / "synthetic_0000.png"), "--annotations", str(folder / "landmarks.csv"),
                 "--out", str(out)])
    _, err = capfd.readouterr()  # capfd: Qt's own warnings would bypass sys.stderr
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_measure_reads_a_csv_with_a_trailing_separator_on_each_row(dataset, tmp_path, capsys):
    folder, _ = dataset
    lines = (folder / "landmarks.csv").read_text(encoding="utf-8").splitlines()
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("\n".join([lines[0]] + [line + "," for line in lines[1:]]) + "\n", encoding="utf-8")
    plain, commas = tmp_path / "plain.csv", tmp_path / "commas.csv"
    assert run(["measure", folder, "--annotations", folder / "landmarks.csv", "--out", plain], capsys)[0] == 0
    code, _, err = run(["measure", folder, "--annotations", trailing, "--out", commas], capsys)
    assert code == 0, err
    assert read_rows(commas) == read_rows(plain)


def test_images_of_the_same_name_in_two_folders_get_their_own_rows(dataset, tmp_path, capsys, monkeypatch):
    """dA/case.png and dB/case.png are two patients: each is measured from its own CSV rows."""
    import shutil

    folder, ds = dataset
    lines = (folder / "landmarks.csv").read_text(encoding="utf-8").splitlines()
    rows = {name: [line for line in lines[1:] if line.startswith(name + ",")] for name in ("synthetic_0000.png", "synthetic_0001.png")}
    for sub, source in (("dA", "synthetic_0000.png"), ("dB", "synthetic_0001.png")):
        (tmp_path / sub).mkdir()
        shutil.copy(folder / source, tmp_path / sub / "case.png")
    monkeypatch.chdir(tmp_path)
    both = tmp_path / "both.csv"
    both.write_text("\n".join([lines[0]]
                              + [r.replace("synthetic_0000.png", "dA/case.png", 1) for r in rows["synthetic_0000.png"]]
                              + [r.replace("synthetic_0001.png", "dB/case.png", 1) for r in rows["synthetic_0001.png"]]) + "\n",
                    encoding="utf-8")
    out = tmp_path / "m.csv"
    code, _, err = run(["measure", "dA/case.png", "dB/case.png", "--annotations", both, "--analyses", "steiner", "--out", out], capsys)
    assert code == 0, err
    sna = [float(r["value"]) for r in read_rows(out) if r["measurement"] == "SNA"]
    expected = [next(m.value for m in compute_measurements(points_of(ds, i), None, ["Steiner"]) if m.name == "SNA") for i in (0, 1)]
    assert sna == pytest.approx(expected, abs=0.011) and abs(expected[0] - expected[1]) > 0.1

    # A CSV written elsewhere: no row's folders fit, so the one row with the file name is used.
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text(both.read_text(encoding="utf-8").replace("dA/case.png", "/home/alice/exports/case.png")
                         .replace("dB/case.png", "C:\\scans\\other.png"), encoding="utf-8")
    code, _, err = run(["measure", "dA/case.png", "--annotations", elsewhere, "--analyses", "steiner", "--out", out], capsys)
    assert code == 0, err
    assert [float(r["value"]) for r in read_rows(out) if r["measurement"] == "SNA"] == pytest.approx(expected[:1], abs=0.011)
    # ... but two such rows of that name are refused, not guessed between.
    clash = tmp_path / "clash.csv"
    clash.write_text(both.read_text(encoding="utf-8").replace("dA/case.png", "x/case.png").replace("dB/case.png", "y/case.png"),
                     encoding="utf-8")
    code, _, err = run(["measure", "dA/case.png", "--annotations", clash, "--out", out], capsys)
    assert code == 2 and "several rows" in err and "x/case.png, y/case.png" in err

    # A bare file name still fits (the CSVs of ``cephview predict`` name files only).
    bare = tmp_path / "bare.csv"
    bare.write_text(both.read_text(encoding="utf-8").replace("dA/case.png", "case.png").replace("dB/case.png", "x/case.png"),
                    encoding="utf-8")
    code, _, err = run(["measure", "dA/case.png", "--annotations", bare, "--analyses", "steiner", "--out", out], capsys)
    assert code == 0, err
    assert [float(r["value"]) for r in read_rows(out) if r["measurement"] == "SNA"] == pytest.approx(expected[:1], abs=0.011)

"""``cephview superimpose`` with known answers on a real ISBI radiograph.

The later film is made from ISBI image 001: chosen landmarks moved by known millimetres, the head
turned and shifted in the cephalostat, and the film taken at another pixel size (0.125 mm, a
DICOM file that says so) than the earlier one (0.1 mm, a JPEG that does not: --mm-per-px).
The image is warped with OpenCV and the landmark CSV transformed exactly; superimposition must
give back the movement and the measurement changes computed here with numpy.
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from cephview.cli import main
from cephview.core.datasets.isbi import read_isbi_annotation
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.core.synthetic import write_dx_file

CODES = load_schema("isbi2015").codes
BEFORE_MM, AFTER_MM = 0.1, 0.125
HEAD_ANGLE_DEG, HEAD_SHIFT_MM = 7.0, (-12.0, 9.5)
# growth and treatment, in mm along the earlier film's axes (x forward, y down)
MOVES = {"B": (1.6, 2.4), "Pog": (2.0, 3.1), "Me": (0.8, 3.5), "Gn": (1.5, 3.3), "LIT": (-0.9, 0.6),
         "UIT": (-1.2, 0.2), "A": (0.4, 0.3)}


def head_matrix() -> np.ndarray:
    """Earlier film mm -> later film mm: the head turned and shifted (3x3)."""
    a = math.radians(HEAD_ANGLE_DEG)
    return np.array([[math.cos(a), -math.sin(a), HEAD_SHIFT_MM[0]], [math.sin(a), math.cos(a), HEAD_SHIFT_MM[1]],
                     [0, 0, 1]])


def before_px_to_after_px() -> np.ndarray:
    return np.diag([1 / AFTER_MM, 1 / AFTER_MM, 1]) @ head_matrix() @ np.diag([BEFORE_MM, BEFORE_MM, 1])


def write_dicom(path: Path, pixels: np.ndarray, spacing_mm: float, patient_id: str, date: str) -> Path:
    return write_dx_file(path, pixels, spacing_mm, patient_id, date, date_tag="AcquisitionDate")


@pytest.fixture(scope="module")
def films(isbi_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    before_path = isbi_root / "RawImage" / "TrainingData" / "001.jpg"
    before_pts = read_isbi_annotation(isbi_root / "AnnotationsByMD" / "400_senior" / "001.txt")
    image = cv2.imread(str(before_path), cv2.IMREAD_GRAYSCALE)
    m = before_px_to_after_px()
    size = (round(image.shape[1] * BEFORE_MM / AFTER_MM), round(image.shape[0] * BEFORE_MM / AFTER_MM))
    later = cv2.warpAffine(image, m[:2], size, flags=cv2.INTER_LINEAR)
    after_path = write_dicom(folder / "001_t1.dcm", later, AFTER_MM, "ISBI-001", "20250612")
    after_pts = {}
    for code, (x, y) in zip(CODES, before_pts):
        dx, dy = MOVES.get(code, (0.0, 0.0))
        moved = np.array([x + dx / BEFORE_MM, y + dy / BEFORE_MM, 1.0])
        after_pts[code] = (m @ moved)[:2]
    csv_path = folder / "landmarks_both.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x_px", "y_px"])
        for code, (x, y) in zip(CODES, before_pts):
            w.writerow(["001.jpg", code, repr(float(x)), repr(float(y))])
        for code, (x, y) in after_pts.items():
            w.writerow(["001_t1.dcm", code, repr(float(x)), repr(float(y))])
    before_mm = {c: np.array(p) * BEFORE_MM for c, p in zip(CODES, before_pts)}
    moved_mm = {c: p + np.array(MOVES.get(c, (0.0, 0.0))) for c, p in before_mm.items()}
    return {"folder": folder, "before": before_path, "after": after_path, "csv": csv_path, "image": image,
            "later": later, "before_mm": before_mm, "moved_mm": moved_mm}


def run(args, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    key = "landmark" if "landmark" in rows[0] else "measurement"
    return {r[key] if key == "landmark" else f"{r['analysis']}/{r['measurement']}": r for r in rows}


def angle_at(vertex, a, b) -> float:
    u, v = a - vertex, b - vertex
    return math.degrees(math.acos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v)))


def line_angle(p1, p2, q1, q2) -> float:
    u, v = p2 - p1, q2 - q1
    a = math.degrees(math.acos(abs(np.dot(u, v)) / np.linalg.norm(u) / np.linalg.norm(v)))
    return a


def expected_measurements(pts: dict[str, np.ndarray]) -> dict[str, float]:
    sna = angle_at(pts["N"], pts["S"], pts["A"])
    snb = angle_at(pts["N"], pts["S"], pts["B"])
    return {"Steiner/SNA": sna, "Steiner/SNB": snb, "Steiner/ANB": sna - snb,
            "Steiner/SN-GoGn": line_angle(pts["S"], pts["N"], pts["Go"], pts["Gn"]),
            "Tweed/FMA": line_angle(pts["Po"], pts["Or"], pts["Go"], pts["Me"]),
            "Bjork-Jarabak/N-Me": float(np.linalg.norm(pts["Me"] - pts["N"]))}


@pytest.mark.parametrize("method", ["sn", "cranial-base"])
def test_known_movement_and_measurement_changes_come_back(films, tmp_path, capsys, method):
    out = tmp_path / "out"
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", films["csv"],
                     "--mm-per-px", BEFORE_MM, "--method", method, "--analyses", "steiner,tweed,bjork-jarabak",
                     "--out", out], capsys)
    assert code == 0, err
    landmarks = read(out / "landmarks.csv")
    assert list(landmarks) == CODES
    for code_, row in landmarks.items():
        dx, dy = MOVES.get(code_, (0.0, 0.0))
        assert float(row["dx_mm"]) == pytest.approx(dx, abs=0.05), code_
        assert float(row["dy_mm"]) == pytest.approx(dy, abs=0.05), code_
        assert float(row["displacement_mm"]) == pytest.approx(math.hypot(dx, dy), abs=0.05), code_
        bx, by = films["before_mm"][code_] / BEFORE_MM
        assert (float(row["before_x_px"]), float(row["before_y_px"])) == pytest.approx((bx, by), abs=1e-3)
        assert float(row["after_x_px"]) == pytest.approx(bx + dx / BEFORE_MM, abs=0.5)
    assert ("S-N" if method == "sn" else "cranial base (S, N)") in landmarks["S"]["method"]
    measured = read(out / "measurements.csv")
    before, after = expected_measurements(films["before_mm"]), expected_measurements(films["moved_mm"])
    for key, value in before.items():
        row = measured[key]
        assert float(row["before"]) == pytest.approx(value, abs=0.1), key
        assert float(row["change"]) == pytest.approx(after[key] - value, abs=0.1), key
        assert row["unit"] == ("mm" if key.endswith("N-Me") else "deg") and row["status"] == "final"
    assert abs(float(measured["Steiner/SNB"]["change"])) > 0.5  # the movement shows
    assert float(measured["Steiner/SNA"]["change"]) == pytest.approx(after["Steiner/SNA"] - before["Steiner/SNA"],
                                                                     abs=0.1)


def test_overlay_puts_the_later_film_back_on_the_earlier(films, tmp_path, capsys):
    """Warping the later film with the superimposition recovers the earlier film's pixels."""
    from cephview.analysis.superimpose import superimpose
    from cephview.cli_report import LandmarkSource
    from cephview.core.calibration import Calibration, CalibrationSource
    from cephview.core.radiograph import load_radiograph
    from cephview.serial_overlay import AFTER_COLOR, BEFORE_COLOR, bgr, warp_later_film

    out = tmp_path / "out"
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", films["csv"],
                     "--mm-per-px", BEFORE_MM, "--out", out], capsys)
    assert code == 0, err
    overlay = cv2.imread(str(out / "overlay.png"), cv2.IMREAD_COLOR)
    assert overlay.shape[:2] == films["image"].shape
    landmarks = read(out / "landmarks.csv")
    for color, x_key, y_key in ((BEFORE_COLOR, "before_x_px", "before_y_px"), (AFTER_COLOR, "after_x_px", "after_y_px")):
        x, y = round(float(landmarks["Pog"][x_key])), round(float(landmarks["Pog"][y_key]))
        assert np.abs(overlay[y, x].astype(int) - bgr(color)).max() < 40  # each film's marker in its colour

    source = LandmarkSource(films["csv"])
    anns = []
    for path, mm in ((films["before"], BEFORE_MM), (films["after"], None)):
        film = load_radiograph(path)
        ann = source.annotation(path, film)
        if mm:
            ann.calibration = Calibration.isotropic(mm, CalibrationSource.USER)
        anns.append(ann)
    assert anns[1].calibration.row_mm == AFTER_MM  # the DICOM's own PixelSpacing
    result = superimpose(anns[0], anns[1])
    warped, inside = warp_later_film(films["later"], result, films["image"].shape)
    core = inside & (cv2.erode(inside.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0)
    a, b = warped[core].astype(float), films["image"][core].astype(float)
    assert core.mean() > 0.6
    assert np.corrcoef(a, b)[0, 1] > 0.97
    assert np.median(np.abs(a - b)) < 6


def test_film_without_pixel_size_needs_mm_per_px(films, tmp_path, capsys):
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", films["csv"],
                     "--out", tmp_path / "out"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"cephview: error: {films['before']}: ")
    assert "--mm-per-px" in err


def test_films_of_two_patients_need_force(films, tmp_path, capsys):
    other = write_dicom(tmp_path / "001.dcm", films["image"], BEFORE_MM, "SOMEONE-ELSE", "20200101")
    args = ["superimpose", other, films["after"], "--annotations", films["csv"], "--out", tmp_path / "out"]
    code, err = run(args, capsys)
    assert code == 2 and "another patient" in err and "--force" in err
    assert not (tmp_path / "out").exists()  # nothing written
    csv_path = tmp_path / "both.csv"
    csv_path.write_text(films["csv"].read_text().replace("001.jpg", "001.dcm"))
    code, err = run(["superimpose", other, films["after"], "--annotations", csv_path, "--force",
                     "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert float(read(tmp_path / "out" / "landmarks.csv")["Pog"]["dx_mm"]) == pytest.approx(2.0, abs=0.05)


def test_missing_landmarks_are_named(films, tmp_path, capsys):
    csv_path = tmp_path / "no_s.csv"
    lines = films["csv"].read_text().splitlines()
    csv_path.write_text("\n".join(ln for ln in lines if not ln.startswith("001_t1.dcm,S,")
                                  and not ln.startswith("001_t1.dcm,Go,")) + "\n")
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", csv_path,
                     "--mm-per-px", BEFORE_MM, "--out", tmp_path / "out"], capsys)
    assert code == 2
    assert "001_t1.dcm: lacks S (needed to superimpose on S, N)" in err
    # Go missing on its own does not stop the superimposition: its row is empty and named
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", csv_path,
                     "--method", "cranial-base", "--fit-points", "N,Pog,Me", "--mm-per-px", BEFORE_MM,
                     "--out", tmp_path / "out2"], capsys)
    assert code == 0, err
    assert "no S, Go on the later film" in err
    row = read(tmp_path / "out2" / "landmarks.csv")["Go"]
    assert row["after_x_px"] == "" and row["displacement_mm"] == "" and row["before_x_px"] != ""


def test_bad_method_and_out_file(films, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", films["csv"],
                     "--mm-per-px", BEFORE_MM, "--out", tmp_path / "afile"], capsys)
    assert code == 2 and "--out names a folder" in err
    with pytest.raises(SystemExit):
        main(["superimpose", str(films["before"]), str(films["after"]), "--method", "bjork", "--out", str(tmp_path)])


def test_cli_names_match_the_analysis_module():
    from cephview import cli_serial
    from cephview.analysis import superimpose

    assert cli_serial.METHODS == superimpose.METHODS
    assert cli_serial.CRANIAL_BASE_POINTS == superimpose.CRANIAL_BASE_POINTS


@pytest.mark.slow
def test_without_annotations_the_model_predicts_both_films(films, tmp_path, capsys):
    """The later film's pixels are the earlier film's, turned, shifted and re-sampled: the shipped
    model finds the same anatomy on both, so superimposed its landmarks move only by the model's
    own scatter (about 1 mm a film; 1.4 mm median measured), not by the 25 mm a wrong pixel size
    or a wrong registration would give."""
    from cephview.resources import models_dir

    if not (models_dir() / "cephview-isbi19.pt").is_file():
        pytest.skip("the shipped model is not in models/")
    out = tmp_path / "out"
    code, err = run(["superimpose", films["before"], films["after"], "--mm-per-px", BEFORE_MM,
                     "--analyses", "steiner", "--out", out], capsys)
    assert code == 0, err
    assert "nobody has reviewed" in err  # predicted landmarks are provisional, and it says so
    moved = [float(r["displacement_mm"]) for r in read(out / "landmarks.csv").values()]
    assert len(moved) == 19 and np.median(moved) < 2.5
    measured = read(out / "measurements.csv")
    assert measured["Steiner/SNA"]["status"] == "provisional"
    assert abs(float(measured["Steiner/SNA"]["change"])) < 2.0


def test_pdf_progress_page(films, tmp_path, capsys, qapp):
    out = tmp_path / "out"
    code, err = run(["superimpose", films["before"], films["after"], "--annotations", films["csv"],
                     "--mm-per-px", BEFORE_MM, "--analyses", "steiner", "--pdf", "--out", out], capsys)
    assert code == 0, err
    assert (out / "progress.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out / "progress.pdf"), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "after (2025-06-12)" in text and "SNB" in text
        # the patient ID and the file names (which often carry the patient's name) stay out unless asked
        assert "ISBI-001" not in text and "001_t1" not in text
        named = tmp_path / "named"
        code, err = run(["superimpose", films["before"], films["after"], "--annotations", films["csv"],
                         "--mm-per-px", BEFORE_MM, "--analyses", "steiner", "--pdf", "--include-patient",
                         "--out", named], capsys)
        assert code == 0, err
        text = subprocess.run(["pdftotext", str(named / "progress.pdf"), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "001_t1.dcm (2025-06-12)" in text


def test_film_calibration_follows_measure_and_the_window():
    """The project's (or the annotations') calibration first, as `measure` and the compare view
    use it; then the file's own pixel size; then --mm-per-px; none of them: refused."""
    from types import SimpleNamespace

    from cephview.cli_serial import film_calibration
    from cephview.core.calibration import Calibration, CalibrationSource

    ruler = Calibration.isotropic(0.2, CalibrationSource.USER)
    spacing = Calibration.isotropic(0.125, CalibrationSource.USER)
    with_spacing, without = SimpleNamespace(calibration=spacing), SimpleNamespace(calibration=Calibration())
    assert film_calibration(Path("a.dcm"), with_spacing, 0.1, ruler) is ruler
    assert film_calibration(Path("a.dcm"), with_spacing, 0.1, Calibration()) is spacing
    assert film_calibration(Path("a.jpg"), without, 0.1, Calibration()).row_mm == 0.1
    with pytest.raises(CephviewError, match="--mm-per-px"):
        film_calibration(Path("a.jpg"), without, None, None)

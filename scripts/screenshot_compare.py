"""Screenshot of the compare view on two films of one (simulated) patient.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot_compare.py --out docs/compare_view.png

The earlier film is ISBI 2015 image 001 with the senior doctor's landmarks (a DICOM copy that
carries 0.1 mm pixels, a patient ID and a date); the later film is the same image turned by
6 degrees, shifted and taken at 0.125 mm pixels, with B, Pog, Gn and Me moved 2-3 mm forward
and down, as after mandibular growth. Both go into a temporary project, the window opens it,
and "Compare with..." superimposes them.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ISBI = ROOT.parent / "shared" / "datasets" / "isbi2015"
MOVES_MM = {"B": (1.6, 2.4), "Pog": (2.2, 3.0), "Gn": (1.9, 3.2), "Me": (1.2, 3.4), "LIT": (0.6, 0.8)}


def write_dicom(path: Path, pixels, spacing: float, patient_id: str, date: str) -> None:
    from cephview.core.synthetic import write_dx_file

    write_dx_file(path, pixels, spacing, patient_id, date)


def make_project(folder: Path) -> None:
    import cv2
    import numpy as np

    from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
    from cephview.core.datasets.isbi import read_isbi_annotation
    from cephview.core.schema import load_schema
    from cephview.core.store import ProjectStore

    image = cv2.imread(str(ISBI / "RawImage" / "TrainingData" / "001.jpg"), cv2.IMREAD_GRAYSCALE)
    points = read_isbi_annotation(ISBI / "AnnotationsByMD" / "400_senior" / "001.txt")
    a = math.radians(6.0)
    head = np.array([[math.cos(a), -math.sin(a), -10.0], [math.sin(a), math.cos(a), 6.0], [0, 0, 1]])
    m = np.diag([1 / 0.125, 1 / 0.125, 1]) @ head @ np.diag([0.1, 0.1, 1])
    later = cv2.warpAffine(image, m[:2], (1548, 1920), flags=cv2.INTER_LINEAR)
    write_dicom(folder / "visit1_2021.dcm", image, 0.1, "DEMO-1", "20210310")
    write_dicom(folder / "visit2_2024.dcm", later, 0.125, "DEMO-1", "20240402")
    codes = load_schema("isbi2015").codes
    with ProjectStore.open(folder) as store:
        for name, pts in (("visit1_2021.dcm", {c: p for c, p in zip(codes, points)}),
                          ("visit2_2024.dcm", {c: (m @ (x + MOVES_MM.get(c, (0, 0))[0] * 10,
                                                           y + MOVES_MM.get(c, (0, 0))[1] * 10, 1))[:2]
                                               for c, (x, y) in zip(codes, points)})):
            store.add_image(folder / name)
            # accepted AI positions: reviewed films, which the window does not predict again
            lms = {c: LandmarkAnnotation(c, float(x), float(y), float(x), float(y), 0.9, LandmarkStatus.ACCEPTED)
                   for c, (x, y) in pts.items()}
            store.save_annotation(ImageAnnotation(name, "isbi2015", lms))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("compare_view.png"))
    args = parser.parse_args()
    if not (ISBI / "RawImage" / "TrainingData" / "001.jpg").is_file():
        sys.stderr.write(f"ISBI 2015 data not found at {ISBI}\n")
        return 1
    from PySide6.QtCore import QSettings

    from cephview.gui.app import create_app
    from cephview.gui.main_window import MainWindow

    app = create_app()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "patient"
        folder.mkdir()
        make_project(folder)
        window = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat),
                            predictor_factory=lambda: None)
        window.open_paths([folder])
        view = window.compare.open_compare("visit2_2024.dcm", "visit1_2021.dcm")
        view.resize(1500, 950)
        view.show()
        view.blend_slider.setValue(35)
        for _ in range(20):
            app.processEvents()
        view.box.setRange(xRange=(450, 1750), yRange=(850, 2350), padding=0)
        for _ in range(20):
            app.processEvents()
        view.grab().save(str(args.out))
        print(f"wrote {args.out}")
        view.close()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time "next image" in the review window, with and without the background prefetch; prints a table.

    QT_QPA_PLATFORM=offscreen python scripts/bench_next_image.py [--runs 5]

A project of four cephalogram-sized DICOM files (JPEG 2000 lossless, the slowest format to
decode, and uncompressed 16-bit), opened in the real main window with the shipped model. Before
each step the window has finished predicting the current image and decoding the next one in the
background (``cephview/gui/prefetch.py``); the step is timed on the GUI thread: open, display,
and the landmarks of the project's annotation. "without" disables the prefetch.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_open import dicom_file  # noqa: E402


def make_project(folder: Path, syntax) -> Path:
    """Four copies of one synthetic 1935 x 2400 DICOM file of the given transfer syntax."""
    first = dicom_file(folder, syntax)
    project = folder / ("j2k" if syntax is not None else "raw")
    project.mkdir()
    for i in range(4):
        shutil.copy(first, project / f"ceph{i}.dcm")
    return project


def time_steps(project: Path, runs: int, prefetch: bool) -> list[float]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from cephview.gui.app import create_app
    from cephview.gui.main_window import MainWindow

    app = create_app()
    settings = QSettings(str(project / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    if not prefetch:
        window.prefetcher.take = lambda path: None
    times = []
    try:
        for _ in range(runs):
            window.open_paths([project])
            for _ in range(3):
                deadline = time.monotonic() + 60
                store = window.session.store
                following = window.worklist.neighbour(window.session.rel_path, 1)
                path = store.resolve(store.image(following))
                # Settled: the current image predicted and, with prefetch, the next one decoded.
                while time.monotonic() < deadline and not (
                    window.session.annotation.has_prediction and (not prefetch or window.prefetcher.is_ready(path))
                ):
                    app.processEvents()
                    time.sleep(0.01)
                start = time.perf_counter()
                window.project.step_image(1)
                app.processEvents()
                times.append((time.perf_counter() - start) * 1000)
            window.project.close_project()
    finally:
        window.close()
        QApplication.processEvents()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="times through the project (3 steps each)")
    args = ap.parse_args()
    from pydicom.uid import JPEG2000Lossless

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        for label, syntax in (("DICOM JPEG 2000 lossless", JPEG2000Lossless), ("DICOM 16-bit uncompressed", None)):
            project = make_project(folder, syntax)
            for prefetch in (False, True):
                (project / "cephview.sqlite").unlink(missing_ok=True)  # each mode starts unpredicted
                times = time_steps(project, args.runs, prefetch)
                rows.append((label, "with" if prefetch else "without", times))
    print(f"{'file (1935 x 2400)':<28}{'prefetch':>9}{'median ms':>11}{'max ms':>8}{'steps':>7}")
    for label, mode, times in rows:
        print(f"{label:<28}{mode:>9}{statistics.median(times):>11.1f}{max(times):>8.1f}{len(times):>7}")


if __name__ == "__main__":
    main()

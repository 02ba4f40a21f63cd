"""Start the real review window, open an image, wait for the AI and save a screenshot.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot.py [IMAGE] [--out shot.png] [--model M.pt]
    QT_QPA_PLATFORM=offscreen python scripts/screenshot.py ...   (no X server: renders the window itself)

Without IMAGE it uses ISBI 2015 image 001 from ../shared when present, else a synthetic one.
The image is copied to a temporary project folder, so no project file is written beside
the original. Exits 1 if the prediction does not arrive within --timeout seconds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_image(folder: Path) -> Path:
    isbi = ROOT.parent / "shared" / "datasets" / "isbi2015" / "RawImage" / "TrainingData" / "001.jpg"
    if isbi.is_file():
        return isbi
    import cv2
    import numpy as np

    try:
        from cephview.core.synthetic import synthetic_cephalogram

        image = synthetic_cephalogram(0)[0]
    except ImportError:
        rng = np.random.default_rng(0)
        image = cv2.GaussianBlur((rng.random((1200, 1000)) * 255).astype(np.uint8), (0, 0), 8)
    path = folder / "synthetic.png"
    cv2.imwrite(str(path), image)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", type=Path)
    parser.add_argument("--out", type=Path, default=Path("screenshot.png"))
    parser.add_argument("--model", type=Path, help="model file (default: the shipped model or CEPHVIEW_MODEL)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--heatmap", action="store_true", help="show the all-landmark heatmap overlay")
    parser.add_argument("--training", action="store_true", help="bring the Training dock to the front")
    parser.add_argument("--size", default="1600x1000")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings

    from cephview.gui.app import create_app
    from cephview.gui.main_window import MainWindow

    app = create_app()
    work = Path(tempfile.mkdtemp(prefix="cephview-shot-"))
    try:
        source = args.image or default_image(work)
        image = work / source.name
        shutil.copy(source, image)
        settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(model_path=args.model, settings=settings)
        w, h = (int(v) for v in args.size.split("x"))
        window.resize(w, h)
        window.show()
        if not window.open_paths([image]):
            print("could not open", image, file=sys.stderr)
            return 1
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            if window.session.heatmaps() is not None or window.prediction.model_failed:
                break
            if not window.prediction.busy and window.session.annotation.has_prediction:
                break
            time.sleep(0.02)
        else:
            print("no prediction within", args.timeout, "s", file=sys.stderr)
            return 1
        if window.prediction.model_failed:
            print("model failed to load; screenshot shows the error dialog", file=sys.stderr)
        if args.heatmap:
            window.overlay.set_mode("all")
            window.controls.heatmap_mode.setCurrentIndex(1)
            window.view_state.set_heatmap_shown(True)
        window.controller.next_low_confidence()
        if args.training:
            window.docks["training"].raise_()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # let the layout and the scene settle
            app.processEvents()
            time.sleep(0.02)
        window.viewer.fit()
        app.processEvents()
        if app.platformName() == "xcb":
            # A real X server (Xvfb): capture what is on the screen, window frame and all.
            pixmap = window.screen().grabWindow(0)
        else:
            pixmap = window.grab()
        if not pixmap.save(str(args.out)):
            print("could not write", args.out, file=sys.stderr)
            return 1
        print(f"saved {args.out} ({pixmap.width()}x{pixmap.height()})")
        window.close()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

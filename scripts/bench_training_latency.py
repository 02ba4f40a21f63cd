"""Does the review stay responsive while a model fine-tunes? Thread versus process, measured.

    QT_QPA_PLATFORM=offscreen python scripts/bench_training_latency.py [--epochs 3] [--modes idle,thread,process]

Builds a synthetic project (8 reviewed, 2 unreviewed images) and a tiny two-stage model, then
for each mode runs a fine-tune with :class:`cephview.gui.training_worker.TrainingService`
while the GUI thread measures itself: a QTimer at 10 ms records the gaps between its ticks
(the event loop's latency), and every 100 ms a "probe" runs about 3 ms of pure Python (what a
slot redrawing markers does) and records how long it really took. ``idle`` measures the same
for 15 s without training. Prints a table (the figures in training_worker's docstring).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench_training_latency")


def make_project(folder: Path, reviewed: int = 8, unreviewed: int = 2) -> None:
    """Synthetic images; reviewed ones corrected from AI positions 6 px off the truth."""
    from cephview.core.annotations import ImageAnnotation
    from cephview.core.store import ProjectStore
    from cephview.core.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(folder, reviewed + unreviewed, seed=7, width=240, height=300)
    with ProjectStore.open(folder) as store:
        for i, item in enumerate(data.images):
            rel = store.add_image(item.image_path).rel_path
            ann = ImageAnnotation.empty(rel, "isbi2015")
            ann.calibration = item.calibration
            for k, code in enumerate(data.schema.codes):
                x, y = item.points[k]
                lm = ann.landmarks[code].with_prediction(x + 6.0, y, 0.5, "tiny")
                ann.landmarks[code] = lm.moved_to(x, y) if i < reviewed else lm
            ann.reviewed = i < reviewed
            store.save_annotation(ann)


def make_model(path: Path) -> None:
    import torch

    from cephview.model.config import tiny_train_config
    from cephview.model.modelfile import save_model, untrained_model

    torch.manual_seed(0)
    save_model(untrained_model(tiny_train_config(), meta={"version": "tiny"}), path)


def probe_work() -> None:
    """About 3 ms of pure Python on this machine when nothing else runs."""
    total = 0
    for i in range(60_000):
        total += i * i % 7


def measure(mode: str, project: Path, model: Path, epochs: int, idle_s: float) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from cephview.gui.training_worker import TrainingService
    from cephview.model.finetune.jobs import FinetuneJob
    from cephview.model.finetune.settings import FinetuneSettings

    app = QApplication.instance() or QApplication([])
    ticks: list[float] = []
    probes: list[float] = []
    timer, probe_timer = QTimer(), QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    probe_timer.setInterval(100)

    def probe() -> None:
        t0 = time.perf_counter()
        probe_work()
        probes.append(time.perf_counter() - t0)

    probe_timer.timeout.connect(probe)
    loop = QEventLoop()
    outcome = {}
    t0 = time.perf_counter()
    if mode == "idle":
        QTimer.singleShot(int(idle_s * 1000), loop.quit)
    else:
        service = TrainingService(mode)
        service.finished.connect(lambda r: (outcome.update(result=r), loop.quit()))
        service.failed.connect(lambda m: (outcome.update(error=m), loop.quit()))
        settings = FinetuneSettings(epochs=epochs, lr=1e-3, device="cpu", force=True)
        service.start(FinetuneJob(str(project), settings, base_model=str(model)))
    timer.start()
    probe_timer.start()
    loop.exec()
    timer.stop()
    probe_timer.stop()
    if mode != "idle":
        service.shutdown()
    if "error" in outcome:
        raise SystemExit(f"{mode}: {outcome['error']}")
    gaps = sorted((b - a) * 1000 for a, b in zip(ticks, ticks[1:]))
    app.processEvents()
    return {
        "mode": mode, "max": gaps[-1], "p99": gaps[int(0.99 * (len(gaps) - 1))], "mean": statistics.fmean(gaps),
        "probe_median": 1000 * statistics.median(probes), "probe_max": 1000 * max(probes),
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--modes", default="idle,thread,process")
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny.pt"
        make_model(model)
        for mode in args.modes.split(","):
            project = Path(tmp) / f"project-{mode}"
            make_project(project)
            rows.append(measure(mode, project, model, args.epochs, args.idle_seconds))
            r = rows[-1]
            log.warning("%s done in %.0f s", mode, r["seconds"])
    print(f"{'mode':<9} {'gap max ms':>10} {'p99':>6} {'mean':>6} {'probe median ms':>16} {'max':>6} {'wall s':>7}")
    for r in rows:
        print(f"{r['mode']:<9} {r['max']:>10.0f} {r['p99']:>6.0f} {r['mean']:>6.1f} {r['probe_median']:>16.1f} "
              f"{r['probe_max']:>6.0f} {r['seconds']:>7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The model zoo's table: Test1 scores (from ``evaluate --compare --json``), training cost, size, CPU speed.

    cephview evaluate --dataset isbi2015 --root ../shared/datasets/isbi2015 --split test1 \\
        --compare runs/zoo/*.pt models/cephview-isbi19.pt --json runs/zoo/compare.json
    python scripts/zoo_table.py runs/zoo/compare.json [--runs 5] [--threads 1]

Times the prediction of one Test1 image (opened once; median of ``--runs`` after a warm-up) for
every model, reads the ``NAME.train.json`` that ``scripts/train_zoo.py`` wrote beside each model,
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cephview.core.radiograph import load_radiograph  # noqa: E402
from cephview.model.predictor import Predictor  # noqa: E402

IMAGE = REPO.parent / "shared" / "datasets" / "isbi2015" / "RawImage" / "Test1Data" / "151.jpg"


def predict_seconds(path: Path, pixels, runs: int) -> float:
    predictor = Predictor.from_file(path)
    predictor.predict(pixels)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        predictor.predict(pixels)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("compare_json", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = json.loads(args.compare_json.read_text())
    pixels = load_radiograph(IMAGE).model_pixels
    print(f"{data['dataset']}, reference {data['reference']}; predict time: {IMAGE.name}, "
          f"{args.threads} thread(s), median of {args.runs}, torch {torch.__version__}")
    print("| model | MRE mm | SD mm | SDR 2 mm | SDR 4 mm | MRE px | training (wall / CPU) | file MB | predict s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in data["models"]:
        path = Path(m["path"])
        record = path.with_name(path.stem + ".train.json")
        train = json.loads(record.read_text()) if record.is_file() else None
        cost = (f"{train['wall_seconds'] / 60:.0f} min / {train['cpu_seconds'] / 60:.0f} min" if train else "see card")
        e = m["evaluation"]
        seconds = predict_seconds(path, pixels, args.runs)
        print(f"| {path.stem} | {e['mre']:.2f} | {e['sd']:.2f} | {100 * e['sdr']['2']:.1f} % | "
              f"{100 * e['sdr']['4']:.1f} % | {m['mre_px']:.1f} | {cost} | {path.stat().st_size / 1e6:.1f} | "
              f"{seconds:.3f} |")


if __name__ == "__main__":
    main()

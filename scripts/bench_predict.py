"""Time to open and predict one 1935 x 2400 cephalogram on this machine, with peak memory.

    python scripts/bench_predict.py [--model FILE] [--image FILE] [--runs 10] [--threads N]

Prints a table: open, global stage + decoding, refinement, total (median and worst of the runs).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cephview.core.radiograph import load_radiograph  # noqa: E402
from cephview.model.predictor import Predictor  # noqa: E402

DEFAULT_IMAGE = REPO.parent / "shared" / "datasets" / "isbi2015" / "RawImage" / "Test1Data" / "151.jpg"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.image.is_file():
        sys.exit(f"image not found: {args.image}")
    predictor = Predictor.from_file(args.model)
    rows: dict[str, list[float]] = {"open": [], "global (both facings)": [], "refine (19 patches)": [], "open + predict": []}
    for i in range(args.runs + 1):
        t0 = time.perf_counter()
        radiograph = load_radiograph(args.image)
        t1 = time.perf_counter()
        predictor.predict(radiograph.model_pixels, refine=False)
        t2 = time.perf_counter()
        predictor.predict(radiograph.model_pixels, refine=True)
        t3 = time.perf_counter()
        if i == 0:
            continue  # warm-up
        rows["open"].append(t1 - t0)
        rows["global (both facings)"].append(t2 - t1)
        rows["refine (19 patches)"].append((t3 - t2) - (t2 - t1))
        rows["open + predict"].append((t1 - t0) + (t3 - t2))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"image {args.image.name} {radiograph.width} x {radiograph.height}, model {predictor.model.version}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.runs} runs")
    print(f"{'step':<24} {'median ms':>10} {'max ms':>8}")
    for name, values in rows.items():
        print(f"{name:<24} {1000 * statistics.median(values):>10.0f} {1000 * max(values):>8.0f}")
    print(f"peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()

"""Worker process for test_store_concurrency.py: imports and edits one project while others do too.

Usage: python store_concurrent_worker.py LOCATION WORKER ROUNDS A_KEY B_NAME CSV_FOLDER

Round ``i`` of worker ``k`` (reported on stdout only after its commit returned):
- even rounds: ``project import`` of a CSV that puts all 19 landmarks of image B at x = 1000 k + i
  (one transaction: B's landmarks must always be all equal);
- odd rounds: ``save_landmark`` of landmark ``W<k>_<i>`` of image A at x = i (each one checkable);
- every round: ``update_setting("counter", +1)`` (a read-modify-write: no increment may be lost).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus
from cephview.core.project_exchange import import_reviewed_csv
from cephview.core.store import ProjectStore


def main(location: str, worker: str, rounds: str, a_key: str, b_name: str, csv_folder: str) -> None:
    k = int(worker)
    store = ProjectStore.open(location, create=False, user=f"worker{k}")
    codes = list(store.load_annotation(next(r.rel_path for r in store.images() if r.name == b_name)).landmarks)
    for i in range(1, int(rounds) + 1):
        if i % 2 == 0:
            value = 1000 * k + i
            path = Path(csv_folder) / f"w{k}_{i}.csv"
            with path.open("w", newline="") as f:
                csv.writer(f).writerows([["image", "landmark", "x_px", "y_px"],
                                         *[[b_name, code, value % 40, value % 40] for code in codes]])
            import_reviewed_csv(store, path)
            report = f"import {value}"
        else:
            store.save_landmark(a_key, LandmarkAnnotation(f"W{k}_{i}", float(i), 1.0, status=LandmarkStatus.MANUAL))
            report = f"edit W{k}_{i}"
        sys.stdout.write(report + "\n")
        sys.stdout.flush()
        store.update_setting("counter", lambda n: n + 1, 0)
        sys.stdout.write("count 1\n")
        sys.stdout.flush()
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:7])

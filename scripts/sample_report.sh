#!/usr/bin/env bash
# Regenerate the sample PDF reports (and PNG pages when pdftoppm is installed) in /tmp/cephview-sample:
#   final.pdf  ISBI 2015 image 001 with the senior doctor's landmarks, all reviewed
#   draft.pdf  the same landmarks with every other one left as an unreviewed AI prediction
# Falls back to a synthetic cephalogram when ../shared/datasets/isbi2015 is absent.
# Usage: scripts/sample_report.sh [OUT_DIR]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-/tmp/cephview-sample}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
mkdir -p "$OUT"

# Landmark CSVs in cephview's long format (final: status accepted; draft: odd rows ai).
"$PY" - "$REPO" "$OUT" <<'EOF'
import csv, sys
from pathlib import Path
repo, out = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(repo))
from cephview.core.schema import load_schema
isbi = repo.parent / "shared" / "datasets" / "isbi2015"
image = isbi / "RawImage" / "TrainingData" / "001.jpg"
if image.is_file():
    from cephview.core.datasets.isbi import read_isbi_annotation
    points = read_isbi_annotation(isbi / "AnnotationsByMD" / "400_senior" / "001.txt")
    mm = "0.1"
else:
    import cv2
    from cephview.core.synthetic import synthetic_cephalogram, synthetic_pixel_size
    pixels, points = synthetic_cephalogram(7, 960, 1200)
    image = out / "synthetic.png"
    cv2.imwrite(str(image), pixels)
    mm = f"{synthetic_pixel_size(960, 1200):.5f}"
codes = load_schema("isbi2015").codes
for name, draft in (("final", False), ("draft", True)):
    with open(out / f"{name}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x_px", "y_px", "confidence", "status"])
        for i, (code, (x, y)) in enumerate(zip(codes, points)):
            w.writerow([image.name, code, x, y, f"{0.95 - 0.02 * i:.2f}", "ai" if draft and i % 2 else "accepted"])
(out / "image.txt").write_text(f"{image}\n{mm}\n")
EOF

IMAGE="$(sed -n 1p "$OUT/image.txt")"
MM="$(sed -n 2p "$OUT/image.txt")"
for name in final draft; do
    "$PY" -m cephview.cli report "$IMAGE" --annotations "$OUT/$name.csv" --mm-per-px "$MM" \
        --analyses steiner,downs,tweed,bjork-jarabak --out "$OUT/$name.pdf"
    if command -v pdftoppm >/dev/null; then
        pdftoppm -r 80 -png "$OUT/$name.pdf" "$OUT/$name-page"
    fi
done
ls -1 "$OUT"

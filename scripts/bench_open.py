"""Time ``load_radiograph`` on cephalogram-sized files; prints a table (target < 150 ms each).

    python scripts/bench_open.py [--runs 15] [--profile]

Uses ISBI 2015 image 001.jpg (1935 x 2400) when ../shared holds it, otherwise a synthetic JPEG
of that size; the DICOM and PNG files are written to a temporary folder at the same size.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cephview.core.radiograph import load_radiograph  # noqa: E402

WIDTH, HEIGHT = 1935, 2400
ISBI_JPEG = REPO.parent / "shared" / "datasets" / "isbi2015" / "RawImage" / "TrainingData" / "001.jpg"
TARGET_MS = 150.0


def synthetic(dtype=np.uint16, seed: int = 0) -> np.ndarray:
    """Smooth structure plus noise, so compressed sizes and decode times are realistic."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    coarse = rng.random((HEIGHT // 40, WIDTH // 40)).astype(np.float32)
    image = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * top).astype(dtype)


def jpeg_file(folder: Path) -> tuple[str, Path]:
    if ISBI_JPEG.is_file():
        return "JPEG (ISBI 001)", ISBI_JPEG
    path = folder / "synthetic.jpg"
    cv2.imwrite(str(path), synthetic(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return "JPEG (synthetic)", path


def dicom_file(folder: Path, syntax=None) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, generate_uid

    ds = Dataset()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.set_pixel_data(synthetic(np.uint16) >> 2, "MONOCHROME1", 14)
    ds.WindowCenter, ds.WindowWidth = 8192, 12000
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.EstimatedRadiographicMagnificationFactor = 1.1
    if syntax is not None:
        ds.compress(syntax)
    ds.file_meta = ds.get("file_meta", FileMetaDataset())
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / ("ceph_j2k.dcm" if syntax is not None else "ceph16.dcm")
    ds.save_as(path, enforce_file_format=True)
    return path


def png16_file(folder: Path) -> Path:
    path = folder / "ceph16.png"
    cv2.imwrite(str(path), synthetic(np.uint16))
    return path


def files(folder: Path) -> list[tuple[str, Path, bool]]:
    """(label, path, has a target) for each file to time."""
    label, jpeg = jpeg_file(folder)
    out = [(label, jpeg, True), ("DICOM 16-bit uncompressed", dicom_file(folder), True)]
    out.append(("PNG 16-bit", png16_file(folder), False))
    try:
        from pydicom.uid import JPEG2000Lossless

        out.append(("DICOM JPEG 2000 lossless", dicom_file(folder, JPEG2000Lossless), False))
    except Exception as exc:  # no JPEG 2000 encoder installed: skip that row
        print(f"(JPEG 2000 row skipped: {exc})", file=sys.stderr)
    return out


def time_open(path: Path, runs: int) -> list[float]:
    load_radiograph(path)  # warm-up: imports, plugin discovery, file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        load_radiograph(path)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="cProfile one open of each file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, path, has_target in files(Path(tmp)):
            r = load_radiograph(path)
            times = time_open(path, args.runs)
            median = statistics.median(times)
            verdict = ("ok" if median < TARGET_MS else "SLOW") if has_target else "(info)"
            rows.append((label, f"{r.width} x {r.height}", f"{path.stat().st_size / 1e6:.1f}",
                         f"{median:.1f}", f"{min(times):.1f}", verdict))
            if args.profile:
                profiler = cProfile.Profile()
                profiler.runcall(load_radiograph, path)
                print(f"\n--- {label}")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(12)

    header = ("format", "size (px)", "file MB", f"median ms ({args.runs} runs)", "min ms", f"< {TARGET_MS:.0f} ms")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()

"""What every command of the command line shares: the one error line, output checks, the batch summary.

Command families live in modules of their own (``cli_report``, ``cli_dicom``, ``cli_serial``, ...);
they import this module, never :mod:`cephview.cli`, which imports them to register their commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cephview.core.errors import CephviewError, one_line

EXIT_USAGE = 2


def error(message: str) -> None:
    """The one way the command line reports an error: one line, bounded, control characters escaped."""
    sys.stderr.write(f"cephview: error: {one_line(message)}\n")


def check_output(path: Path | None) -> None:
    """Refuse an output file whose folder is missing before any work is done."""
    if path is not None and not Path(path).parent.is_dir():
        raise CephviewError(f"{path}: the folder {Path(path).parent} does not exist")


def report_failures(failures: dict[str, str], total: int) -> int:
    if not failures:
        return 0
    error(f"{len(failures)} of {total} inputs failed: {', '.join(failures)}")
    return EXIT_USAGE


def add_dataset_args(p: argparse.ArgumentParser, split_default: str) -> None:
    p.add_argument("--dataset", choices=["isbi2015", "aariz"], help="a dataset in its published layout")
    p.add_argument("--root", type=Path, help="folder of --dataset")
    p.add_argument("--split", default=split_default, help="split of --dataset (train, test1, ...)")
    p.add_argument("--reference", help="ground truth: mean, senior or junior (default: mean for ISBI)")
    p.add_argument("--images", type=Path, help="a folder of images (with --annotations)")
    p.add_argument("--annotations", type=Path, help="cephview CSV with image,landmark,x_px,y_px")
    p.add_argument("--schema", default="isbi2015", help="landmark set of --annotations")


def open_dataset_from_args(args: argparse.Namespace):
    from cephview.core.datasets import open_dataset

    if not args.dataset and not (args.images or args.annotations):
        raise CephviewError("give --dataset NAME --root DIR, or --images DIR --annotations CSV")
    return open_dataset(
        args.dataset or "folder", args.root, images=args.images, annotations=args.annotations,
        split=args.split, reference=args.reference, schema=args.schema,
    )


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CephviewError(f"--input-size must look like 320x384, got {text!r}") from None
    if w <= 0 or h <= 0 or w % 32 or h % 32:
        raise CephviewError(f"--input-size sides must be positive multiples of 32, got {text!r}")
    return w, h

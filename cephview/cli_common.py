"""What every command of the command line shares: the one error line, output checks, the batch summary.

Command families live in modules of their own (``cli_report``, ``cli_dicom``, ``cli_serial``, ...);
they import this module, never :mod:`cephview.cli`, which imports them to register their commands.
"""

from __future__ import annotations

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

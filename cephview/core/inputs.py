"""Which files a list of paths names: files as given, folders as their radiographs.

Shared by the command line and the window, so a folder opens the same images in both.
"""

from __future__ import annotations

from pathlib import Path


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders become their image files (by extension or by content), sorted."""
    from cephview.core.datasets import IMAGE_SUFFIXES
    from cephview.core.radiograph import detect_format
    from cephview.core.store import is_project_database_file

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            out.append(p)
            continue
        for child in sorted(p.iterdir()):
            # Never open the project's database files: closing them would drop this process's SQLite locks.
            if not child.is_file() or child.name.startswith(".") or is_project_database_file(child):
                continue
            if child.suffix.lower() in IMAGE_SUFFIXES:
                out.append(child)
                continue
            try:
                with child.open("rb") as fh:
                    if detect_format(fh.read(132)):
                        out.append(child)
            except OSError:
                out.append(child)  # let the loader report it
    return out

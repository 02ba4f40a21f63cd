"""Finding a project's image on this workstation when its stored path is not there.

A shared project keeps each image by reference: the path it was added under and its SHA-256.
Another workstation may see the same file share under another mount point (``/mnt/xrays``
versus ``X:\\``); it names its image roots (``CEPHVIEW_IMAGE_ROOTS``, ``--image-root``), and the
file is looked for there, proven by its hash: first under the same trailing folders, then by
its name anywhere under a root, then among all files of the roots (hashed once per process).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path, PurePosixPath, PureWindowsPath

log = logging.getLogger(__name__)

ENV_VAR = "CEPHVIEW_IMAGE_ROOTS"
_IMAGE_SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ""}

_scanned: dict[Path, dict[str, Path]] = {}  # root -> sha256 -> file (a full scan, once per process)
_scan_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def configured_roots(extra: list[str | Path] | tuple = ()) -> list[Path]:
    """The given roots, then those of ``CEPHVIEW_IMAGE_ROOTS`` (``os.pathsep``-separated)."""
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    roots: list[Path] = []
    for p in [*extra, *env]:
        root = Path(p).expanduser()
        if root not in roots:
            roots.append(root)
    return roots


def _parts(stored: str) -> tuple[str, ...]:
    pure = PureWindowsPath(stored) if ("\\" in stored or (len(stored) > 1 and stored[1] == ":")) \
        else PurePosixPath(stored)
    return tuple(p for p in pure.parts if p not in (pure.anchor, "/", "\\"))


def _matches(candidate: Path, sha: str) -> bool:
    try:
        return candidate.is_file() and sha256_file(candidate) == sha
    except OSError:
        return False


def find_in_roots(stored: str, sha: str, roots: list[Path]) -> Path | None:
    """The file under ``roots`` holding exactly the pixels stored as ``stored`` / ``sha``, or None."""
    parts = _parts(stored)
    if not parts:
        return None
    for root in roots:
        for start in range(len(parts)):  # the longest common tail first: /mnt/x/2024/a.dcm -> ROOT/2024/a.dcm
            if _matches(root.joinpath(*parts[start:]), sha):
                return root.joinpath(*parts[start:])
    for root in roots:
        try:
            for candidate in root.rglob(parts[-1]):
                if _matches(candidate, sha):
                    return candidate
        except OSError:
            continue
    for root in roots:  # renamed too: every image file of the root, hashed once per process
        found = _scan(root).get(sha)
        if found is not None and _matches(found, sha):
            return found
    return None


def _scan(root: Path) -> dict[str, Path]:
    with _scan_lock:
        if root not in _scanned:
            index: dict[str, Path] = {}
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    path = Path(dirpath) / name
                    if path.suffix.lower() in _IMAGE_SUFFIXES:
                        try:
                            index.setdefault(sha256_file(path), path)
                        except OSError:
                            continue
            log.info("hashed %d files under image root %s", len(index), root)
            _scanned[root] = index
        return _scanned[root]

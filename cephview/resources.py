"""Locate the data files shipped in ``resources/`` and ``models/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0]


def resources_dir() -> Path:
    """The ``resources`` folder: beside the package in a checkout, inside it when installed."""
    return _first_existing(_PACKAGE_DIR.parent / "resources", _PACKAGE_DIR / "resources")


def models_dir() -> Path:
    """The ``models`` folder holding the shipped weights."""
    return _first_existing(_PACKAGE_DIR.parent / "models", _PACKAGE_DIR / "models")

"""Locate the data files shipped in ``resources/`` and ``models/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_SHARE = Path(sys.prefix) / "share" / "cephview"  # where a wheel install puts them


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0]


def resources_dir() -> Path:
    """The ``resources`` folder: beside the package in a checkout, under ``<prefix>/share/cephview``
    after a wheel install, inside the package in the PyInstaller bundle."""
    return _first_existing(
        _PACKAGE_DIR.parent / "resources", _PACKAGE_DIR / "resources", _SHARE / "resources"
    )


def models_dir() -> Path:
    """The ``models`` folder holding the shipped weights."""
    return _first_existing(_PACKAGE_DIR.parent / "models", _PACKAGE_DIR / "models", _SHARE / "models")


DEFAULT_MODEL_NAME = "cephview-isbi19.pt"


def default_model_path() -> Path:
    """The shipped model, or the file ``CEPHVIEW_MODEL`` names. Here rather than in
    ``cephview.model.modelfile`` so that finding it does not import torch (seconds, in the GUI thread)."""
    env = os.environ.get("CEPHVIEW_MODEL")
    return Path(env) if env else models_dir() / DEFAULT_MODEL_NAME

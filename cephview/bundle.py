"""What this installation can do: the desktop bundle is built without torchvision.

The bundle carries CPU-only PyTorch; the torchvision wheels on PyPI are built for the CUDA build
and fail to load beside it, so the bundle leaves torchvision out. Only the ResNet-18 encoder
option needs it; the shipped model (EfficientNet-Lite0) does not. Nothing here imports torch, so
``cephview --version`` and ``--help`` stay quick.
"""

from __future__ import annotations

import importlib.util
import sys

TORCHVISION_FEATURE = "the ResNet-18 encoder (--encoder resnet18)"


def is_bundle() -> bool:
    """True in the PyInstaller app (``sys.frozen``), False in a Python environment."""
    return bool(getattr(sys, "frozen", False))


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def torchvision_missing_message(reason: str | None = None) -> str:
    """One line for a user who asked for the ResNet-18 encoder where torchvision cannot load."""
    if is_bundle():
        return "the ResNet-18 encoder needs torchvision, which this bundle does not include"
    detail = f" ({reason})" if reason else ""
    return (f"the ResNet-18 encoder needs torchvision, which cannot be imported here{detail}; "
            "install the build matching torch, or use --encoder efficientnet_lite0")


def version_text(version: str) -> str:
    """``cephview --version``: the bundle says it is one and what it lacks."""
    if not is_bundle():
        return f"cephview {version}"
    lacks = "" if has_torchvision() else ", no torchvision"  # --help says what that leaves out
    return f"cephview {version} (desktop bundle: CPU-only PyTorch{lacks})"


def help_epilog() -> str | None:
    """A line under ``cephview --help`` naming what this installation lacks, or None."""
    if has_torchvision():
        return None
    where = "this desktop bundle does not include" if is_bundle() else "this installation lacks"
    return f"Not available: {TORCHVISION_FEATURE} needs torchvision, which {where}."

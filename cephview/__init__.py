"""cephview: cephalometric landmark detection and review."""

__version__ = "0.1.0"

"""Shared fixtures: paths to the real data in ../shared and tiny model files."""

from __future__ import annotations

import faulthandler
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
ISBI_ROOT = REPO.parent / "shared" / "datasets" / "isbi2015"
SHIPPED_MODEL = REPO / "models" / "cephview-isbi19.pt"


@pytest.fixture(scope="session")
def isbi_root() -> Path:
    if not (ISBI_ROOT / "RawImage" / "TrainingData").is_dir():
        pytest.skip(f"ISBI 2015 data not found at {ISBI_ROOT} (it lives in ../shared beside the repo)")
    return ISBI_ROOT


def flip_scan_bits(jpeg: bytes, flips: int = 20, seed: int = 1) -> bytes:
    """The JPEG with bits flipped in its scan data (beyond the first third, where the headers
    are): libjpeg reports the data as corrupt but decodes most of the image."""
    import numpy as np

    data = bytearray(jpeg)
    for k in np.random.default_rng(seed).integers(len(data) // 3, len(data) - 10, flips):
        data[k] ^= 0x55
    return bytes(data)


@pytest.fixture(scope="session")
def damaged_jpeg(isbi_root) -> bytes:
    """A real radiograph (ISBI 2015 151.jpg) whose scan data is damaged, yet which still loads:
    ``load_radiograph`` gives it a warning (tests/core/test_loader_damage.py checks that)."""
    return flip_scan_bits((isbi_root / "RawImage" / "Test1Data" / "151.jpg").read_bytes())


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained two-stage ISBI model, small and fast: for mechanics, not accuracy."""
    import torch

    from cephview.model.config import StageConfig
    from cephview.model.modelfile import LandmarkModel, build_network, save_model

    # Fixed weights: an untrained map can hold near-equal peaks, and tests comparing two
    # predictions (mirrored, batched) must not depend on which random network they got.
    torch.manual_seed(0)
    g = StageConfig(kind="global", encoder="resnet18", input_width=128, input_height=160, sigma=1.5)
    r = StageConfig(kind="refine", encoder="resnet18", input_width=64, input_height=64, sigma=1.5, patch_scale=0.5)
    model = LandmarkModel(
        "isbi2015", {"global": (g, build_network(g, 19)), "refine": (r, build_network(r, 19))},
        {"version": "tiny-test"},
    )
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(model, path)
    return path


_LOCK_HOLDER = """
import fcntl, os, struct, sys
path, start, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDWR)
query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
kind, _, _, _, pid = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))
print(0 if kind == fcntl.F_UNLCK else pid)
"""


@pytest.fixture(scope="session")
def lock_holder():
    """``lock_holder(path, start=SQLite's shared range, length=510)``: the pid holding a POSIX lock
    there that a write lock would meet, or None; asked by another process (one never sees its own)."""
    import subprocess
    import sys

    def holder(path: Path, start: int = 0x40000002, length: int = 510) -> int | None:
        done = subprocess.run([sys.executable, "-c", _LOCK_HOLDER, str(path), str(start), str(length)],
                              capture_output=True, text=True, timeout=60, check=True)
        return int(done.stdout) or None

    return holder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A watchdog below Python: faulthandler's own thread dumps every thread's stack and ends the
    process when a test outlives pytest-timeout by a minute (a deadlock holding the Python lock
    stops pytest-timeout's SIGALRM handler from ever running)."""
    try:
        limit = float(item.config.getoption("timeout", None) or item.config.getini("timeout") or 0)
    except (ValueError, TypeError):  # pytest-timeout not installed
        limit = 0.0
    if limit > 0:
        faulthandler.dump_traceback_later(limit + 60, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        if limit > 0:
            faulthandler.cancel_dump_traceback_later()
        _collect_in_main_thread()


def _collect_in_main_thread() -> None:
    """Once a GUI test has made the application, automatic garbage collection is off (the GUI
    thread collects on a timer, cephview.gui.main_thread_gc); tests without an event loop collect
    here, in the main thread, by the same thresholds."""
    import gc

    if not gc.isenabled() and "cephview.gui.main_thread_gc" in sys.modules:
        from cephview.gui.main_thread_gc import collect_if_due

        collect_if_due(gc.get_threshold())


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of the test session (Debian's binaries, 127.0.0.1, a temporary folder)."""
    from pg_server import PostgresServer, why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    server = PostgresServer({"fsync": "off"}).start()  # crash safety of the server itself is not under test
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a new, empty project database (dropped afterwards)."""
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url)

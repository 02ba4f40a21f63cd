"""SIGTERM/SIGHUP close the app the normal way, and the prefetch's decoding process never outlives it.

The subprocess tests start the real app (``python -m cephview FOLDER``) on a project of real
(or synthetic) cephalograms, wait for the process that decodes the next worklist image, then
signal the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gui_helpers import write_cephalograms

from cephview.core.store import ProjectStore

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 90  # a busy machine can take long to import Qt and open the project: polled, not a target
GONE_S = 20

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds child processes in /proc")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running, not ended (an ended orphan may linger as a zombie until its new parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _decode_worker(app_pid: int) -> int | None:
    """The multiprocessing-spawned child of the app (the prefetch's decoding process), if any."""
    for children in Path(f"/proc/{app_pid}/task").glob("*/children"):
        try:
            pids = [int(p) for p in children.read_text().split()]
        except OSError:
            continue
        for pid in pids:
            if "spawn_main" in _cmdline(pid):
                return pid
    return None


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout_s:.0f} s")


@pytest.fixture
def running_app(tmp_path):
    """The app on a three-image project, once its decoding process runs: (app, worker pid, config dir)."""
    project = tmp_path / "project"
    write_cephalograms(project, 3)
    config = tmp_path / "config"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(config),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("CEPHVIEW_MODEL", None)  # no model: opening the project is all this needs
    app = subprocess.Popen([sys.executable, "-m", "cephview", str(project)], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    worker: int | None = None

    def started() -> bool:
        nonlocal worker
        worker = _decode_worker(app.pid)
        return worker is not None or app.poll() is not None

    try:
        _wait_for(started, STARTUP_S, "the decoding process started")
        if worker is None:
            raise AssertionError(f"the app ended early ({app.returncode}): {app.stderr.read()[-2000:]}")
        yield app, worker, config, project
    finally:
        for pid in (app.pid, worker):  # what a failing test left running
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        app.wait(timeout=GONE_S)
        app.stderr.close()


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP] if hasattr(signal, "SIGHUP") else [signal.SIGTERM],
                         ids=lambda signum: signum.name)
def test_sigterm_closes_the_app_the_normal_way_and_ends_its_decoding_process(running_app, signum):
    from PySide6.QtCore import QSettings

    app, worker, config, _ = running_app
    app.send_signal(signum)
    assert app.wait(timeout=GONE_S) == 0  # closed, not killed by the signal (-signum)
    _wait_for(lambda: not _alive(worker), GONE_S, "the decoding process ended")
    # The window's close path ran: it is what saves the window's layout.
    settings = QSettings(str(config / "cephview" / "cephview.conf"), QSettings.Format.IniFormat)
    assert settings.value("window/geometry") is not None


@linux_only
@pytest.mark.slow
def test_the_decoding_process_ends_when_the_app_is_killed(running_app):
    app, worker, _, _ = running_app
    app.send_signal(signal.SIGKILL)
    assert app.wait(timeout=GONE_S) == -signal.SIGKILL
    _wait_for(lambda: not _alive(worker), GONE_S, "the decoding process ended with its killed parent")


def test_sigterm_runs_the_window_close_path_which_saves_a_pending_display_change(
    make_window, project_dir, qtbot, monkeypatch,
):
    from PySide6.QtWidgets import QApplication

    import cephview.gui.image_display as image_display
    from cephview.gui.app import install_quit_signals

    monkeypatch.setattr(image_display, "SAVE_DELAY_MS", 600_000)  # saved only by the close path
    window = make_window()
    assert window.open_paths([project_dir])
    rel_path = window.session.rel_path
    low, high = window.viewer.levels
    window.viewer.set_levels(low + 10, high - 10)
    quitter = install_quit_signals(QApplication.instance(), window)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    finally:
        quitter.remove()
    with ProjectStore.open(project_dir, create=False) as store:
        view = store.load_annotation(rel_path).view
    assert view["levels"] == pytest.approx([low + 10, high - 10])



_MODAL = """
import os, signal, sys
from PySide6.QtCore import QTimer
from cephview.gui import dialogs
from cephview.gui.app import create_app, install_quit_signals
from cephview.gui.main_window import MainWindow

app = create_app()
window = MainWindow()
window.show()
install_quit_signals(app, window)

def ask():
    QTimer.singleShot(500, lambda: os.kill(os.getpid(), signal.SIGTERM))
    print("answer", dialogs.ask_distance_mm(window, 12.0), "window shown", window.isVisible(), flush=True)

QTimer.singleShot(0, ask)
sys.exit(app.exec())
"""


@pytest.mark.slow
def test_sigterm_while_a_modal_dialog_waits_closes_the_window_and_quits(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("CEPHVIEW_MODEL", None)
    done = subprocess.run([sys.executable, "-c", _MODAL], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "answer None window shown False" in done.stdout  # the dialog was dismissed, the window closed

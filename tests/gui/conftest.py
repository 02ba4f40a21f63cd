"""GUI fixtures: a main window on a temporary project with real or synthetic cephalograms."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from gui_helpers import write_cephalograms  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def project_dir(tmp_path) -> Path:
    folder = tmp_path / "project"
    write_cephalograms(folder, 2)
    return folder


@pytest.fixture
def make_window(qtbot, settings, tiny_model_path):
    """Factory of shown main windows; keyword arguments go to MainWindow."""
    from cephview.gui.app import create_app
    from cephview.gui.main_window import MainWindow

    create_app()
    windows = []

    def make(**kwargs):
        kwargs.setdefault("model_path", tiny_model_path)
        kwargs.setdefault("settings", settings)
        window = MainWindow(**kwargs)
        window.resize(1300, 900)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    """A modal question nobody answers would hang the run: a test that expects one replaces this."""
    def unexpected(parent, code, deviation):
        raise AssertionError(f"unexpected question: save {code} at a position off the proportions ({deviation:.2f})?")

    monkeypatch.setattr("cephview.gui.dialogs.ask_confirm_outlier", unexpected)

"""Start the review window: ``cephview`` or ``cephview PATH...`` (files or a folder)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def create_app(argv: list[str] | None = None):
    """The QApplication (created once), with pyqtgraph configured for radiographs."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName("cephview")
    app.setApplicationName("cephview")
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    from cephview.gui.main_thread_gc import install

    install(app)  # background threads must never collect the GUI's Qt objects
    return app


def install_excepthook(window) -> None:
    """Errors escaping a slot become a dialog (and a log entry), not a trace on a console nobody reads."""
    from cephview.core.errors import CephviewError

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unexpected error", exc_info=(exc_type, exc, tb))
        if issubclass(exc_type, CephviewError):
            window.show_error("cephview", str(exc))
        else:
            window.show_error(
                "Something went wrong", f"{exc_type.__name__}: {exc}",
                "Your edits up to this point are saved. Details are in the log; please report them.",
            )

    sys.excepthook = hook


def install_quit_signals(app, window):
    """SIGTERM/SIGHUP (logout, ``kill``) close the window as its close button does, so its close
    path saves what it saves, then quit, also out of an open dialog's loop."""
    from cephview.gui.quit_signals import QuitOnSignals

    def close() -> None:
        window.close()
        app.quit()

    return QuitOnSignals(close, parent=app)


def main(paths: list[str] | None = None, model_path: str | Path | None = None) -> int:
    """Open the main window on ``paths`` and run the event loop; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from cephview.core.errors import CephviewError
    from cephview.gui.platform_check import xcb_problem

    problem = xcb_problem()  # before Qt: a missing library would abort the process (exit 134)
    if problem:
        raise CephviewError(problem)
    app = create_app()
    from PySide6.QtCore import QTimer

    from cephview.gui.main_window import MainWindow

    window = MainWindow(model_path=model_path)
    install_excepthook(window)
    install_quit_signals(app, window)
    window.show()
    # Logged once the event loop has drawn the window: start-up checks time launch -> this line.
    QTimer.singleShot(0, lambda: log.info("main window shown"))
    if paths:
        window.open_paths(paths)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

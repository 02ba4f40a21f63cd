"""The review GUI (PySide6 + pyqtgraph): Qt only, no domain logic.

Everything it does with data goes through :mod:`cephview.core` and :mod:`cephview.model`,
the same functions the command line uses. Entry point: :func:`cephview.gui.app.main`.
"""

"""Starting the window where Qt's xcb platform lacks system libraries: one line naming the Debian
packages, not Qt's abort (exit 134)."""

from __future__ import annotations

import pytest

from cephview.cli import main
from cephview.gui import platform_check


def test_every_xcb_library_loads_here():
    # this machine has them (CI installs them): the table names libraries that exist
    assert platform_check.missing_packages() == []


def test_a_library_that_cannot_load_is_named_by_its_package():
    table = {"libxcb.so.1": "libxcb1", "libxcb-cephview-absent.so.7": "libxcb-cephview-absent7"}
    assert platform_check.missing_packages(table) == ["libxcb-cephview-absent7"]


@pytest.mark.parametrize("environ, xcb", [
    ({"DISPLAY": ":0"}, True), ({"QT_QPA_PLATFORM": "xcb"}, True), ({"QT_QPA_PLATFORM": "offscreen"}, False),
    ({"WAYLAND_DISPLAY": "wayland-0"}, False), ({"QT_QPA_PLATFORM": "xcb:nograb"}, True),
])
def test_the_check_runs_only_where_qt_starts_on_x11(environ, xcb):
    assert platform_check.uses_xcb(environ, "linux") is xcb
    assert not platform_check.uses_xcb(environ, "darwin")


def test_cephview_names_the_missing_packages_in_one_line_instead_of_aborting(monkeypatch, capsys, qapp):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setitem(platform_check.XCB_LIBRARIES, "libxcb-cephview-absent.so.7", "libxcb-cephview-absent7")
    code = main([])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("cephview: error: ") and "sudo apt-get install libxcb-cephview-absent7" in err


def test_without_a_display_it_says_so(monkeypatch, capsys, qapp):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main([]) == 2
    assert "no X display" in capsys.readouterr().err

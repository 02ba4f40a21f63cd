"""Two workstations on one project: the window shows the other's edit within moments, and an edit
of a landmark the other changed meanwhile is refused, naming the other value and who set it."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import write_cephalograms

from cephview.core.store import ProjectStore


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_project(request, tmp_path: Path) -> str:
    """A project with two films, as the practice's server (or a folder) holds it."""
    films = write_cephalograms(tmp_path / "project", 2)
    location = str(tmp_path / "project") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with ProjectStore.open(location) as store:
        for film in films:
            store.add_image(film)
    return location


@pytest.mark.slow
def test_another_workstations_edit_appears_and_a_stale_edit_is_refused(make_window, shared_project, qtbot):
    window = make_window()
    assert window.open_paths([shared_project])
    session = window.session
    qtbot.waitUntil(lambda: session.is_open, timeout=10000)
    rel_path = session.rel_path
    other = ProjectStore.open(shared_project, create=False, user="dr.b@chair2")
    try:
        other.save_landmark(rel_path, session.landmark("S").moved_to(12.0, 34.0))
        qtbot.waitUntil(lambda: (session.landmark("S").x, session.landmark("S").y) == (12.0, 34.0), timeout=8000)
        qtbot.waitUntil(lambda: "dr.b@chair2" in window.statusBar().currentMessage(), timeout=3000)

        window.live_sync.stop()  # the window has not heard of the next change yet
        other.save_landmark(rel_path, session.landmark("S").moved_to(40.0, 41.0))
        with qtbot.waitSignal(session.saveFailed, timeout=5000) as failed:
            assert not window.controller.move("S", 5.0, 6.0)
        message = failed.args[0]
        assert "S is now at (40.0, 41.0) set by dr.b@chair2" in message and "not saved" in message
        assert (session.landmark("S").x, session.landmark("S").y) == (40.0, 41.0)  # the window shows theirs
        assert other.load_annotation(rel_path).landmarks["S"].x == 40.0  # theirs was not overwritten
        assert window.controller.move("S", 5.0, 6.0)  # now that it was seen, an edit goes through
        assert other.load_annotation(rel_path).landmarks["S"].x == 5.0
    finally:
        other.close()


@pytest.mark.slow
def test_a_database_that_cannot_be_reached_is_a_dialog_not_a_local_project(make_window, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    window = make_window()
    assert not window.open_paths(["postgresql://nobody@127.0.0.1:1/practice"])  # nothing listens on port 1
    assert "cannot connect" in window.last_dialog.text() and window.session.store is None
    assert list(cwd.iterdir()) == []

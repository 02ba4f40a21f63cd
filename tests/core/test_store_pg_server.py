"""A PostgreSQL project as the server sees it: a login that may only read, a connection the
server ended, a password in the URL's query. Real server (the ``postgres_server`` fixture)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cephview.cli import main
from cephview.core.errors import CephviewError
from cephview.core.store import ProjectStore
from cephview.core.store_errors import ProjectDatabaseError
from cephview.core.store_postgres import redacted


def write_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 64), dtype=np.uint8)).save(path)
    return path


def reader_url(postgres_server, url: str) -> str:
    """A login of the practice that may look at the project's tables but change nothing."""
    role, dbname = f"viewer_{uuid.uuid4().hex[:8]}", url.rsplit("/", 1)[1]
    postgres_server.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'look-only'")
    postgres_server.admin(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", dbname=dbname)
    return postgres_server.url(dbname, user=role, password="look-only")


@pytest.fixture
def project(pg_url: str, tmp_path: Path):
    """A project with one image, made by the owner."""
    image = write_png(tmp_path / "films" / "a.png")
    with ProjectStore.open(pg_url) as store:
        key = store.add_image(image).rel_path
    return pg_url, key, image


def test_a_login_that_may_only_read_opens_the_project_to_view(postgres_server, project):
    url, key, _ = project
    with ProjectStore.open(url) as owner:
        assert not owner.read_only
    with ProjectStore.open(reader_url(postgres_server, url), create=False) as store:
        assert store.read_only
        assert [r.rel_path for r in store.images()] == [key] and store.load_annotation(key) is not None


def test_a_refused_write_is_one_line_and_changes_nothing(postgres_server, project, tmp_path: Path, capsys):
    url, key, image = project
    viewer = reader_url(postgres_server, url)
    with ProjectStore.open(viewer, create=False) as store:
        with pytest.raises(ProjectDatabaseError, match="may not change the project") as caught:
            store.set_setting("k", 1)
        assert "look-only" not in str(caught.value) and "\n" not in str(caught.value)
        assert store.get_setting("k") is None  # the connection is usable after the refusal
    other = write_png(tmp_path / "films" / "b.png", seed=1)
    assert main(["project", "add", viewer, str(other)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()  # the batch's form: one line per refused input, then the count
    assert all(line.startswith("cephview: error: ") for line in lines) and "look-only" not in err, err
    assert "may not change the project" in lines[0] and "Traceback" not in err
    with ProjectStore.open(url) as store:
        assert [r.rel_path for r in store.images()] == [key]


def test_the_first_edit_after_the_server_ended_the_connection_succeeds(postgres_server, project):
    url, key, _ = project
    with ProjectStore.open(url) as store:
        store.set_setting("before", 1)
        pid = store._conn.raw.info.backend_pid
        postgres_server.admin(f"SELECT pg_terminate_backend({pid})")
        store.set_setting("after", 2)  # the first try: no error reaches the caller
        assert store._conn.raw.info.backend_pid != pid
    with ProjectStore.open(url) as store:
        assert (store.get_setting("before"), store.get_setting("after")) == (1, 2)


def test_a_lost_connection_mid_read_is_one_line(postgres_server, project):
    url, key, _ = project
    with ProjectStore.open(url) as store:
        postgres_server.admin(f"SELECT pg_terminate_backend({store._conn.raw.info.backend_pid})")
        with pytest.raises(CephviewError, match="connection to the project database failed"):
            store.images()
        assert [r.rel_path for r in store.images()] == [key]  # and the next call reconnects


@pytest.mark.parametrize("url", [
    "postgresql://u:s3cret@127.0.0.1:1/db",
    "postgresql://u@127.0.0.1:1/db?password=s3cret",
    "postgresql://u@127.0.0.1:1/db?sslmode=disable&password=s3cret&connect_timeout=3",
    "postgresql://u@127.0.0.1:1/db?PASSWORD=s3cret",
    "postgresql://u@127.0.0.1:1/db?pass%77ord=s3cret",
])
def test_no_password_is_shown(url: str, capsys, tmp_path: Path, monkeypatch):
    assert "s3cret" not in redacted(url) and "127.0.0.1:1/db" in redacted(url)
    monkeypatch.chdir(tmp_path)
    assert main(["project", "init", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cephview: error: ") and "s3cret" not in err, err

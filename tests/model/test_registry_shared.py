"""Model versions of a project: on a folder beside the database, on a database server in the
database itself, so a version made on one workstation is found by every other."""

from __future__ import annotations

from pathlib import Path

import pytest

from cephview.core.errors import CephviewError
from cephview.core.store import ProjectStore
from cephview.model.registry import ModelRegistry, ModelVersion


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "project")
    return request.getfixturevalue("pg_url")


def test_a_version_made_on_one_workstation_is_found_on_another(location: str, tmp_path: Path, monkeypatch):
    base = tmp_path / "base.pt"
    base.write_bytes(b"shipped model")
    made = tmp_path / "trained.pt"
    made.write_bytes(b"fine-tuned weights " * 1000)
    monkeypatch.setenv("CEPHVIEW_DATA_HOME", str(tmp_path / "chair1"))
    with ProjectStore.open(location) as store:
        registry = ModelRegistry(store, base)
        name = registry.next_name()
        assert name == "v1"
        registry.add(made, ModelVersion(name, ""), activate=True)
        first_path = registry.active_path()
    monkeypatch.setenv("CEPHVIEW_DATA_HOME", str(tmp_path / "chair2"))  # another workstation's own folder
    with ProjectStore.open(location, create=False) as store:
        registry = ModelRegistry(store, base)
        assert registry.active == "v1" and registry.next_name() == "v2"
        path = registry.active_path()
        assert path.read_bytes() == b"fine-tuned weights " * 1000
        if store.shared:
            assert path != first_path and str(tmp_path / "chair2") in str(path)
            path.write_bytes(b"a stale copy")  # a damaged local copy is replaced from the database
            import cephview.model.registry as registry_module

            registry_module._verified.clear()
            assert registry.active_path().read_bytes() == b"fine-tuned weights " * 1000
        other = tmp_path / "other.pt"
        other.write_bytes(b"x")
        with pytest.raises(CephviewError, match="exists already"):
            registry.add(other, ModelVersion("v1", ""), activate=False)
        assert registry.active_path().read_bytes() == b"fine-tuned weights " * 1000

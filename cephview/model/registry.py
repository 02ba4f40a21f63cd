"""The models of one project: every fine-tuned version with its metrics, and which one is active.

Files live in ``<project>/models/vN.pt``; the index is one JSON value in the project store's
settings (key ``model_registry``), so it changes in one transaction together with nothing else
half-done. A project shared by workstations on a database server has no shared folder: there
the file's bytes are stored in the database in the same transaction as its index entry, and
each workstation keeps a copy in its own folder (checked against the stored hash once per process).
The shipped model is the implicit version ``base``: it is never
copied, and activating it means "use the model cephview ships".
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from cephview.core.errors import CephviewError
from cephview.core.store import ProjectStore, sha256_file

log = logging.getLogger(__name__)

REGISTRY_KEY = "model_registry"
BASE = "base"
MODELS_FOLDER = "models"
_NAME = re.compile(r"^v(\d+)$")
_verified: set[tuple[str, str]] = set()  # (project location, local copy) known to match the stored bytes


@dataclass
class ModelVersion:
    version: str  # "base", "v1", "v2", ...
    file: str  # project versions: relative to the project folder (posix); base: absolute
    created: str | None = None
    parent: str | None = None  # the version it was fine-tuned from
    model_version: str | None = None  # the model file's own version (what annotations record)
    metrics: dict = field(default_factory=dict)  # held-out comparison with the parent
    settings: dict = field(default_factory=dict)  # how it was trained
    train_images: list[str] = field(default_factory=list)  # store keys it learnt from
    promoted: bool = False  # became the active model when it was made
    forced: bool = False  # ... although it did not measure better
    note: str = ""

    @property
    def is_base(self) -> bool:
        return self.version == BASE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelVersion:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class ModelRegistry:
    """List, add and activate a project's model versions. Thread-safe as the store is."""

    def __init__(self, store: ProjectStore, base_model: str | Path | None = None) -> None:
        from cephview.resources import default_model_path  # not modelfile's: opening a project must not import torch

        self.store = store
        self.base_model = Path(base_model) if base_model else default_model_path()

    @property
    def folder(self) -> Path:
        return self.store.folder / MODELS_FOLDER

    def _read(self) -> dict:
        return self._normal(self.store.get_setting(REGISTRY_KEY))

    @staticmethod
    def _normal(data: dict | None) -> dict:
        data = data or {}
        return {"active": data.get("active") or BASE, "versions": list(data.get("versions", []))}

    def _update(self, change: Callable[[dict], None]) -> None:
        """Change the index in one store transaction (another process may be changing it too)."""

        def apply(stored: dict | None) -> dict:
            data = self._normal(stored)
            change(data)
            return data

        self.store.update_setting(REGISTRY_KEY, apply)

    # ---- reading -------------------------------------------------------------------------
    def base(self) -> ModelVersion:
        return ModelVersion(BASE, str(self.base_model.resolve()), note="the model cephview ships")

    def list_versions(self) -> list[ModelVersion]:
        """The base first, then the project's versions in the order they were made."""
        return [self.base()] + [ModelVersion.from_dict(d) for d in self._read()["versions"]]

    def get(self, version: str) -> ModelVersion:
        for v in self.list_versions():
            if v.version == version:
                return v
        known = ", ".join(v.version for v in self.list_versions())
        raise CephviewError(f"no model version {version!r} in this project; known: {known}")

    def path(self, version: ModelVersion | str) -> Path:
        v = self.get(version) if isinstance(version, str) else version
        p = Path(v.file)
        if p.is_absolute():
            return p
        local = self.store.folder / p
        if self.store.shared:
            self._fetch(v.file, local)
        return local

    def _fetch(self, name: str, local: Path) -> None:
        """This workstation's copy of a version stored in the shared project (once per process)."""
        key = (self.store.location, str(local))
        if key in _verified:
            return
        stored = self.store.file_hash(name)
        if stored is None:
            return  # not stored: reported as a missing file by the caller
        if not local.is_file() or sha256_file(local) != stored:
            log.info("copying model %s of the shared project to %s", name, local)
            self.store.fetch_file(name, local)
        _verified.add(key)

    @property
    def active(self) -> str:
        return self._read()["active"]

    def active_version(self) -> ModelVersion:
        return self.get(self.active)

    def active_path(self) -> Path:
        """The model file predictions and the next fine-tuning start from."""
        return self.path(self.active_version())

    # ---- changing ------------------------------------------------------------------------
    def activate(self, version: str) -> ModelVersion:
        """Make ``version`` the active model (also to go back to an older one, or to ``base``)."""
        v = self.get(version)
        path = self.path(v)
        if not path.is_file():
            raise CephviewError(f"model file of version {version} is missing ({path}); choose another version")
        self._update(lambda data: data.update(active=v.version))
        log.info("active model of %s is now %s", self.store.folder, v.version)
        return v

    def promote(self, version: str) -> ModelVersion:
        """Activate a version that was kept aside, because the user chose it after seeing its figures."""
        v = self.activate(version)
        if not v.is_base and not v.promoted:
            def mark(data: dict) -> None:
                for d in data["versions"]:
                    if d["version"] == v.version:
                        d["promoted"] = d["forced"] = True

            self._update(mark)
            v = self.get(version)
        return v

    def next_name(self) -> str:
        """A version name used by no entry and no file (a crash may leave an unregistered file)."""
        used = [int(m.group(1)) for d in self._read()["versions"] if (m := _NAME.match(d["version"]))]
        if self.folder.is_dir():
            used += [int(m.group(1)) for p in self.folder.glob("v*.pt") if (m := _NAME.match(p.stem))]
        if self.store.shared:  # the other workstations' versions
            used += [int(m.group(1)) for n in self.store.file_names() if (m := _NAME.match(Path(n).stem))]
        return f"v{max(used, default=0) + 1}"

    def add(self, model_file: Path, entry: ModelVersion, activate: bool) -> ModelVersion:
        """Move a finished model file into the project as ``entry.version`` and index it.

        The file is moved first: a crash in between leaves an unindexed file, never an index
        entry without its file. Checking the name, moving and indexing happen inside one store
        transaction, so a run finishing at the same moment in another process cannot take the
        same name and overwrite the file: the later one is refused, the earlier one left intact.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        dest = self.folder / f"{entry.version}.pt"
        entry.file = dest.relative_to(self.store.folder).as_posix()
        entry.promoted = activate

        def register(data: dict) -> None:
            if entry.version == BASE or dest.exists() or any(d["version"] == entry.version for d in data["versions"]):
                raise CephviewError(f"model version {entry.version} exists already (another run made it "
                                    "meanwhile?); run the fine-tuning again")
            if self.store.shared:  # the bytes, in this same transaction: every workstation finds them
                if self.store.file_hash(entry.file) is not None:
                    raise CephviewError(f"model version {entry.version} exists already (another workstation "
                                        "made it meanwhile?); run the fine-tuning again")
                self.store.put_file(entry.file, model_file)
            os.replace(model_file, dest)
            _verified.add((self.store.location, str(dest)))
            data["versions"].append(entry.to_dict())
            if activate:
                data["active"] = entry.version

        self._update(register)
        log.info("added model version %s (%s)", entry.version, "active" if activate else "kept aside")
        return entry


def active_model_path(store: ProjectStore, base_model: str | Path | None = None) -> Path:
    """The model file a project's predictions should use."""
    return ModelRegistry(store, base_model).active_path()

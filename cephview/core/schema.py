"""Landmark sets as data: codes, names and placement hints read from ``resources/landmarks``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from cephview.core.errors import CephviewError
from cephview.resources import resources_dir


@dataclass(frozen=True)
class Landmark:
    code: str
    name: str
    hint: str


@dataclass(frozen=True)
class LandmarkSchema:
    """An ordered landmark set; the order is the channel order of a model predicting it."""

    name: str
    title: str
    landmarks: tuple[Landmark, ...]

    @property
    def codes(self) -> list[str]:
        return [lm.code for lm in self.landmarks]

    def __len__(self) -> int:
        return len(self.landmarks)

    def index(self, code: str) -> int:
        for i, lm in enumerate(self.landmarks):
            if lm.code == code:
                return i
        raise KeyError(f"landmark {code!r} is not in schema {self.name!r}")

    def landmark(self, code: str) -> Landmark:
        return self.landmarks[self.index(code)]


def available_schemas() -> list[str]:
    folder = resources_dir() / "landmarks"
    return sorted(p.stem for p in folder.glob("*.json") if p.stem != "equivalences")


@cache
def load_schema(name: str) -> LandmarkSchema:
    path = resources_dir() / "landmarks" / f"{name}.json"
    if not path.is_file():
        raise CephviewError(
            f"unknown landmark schema {name!r}; available: {', '.join(available_schemas())}"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    landmarks = tuple(Landmark(d["code"], d["name"], d["hint"]) for d in data["landmarks"])
    return LandmarkSchema(data["name"], data.get("title", data["name"]), landmarks)


@cache
def _equivalence_pairs() -> tuple[dict[str, str], ...]:
    path = resources_dir() / "landmarks" / "equivalences.json"
    return tuple(json.loads(path.read_text(encoding="utf-8"))["pairs"])


def code_mapping(source: str, target: str) -> dict[str, str]:
    """Map codes of ``source`` to the codes of ``target`` naming the same point.

    Codes spelled the same in both sets are taken as equal; ``equivalences.json`` adds the
    pairs whose spelling differs (ISBI ``UL`` is Aariz ``Ls``). Codes without a partner are absent.
    """
    src, dst = load_schema(source), load_schema(target)
    dst_codes = set(dst.codes)
    mapping = {code: code for code in src.codes if code in dst_codes}
    for pair in _equivalence_pairs():
        if source in pair and target in pair:
            mapping[pair[source]] = pair[target]
    return mapping

"""Three processes importing and editing one project at once lose no committed update, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cephview.core.store import ProjectStore

WORKER = Path(__file__).with_name("store_concurrent_worker.py")
REPO = Path(__file__).resolve().parents[2]
ROUNDS = 24


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "project")
    return request.getfixturevalue("pg_url")


@pytest.mark.slow
def test_three_processes_importing_and_editing_lose_nothing(location: str, tmp_path: Path):
    images = tmp_path / "project"
    images.mkdir(exist_ok=True)
    for seed, name in enumerate(("a.png", "b.png")):
        # the CSV rows put points at up to 39 px: the image must hold them
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 48), dtype=np.uint8)).save(images / name)
    with ProjectStore.open(location) as store:
        a_key = store.add_image(images / "a.png").rel_path
        b_key = store.add_image(images / "b.png").rel_path
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    procs = [subprocess.Popen([sys.executable, str(WORKER), location, str(k), str(ROUNDS), a_key, "b.png",
                               str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k in range(1, 4)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    reports = [line.split() for out, _ in outputs for line in out.splitlines()]
    imports = {int(v) for kind, v in reports if kind == "import"}
    edits = {v for kind, v in reports if kind == "edit"}
    counted = sum(1 for kind, _ in reports if kind == "count")
    assert len(imports) == 3 * ROUNDS // 2 and len(edits) == 3 * ROUNDS // 2 and counted == 3 * ROUNDS

    with ProjectStore.open(location, create=False) as store:
        a = store.load_annotation(a_key)
        b = store.load_annotation(b_key)
        assert store.get_setting("counter") == counted  # no read-modify-write lost
        log = store.changes_since(0)[0]
    assert not [code for code in edits if code not in a.landmarks]  # every committed edit is there
    xs = {lm.x for lm in b.landmarks.values()}
    assert len(xs) == 1 and any(xs.pop() == v % 40 for v in imports)  # whole imports only
    assert {c.edited_by for c in log if c.what == "landmark"} == {"worker1", "worker2", "worker3"}
    assert sum(1 for c in log if c.what == "landmark" and c.rel_path == b_key) == len(imports) * 19

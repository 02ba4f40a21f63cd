"""Bad input found by a robustness campaign: each ends in one clean line, the rest of the batch goes on."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from cephview.cli import main
from cephview.core.store import ProjectStore


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _small_copy(src: Path, dst) -> None:
    """A quarter-size copy of a real radiograph: the defects here are about names, not pixels."""
    import cv2

    grey = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
    ok, data = cv2.imencode(".jpg", cv2.resize(grey, (grey.shape[1] // 4, grey.shape[0] // 4)))
    assert ok
    with open(dst, "wb") as f:
        f.write(data.tobytes())


@pytest.fixture
def test1(isbi_root) -> Path:
    return isbi_root / "RawImage" / "Test1Data"


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_does_not_lose_the_batch(test1, tiny_model_path, tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    _small_copy(test1 / "151.jpg", folder / "151.jpg")
    _small_copy(test1 / "152.jpg", os.fsencode(folder) + b"/caf\xe9.jpg")
    out = tmp_path / "o.csv"
    code, _, err = run(["predict", str(folder), "--out", str(out), "--model", str(tiny_model_path)], capsys)
    assert code == 0, err
    images = [row["image"] for row in csv.DictReader(out.open(encoding="utf-8"))]
    assert sorted(set(images)) == ["151.jpg", "caf\\xe9.jpg"] and len(images) == 38


def test_the_store_refuses_a_name_that_is_not_utf8_in_one_line(test1, tmp_path):
    from cephview.core.errors import CephviewError

    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(test1 / "151.jpg", os.fsencode(folder) + b"/caf\xe9.jpg")
    shutil.copy(test1 / "152.jpg", folder / "152.jpg")
    with ProjectStore.open(folder) as store:
        with pytest.raises(CephviewError, match="not valid UTF-8"):
            store.add_image(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.jpg"))
        assert store.add_image(folder / "152.jpg").status.value == "not_predicted"  # the rest goes on

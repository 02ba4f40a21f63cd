"""Re-predicting a project after a fine-tune reads each file again: a damaged one that still
loads gets its damage recorded, as when the window opens it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cephview.core.annotations import ImageAnnotation
from cephview.core.store import ProjectStore
from cephview.model.modelfile import load_model
from cephview.model.predictor import Predictor
from cephview.model.project_data import repredict_unreviewed


@pytest.mark.slow
def test_repredict_records_the_damage_of_a_file(tmp_path: Path, damaged_jpeg: bytes, tiny_model_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "damaged.jpg").write_bytes(damaged_jpeg)
    with ProjectStore.open(folder) as store:
        key = store.add_image(folder / "damaged.jpg").rel_path
        ann = ImageAnnotation.empty(key, "isbi2015")
        for i, code in enumerate(list(ann.landmarks)):
            ann.landmarks[code] = ann.landmarks[code].with_prediction(500 + 10 * i, 600 + 10 * i, 0.5, "old")
        store.save_annotation(ann)
        assert store.image(key).warning is None  # added without reading the pixels
        result = repredict_unreviewed(store, Predictor(load_model(tiny_model_path)))
        assert result.updated == [key] and not result.failures
        warning = store.image(key).warning
        assert warning and warning.startswith("JPEG data is damaged (")

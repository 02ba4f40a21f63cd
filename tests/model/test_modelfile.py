import numpy as np
import pytest
import torch

from cephview.core.errors import ModelFileError
from cephview.model.modelfile import load_model, save_model


def test_round_trip_keeps_weights_and_metadata(tiny_model_path, tmp_path):
    model = load_model(tiny_model_path)
    assert model.schema == "isbi2015" and model.version == "tiny-test"
    assert set(model.stages) == {"global", "refine"}
    save_model(model, tmp_path / "copy.pt")
    again = load_model(tmp_path / "copy.pt")
    a = model.stages["global"][1].state_dict()
    b = again.stages["global"][1].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "nope.pt")


def test_corrupt_file(tiny_model_path, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(tiny_model_path.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(bad)


def test_wrong_kind_of_file(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="not a cephview landmark model"):
        load_model(other)


def test_file_with_code_is_refused(tmp_path):
    """weights_only loading: a pickled object that would run code is rejected."""
    evil = tmp_path / "evil.pt"
    torch.save({"format": "cephview-landmark-model", "obj": np.random.default_rng(0)}, evil)
    with pytest.raises(ModelFileError):
        load_model(evil)


def test_mismatched_weights(tiny_model_path, tmp_path):
    payload = torch.load(tiny_model_path, weights_only=True)
    payload["stages"]["global"]["config"]["encoder"] = "efficientnet_lite0"
    path = tmp_path / "mismatch.pt"
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(path)

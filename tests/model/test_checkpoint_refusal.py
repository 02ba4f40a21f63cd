"""``train --resume`` with a damaged, foreign or malicious checkpoint: one line, no code run."""

from __future__ import annotations

import pickle

import pytest
import torch
from test_train import dataset, tiny_config  # noqa: F401 - the fixture and the settings of test_train

from cephview.core.errors import CephviewError
from cephview.model.train import TrainingCancelled, fit

pytestmark = pytest.mark.slow  # one short training run makes the checkpoint (a minute on 2 busy cores)


class _RunsCode:
    """Unpickling this would run ``marker.touch()``; weights_only must refuse it."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def checkpoint_bytes(dataset, tmp_path_factory) -> bytes:  # noqa: F811
    """A real checkpoint: a run cancelled after its first epoch."""
    out = tmp_path_factory.mktemp("run") / "m.pt"
    done = {"epochs": 0}

    def progress(p):
        done["epochs"] += bool(p.finished_epoch)

    with pytest.raises(TrainingCancelled):
        fit(dataset, tiny_config(), out, progress=progress, should_stop=lambda: done["epochs"] >= 1)
    return out.with_name("m.pt.ckpt").read_bytes()


@pytest.fixture
def checkpoint(checkpoint_bytes, tmp_path):
    out = tmp_path / "m.pt"
    ckpt = tmp_path / "m.pt.ckpt"
    ckpt.write_bytes(checkpoint_bytes)
    return out, ckpt


def _resume(dataset, out):  # noqa: F811
    with pytest.raises(CephviewError) as caught:
        fit(dataset, tiny_config(), out, resume=True)
    message = str(caught.value)
    assert "\n" not in message and "start without --resume" in message
    return message


def test_a_truncated_checkpoint_is_one_line(dataset, checkpoint):  # noqa: F811
    out, ckpt = checkpoint
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    assert "not a usable training checkpoint" in _resume(dataset, out)


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(dataset, checkpoint, tmp_path):  # noqa: F811
    out, ckpt = checkpoint
    marker = tmp_path / "ran"
    ckpt.write_bytes(pickle.dumps({"config": {}, "finished": {}, "current": _RunsCode(marker), "rng": None}))
    _resume(dataset, out)
    assert not marker.exists()


def test_a_checkpoint_of_other_contents_is_one_line(dataset, checkpoint):  # noqa: F811
    out, ckpt = checkpoint
    good = torch.load(ckpt, weights_only=True)
    assert good["current"] is not None
    good["current"]["model"] = {"not.a.layer": torch.zeros(3)}
    torch.save(good, ckpt)
    assert "does not fit this training run" in _resume(dataset, out)
    torch.save([1, 2, 3], ckpt)
    assert "not a cephview training checkpoint" in _resume(dataset, out)

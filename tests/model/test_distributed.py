"""Distributed training: two CPU processes (gloo, torchrun) train as one process does, only rank 0
writes, and a restarted run continues from the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cephview.model.dist_context import shard_positions
from cephview.model.distributed import torchrun_command

REPO = Path(__file__).resolve().parents[2]


def test_shares_follow_distributed_sampler():
    assert shard_positions(5, 0, 2) == [0, 2, 4] and shard_positions(5, 1, 2) == [1, 3, 0]  # padded
    assert shard_positions(5, 1, 2, pad=False) == [1, 3]
    assert shard_positions(3, 0, 1) == [0, 1, 2]
    shares = [shard_positions(7, r, 3, pad=False) for r in range(3)]
    assert sorted(sum(shares, [])) == list(range(7))


def test_torchrun_command_for_one_and_several_machines(tmp_path):
    one = torchrun_command(tmp_path / "j.json", 2)
    assert one[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in one
    assert one[-3:] == ["-m", "cephview.model.distributed", str(tmp_path / "j.json")]
    many = torchrun_command(tmp_path / "j.json", 4, nodes=2, rdzv_endpoint="10.0.0.1:29400")
    assert many[many.index("--nnodes") + 1] == "2" and many[many.index("--rdzv_endpoint") + 1] == "10.0.0.1:29400"
    from cephview.core.errors import CephviewError

    with pytest.raises(CephviewError, match="rdzv-endpoint"):
        torchrun_command(tmp_path / "j.json", 4, nodes=2)


CONFIG = """
description = "tiny U-Net for the distributed test, from scratch"
stages = ["global"]
epochs_global = 2
batch_size_global = 4
val_fraction = 0.25
warmup_epochs = 0
pretrained = false
[global_stage]
architecture = "unet"
encoder = "resnet18"
input_width = 64
input_height = 64
sigma = 1.5
"""


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "cephview.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=REPO)


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_and_resume(tmp_path):
    from cephview.core.datasets import open_dataset
    from cephview.core.synthetic import write_synthetic_dataset
    from cephview.model.experiment_config import load_config
    from cephview.model.modelfile import build_network, load_model
    from cephview.model.train import fit

    data = tmp_path / "images"
    write_synthetic_dataset(data, 8, seed=3, width=240, height=300)
    conf = tmp_path / "tiny.toml"
    conf.write_text(CONFIG)
    cfg = load_config(conf).config
    dataset = open_dataset("folder", images=data, annotations=data / "landmarks.csv")

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    start = build_network(cfg.global_stage, 19).state_dict()
    (tmp_path / "one").mkdir()
    single = fit(dataset, cfg, tmp_path / "one" / "m.pt")

    out = tmp_path / "two" / "m.pt"
    out.parent.mkdir()
    common = ["train", "--config", str(conf), "--images", str(data), "--annotations", str(data / "landmarks.csv"),
              "--out", str(out), "--device", "cpu", "--devices", "2"]

    # Stop the two-process run once its first epoch is in the checkpoint, as a crash would ...
    first = _start_cli(common)
    ckpt = out.with_name("m.pt.ckpt")
    try:
        deadline = time.monotonic() + 600
        while not _epochs_in(ckpt) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _epochs_in(ckpt) == 1, first.communicate()[1][-3000:] if first.poll() is not None else "no checkpoint"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert not out.exists()
    # ... and start it again: it continues with epoch 2.
    proc = _run_cli([*common, "--resume"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout[proc.stdout.index("{"):])["processes"] == 2
    # rank 0 alone wrote: the model, its checkpoint and the job description, nothing else
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.pt", "m.pt.ckpt", "m.pt.job.json"]
    two = load_model(out)
    assert two.meta["processes"] == 2 and two.meta["config"] == single.meta["config"]

    # Same samples, gradients averaged over the two halves of each batch: training follows the
    # one-process run. Not exactly: BatchNorm normalises each half with its own statistics (gloo
    # on a CPU has no synchronised BatchNorm), and Adam turns small gradient differences into
    # steps of full size, so the runs are compared through their losses.
    h1, h2 = single.meta["history"]["global"], two.meta["history"]["global"]
    assert [h["epoch"] for h in h2] == [1, 2]
    for e1, e2 in zip(h1, h2):
        assert e2["loss"] == pytest.approx(e1["loss"], rel=0.05), (h1, h2)
        assert e2["lr"] == pytest.approx(e1["lr"])
        # (validation errors of a network two steps old are argmaxes of near-flat maps: not compared)
    assert not all(torch.equal(single.stages["global"][1].state_dict()[k], start[k]) for k in start)


def _start_cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "cephview.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, start_new_session=True)


def _epochs_in(ckpt: Path) -> int:
    if not ckpt.is_file():
        return 0
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return int(state["current"]["epoch"]) if state["current"] else 99

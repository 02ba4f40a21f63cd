"""Distributed training: two CPU processes (gloo, torchrun) train as one process does, only rank 0
writes, and a restarted run continues from the checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

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
    assert one[1:3] == ["-m", "cephview.model.torchrun_agent"] and "--standalone" in one
    assert one[-3:] == ["-m", "cephview.model.distributed", str(tmp_path / "j.json")]
    many = torchrun_command(tmp_path / "j.json", 4, nodes=2, rdzv_endpoint="10.0.0.1:29400", join_timeout=30)
    assert many[many.index("--nnodes") + 1] == "2" and many[many.index("--rdzv_endpoint") + 1] == "10.0.0.1:29400"
    assert many[many.index("--rdzv_conf") + 1] == "join_timeout=30,read_timeout=60"
    # torchrun's agent itself reads these arguments (it is run through cephview's wrapper)
    from torch.distributed.run import parse_args

    parsed = parse_args(many[3:])
    assert (parsed.nnodes, parsed.nproc_per_node, parsed.rdzv_backend) == ("2", "4", "c10d")
    assert parsed.training_script == "cephview.model.distributed" and parsed.module
    from cephview import cli_experiments
    from cephview.model import distributed

    assert cli_experiments.JOIN_TIMEOUT == distributed.JOIN_TIMEOUT
    from cephview.core.errors import CephviewError

    with pytest.raises(CephviewError, match="rdzv-endpoint"):
        torchrun_command(tmp_path / "j.json", 4, nodes=2)
    with pytest.raises(CephviewError, match="--join-timeout must be at least 1 second, got 0"):
        distributed.launch({}, tmp_path / "m.pt", 1, nodes=2, rdzv_endpoint="127.0.0.1:1", join_timeout=0)
    assert not list(tmp_path.iterdir())  # refused before anything is written


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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Eight synthetic images, the tiny configuration, and a one-process fit of it to compare with."""
    from cephview.core.datasets import open_dataset
    from cephview.core.synthetic import write_synthetic_dataset
    from cephview.model.experiment_config import load_config
    from cephview.model.modelfile import build_network
    from cephview.model.train import fit

    root = tmp_path_factory.mktemp("tiny")
    data = root / "images"
    write_synthetic_dataset(data, 8, seed=3, width=240, height=300)
    conf = root / "tiny.toml"
    conf.write_text(CONFIG)
    cfg = load_config(conf).config
    dataset = open_dataset("folder", images=data, annotations=data / "landmarks.csv")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    start = build_network(cfg.global_stage, 19).state_dict()
    (root / "one").mkdir()
    try:
        single = fit(dataset, cfg, root / "one" / "m.pt")
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(data=data, conf=conf, single=single, start=start)


def _train_args(tiny, out: Path) -> list[str]:
    return ["train", "--config", str(tiny.conf), "--images", str(tiny.data),
            "--annotations", str(tiny.data / "landmarks.csv"), "--out", str(out), "--device", "cpu"]


def _assert_follows_one_process(single, two) -> None:
    """Same samples, gradients averaged over the two halves of each batch: training follows the
    one-process run. Not exactly: BatchNorm normalises each half with its own statistics (gloo
    on a CPU has no synchronised BatchNorm), and Adam turns small gradient differences into
    steps of full size, so the runs are compared through their losses."""
    assert two.meta["processes"] == 2 and two.meta["config"] == single.meta["config"]
    h1, h2 = single.meta["history"]["global"], two.meta["history"]["global"]
    assert [h["epoch"] for h in h2] == [1, 2]
    for e1, e2 in zip(h1, h2):
        assert e2["loss"] == pytest.approx(e1["loss"], rel=0.05), (h1, h2)
        assert e2["lr"] == pytest.approx(e1["lr"])
        # (validation errors of a network two steps old are argmaxes of near-flat maps: not compared)


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_and_resume(tmp_path, tiny):
    from cephview.model.modelfile import load_model

    single, start = tiny.single, tiny.start
    out = tmp_path / "two" / "m.pt"
    out.parent.mkdir()
    common = [*_train_args(tiny, out), "--devices", "2"]

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
    _assert_follows_one_process(single, load_model(out))
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finish(procs: list[subprocess.Popen], timeout: float) -> list[tuple[int, str, str]]:
    """Wait for every process (each leads a process group: torchrun and its workers); whatever
    is still running at the deadline, or when this fails, is killed with its group."""
    deadline = time.monotonic() + timeout
    try:
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


@pytest.mark.slow
def test_two_nodes_on_one_machine_train_like_one_process(tmp_path, tiny):
    """Two "machines" (two `cephview train --nodes 2` on loopback, one process each) meet at the
    rendezvous and train as one process does; they share the output folder, as on a cluster."""
    from cephview.model.modelfile import load_model

    out = tmp_path / "shared" / "m.pt"
    node = [*_train_args(tiny, out), "--devices", "1", "--nodes", "2",
            "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--join-timeout", "120"]
    results = _finish([_start_cli(node), _start_cli(node)], timeout=300)
    for code, _, err in results:
        assert code == 0, err[-3000:]
    # one of the two printed the result (rank 0); the other machine wrote nothing
    reports = [json.loads(o[o.index("{"):]) for _, o, _ in results if "{" in o]
    assert len(reports) == 1 and reports[0]["processes"] == 2 and reports[0]["out"] == str(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.pt", "m.pt.ckpt", "m.pt.job.json"]
    assert json.loads((out.parent / "m.pt.job.json").read_text())["out"] == str(out)
    _assert_follows_one_process(tiny.single, load_model(out))


@pytest.mark.slow
def test_nodes_started_with_different_options_stop_with_one_line(tmp_path, tiny):
    """Both machines write the same OUT.job.json; the one written last must not silently be the
    job of both: each machine ends with one line naming the option that differs."""
    out = tmp_path / "shared" / "m.pt"
    node = [*_train_args(tiny, out), "--devices", "1", "--nodes", "2",
            "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--join-timeout", "120"]
    results = _finish([_start_cli(node), _start_cli([*node, "--set", "epochs_global=1"])], timeout=300)
    for code, _, err in results:
        assert code == 2, err[-3000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"cephview: error: {out}.job.json: the machines of this run were started with "
                               "different options: epochs_global: "), err[-3000:]
        assert last.endswith("; start the same command on every machine")
        said = re.findall(r"(\d+) on machine (\d) \(", last.split("epochs_global: ")[1].split(";")[0])
        assert sorted(said) in ([("1", "1"), ("2", "0")], [("1", "0"), ("2", "1")]), last  # which machine is 0 varies
        assert "Traceback" not in err
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.pt.job.json"]  # nothing trained


@pytest.mark.slow
def test_a_node_alone_stops_after_the_join_timeout_with_one_line(tmp_path, tiny):
    out = tmp_path / "m.pt"
    port = _free_port()
    alone = _start_cli([*_train_args(tiny, out), "--devices", "1", "--nodes", "2",
                        "--rdzv-endpoint", f"127.0.0.1:{port}", "--join-timeout", "5"])
    [(code, stdout, stderr)] = _finish([alone], timeout=120)
    assert code == 2
    assert stderr.splitlines() == [f"cephview: error: 127.0.0.1:{port}: not all 2 machines joined within 5 s; "
                                   "start the same command on every machine (or give them longer with --join-timeout)"]
    assert not out.exists()


@pytest.mark.slow
def test_a_worker_error_is_the_last_line_without_torchruns_report(tmp_path, tiny):
    out = tmp_path / "m.pt"
    out.with_name("m.pt.ckpt").write_bytes(b"not a checkpoint")
    proc = _start_cli([*_train_args(tiny, out), "--devices", "2", "--resume"])
    [(code, _, stderr)] = _finish([proc], timeout=300)
    assert code == 2
    # each process that stopped said why in one line; nothing of torchrun's own follows
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"cephview: error: {out}.ckpt: not a usable training checkpoint (")
    assert last.endswith("); start without --resume")
    assert "Traceback" not in stderr and "ChildFailedError" not in stderr and "exitcode" not in stderr


def _worker_pid(job: Path, rank: int) -> int | None:
    """The process of ``rank`` that runs ``job``, from /proc (Linux)."""
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours
            continue
        if str(job).encode() in args and b"cephview.model.distributed" in args and f"RANK={rank}".encode() in env:
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc (Linux)")
def test_a_killed_worker_is_named_in_one_line(tmp_path, tiny):
    out = tmp_path / "m.pt"
    proc = _start_cli([*_train_args(tiny, out), "--devices", "2"])
    try:
        deadline = time.monotonic() + 120
        while (pid := _worker_pid(out.with_name("m.pt.job.json"), 1)) is None and proc.poll() is None:
            assert time.monotonic() < deadline, "no worker of rank 1"
            time.sleep(0.1)
        assert pid is not None, proc.communicate()[1][-3000:]
        os.kill(pid, signal.SIGKILL)
    finally:
        [(code, _, stderr)] = _finish([proc], timeout=120)
    assert code == 2
    assert stderr.strip().splitlines()[-1] == ("cephview: error: training process 1 was stopped by signal 9; "
                                               "its messages are above")
    assert "Traceback" not in stderr and not out.exists()


def test_job_description_is_replaced_whole_or_not_at_all(tmp_path):
    from cephview.model.distributed import write_job

    path = tmp_path / "m.pt.job.json"
    write_job(path, {"out": "first"})
    with pytest.raises(TypeError):
        write_job(path, {"out": object()})  # fails half-way through writing
    assert json.loads(path.read_text()) == {"out": "first"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt.job.json"]


def test_the_agent_leaves_out_its_warning_that_the_rendezvous_was_gone():
    """The machine that held the rendezvous may end first; the other's agent then cannot close it
    and warned so after the run's one-line error, which was no longer the last line."""
    import logging

    from cephview.model.torchrun_agent import _not_a_shutdown_failure, quiet_rendezvous_shutdown

    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("torch.distributed.elastic.rendezvous.dynamic_rendezvous")
    logger.addHandler(handler)
    try:
        quiet_rendezvous_shutdown()
        quiet_rendezvous_shutdown()  # once is enough
        assert logger.filters.count(_not_a_shutdown_failure) == 1
        logger.warning("The node 'vm_1_0' has failed to shutdown the rendezvous 'cephview' due to an error of "
                       "type RendezvousConnectionError.")
        logger.warning("The node 'vm_1_0' attempted to join the next round")
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(_not_a_shutdown_failure)
    assert said == ["The node 'vm_1_0' attempted to join the next round"]

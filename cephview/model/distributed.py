"""Training on several processes, GPUs or machines: torchrun + DistributedDataParallel around ``Trainer``.

``cephview train --devices N [--nodes M]`` writes the run's settings to ``OUT.job.json`` and
starts ``torch.distributed.run`` (torchrun) with this module as the worker. Each worker opens
the dataset, joins the process group (NCCL on GPUs, gloo on CPUs) and runs the one training
loop of :class:`cephview.model.train.Trainer`, which then

- wraps each network in DistributedDataParallel (gradients averaged over the processes);
- cuts every batch of the one-process schedule into per-process shares with
  ``DistributedSampler``: batch sizes are the global ones, and each sample is augmented with a
  generator of its own position, so N processes see the samples one process would;
- scores validation images in shares and adds the sums;
- writes checkpoints, the model file and its log from the first process (rank 0) only.

A restarted run (``--resume``, or torchrun's own ``--max-restarts`` after a failure) continues
from ``OUT.ckpt``, which every process reads; with several machines ``OUT`` must be on a
file system they share. Each machine writes the same ``OUT.job.json`` there (atomically); the
machines wait ``--join-timeout`` seconds for each other, then stop with a one-line error.

Each machine also hands its own job to its workers, which compare the jobs of all machines (and
the file's) before training: a machine started with other options than the others ends the run
with one line naming them (:mod:`cephview.model.job_compare`) instead of training the job of
whichever machine wrote the file last.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

from cephview.core.errors import CephviewError
from cephview.core.image_roots import sha256_file
from cephview.model.dist_context import DistributedContext
from cephview.model.job_compare import DifferentJobsError, check_same_data, check_same_job, dataset_fingerprint

log = logging.getLogger(__name__)

#: Seconds the machines of a run wait for each other before giving up (torchrun's default).
JOIN_TIMEOUT = 600
#: The environment variable in which a machine's launcher hands its own job (JSON) to its workers.
NODE_JOB_ENV = "CEPHVIEW_NODE_JOB"


# ---------------------------------------------------------------- launching
def job_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".job.json")


def torchrun_command(job: Path, devices: int, nodes: int = 1, rdzv_endpoint: str | None = None,
                     max_restarts: int = 0, run_id: str = "cephview", join_timeout: int = JOIN_TIMEOUT) -> list[str]:
    """The torchrun command line that runs ``job`` on ``devices`` processes on each of ``nodes`` machines.

    torchrun's agent runs through :mod:`cephview.model.torchrun_agent`, which says its failures
    in one line. ``join_timeout``: how long the machines wait for each other (at the start and
    after a restart) before giving up.
    """
    cmd = [sys.executable, "-m", "cephview.model.torchrun_agent", "--nproc_per_node", str(devices),
           "--max_restarts", str(max_restarts)]
    if nodes > 1:
        if not rdzv_endpoint:
            raise CephviewError("--nodes above 1 needs --rdzv-endpoint HOST:PORT (the same on every machine)")
        # read_timeout: how long a machine tries to reach the rendezvous host before giving up
        # (torchrun's 60 s unless the join may take longer).
        conf = f"join_timeout={join_timeout},read_timeout={max(join_timeout, 60)}"
        cmd += ["--nnodes", str(nodes), "--rdzv_backend", "c10d", "--rdzv_endpoint", rdzv_endpoint, "--rdzv_id", run_id,
                "--rdzv_conf", conf]
    else:
        cmd += ["--standalone", "--nnodes", "1"]
    return cmd + ["-m", "cephview.model.distributed", str(job)]


def launch(job: dict, out: str | Path, devices: int, nodes: int = 1, rdzv_endpoint: str | None = None,
           max_restarts: int = 0, join_timeout: int = JOIN_TIMEOUT) -> int:
    """Write ``job`` beside ``out`` and run it under torchrun; returns torchrun's exit status."""
    if devices < 1 or nodes < 1:
        raise CephviewError(f"--devices and --nodes must be at least 1, got {devices} and {nodes}")
    if join_timeout < 1:
        raise CephviewError(f"--join-timeout must be at least 1 second, got {join_timeout}")
    path = job_path(out)
    write_job(path, job)
    cmd = torchrun_command(path, devices, nodes, rdzv_endpoint, max_restarts, join_timeout=join_timeout)
    log.info("starting %s", " ".join(cmd))
    env = {**os.environ, NODE_JOB_ENV: json.dumps(job)}
    return subprocess.run(cmd, check=False, env=env).returncode


def write_job(path: Path, job: dict) -> None:
    """Write the job description whole or not at all: with several machines every one writes it
    to the shared folder, and a worker must never read another machine's half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(job, f, indent=2)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_job(path: str | Path) -> int:
    """The worker: one process of a torchrun job written by :func:`launch`."""
    from cephview.core.datasets import open_dataset
    from cephview.model.config import TrainConfig
    from cephview.model.config_checks import ConfigError
    from cephview.model.train import TrainProgress, fit

    file_job = json.loads(Path(path).read_text())
    # The file's device: every machine chooses the same backend, so the jobs can be compared.
    ctx = DistributedContext.from_environment(file_job.get("device"))
    level = logging.INFO if ctx.rank == 0 else logging.WARNING
    logging.basicConfig(level=level, format=f"[rank {ctx.rank}] %(levelname)s %(name)s: %(message)s")
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))

    def progress(p: TrainProgress) -> None:
        if p.finished_epoch:
            log.info("%s epoch %d/%d loss %.4f val %.3f", p.stage, p.epoch, p.epochs, p.loss, p.val_error or float("nan"))

    try:
        own = os.environ.get(NODE_JOB_ENV)
        job = agreed_job(ctx, path, file_job, json.loads(own)) if own else file_job
        try:  # refused before any image is read
            cfg = TrainConfig.from_dict(job["config"])
        except ConfigError as exc:
            raise CephviewError(f"{path}: {exc}") from None
        dataset = open_dataset(**job["dataset"])
        if own:  # the machines may find their data at other paths: what it holds must agree
            agreed_data(ctx, path, dataset)
        model = fit(dataset, cfg, job["out"], init=job.get("init"),
                    resume=bool(job.get("resume")) or restarts > 0, experiment=job.get("experiment"),
                    progress=progress if ctx.rank == 0 else None, dist=ctx)
        if ctx.rank == 0:
            print(json.dumps({"out": job["out"], "version": model.version, "processes": ctx.world_size,
                              "validation": model.meta["validation"]}, indent=2))
    except DifferentJobsError as exc:
        if ctx.local_rank == 0:  # every process of a machine found the same: said once per machine
            sys.stderr.write(f"cephview: error: {exc}\n")
        return 2
    except CephviewError as exc:
        sys.stderr.write(f"cephview: error: {exc}\n")
        return 2
    finally:
        ctx.close()
    return 0


def _machine() -> str:
    return f"machine {os.environ.get('GROUP_RANK', '?')} ({socket.gethostname()})"


def comparable(job: dict) -> dict:
    """``job`` as machines compare it: the device this machine would use (no ``--device`` is its
    default), and the ``--init`` file by its content, which any path to it may hold."""
    import torch

    device = job.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    init = job.get("init")
    if init and Path(init).is_file():
        init = f"sha256:{sha256_file(Path(init))[:16]}"
    return {**job, "device": str(device).split(":")[0], "init": init}  # "cuda:0" and "cuda" alike


def agreed_job(ctx: DistributedContext, path: str | Path, file_job: dict, own: dict) -> dict:
    """This machine's job, once every machine's job and the shared file's agree (per-node fields
    and data paths apart); else :class:`DifferentJobsError` on every process. A collective: all
    processes call it."""
    node_jobs = dict(ctx.gather_lists([(_machine(), comparable(own))]))  # in rank order; one entry per machine
    check_same_job(str(path), comparable(file_job), node_jobs)
    return own


def agreed_data(ctx: DistributedContext, path: str | Path, dataset) -> None:
    """Every machine's dataset holds the same images and landmarks; else :class:`DifferentJobsError`
    on every process. A collective: all processes call it."""
    said = dict(ctx.gather_lists([(_machine(), (len(dataset), dataset_fingerprint(dataset)))]))
    check_same_data(str(path), said)


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1]))

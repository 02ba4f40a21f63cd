"""A worker process started by the application ends when the application is killed (SIGKILL):
the training job's process (``process_main``) as much as the prefetch's decoding process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")

# A parent that spawns the training entry point, writes the child's pid and waits to be killed.
PARENT = textwrap.dedent("""
    import multiprocessing as mp, time
    from cephview.model.finetune import jobs

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        queue, stop = ctx.Queue(), ctx.Event()
        proc = ctx.Process(target=jobs.process_main, args=(None, queue, stop))
        proc.start()
        print(proc.pid, flush=True)
        time.sleep(600)
""")
# process_main runs whatever run_job does: a stand-in job that only ends when told to.
SITE = textwrap.dedent("""
    import pathlib, time
    import cephview.model.finetune.jobs as jobs

    def run_job(job, send, should_stop):
        pathlib.Path("job-running").touch()
        while not should_stop():
            time.sleep(0.1)

    jobs.run_job = run_job
""")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # an ended orphan may linger as a zombie


def _wait_for(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s:g} s: {what}"
        time.sleep(0.1)


def test_the_training_process_ends_when_the_application_is_killed(tmp_path):
    # The stand-in is loaded in the spawned child through sitecustomize on its path.
    (tmp_path / "sitecustomize.py").write_text(SITE)
    (tmp_path / "parent.py").write_text(PARENT)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True,
                              env=env, cwd=tmp_path)
    child = None
    try:
        child = int(parent.stdout.readline())
        _wait_for(lambda: (tmp_path / "job-running").is_file(), "the training process runs its job")
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=20)
        _wait_for(lambda: not _alive(child), "the training process ended with the killed application")
    finally:
        parent.kill()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)

"""Fine-tuning settings compared on many splits at once, on a machine with more cores (and a GPU).

    python scripts/sweep_finetune.py --isbi DIR --out DIR [--configs base hold15 ...] [--seeds 0 1 2]
                                     [--parallel 8] [--device cuda] [--n-test 60]

Runs ``bench_finetune.py --mix-base`` once per (setting, split) in parallel processes, each with
the epochs that the 600 s budget gives on the 2-core CPU (``CONFIGS``; from the measured step
costs there: global 0.635 s and refinement 0.329 s per step, 541 s of training), so a GPU run
answers "would this setting do better within the CPU's budget?" in minutes instead of hours.
The simulated images are made once, in parallel, before the runs. Each finished run appends a
line to ``OUT/summary.txt``; the logs and JSON files of all runs end in ``OUT/logs.tar.gz``.
It says nothing about the time target itself: only ``bench_finetune.py`` on the CPU does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))
sys.path.insert(0, str(SCRIPTS))

from bench_finetune import DEFAULT_ISBI, simulated_set, simulation_folder  # noqa: E402

from cephview.core.datasets import read_isbi2015  # noqa: E402

SCALE = 0.7
# name: (extra bench_finetune arguments, global epochs, refinement epochs). A setting that
# changes the images per epoch (hold-out share, base ratio) gets the epochs that fit the same
# 541 s of CPU training; the others the default 52 + 42.
CONFIGS: dict[str, tuple[list[str], int, int]] = {
    "base": ([], 52, 42),
    "hold15": (["--holdout-fraction", "0.15"], 46, 36),  # 17 images train, 3 judge
    "gs30": ([], 31, 59),  # 30 % of the time for the global stage
    "gs70": ([], 73, 25),  # 70 %
    "lr3": (["--lr", "3e-4"], 52, 42),
    "r05": (["--base-ratio", "0.5"], 69, 53),  # half as many base images an epoch
    "auglo": (["--set", "rotate_deg=5", "--set", "scale_range=0.05"], 52, 42),  # gentler augmentation
}


def _simulate(job: tuple[str, list[int], str]) -> None:
    isbi, indices, work = job
    simulated_set(Path(isbi), indices, simulation_folder(Path(work), Path(isbi), SCALE), SCALE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--isbi", type=Path, default=DEFAULT_ISBI)
    ap.add_argument("--out", type=Path, required=True, help="folder for summary.txt and logs.tar.gz")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sweep_finetune"), help="folder for the runs' files")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="splits, as bench_finetune --seed")
    ap.add_argument("--parallel", type=int, default=8, help="runs at a time")
    ap.add_argument("--n-test", type=int, default=60, help="scored images per run")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--epoch-scale", type=float, default=1.0, help="multiply every setting's epochs (0.02: a quick check)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    summary = args.out / "summary.txt"

    started = time.perf_counter()
    sim_work = args.work / "simulated"
    n_images, workers = len(read_isbi2015(args.isbi, "test1")), os.cpu_count() or 1
    chunks = [(str(args.isbi), list(range(i, n_images, workers)), str(sim_work)) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_simulate, chunks))
    sim = simulation_folder(sim_work, args.isbi, SCALE)
    with summary.open("a") as f:
        f.write(f"simulated images ready in {time.perf_counter() - started:.0f} s\n")

    def run(job: tuple[int, str]) -> str:
        seed, name = job
        extra, epochs_global, epochs_refine = CONFIGS[name]
        epochs_global = max(1, round(epochs_global * args.epoch_scale))
        epochs_refine = max(1, round(epochs_refine * args.epoch_scale))
        tag = f"{name}_s{seed}"
        work = args.work / tag
        work.mkdir(parents=True, exist_ok=True)
        if not (work / sim.name).exists():  # every run reads the one set of simulated images
            (work / sim.name).symlink_to(sim)
        cmd = [sys.executable, str(SCRIPTS / "bench_finetune.py"), "--isbi", str(args.isbi),
               "--mix-base", str(args.isbi), "--seed", str(seed), "--n-test", str(args.n_test),
               "--epochs", str(epochs_global), str(epochs_refine), "--device", args.device,
               "--threads", str(args.threads), "--work", str(work), "--json", str(args.work / f"{tag}.json"), *extra]
        begun = time.perf_counter()
        with open(args.work / f"{tag}.log", "w") as log:
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        line = f"{tag:<14} exit {code} {time.perf_counter() - begun:6.0f} s"
        if code == 0:
            d = json.loads((args.work / f"{tag}.json").read_text())
            line += (f"  MRE {d['before']['mre']:.3f} -> {d['after']['mre']:.3f} mm, {100 * d['reduction']:.1f} %"
                     f"  (held-out {d['held_out']['before']:.3f} -> {d['held_out']['after']:.3f})")
        with summary.open("a") as f:
            f.write(line + "\n")
        return line

    jobs = [(seed, name) for seed in args.seeds for name in args.configs]
    with ThreadPoolExecutor(args.parallel) as pool:
        for line in pool.map(run, jobs):
            print(line, flush=True)
    with tarfile.open(args.out / "logs.tar.gz", "w:gz") as tar:
        for path in sorted(args.work.glob("*.log")) + sorted(args.work.glob("*.json")):
            tar.add(path, arcname=path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

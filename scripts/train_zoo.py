"""Train model-zoo entries one after the other with a stated short schedule, and record their cost.

    python scripts/train_zoo.py --out runs/zoo NAME[:EXTRA ARGS] ...

Each NAME is a configuration of ``configs/``; what follows a colon is passed to
``cephview train`` (e.g. ``heatmap-r50-256:--epochs-global 4 --set head_only_epochs=1``). A
model whose file exists is skipped; an interrupted one continues from its checkpoint. Writes
``OUT/NAME.train.json``: the command, wall and CPU seconds, the file's size and SHA-256.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cephview.core.image_roots import sha256_file  # noqa: E402

ISBI = REPO.parent / "shared" / "datasets" / "isbi2015"


def train_one(spec: str, out_dir: Path, root: Path, threads: int) -> None:
    name, _, extra = spec.partition(":")
    out = out_dir / f"{name}.pt"
    record = out_dir / f"{name}.train.json"
    if out.is_file():
        print(f"{name}: {out} exists, skipped", flush=True)
        return
    args = ["train", "--config", name, "--dataset", "isbi2015", "--root", str(root), "--out", str(out),
            "--threads", str(threads), *shlex.split(extra)]
    if (out_dir / f"{name}.pt.ckpt").is_file():
        args.append("--resume")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with (out_dir / f"{name}.log").open("a") as log:
        code = subprocess.run([sys.executable, "-m", "cephview.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                              cwd=REPO, check=False).returncode
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if code != 0:
        print(f"{name}: cephview train exited with {code}; see {out_dir / (name + '.log')}", flush=True)
        return
    previous = json.loads(record.read_text()) if record.is_file() else {}
    data = {
        "name": name, "command": shlex.join(["cephview", *args]),
        "wall_seconds": round(wall + previous.get("wall_seconds", 0), 1),
        "cpu_seconds": round(cpu + previous.get("cpu_seconds", 0), 1),
        "threads": threads, "hardware": f"{platform.machine()}, {platform.processor() or '?'}, CPU only, shared",
        "file_bytes": out.stat().st_size, "sha256": sha256_file(out),
    }
    record.write_text(json.dumps(data, indent=2))
    print(f"{name}: {data['wall_seconds']:.0f} s wall, {data['cpu_seconds']:.0f} s CPU, "
          f"{data['file_bytes'] / 1e6:.1f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="+", metavar="NAME[:ARGS]")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "zoo")
    ap.add_argument("--root", type=Path, default=ISBI)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.specs:
        train_one(spec, args.out, args.root, args.threads)


if __name__ == "__main__":
    main()

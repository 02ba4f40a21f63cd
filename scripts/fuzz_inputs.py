"""Robustness campaign: malformed inputs for the loader, SIGKILLs during edits, two processes editing.

    python scripts/fuzz_inputs.py --inputs 3000 [--seed 1] [--kills 40] [--edit-seconds 30]

1. Inputs: real files (ISBI 2015 JPEGs, quarter-size re-encodes of them, pydicom's and
   pydicom-data's test DICOMs) truncated, bit-flipped, or with header fields rewritten, each
   opened by ``load_radiograph`` in a child process with a time limit. Outcomes: loaded,
   loaded with a warning, clean error (the one-line ``UnreadableImageError``), crash (any
   other exception, a broken pixel-type contract, a multi-line message, or the process
   dying), hang (over the time limit).
2. SIGKILL during edits: ``tests/core/store_crash_writer.py`` commits edits and reports each
   after its commit; it is killed at random moments; every reported edit must be in the database.
3. Two processes editing one image for a while (one correcting landmarks and writing notes, the
   other merging new predictions as the review window does); every last correction must be stored.

Prints one summary table. Needs ../shared/datasets/isbi2015 beside the repository (ISBI seeds
are skipped without it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ISBI_TEST1 = REPO.parent / "shared" / "datasets" / "isbi2015" / "RawImage" / "Test1Data"
HANG_SECONDS = 20.0


# ---------------------------------------------------------------- seeds and mutations
def seed_files(isbi_count: int = 3) -> dict[str, bytes]:
    """Real files to mutate: name -> bytes."""
    import cv2
    import numpy as np
    import pydicom.data

    seeds: dict[str, bytes] = {}
    for path in sorted(ISBI_TEST1.glob("*.jpg"))[:isbi_count] if ISBI_TEST1.is_dir() else []:
        data = path.read_bytes()
        seeds[f"isbi_{path.name}"] = data
        grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        ok, small = cv2.imencode(".jpg", cv2.resize(grey, (grey.shape[1] // 4, grey.shape[0] // 4)))
        seeds[f"isbi_quarter_{path.name}"] = small.tobytes()
    folders = [Path(pydicom.data.__file__).parent / "test_files"]
    try:
        import data_store  # pydicom-data

        folders.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    for folder in folders:
        for path in sorted(folder.glob("*.dcm")):
            if path.stat().st_size <= 600_000:  # keep each load short
                seeds[f"dicom_{path.name}"] = path.read_bytes()
    return seeds


def _dicom_header_mutation(data: bytes, rng: random.Random) -> bytes:
    """Rewrite one image-describing element with an odd value, through pydicom."""
    import warnings

    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
        except Exception:  # noqa: BLE001 - a seed pydicom cannot read: mutate its bytes instead
            return _byte_mutation(data, rng, header_only=True)
        keyword, values = rng.choice([
            ("Rows", [0, 1, 65535, 31]), ("Columns", [0, 1, 65535, 31]), ("BitsAllocated", [0, 1, 7, 32, 64]),
            ("BitsStored", [0, 17, 64]), ("HighBit", [0, 31, 63]), ("SamplesPerPixel", [0, 2, 4]),
            ("PixelRepresentation", [0, 1, 7]), ("RescaleSlope", ["1e38", "-1e38", "0", "nan"]),
            ("RescaleIntercept", ["1e38", "-inf"]), ("PhotometricInterpretation", ["PALETTE COLOR", "YBR_FULL", "X"]),
            ("NumberOfFrames", [0, -1, 100000]), ("WindowWidth", [0, -5, "1e38"]),
            ("SOPClassUID", ["\x1b[31m" + "1" * 5000 + "\x00"]),
        ])
        try:
            setattr(ds, keyword, rng.choice(values))
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=False)
            return out.getvalue()
        except Exception:  # noqa: BLE001 - a value pydicom will not write
            return _byte_mutation(data, rng, header_only=True)


def _jpeg_header_mutation(data: bytes, rng: random.Random) -> bytes:
    """Change the frame size in the SOF header, or a byte of a table or marker length."""
    out = bytearray(data)
    sof = max(out.find(b"\xff\xc0"), out.find(b"\xff\xc2"))
    if sof >= 0 and rng.random() < 0.5:
        side = rng.choice([0, 1, 7, 8944, 65535])
        offset = sof + rng.choice([5, 7])  # height, width
        out[offset:offset + 2] = side.to_bytes(2, "big")
        return bytes(out)
    return _byte_mutation(data, rng, header_only=True)


def _byte_mutation(data: bytes, rng: random.Random, header_only: bool = False) -> bytes:
    out = bytearray(data)
    end = min(len(out), 2048) if header_only else len(out)
    for _ in range(rng.randint(1, 20)):
        if end <= 4:
            break
        pos = rng.randrange(4, end)  # the magic bytes stay: the mutations reach the decoders
        out[pos] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return bytes(out)


def mutate(name: str, data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """(kind, mutated bytes): truncation, bit flips, or a header rewrite."""
    kind = rng.choice(["truncate", "bitflip", "header"])
    if kind == "truncate":
        return kind, data[: rng.randrange(0, len(data))]
    if kind == "bitflip":
        return kind, _byte_mutation(data, rng)
    if name.startswith("dicom_"):
        return kind, _dicom_header_mutation(data, rng)
    return kind, _jpeg_header_mutation(data, rng)


def classify(path: Path) -> tuple[str, str]:
    """Open one file; (outcome, detail). Outcomes: loaded, warning, clean_error, crash."""
    import numpy as np

    from cephview.core.errors import MESSAGE_LIMIT, UnreadableImageError
    from cephview.core.radiograph import load_radiograph

    try:
        r = load_radiograph(path)
    except UnreadableImageError as exc:
        message = str(exc)
        if "\n" in message or len(message) > MESSAGE_LIMIT + len(str(path)) or "\x1b" in message:
            return "crash", f"message not one clean line: {message[:100]!r}"
        return "clean_error", exc.reason[:80]
    except Exception as exc:  # noqa: BLE001 - what the campaign looks for
        return "crash", f"{type(exc).__name__}: {str(exc)[:100]}"
    if r.pixels.dtype not in (np.uint8, np.uint16, np.float32) or r.model_pixels.dtype != np.uint8 \
            or r.display.dtype != np.uint8 or r.pixels.ndim != 2 or r.model_pixels.shape != r.pixels.shape:
        return "crash", f"pixel contract broken: {r.pixels.dtype} {r.pixels.shape}"
    return ("warning" if r.warnings else "loaded"), ""


# ---------------------------------------------------------------- part 1: inputs
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from fuzz_inputs import classify
from pathlib import Path
for line in sys.stdin:
    outcome, detail = classify(Path(line.strip()))
    print(json.dumps([outcome, detail]), flush=True)
"""


def run_inputs(count: int, seed: int, folder: Path) -> dict[str, int]:
    rng = random.Random(seed)
    seeds = seed_files()
    names = sorted(seeds)
    paths = []
    for i in range(count):
        name = rng.choice(names)
        kind, data = mutate(name, seeds[name], rng)
        path = folder / f"{i:05d}_{kind}_{name}"
        path.write_bytes(data)
        paths.append(path)
    counts = {"inputs": len(paths), "loaded": 0, "warning": 0, "clean_error": 0, "crash": 0, "hang": 0}
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    i = 0
    while i < len(paths):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(Path(__file__).parent)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        while i < len(paths):
            child.stdin.write(f"{paths[i]}\n")
            child.stdin.flush()
            ready, _, _ = select.select([child.stdout], [], [], HANG_SECONDS)
            line = child.stdout.readline() if ready else ""
            if not ready or not line:
                outcome = "hang" if not ready else "crash"
                print(f"{outcome}: {paths[i].name}", file=sys.stderr)
                counts[outcome] += 1
                i += 1
                child.kill()
                child.wait()
                break
            outcome, detail = json.loads(line)
            counts[outcome] += 1
            if outcome == "crash":
                print(f"crash: {paths[i].name}: {detail}", file=sys.stderr)
            i += 1
        else:
            child.stdin.close()
            child.wait()
    return counts


# ---------------------------------------------------------------- part 2: SIGKILL during edits
def run_kills(kills: int, seed: int, folder: Path) -> dict[str, int]:
    import numpy as np
    from PIL import Image

    from cephview.core.store import ProjectStore

    rng = random.Random(seed)
    for name, value in (("a.png", 1), ("b.png", 2)):
        Image.fromarray(np.random.default_rng(value).integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / name)
    with ProjectStore.open(folder) as store:
        store.add_image(folder / "a.png")
        store.add_image(folder / "b.png")
    writer = REPO / "tests" / "core" / "store_crash_writer.py"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    committed, lost = 0, 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(writer), str(folder)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        first = proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        reports = [line.split() for line in (first + rest).splitlines(keepends=True) if line.endswith("\n")]
        with ProjectStore.open(folder, create=False) as store:
            a = store.load_annotation("a.png")
            counter = store.get_setting("counter", 0)
            assert store.integrity_check() == "ok"
            for kind, n in reports:
                committed += 1
                n = int(n)
                if (kind == "e" and f"E{n}" not in a.landmarks) or (kind == "c" and counter < n):
                    lost += 1
    return {"kills": kills, "committed edits": committed, "lost edits": lost}


# ---------------------------------------------------------------- part 3: two processes editing
EDITOR = """
import json, random, sys, time
from dataclasses import replace
from cephview.core.annotations import LandmarkStatus, utc_now
from cephview.core.store import ProjectStore
folder, role, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
store = ProjectStore.open(folder, create=False)
rng = random.Random(role)
codes = sorted(store.load_annotation("a.png").landmarks)
mine = codes[: len(codes) // 2]
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    i += 1
    if role == "reviewer":
        code = rng.choice(mine)
        lm = store.load_annotation("a.png").landmarks[code]
        store.save_landmark("a.png", replace(lm, x=float(i), y=float(i), status=LandmarkStatus.MANUAL, edited_at=utc_now()))
        if i % 5 == 0:
            store.set_image_fields("a.png", notes=f"note {i}")
        print(json.dumps([code, i]), flush=True)
    else:  # the window receiving predictions: merged into the stored record, as ReviewSession does
        store.update_annotation("a.png", lambda ann: ann.with_prediction(codes, [(500.0 + i, 500.0)] * len(codes),
                                                                         [0.5] * len(codes), f"m{i}"))
        time.sleep(0.01)
store.close()
"""


def run_two_processes(seconds: float, folder: Path) -> dict[str, int]:
    import numpy as np
    from PIL import Image

    from cephview.core.store import ProjectStore

    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / "a.png")
    with ProjectStore.open(folder) as store:
        store.add_image(folder / "a.png")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", EDITOR, str(folder), role, str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
             for role in ("reviewer", "predictor")]
    outs = [p.communicate()[0] for p in procs]
    last: dict[str, int] = {}
    edits = 0
    for line in outs[0].splitlines():
        code, i = json.loads(line)
        last[code] = i
        edits += 1
    with ProjectStore.open(folder, create=False) as store:
        ann = store.load_annotation("a.png")
    lost = sum(1 for code, i in last.items()
               if ann.landmarks[code].x != float(i) or ann.landmarks[code].status.value != "manual")
    return {"seconds": int(seconds), "committed edits": edits, "landmarks checked": len(last), "lost edits": lost}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--edit-seconds", type=float, default=30.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ("inputs", "kills", "edits"):
            (tmp / name).mkdir()
        started = time.monotonic()
        rows.append(("malformed inputs", run_inputs(args.inputs, args.seed, tmp / "inputs"), time.monotonic() - started))
        started = time.monotonic()
        rows.append(("SIGKILL during edits", run_kills(args.kills, args.seed, tmp / "kills"), time.monotonic() - started))
        started = time.monotonic()
        rows.append(("two processes editing", run_two_processes(args.edit_seconds, tmp / "edits"),
                     time.monotonic() - started))
    print(f"{'check':<24} {'seconds':>7}  figures")
    for name, figures, seconds in rows:
        print(f"{name:<24} {seconds:7.0f}  " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    failed = rows[0][1]["crash"] + rows[0][1]["hang"] + rows[1][1]["lost edits"] + rows[2][1]["lost edits"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

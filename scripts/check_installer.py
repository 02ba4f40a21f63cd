"""Smoke test of the desktop bundle (run through scripts/check_installer.sh DIST).

Unpacks dist/cephview-<version>-linux-x86_64.tar.gz into an empty folder and runs the app there
with a clean environment (``env -i``: HOME, PATH=/usr/bin:/bin, QT_QPA_PLATFORM=offscreen), so
that nothing of a Python environment can help it. The development install (this interpreter,
with the repository's ``cephview``) gives the reference outputs: ``info`` JSON, ``predict``
landmarks (within 0.1 px), the one-line errors. Prints a PASS/FAIL table; exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ISBI_CODES = ["S", "N", "Or", "Po", "A", "B", "Pog", "Me", "Gn", "Go", "LIT", "UIT", "UL", "LL", "Sn",
              "PogS", "PNS", "ANS", "Ar"]


@dataclass
class Row:
    check: str
    ok: bool
    detail: str
    seconds: float


class Checker:
    def __init__(self, app: Path, work: Path) -> None:
        self.app = app
        self.work = work
        self.rows: list[Row] = []
        home = work / "home"
        home.mkdir()
        # What a desktop session has at least; no PYTHON* variable, no virtual environment.
        self.env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen"}

    def bundle(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """The app with a clean environment (what ``env -i`` gives, plus HOME, PATH and Qt's platform)."""
        return subprocess.run([str(self.app), *args], env=self.env, cwd=self.work, capture_output=True,
                              text=True, timeout=timeout)

    def dev(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
        return subprocess.run([sys.executable, "-m", "cephview", *args], env=env, cwd=self.work,
                              capture_output=True, text=True, timeout=timeout)

    def check(self, name: str, fn) -> None:
        t0 = time.monotonic()
        try:
            ok, detail = fn()
        except Exception as exc:  # a crash of the check itself is a FAIL with its reason
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        self.rows.append(Row(name, ok, detail, time.monotonic() - t0))
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def _tail(proc: subprocess.CompletedProcess) -> str:
    text = (proc.stderr or proc.stdout or "").strip().splitlines()
    return f"exit {proc.returncode}: {text[-1] if text else '(no output)'}"


def read_predictions(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    with open(path, newline="") as fh:
        return {(r["image"], r["landmark"]): (float(r["x_px"]), float(r["y_px"])) for r in csv.DictReader(fh)}


def write_isbi_csv(isbi: Path, names: list[str], out: Path) -> None:
    """The senior doctor's landmarks of ``names`` in cephview's long CSV (image,landmark,x_px,y_px)."""
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "landmark", "x_px", "y_px"])
        for name in names:
            lines = (isbi / "AnnotationsByMD" / "400_senior" / f"{Path(name).stem}.txt").read_text().split()
            for code, line in zip(ISBI_CODES, lines):
                x, y = line.split(",")
                w.writerow([name, code, x, y])


def make_project(folder: Path, isbi: Path, names: list[str]) -> None:
    """A project (the development install's store) whose images carry the senior doctor's
    landmarks as corrections: what a clinician's review leaves for fine-tuning."""
    from cephview.core.annotations import ImageAnnotation
    from cephview.core.calibration import Calibration, CalibrationSource
    from cephview.core.store import ProjectStore

    with ProjectStore.open(folder) as store:
        for name in names:
            ann = ImageAnnotation.empty(store.add_image(folder / name).rel_path, "isbi2015")
            ann.calibration = Calibration.isotropic(0.1, CalibrationSource.USER)
            lines = (isbi / "AnnotationsByMD" / "400_senior" / f"{Path(name).stem}.txt").read_text().split()
            for code, line in zip(ISBI_CODES, lines):
                x, y = (float(v) for v in line.split(","))
                ann.landmarks[code] = ann.landmarks[code].moved_to(x, y)
            store.save_annotation(ann)


def locate_dicom_files() -> dict[str, Path]:
    from pydicom.data import get_testdata_file

    return {"uncompressed": Path(get_testdata_file("CT_small.dcm")),
            "JPEG 2000": Path(get_testdata_file("MR_small_jp2klossless.dcm"))}


def run_checks(c: Checker, isbi: Path | None, version: str, window_s: float) -> None:
    w = c.work

    def version_check():
        p = c.bundle("--version")
        ok = p.returncode == 0 and p.stdout.startswith(f"cephview {version} (desktop bundle") and "torchvision" in p.stdout
        return ok, p.stdout.strip() or _tail(p)
    c.check("--version", version_check)

    def help_check():
        p = c.bundle("--help")
        text = " ".join(p.stdout.split())
        ok = p.returncode == 0 and "needs torchvision, which this desktop bundle does not include" in text
        return ok, text[text.find("Not available"):] if ok else _tail(p)
    c.check("--help names what it lacks", help_check)

    for kind, path in locate_dicom_files().items():
        def info_check(path=path):
            b, d = c.bundle("info", str(path)), c.dev("info", str(path))
            if b.returncode:
                return False, _tail(b)
            same = json.loads(b.stdout) == json.loads(d.stdout)
            info = json.loads(b.stdout)
            return same, f"{path.name}: {info['width']}x{info['height']} {info['format']}" + ("" if same else " DIFFERS from the development install")
        c.check(f"info DICOM {kind}", info_check)

    bad = w / "not_an_image.dcm"
    bad.write_bytes(b"this is not a radiograph\n" * 10)
    for label, args in (("missing file", ["info", str(w / "absent.dcm")]),
                        ("not an image", ["info", str(bad)]),
                        ("bad option value", ["train", "--images", str(w), "--annotations", str(bad), "--out",
                                              str(w / "m.pt"), "--lr", "-1"]),
                        ("predict into a missing folder", ["predict", str(bad), "--out", str(w / "no" / "p.csv")])):
        def error_check(args=args):
            b, d = c.bundle(*args), c.dev(*args)
            same = (b.returncode, b.stderr) == (d.returncode, d.stderr)
            one_line = b.stderr.startswith("cephview: error: ") and b.stderr.count("\n") == 1
            return same and one_line and b.returncode == 2, b.stderr.strip() + ("" if same else f"  (development: {d.stderr.strip()})")
        c.check(f"bad input: {label}", error_check)

    def resnet_check():
        p = c.bundle("train", "--images", str(w), "--annotations", str(bad), "--out", str(w / "m.pt"),
                     "--encoder", "resnet18")
        expected = "cephview: error: the ResNet-18 encoder needs torchvision, which this bundle does not include\n"
        return p.returncode == 2 and p.stderr == expected, p.stderr.strip() or _tail(p)
    c.check("train --encoder resnet18", resnet_check)

    if isbi is None:
        c.rows.append(Row("ISBI checks", False, "ISBI 2015 images not found (--isbi DIR)", 0.0))
        return
    images = w / "images"
    images.mkdir()
    names = ["001.jpg", "002.jpg", "003.jpg"]
    for name in names:
        shutil.copy(isbi / "RawImage" / "TrainingData" / name, images / name)
    test_image = isbi / "RawImage" / "Test1Data" / "151.jpg"

    def predict_check():
        b = c.bundle("predict", str(test_image), "--out", str(w / "bundle.csv"))
        d = c.dev("predict", str(test_image), "--out", str(w / "dev.csv"))
        if b.returncode or d.returncode:
            return False, f"bundle {_tail(b)}; development {_tail(d)}"
        pb, pd = read_predictions(w / "bundle.csv"), read_predictions(w / "dev.csv")
        if pb.keys() != pd.keys() or len(pb) != 19:
            return False, f"{len(pb)} landmarks, development {len(pd)}"
        worst = max(max(abs(pb[k][0] - pd[k][0]), abs(pb[k][1] - pd[k][1])) for k in pb)
        return worst <= 0.1, f"19 landmarks on {test_image.name}, largest difference from development {worst:.4f} px (limit 0.1)"
    c.check("predict (shipped model)", predict_check)

    write_isbi_csv(isbi, names, w / "senior.csv")

    def measure_check():
        p = c.bundle("measure", str(images / names[0]), "--annotations", str(w / "senior.csv"),
                     "--mm-per-px", "0.1", "--out", str(w / "m.csv"))
        if p.returncode:
            return False, _tail(p)
        with open(w / "m.csv", newline="") as fh:
            rows = {r["measurement"]: r for r in csv.DictReader(fh)}
        sna = rows.get("SNA")
        return bool(sna and sna["value"]), f"{len(rows)} measurements, SNA {sna['value'] if sna else '?'} {sna['unit'] if sna else ''}"
    c.check("measure", measure_check)

    def report_check():
        pdf = w / "report.pdf"
        p = c.bundle("report", str(images / names[0]), "--annotations", str(w / "senior.csv"),
                     "--mm-per-px", "0.1", "--out", str(pdf))
        if p.returncode:
            return False, _tail(p)
        head = pdf.read_bytes()[:5]
        return head == b"%PDF-", f"{pdf.name} {pdf.stat().st_size / 1024:.0f} KiB, starts {head!r}"
    c.check("report (PDF)", report_check)

    def train_check():
        model = w / "finetuned.pt"
        p = c.bundle("train", "--images", str(images), "--annotations", str(w / "senior.csv"),
                     "--init", str(c.app.parent / "_internal" / "cephview" / "models" / "cephview-isbi19.pt"),
                     "--epochs", "1", "--val-fraction", "0.34", "--out", str(model))
        if p.returncode:
            return False, _tail(p)
        out = json.loads(p.stdout)
        q = c.bundle("predict", str(images / names[0]), "--model", str(model), "--out", str(w / "ft.csv"))
        ok = model.is_file() and q.returncode == 0 and len(read_predictions(w / "ft.csv")) == 19
        return ok, f"1 epoch from the shipped model on 3 images: {model.name} v{out['version']}, predicts 19 landmarks"
    c.check("train --init (fine-tune)", train_check)

    make_project(images, isbi, names)

    def project_check():
        p = c.bundle("train", "--project", str(images), "--epochs", "1", "--force")
        if p.returncode:
            return False, _tail(p)
        lines = [line for line in p.stdout.splitlines() if line.startswith(("trained on", "v"))]
        return "promoted" in p.stdout, "; ".join(lines)
    c.check("train --project (reviewed images)", project_check)

    c.check(f"window offscreen {window_s:.0f} s", lambda: window_check(c, images, window_s, {}))
    if shutil.which("Xvfb"):
        display = ":87"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            c.check("window on X11 (Xvfb, xcb) 10 s",
                    lambda: window_check(c, images, 10, {"QT_QPA_PLATFORM": "xcb", "DISPLAY": display}))
        finally:
            xvfb.terminate()
            xvfb.wait(timeout=30)


def window_check(c: Checker, folder: Path, seconds: float, env: dict[str, str]) -> tuple[bool, str]:
    """Open the window on ``folder`` for ``seconds``: shown, still running, no traceback or error."""
    log = c.work / f"window-{len(c.rows)}.log"
    t0 = time.monotonic()
    with open(log, "w") as fh:
        # -v: the log at DEBUG level, which includes the window's "main window shown" line
        # Its own session: stopping it below also stops the processes it spawned (decoding,
        # multiprocessing's resource tracker), which a SIGTERM to the app alone leaves behind.
        proc = subprocess.Popen([str(c.app), "-v", "gui", str(folder)], env={**c.env, **env}, cwd=c.work,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        shown_at, children = None, 0
        while time.monotonic() - t0 < seconds and proc.poll() is None:
            if shown_at is None and "main window shown" in log.read_text(errors="replace"):
                shown_at = time.monotonic() - t0
            children = max(children, _children(proc.pid))
            time.sleep(0.05)
        running = proc.poll() is None
        _stop_group(proc)
    text = log.read_text(errors="replace")
    problems = [line for line in text.splitlines() if re.match(r"Traceback|ERROR |CRITICAL |cephview: error", line)]
    ok = running and shown_at is not None and not problems
    detail = (f"shown {shown_at:.2f} s after launch" if shown_at is not None else "window never shown") + \
        f", ran {seconds:.0f} s on 3 images, most child processes at once: {children}"
    if problems:
        detail += f"; {problems[0][:160]}"
    elif not running:
        detail += f"; exited early: {text.strip().splitlines()[-1:]}"
    return ok, detail


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _children(pid: int) -> int:
    """Processes started by ``pid`` (the spawned decode process of the worklist's prefetch)."""
    kids: set[str] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):  # any thread may have started one
        try:
            kids.update((task / "children").read_text().split())
        except OSError:
            pass
    return len(kids)


def find_archive(dist: Path) -> Path:
    if dist.is_file():
        return dist
    found = sorted(dist.glob("cephview-*-linux-x86_64.tar.gz"))
    if not found:
        raise SystemExit(f"check_installer: {dist}: no cephview-*-linux-x86_64.tar.gz")
    return found[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="the dist folder (or the archive itself)")
    parser.add_argument("--isbi", type=Path, default=REPO.parent / "shared" / "datasets" / "isbi2015")
    parser.add_argument("--window-seconds", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the unpacked folder")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from cephview import __version__

    archive = find_archive(args.dist)
    work = Path(tempfile.mkdtemp(prefix="cephview-check-"))
    try:
        t0 = time.monotonic()
        with tarfile.open(archive) as tar:
            tar.extractall(work / "unpacked", filter="data")
        app = work / "unpacked" / "cephview" / "cephview"
        unpack_s = time.monotonic() - t0
        size = sum(f.stat().st_size for f in (work / "unpacked").rglob("*") if f.is_file() and not f.is_symlink())
        print(f"{archive.name}: {archive.stat().st_size / 1e6:.0f} MB archive, {size / 1e6:.0f} MB unpacked "
              f"(in {unpack_s:.0f} s) into {work}")
        checker = Checker(app, work)
        isbi = args.isbi if (args.isbi / "RawImage").is_dir() else None
        run_checks(checker, isbi, __version__, args.window_seconds)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = checker.rows
    width = max(len(r.check) for r in rows)
    print(f"\n{'check':<{width}}  result  seconds  detail")
    for r in rows:
        print(f"{r.check:<{width}}  {'PASS' if r.ok else 'FAIL':<6}  {r.seconds:7.1f}  {r.detail}")
    failed = sum(not r.ok for r in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

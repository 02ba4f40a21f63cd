"""Does fine-tuning on a clinic's corrections pay off? A device the shipped model has never seen.

    python scripts/bench_finetune.py [--model FILE] [--n-train 20] [--n-test N] [--time-budget 600]

ISBI 2015 Test1 images are turned into a "new device": cropped, rescaled (0.7x: another pixel
size), another contrast curve (log, compressed range), blur and noise. ``--n-train`` of them are
put in a project as if the clinician had corrected every landmark (final position = the mean of
the two doctors, AI position = the model's prediction), the project's active model is
fine-tuned with ``finetune_project`` within ``--time-budget`` seconds (epochs chosen from a
measured training speed; with ``--mix-base``, ISBI training images drawn afresh each epoch),
and both models are scored on the other simulated images. Prints a per-landmark before/after
table and the relative MRE reduction (target: at least 25 %).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cephview.core.calibration import Calibration, CalibrationSource  # noqa: E402
from cephview.core.datasets import AnnotatedImage, LandmarkDataset, read_isbi2015  # noqa: E402
from cephview.core.radiograph import load_radiograph  # noqa: E402
from cephview.core.store import ProjectStore  # noqa: E402
from cephview.model.evaluate import evaluate_dataset  # noqa: E402
from cephview.model.finetune.run import finetune_project  # noqa: E402
from cephview.model.finetune.settings import FinetuneSettings  # noqa: E402
from cephview.model.metrics import SDR_THRESHOLDS_MM, Evaluation  # noqa: E402
from cephview.model.modelfile import default_model_path, load_model  # noqa: E402
from cephview.model.predictor import Predictor  # noqa: E402
from cephview.model.project_data import correction_stats  # noqa: E402
from cephview.model.registry import ModelRegistry  # noqa: E402
from cephview.model.train import Trainer  # noqa: E402

DEFAULT_ISBI = REPO.parent / "shared" / "datasets" / "isbi2015"
TARGET_REDUCTION = 0.25
log = logging.getLogger("bench_finetune")


# ---------------------------------------------------------------------------- the new device
def device_geometry(
    width: int, height: int, points: list[np.ndarray], scale: float,
) -> tuple[tuple[int, int, int, int], tuple[int, int], list[np.ndarray]]:
    """Crop box, output size and moved points: a tighter field of view than ISBI's, at another
    pixel size, never cutting a landmark (20 px margin)."""
    every = np.concatenate(points)
    x0 = max(0, int(min(0.08 * width, every[:, 0].min() - 20)))
    y0 = max(0, int(min(0.05 * height, every[:, 1].min() - 20)))
    x1 = min(width, int(max(0.96 * width, every[:, 0].max() + 20)))
    y1 = min(height, int(max(0.97 * height, every[:, 1].max() + 20)))
    out = (round((x1 - x0) * scale), round((y1 - y0) * scale))
    sx, sy = out[0] / (x1 - x0), out[1] / (y1 - y0)
    # Pixel centres at integers: x_new + 0.5 = (x_old - x0 + 0.5) * s.
    moved = [np.stack([(p[:, 0] - x0 + 0.5) * sx - 0.5, (p[:, 1] - y0 + 0.5) * sy - 0.5], axis=1) for p in points]
    return (x0, y0, x1, y1), out, moved


def simulate_device(
    image: np.ndarray, points: list[np.ndarray], scale: float, seed: int, noise: float = 0.03,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Crop, rescale, re-map contrast, blur and add noise; the points follow the geometry."""
    (x0, y0, x1, y1), size, moved = device_geometry(image.shape[1], image.shape[0], points, scale)
    small = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    x = small.astype(np.float32) / 255.0
    x = np.log1p(12.0 * x) / np.log1p(12.0)  # lifts soft tissue, flattens bone: another detector curve
    x = 0.08 + 0.84 * x  # a narrower dynamic range
    x = cv2.GaussianBlur(x, (0, 0), 1.0)  # another MTF
    x = x + np.random.default_rng(seed).normal(0.0, noise, x.shape).astype(np.float32)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8), moved


def simulated_set(isbi: Path, indices: list[int], folder: Path, scale: float) -> LandmarkDataset:
    """The simulated images (cached in ``folder``) with the doctors' annotations moved along."""
    from PIL import Image

    source = read_isbi2015(isbi, "test1")
    folder.mkdir(parents=True, exist_ok=True)
    calibration = Calibration.isotropic(0.1 / scale, CalibrationSource.PIXEL_SPACING)
    items = []
    for i in indices:
        item = source.images[i]
        refs = [item.references["senior"], item.references["junior"]]
        path = folder / f"{item.image_path.stem}.png"
        if path.is_file():
            with Image.open(item.image_path) as im:
                _, _, (senior, junior) = device_geometry(im.size[0], im.size[1], refs, scale)
        else:
            sim, (senior, junior) = simulate_device(load_radiograph(item.image_path).model_pixels, refs, scale, seed=i)
            cv2.imwrite(str(path), sim)
        items.append(AnnotatedImage(path, (senior + junior) / 2, calibration, {"senior": senior, "junior": junior}))
    return LandmarkDataset(source.schema, items, f"ISBI Test1 as a new device ({scale:g}x)")


def test1_and_devices(isbi: Path, scales: list[float], work: Path, n: int | None = None) -> list[tuple[str, LandmarkDataset]]:
    """ISBI Test1 (its first ``n`` images) as it is, then turned into a simulated device per scale."""
    test1 = read_isbi2015(isbi, "test1")
    indices = list(range(len(test1) if n is None else min(n, len(test1))))
    return [("ISBI Test1", test1.subset(indices))] + [
        (f"simulated device {s:g}x", simulated_set(isbi, indices, simulation_folder(work, isbi, s), s)) for s in scales
    ]


def device_bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark on Test1 and its simulated devices shares."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    ap.add_argument("--isbi", type=Path, default=DEFAULT_ISBI)
    ap.add_argument("--work", type=Path, help="folder for the simulated images (default: a temp folder)")
    return ap


def device_bench_sets(args: argparse.Namespace, scales: list[float], n: int | None = None) -> list[tuple[str, LandmarkDataset]]:
    """Logging set up, the ISBI data checked, and :func:`test1_and_devices` for ``args``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (args.isbi / "RawImage").is_dir():
        sys.exit(f"ISBI 2015 data not found at {args.isbi}")
    return test1_and_devices(args.isbi, scales, args.work or Path(tempfile.mkdtemp(prefix="bench_devices_")), n)


def simulation_folder(work: Path, isbi: Path, scale: float) -> Path:
    """Where the simulated images of ``isbi`` at ``scale`` are cached under ``work``."""
    return work / f"sim-{scale:g}-{hashlib.sha1(str(isbi.resolve()).encode()).hexdigest()[:6]}"


def build_project(folder: Path, data: LandmarkDataset, predictor: Predictor) -> tuple[ProjectStore, float]:
    """A project where the clinician corrected every AI landmark to the doctors' mean."""
    if folder.exists():
        shutil.rmtree(folder)
    store = ProjectStore.open(folder)
    started = time.perf_counter()
    for item in data.images:
        rel = store.add_image(item.image_path).rel_path
        pred = predictor.predict(load_radiograph(item.image_path).model_pixels)
        ann = store.load_annotation(rel)
        ann.calibration = item.calibration
        for code, (x, y), c, (tx, ty) in zip(pred.codes, pred.points, pred.confidence, item.points):
            ann.landmarks[code] = ann.landmarks[code].with_prediction(x, y, c, predictor.model.version).moved_to(tx, ty)
        ann.reviewed = True
        store.save_annotation(ann)
    return store, (time.perf_counter() - started) / max(1, len(data))


# ---------------------------------------------------------------------------- time budget
@dataclass
class StageCost:
    step_s: float  # one batch
    epoch_overhead_s: float  # per epoch besides the batches (schedule, checkpoint)

    def epoch_s(self, steps: int) -> float:
        return self.epoch_overhead_s + steps * self.step_s


def measure_costs(data: LandmarkDataset, model_path: Path, settings: FinetuneSettings) -> tuple[dict[str, StageCost], float]:
    """Training cost per stage from a real two-epoch run on up to 8 images; and that run's wall time.

    Steps are timed inside the second epoch, the epoch from one end to the next, so per-epoch
    costs besides the batches are measured too.
    """
    cfg = settings.train_config(load_model(model_path))
    cfg.epochs_global = cfg.epochs_refine = 2
    events: list[tuple[str, bool, int, float]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(data.subset(list(range(min(8, len(data))))), cfg, Path(tmp) / "m.pt", init=model_path, device=settings.device,
                progress=lambda p: events.append((p.stage, p.finished_epoch, p.epoch, time.perf_counter()))).fit()
    costs = {}
    for stage in cfg.stages:
        ends = [t for s, f, _, t in events if s == stage and f]
        steps = [t for s, f, e, t in events if s == stage and not f and e == 2]
        epoch = ends[1] - ends[0]
        step = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else epoch / max(1, len(steps))
        costs[stage] = StageCost(step, max(0.0, epoch - len(steps) * step))
    return costs, time.perf_counter() - started


def choose_epochs(
    budget: float, n_images: int, batches: tuple[int, int, int], costs: dict[str, StageCost], global_share: float,
) -> tuple[int, int]:
    """Epochs of each stage that fill ``budget`` seconds, ``global_share`` of it for the global stage."""
    bg, br, ppi = batches
    epoch_g = costs["global"].epoch_s(math.ceil(n_images / bg)) if "global" in costs else 0.0
    epoch_r = costs["refine"].epoch_s(math.ceil(n_images * ppi / br)) if "refine" in costs else 0.0
    if "refine" not in costs:
        global_share = 1.0
    eg = int(budget * global_share / epoch_g) if epoch_g else 0
    er = int(budget * (1 - global_share) / epoch_r) if epoch_r else 0
    return max(1, min(100, eg)), (max(1, min(100, er)) if epoch_r else 0)


def parse_overrides(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs as training settings; values are JSON (numbers, lists), else strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"--set wants KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# ---------------------------------------------------------------------------- report
def print_table(before: Evaluation, after: Evaluation, codes: list[str]) -> None:
    print(f"\n{'landmark':<9}{'before':>9}{'after':>9}{'change':>9}")
    for code in codes:
        b = before.per_landmark.get(code, {}).get("mre", math.nan)
        a = after.per_landmark.get(code, {}).get("mre", math.nan)
        print(f"{code:<9}{b:>9.3f}{a:>9.3f}{100 * (a - b) / b:>8.1f}%")
    change = (after.mre - before.mre) / before.mre
    print(f"{'MRE':<9}{before.mre:>9.3f}{after.mre:>9.3f}{100 * change:>8.1f}%   ({before.unit})")
    print(f"{'SD':<9}{before.sd:>9.3f}{after.sd:>9.3f}")
    for t in SDR_THRESHOLDS_MM:
        print(f"{'SDR' + format(t, 'g'):<9}{100 * before.sdr.get(t, math.nan):>8.1f}%{100 * after.sdr.get(t, math.nan):>8.1f}%")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="model to start from (default: the shipped model)")
    ap.add_argument("--isbi", type=Path, default=DEFAULT_ISBI, help="ISBI 2015 dataset folder")
    ap.add_argument("--n-train", type=int, default=20, help="simulated images the clinician corrected")
    ap.add_argument("--n-test", type=int, help="simulated images to score on (default: all the others)")
    ap.add_argument("--time-budget", type=float, default=600.0, help="seconds for measuring + fine-tuning")
    ap.add_argument("--scale", type=float, default=0.7, help="rescale of the new device")
    ap.add_argument("--epochs", type=int, nargs="+", metavar="N",
                    help="fix the epochs (global [refine]) instead of filling the budget")
    ap.add_argument("--global-share", type=float, default=0.5, help="share of the training time for the global stage")
    ap.add_argument("--lr", type=float, default=FinetuneSettings().lr)
    ap.add_argument("--freeze-encoder", action="store_true")
    ap.add_argument("--keep-scale", action="store_true", help="do not re-scale the refinement patch to the device")
    ap.add_argument("--holdout-fraction", type=float, default=0.25, help="of the corrected images, to decide promotion")
    ap.add_argument("--mix-base", type=Path, help="ISBI folder whose training images are mixed in")
    ap.add_argument("--base-ratio", type=float, default=FinetuneSettings().base_ratio,
                    help="with --mix-base: base images per corrected training image")
    ap.add_argument("--fixed-base", action="store_true",
                    help="with --mix-base: the same few base images every epoch instead of a fresh draw from all")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="any other training setting, e.g. --set rotate_deg=5 (values as JSON)")
    ap.add_argument("--device", default="cpu", help="torch device to train and predict on (the target is for the CPU)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, help="folder for the simulated images and the project (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = (args.model or default_model_path()).resolve()
    if not model_path.is_file():
        sys.exit(f"model not found: {model_path}")
    if not (args.isbi / "RawImage").is_dir():
        sys.exit(f"ISBI 2015 data not found at {args.isbi}")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_finetune_"))
    n_all = len(read_isbi2015(args.isbi, "test1"))
    order = [int(i) for i in np.random.default_rng(args.seed).permutation(n_all)]
    n_test = args.n_test if args.n_test is not None else n_all - args.n_train
    train_idx, test_idx = order[: args.n_train], order[args.n_train : args.n_train + n_test]
    sim_folder = simulation_folder(work, args.isbi, args.scale)
    train_set = simulated_set(args.isbi, train_idx, sim_folder, args.scale)
    test_set = simulated_set(args.isbi, test_idx, sim_folder, args.scale)

    base = Predictor(load_model(model_path), args.device)
    print(f"model {base.model.version} ({model_path.name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"new device: ISBI Test1 cropped, {args.scale:g}x ({0.1 / args.scale:.3f} mm/px), log contrast, blur, noise; "
          f"{len(train_set)} corrected, {len(test_set)} scored")
    before = evaluate_dataset(base, test_set).evaluations[0]
    # For comparison with runs before the predictor re-scaled the refinement patch per image.
    fixed_patch = evaluate_dataset(Predictor(load_model(model_path), args.device, adapt_patch_scale=False),
                                   test_set).evaluations[0].mre
    print(f"shipped model on the new device: MRE {before.mre:.3f} {before.unit} with the refinement patch "
          f"re-scaled per image ({fixed_patch:.3f} {before.unit} at its training scale)")

    store, predict_s = build_project(work / "project", train_set, base)
    stats = correction_stats(store)
    print(f"clinician's corrections on the {stats.images} training images: mean {stats.mean_mm:.3f} mm "
          f"(the model's error there before fine-tuning)")

    settings = FinetuneSettings(lr=args.lr, freeze_encoder=args.freeze_encoder, holdout_fraction=args.holdout_fraction,
                                seed=args.seed, num_threads=args.threads, device=args.device, base_ratio=args.base_ratio,
                                adapt_scale=not args.keep_scale, rotate_base=not args.fixed_base,
                                overrides=parse_overrides(args.set))
    base_data = read_isbi2015(args.mix_base, "train") if args.mix_base else None
    n_hold = max(1, round(len(train_set) * args.holdout_fraction)) if len(train_set) >= settings.min_images_for_holdout else 0
    n_fit = (len(train_set) - n_hold) * ((1 + args.base_ratio) if base_data else 1)  # images per epoch
    n_loaded = n_fit if not base_data or args.fixed_base else len(train_set) - n_hold + len(base_data)
    started = time.perf_counter()
    if args.epochs is not None:
        if len(args.epochs) > 2:
            sys.exit("--epochs takes one number (both stages) or two (global, refine)")
        settings.epochs, settings.epochs_refine = args.epochs[0], args.epochs[-1]
        measured = 0.0
        print(f"epochs fixed: {settings.epochs} global + {settings.epochs_refine} refine")
    else:
        costs, measured = measure_costs(train_set, model_path, settings)
        cfg = settings.train_config(base.model)
        overhead = 2 * n_hold * predict_s + 0.1 * n_loaded + 3.0  # held-out scoring, loading, saving
        budget = 0.95 * (args.time_budget - measured - overhead)  # 5 % for the unforeseen
        settings.epochs, settings.epochs_refine = choose_epochs(
            budget, n_fit, (cfg.batch_size_global, cfg.batch_size_refine, cfg.patches_per_image), costs, args.global_share)
        print(f"measured in {measured:.0f} s: " + ", ".join(
            f"{k} {c.step_s:.3f} s/step + {c.epoch_overhead_s:.2f} s/epoch" for k, c in costs.items())
            + f"; {budget:.0f} s of training: {settings.epochs} global + {settings.epochs_refine} refine epochs")
    result = finetune_project(store, settings, registry=ModelRegistry(store, model_path), base_data=base_data)
    wall = time.perf_counter() - started
    print(f"fine-tuned in {result.seconds:.0f} s ({result.training_seconds:.0f} s training), {wall:.0f} s with the "
          f"measurement; budget {args.time_budget:.0f} s{'' if wall <= args.time_budget else ' EXCEEDED'}")
    print(f"promotion check: {result.summary()}")
    if result.base_images:
        drawn = "drawn afresh" if result.base_per_epoch < result.base_images else "the same"
        print(f"base images: {result.base_per_epoch} each epoch, {drawn} from {result.base_images} (contrast matched)")
    if result.scale is not None:
        print(result.scale.describe())

    tuned = Predictor(load_model(ModelRegistry(store, model_path).path(result.version)), args.device)
    after = evaluate_dataset(tuned, test_set).evaluations[0]
    print_table(before, after, test_set.schema.codes)
    scale_only = None
    if result.scale is not None and result.scale.applied:
        # How much of the gain the re-scaled patch alone brings, without any training.
        rescaled = load_model(model_path)
        rescaled.stages["refine"][0].patch_scale = result.scale.patch_scale
        # The project's scale is applied here; per-image scaling on top of it would apply it twice.
        scale_only = evaluate_dataset(Predictor(rescaled, args.device, adapt_patch_scale=False), test_set).evaluations[0].mre
        print(f"\nshipped model with only the project's patch scale (no training): MRE {scale_only:.3f} {before.unit} "
              f"({100 * (scale_only - before.mre) / before.mre:+.1f} % against before)")
    reduction = (before.mre - after.mre) / before.mre
    verdict = "meets" if reduction >= TARGET_REDUCTION else "below"
    print(f"\nrelative MRE reduction on {len(test_set)} unseen images of the new device: {100 * reduction:.1f} % "
          f"({verdict} the {100 * TARGET_REDUCTION:.0f} % target)")
    if args.json:
        args.json.write_text(json.dumps({
            "model": base.model.version, "scale": args.scale, "n_train": len(train_set), "n_test": len(test_set),
            "epochs": [settings.epochs, settings.epochs_refine], "lr": args.lr, "freeze_encoder": args.freeze_encoder,
            "holdout_fraction": args.holdout_fraction, "base_ratio": args.base_ratio,
            "fixed_base": args.fixed_base, "overrides": settings.overrides, "device": args.device,
            "seconds": wall, "before": before.to_dict(), "before_fixed_patch": fixed_patch,
            "after": after.to_dict(), "reduction": reduction,
            "promoted": result.promoted, "device_scale": result.scale.scale if result.scale else None,
            "adapt_scale": not args.keep_scale, "scale_only_mre": scale_only, "held_out": {"before": result.before.mre, "after": result.after.mre},
        }, indent=2))
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

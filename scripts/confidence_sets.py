"""Data for fitting and measuring landmark confidence: images, the predictor's signals, the truth.

Shared by ``calibrate_confidence.py`` (fits on the model's validation images and simulated
devices made from them) and ``bench_confidence.py`` (measures on ISBI Test1 and the simulated
devices of ``bench_patch_scale.py``). Predictions are slow on a CPU, so each set's signals are
collected once into an ``.npz`` file and the fitting and measuring work on those.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from bench_finetune import device_geometry

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets import AnnotatedImage, LandmarkDataset, read_isbi2015
from cephview.core.radiograph import load_radiograph
from cephview.model.confidence_signals import RawSignals
from cephview.model.predictor import Predictor
from cephview.model.shape_check import check_shape

log = logging.getLogger("confidence_sets")


# ---------------------------------------------------------------------------- simulated devices
@dataclass(frozen=True)
class Device:
    """A simulated detector: pixel size (scale against ISBI), contrast curve, blur, noise."""

    name: str
    scale: float
    curve: str  # "none", "log" (bench_finetune's), "gamma" (darker soft tissue), "sigmoid" (hard contrast)
    blur: float
    noise: float


CALIBRATION_DEVICES = (
    Device("as is", 1.0, "none", 0.0, 0.0),
    Device("log 0.7x", 0.7, "log", 1.0, 0.03),
    Device("log 0.5x", 0.5, "log", 1.0, 0.03),
    Device("log 1.4x", 1.4, "log", 1.0, 0.03),
    Device("gamma 0.85x", 0.85, "gamma", 1.5, 0.05),
    Device("sigmoid 0.6x", 0.6, "sigmoid", 0.7, 0.04),
    Device("gamma-noisy 1.2x", 1.2, "gamma", 2.0, 0.07),
)


def _curve(x: np.ndarray, curve: str) -> np.ndarray:
    if curve == "log":
        return 0.08 + 0.84 * np.log1p(12.0 * x) / np.log1p(12.0)
    if curve == "gamma":
        return 0.05 + 0.9 * np.power(x, 1.8)
    if curve == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-8.0 * (x - 0.5)))
        lo, hi = 1.0 / (1.0 + np.exp(4.0)), 1.0 / (1.0 + np.exp(-4.0))
        return (s - lo) / (hi - lo)
    return x


def simulate(image: np.ndarray, points: list[np.ndarray], device: Device, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Crop and re-sample as :func:`bench_finetune.simulate_device`, with the device's own look."""
    (x0, y0, x1, y1), size, moved = device_geometry(image.shape[1], image.shape[0], points, device.scale)
    small = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    x = _curve(small.astype(np.float32) / 255.0, device.curve)
    if device.blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), device.blur)
    x = x + np.random.default_rng(seed).normal(0.0, device.noise, x.shape).astype(np.float32)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8), moved


def device_set(source: LandmarkDataset, indices: list[int], device: Device, folder: Path) -> LandmarkDataset:
    """``source``'s images ``indices`` through ``device`` (cached as PNG in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in indices:
        item = source.images[i]
        refs = [item.references["senior"], item.references["junior"]]
        path = folder / f"{item.image_path.stem}.png"
        if device.scale == 1.0 and device.curve == "none" and device.noise == 0:
            path, (senior, junior) = item.image_path, refs
        elif path.is_file():
            _, _, (senior, junior) = device_geometry(*_source_size(item.image_path), refs, device.scale)
        else:
            sim, (senior, junior) = simulate(load_radiograph(item.image_path).model_pixels, refs, device, seed=1000 + i)
            cv2.imwrite(str(path), sim)
        mm = item.calibration.row_mm / device.scale
        items.append(AnnotatedImage(path, (senior + junior) / 2, Calibration.isotropic(mm, CalibrationSource.PIXEL_SPACING),
                                    {"senior": senior, "junior": junior}))
    return LandmarkDataset(source.schema, items, f"{source.description} as {device.name}")


def _source_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def validation_sets(isbi: Path, val_images: list[str], work: Path) -> list[tuple[str, LandmarkDataset]]:
    """The model's validation images (never trained on) as they are and through each device."""
    train = read_isbi2015(isbi, "train")
    indices = [i for i, item in enumerate(train.images) if item.image_path.name in set(val_images)]
    if len(indices) != len(val_images):
        raise SystemExit(f"{isbi}: {len(val_images) - len(indices)} validation images not found")
    return [(f"validation, {d.name}", device_set(train, indices, d, work / f"val-{d.name.replace(' ', '_')}"))
            for d in CALIBRATION_DEVICES]


# ---------------------------------------------------------------------------- signals
SIGNAL_ARRAYS = ("global_points", "global_mass", "global_spread_px", "global_second", "refined_points",
                 "refine_mass", "refine_spread_px", "mirror_points", "global_view_points", "refine_second")


def collect(predictor: Predictor, dataset: LandmarkDataset, out: Path) -> Path:
    """Predict every image of ``dataset`` and save its raw signals and the truth to ``out`` (.npz)."""
    arrays: dict[str, list] = {name: [] for name in SIGNAL_ARRAYS}
    truth, mm, scales, names = [], [], [], []
    started = time.perf_counter()
    for item in dataset.images:
        pred = predictor.predict(load_radiograph(item.image_path).model_pixels)
        s = pred.signals
        for name in SIGNAL_ARRAYS:
            arrays[name].append(getattr(s, name))
        scales.append(np.nan if s.anatomy_scale is None else s.anatomy_scale)
        truth.append(item.points)
        mm.append(item.calibration.row_mm)
        names.append(str(item.image_path))
    log.info("%s: %d images in %.0f s", dataset.description, len(dataset), time.perf_counter() - started)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, truth=np.stack(truth), mm=np.array(mm), anatomy_scale=np.array(scales), names=np.array(names),
        refine_weights=np.asarray(predictor.model.meta.get("refine_weights", [1.0] * len(predictor.codes))),
        description=dataset.description, **{k: np.stack(v) for k, v in arrays.items() if v[0] is not None},
    )
    return out


@dataclass
class SignalSet:
    """One collected set: per image the raw signals, the final points and the errors in mm."""

    name: str
    raws: list[RawSignals]
    points: np.ndarray  # (N, K, 2)
    errors_mm: np.ndarray  # (N, K)
    image_names: list[str]
    truth: np.ndarray | None = None  # (N, K, 2) the doctors' mean, image pixels
    mm_per_px: np.ndarray | None = None  # (N,)


def load_set(path: Path, reference: np.ndarray | None, views: int = 1, global_view: bool = True) -> SignalSet:
    """Rebuild a set's predictions as a predictor with ``views`` patch views would have made them."""
    d = dict(np.load(path))
    n, k = d["truth"].shape[:2]
    for optional in ("mirror_points", "global_view_points"):  # views a collection may have left out
        if optional not in d:
            d[optional] = [None] * n
        elif not global_view and optional == "global_view_points":
            d[optional] = [None] * n
    weight = d["refine_weights"][:, None]
    raws, points = [], []
    for i in range(n):
        refined = d["refined_points"][i, :views]
        scale = float(d["anatomy_scale"][i])
        trusted = Predictor._trusted_refinement(d["global_points"][i], refined.mean(axis=0), scale)[:, None]
        p = d["global_points"][i] + weight * trusted * (refined.mean(axis=0) - d["global_points"][i])
        deviation = check_shape(p, reference).deviation if reference is not None else np.full(k, np.nan)
        raws.append(RawSignals(
            p, d["global_points"][i], d["global_mass"][i], d["global_spread_px"][i], d["global_second"][i],
            refined, d["refine_mass"][i, :views], d["refine_spread_px"][i, :views], deviation,
            None if not np.isfinite(scale) else scale, d["mirror_points"][i], d["global_view_points"][i],
            d["refine_second"][i, :views] if "refine_second" in d else None,  # collected since it was measured
        ))
        points.append(p)
    points = np.stack(points)
    # Points are clipped to the image in the predictor; they never leave it on these sets.
    errors = np.linalg.norm(points - d["truth"], axis=2) * d["mm"][:, None]
    return SignalSet(str(d["description"]), raws, points, errors, [str(n) for n in d["names"]], d["truth"], d["mm"])

"""Fit the confidence calibration of a model on images it did not train on.

    python scripts/calibrate_confidence.py [--model FILE] [--cache DIR] [--out FILE] [--folds FOLD.pt ...]

The shipped model never trained on its 15 validation images (listed in its metadata). They are
used as they are and through simulated devices (``confidence_sets.CALIBRATION_DEVICES``: other
pixel sizes, contrast curves, blur and noise), which gives 105 images and many more, and harder,
errors than the validation images alone. ISBI Test1 is not touched: it measures the result
(``scripts/bench_confidence.py``, ``cephview evaluate``).

Fifteen patients hold few gross errors. ``--folds`` adds cross-validation folds: models trained
with the same recipe on another split of the training images, e.g.

    cephview train --config cephview-isbi19 --dataset isbi2015 --root DIR --out fold1.pt \
        --val-fraction 0.3 --seed 1 --epochs-global 20 --epochs-refine 12

Each fold model predicts its own held-out images (never trained on) through the same devices,
and those samples join the fit; the cross-validation still scores the model's own validation
images only, with each patient's fold samples held out with it.

For each image the predictor's signals are collected once (``--cache``, slow on a CPU), then the
two-part model (P(within 4 mm) times P(within 2 mm | within 4 mm), each logistic with one weight
per signal and one intercept per landmark) is fitted (``cephview.model.confidence.fit_two_part``). Printed: the fitted weights, and the figures of
a leave-one-patient-out cross-validation (each validation patient's images, all devices, scored
by a model fitted without them), the honest estimate on these images. Writes
``<model>.confidence.json`` beside the model unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_finetune import DEFAULT_ISBI  # noqa: E402
from confidence_sets import SignalSet, collect, load_set, validation_sets  # noqa: E402

from cephview.core.datasets import read_isbi2015  # noqa: E402
from cephview.core.schema import load_schema  # noqa: E402
from cephview.model.confidence import (  # noqa: E402
    TARGET_MM,
    ConfidenceCalibration,
    HeatmapMass,
    calibration_path,
    fit_calibration,
    fit_two_part,
)
from cephview.model.confidence_metrics import REPORT_HEADER, confidence_report, format_report_row  # noqa: E402
from cephview.model.confidence_signals import ShapeModel, features  # noqa: E402
from cephview.model.device_scale import reference_distances  # noqa: E402
from cephview.model.modelfile import default_model_path, load_model  # noqa: E402
from cephview.model.predictor import Predictor  # noqa: E402

# The signals of the shipped calibration: the heatmap masses of both stages, how far the refinement
# moved the landmark, the refinement map's spread and the distance from where the other landmarks
# put it (the shape model). Chosen by the leave-one-patient-out cross-validation on the validation
# patients (bench_confidence.py --ablation); an extra whole-image view added nothing there, and
# an extra patch view costs more time than the budget has.
SHIPPED_FEATURES = ("global_mass", "refine_mass", "stage_shift_mm", "refine_spread_mm", "shape_residual_mm")


def training_shapes(isbi: Path, model_meta: dict) -> ShapeModel:
    """The shape model of the experts' annotations (mean of the doctors) of the model's training images."""
    train = read_isbi2015(isbi, "train")
    names = set(model_meta["train_images"])
    return ShapeModel.fit(np.stack([it.points for it in train.images if it.image_path.name in names]))


def cache_file(cache: Path, name: str) -> Path:
    return cache / (name.replace(" ", "_").replace(",", "") + ".npz")


def collect_validation(model_path: Path, isbi: Path, cache: Path, work: Path, patch_views: int = 2,
                       global_view: bool = True) -> list[Path]:
    """Signals of the validation images and their simulated devices (skips sets already cached)."""
    model = load_model(model_path)
    predictor = Predictor(model, patch_views=patch_views, global_view=global_view, calibration=HeatmapMass(),
                          all_signals=True)
    files = []
    for name, dataset in validation_sets(isbi, list(model.meta["val_images"]), work):
        out = cache_file(cache, name)
        if not out.is_file():
            collect(predictor, dataset, out)
        files.append(out)
    return files


def stack(sets: list[SignalSet], names: tuple[str, ...], shape: ShapeModel | None = None,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x (N, F), landmark index (N,), errors mm (N,), patient (N,)) over every image and landmark."""
    xs, lms, errs, patients = [], [], [], []
    for s in sets:
        for raw, err, name in zip(s.raws, s.errors_mm, s.image_names):
            x = features(raw, names, shape=shape)
            xs.append(x)
            lms.append(np.arange(len(x)))
            errs.append(err)
            patients.append(np.full(len(x), Path(name).stem))
    return np.concatenate(xs), np.concatenate(lms), np.concatenate(errs), np.concatenate(patients)


def _fit(x: np.ndarray, lm: np.ndarray, err: np.ndarray, names: tuple[str, ...], codes: list[str],
         shape: ShapeModel | None, two_part: bool) -> ConfidenceCalibration:
    if two_part:
        return fit_two_part(x, lm, err, names, codes, shape=shape)
    return fit_calibration(x, lm, err <= TARGET_MM, names, codes, shape=shape)


def fit(sets: list[SignalSet], names: tuple[str, ...], codes: list[str], shape: ShapeModel | None = None,
        two_part: bool = True, extra: list[SignalSet] | None = None) -> ConfidenceCalibration:
    """Fitted on ``sets`` and the fold models' held-out sets ``extra``."""
    x, lm, err, _ = stack(sets + (extra or []), names, shape)
    ok = np.isfinite(err)
    return _fit(x[ok], lm[ok], err[ok], names, codes, shape, two_part)


def cross_validated(sets: list[SignalSet], names: tuple[str, ...], codes: list[str], shape: ShapeModel | None = None,
                    two_part: bool = True, extra: list[SignalSet] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-patient-out confidences and errors on ``sets``: a patient's images on every device
    are held out together, from ``sets`` and from the fold models' sets ``extra`` alike."""
    x, lm, err, patient = stack(sets, names, shape)
    if extra:
        xe, lme, erre, patiente = stack(extra, names, shape)
    ok = np.isfinite(err)
    conf = np.full(len(err), np.nan)
    for p in np.unique(patient):
        train = ok & (patient != p)
        xs, lms, errs = x[train], lm[train], err[train]
        if extra:
            keep = np.isfinite(erre) & (patiente != p)
            xs, lms, errs = (np.concatenate([a, b[keep]]) for a, b in ((xs, xe), (lms, lme), (errs, erre)))
        cal = _fit(xs, lms, errs, names, codes, shape, two_part)
        test = patient == p
        conf[test] = cal.probability_for(x[test], lm[test])
    return conf, err


def fold_sets(folds: list[Path], isbi: Path, cache: Path, work: Path, views: int = 1,
              ) -> tuple[list[SignalSet], list[str]]:
    """The fold models' held-out images through the calibration devices (collected into ``cache``
    once) as predicted with ``views`` patch views, and a line on each fold model."""
    extra, info = [], []
    for k, fold in enumerate(folds, start=1):
        fold_model = load_model(fold)
        files = collect_validation(fold, isbi, cache / f"fold{k}-{fold_model.version}", work)
        sets = [load_set(f, reference_distances(fold_model.meta), views=views) for f in files]
        extra += sets
        info.append(f"fold model {fold_model.version}: {len(fold_model.meta['val_images'])} held-out images "
                    f"x {len(files)} devices, MRE {np.nanmean([np.nanmean(s.errors_mm) for s in sets]):.2f} mm")
    return extra, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--isbi", type=Path, default=DEFAULT_ISBI)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cephview-confidence"), help="collected signals")
    ap.add_argument("--work", type=Path, help="simulated images (default: CACHE/images)")
    ap.add_argument("--out", type=Path, help="calibration file (default: beside the model)")
    ap.add_argument("--folds", type=Path, nargs="*", default=[], metavar="FOLD.pt",
                    help="models trained like the model on another split (--val-fraction 0.3 --seed K): "
                         "their held-out images, through the same devices, join the fit")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = load_model(args.model)
    codes = load_schema(model.schema).codes
    files = collect_validation(args.model, args.isbi, args.cache, args.work or args.cache / "images")
    reference = reference_distances(model.meta)
    sets = [load_set(f, reference) for f in files]
    names = SHIPPED_FEATURES
    shape = training_shapes(args.isbi, model.meta) if any(n.startswith("shape_residual") for n in names) else None
    extra, fold_info = fold_sets(args.folds, args.isbi, args.cache, args.work or args.cache / "images")
    for line in fold_info:
        print(line)
    conf, err = cross_validated(sets, names, codes, shape, extra=extra)
    print(f"model {model.version}: {sum(len(s.raws) for s in sets)} images "
          f"({len(files)} devices x {len(sets[0].raws)} validation patients), {len(err)} landmarks"
          + (f"; with {sum(len(s.raws) for s in extra)} images of {len(args.folds)} fold model(s)" if extra else ""))
    print("leave-one-patient-out cross-validation (scored on the validation images):")
    print(REPORT_HEADER + "\n" + format_report_row(confidence_report(conf, err)))
    cal = fit(sets, names, codes, shape, extra=extra)
    cal.model_version = model.version
    cal.info = {
        "fitted_on": f"{model.version}'s 15 validation images as they are and through "
                     f"{len(files) - 1} simulated devices ({sum(len(s.raws) for s in sets)} images)"
                     + "".join(f"; {f}" for f in fold_info),
        "target": f"probability of an error within {TARGET_MM:g} mm of the doctors' mean",
        "cross_validated": confidence_report(conf, err).to_dict(),
    }
    print(f"{'signal':<22}{'P(<=4mm)':>9}{'P(<=2|<=4)':>11}")
    for n, g, c in zip(names, cal.gross_coef, cal.coef):
        print(f"{n:<22}{g:>9.3f}{c:>11.3f}")
    print("per-landmark intercepts, P(<=4mm): " + ", ".join(f"{c} {v:.2f}" for c, v in zip(codes, cal.gross_intercept)))
    print("per-landmark intercepts, P(<=2|<=4): " + ", ".join(f"{c} {v:.2f}" for c, v in zip(codes, cal.intercept)))
    out = args.out or calibration_path(args.model)
    cal.save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

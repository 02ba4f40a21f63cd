"""Does confidence find the wrong landmarks, and is it an honest probability? Test1 and simulated devices.

    python scripts/bench_confidence.py [--model FILE] [--scales 0.7 0.5 1.4] [--n N] [--cache DIR] [--ablation]
        [--folds FOLD.pt ...] [--ensemble MODEL.pt ...] [--ceiling] [--cost]

For ISBI Test1 and the simulated devices of ``bench_patch_scale.py`` (made from Test1), prints
the model's MRE and, for its confidence: the share within 2 mm, the mean confidence, the AUC
for errors above 2 and 4 mm, the share of the > 4 mm errors among the 10 % least confident
landmarks and the expected calibration error (targets: AUC(> 4 mm) >= 0.90, >= 65 %,
ECE <= 0.05). "heatmap mass" is the confidence before calibration, for comparison.

The predictor's signals of every image are collected once into ``--cache`` (with two patch
views and an extra whole-image view, so that ``--ablation`` can say what those would buy);
the predictions scored are those of the shipped predictor (one patch view). ``--ablation``
refits the calibration on the validation cache of ``calibrate_confidence.py`` (and, with
``--folds``, the fold models' held-out images, as the shipped calibration) with other sets of
signals and scores each here. ``--ensemble`` predicts Test1 with other models too and says what
their disagreement with the shipped model would add. ``--cost`` times prediction with and
without the costly views.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_finetune import device_bench_parser, device_bench_sets  # noqa: E402
from calibrate_confidence import cache_file, cross_validated, fit, fold_sets, training_shapes  # noqa: E402
from confidence_sets import SignalSet, collect, load_set  # noqa: E402

from cephview.core.radiograph import load_radiograph  # noqa: E402
from cephview.core.schema import load_schema  # noqa: E402
from cephview.model.confidence import HeatmapMass, calibration_for  # noqa: E402
from cephview.model.confidence_metrics import (  # noqa: E402
    REPORT_HEADER,
    catch_rate,
    confidence_report,
    failure_auc,
    format_reliability,
    format_report_row,
    reliability,
)
from cephview.model.confidence_signals import TRAINING_MM_PER_PX, ShapeModel, features  # noqa: E402
from cephview.model.device_scale import reference_distances  # noqa: E402
from cephview.model.modelfile import default_model_path, load_model  # noqa: E402
from cephview.model.predictor import Predictor  # noqa: E402

MASSES_SHIFT = ("global_mass", "refine_mass", "stage_shift_mm")
SHIPPED = MASSES_SHIFT + ("refine_spread_mm", "shape_residual_mm")
# label: (signals, two-part model)
ABLATION = {
    "refine mass only": (("refine_mass",), False),
    "masses + stage shift": (MASSES_SHIFT, False),
    "masses + stage shift, 2 parts": (MASSES_SHIFT, True),
    "+ spread + shape": (SHIPPED, False),
    "+ spread + shape, 2 parts (shipped)": (SHIPPED, True),
    "+ map spreads, 2 parts": (SHIPPED + ("global_spread_mm", "global_second"), True),
    "+ 2nd patch view (+0.14 s), 2 parts": (SHIPPED + ("view_spread_mm",), True),
    "+ 2nd global view (+0.06 s), 2 parts": (SHIPPED + ("global_view_shift_mm",), True),
    "+ patch map's 2nd peak, 2 parts": (SHIPPED + ("refine_second",), True),
    "+ mirrored reading, 2 parts": (SHIPPED + ("mirror_shift_mm",), True),
}


def confidences(cal, raws, names=None, shape=None) -> np.ndarray:
    if names is None:
        return np.stack([cal.probability(r) for r in raws])
    return np.stack([cal.probability_for(x := features(r, names, shape=shape), np.arange(len(x))) for r in raws])


def review_thresholds(conf: np.ndarray, errors: np.ndarray, thresholds=(0.7, 0.8, 0.9)) -> str:
    """What the window's "check landmarks below" setting flags on a set (``conf``, ``errors`` (N, K)),
    and the worklist's expected corrections per image against the landmarks actually > 2 mm off."""
    lines = [f"{'check below':<12}{'flagged':>8}{'per image':>10}{'>2mm in it':>11}{'>4mm in it':>11}"]
    for t in thresholds:
        flagged = conf < t
        lines.append(f"{t:<12.0%}{flagged.mean():>8.1%}{flagged.sum(axis=1).mean():>10.1f}"
                     f"{flagged[errors > 2].mean():>11.1%}{flagged[errors > 4].mean():>11.1%}")
    lines.append(f"expected corrections per image {np.mean((1 - conf).sum(axis=1)):.2f}, "
                 f"landmarks > 2 mm off per image {np.mean((errors > 2).sum(axis=1)):.2f}")
    return "\n".join(lines)


def ceiling(sets, codes, shape) -> None:
    """In-sample fits on the scored sets themselves, for "within 2 mm" and for "within 4 mm": how
    well the shipped signals could rank the gross errors with unlimited calibration data."""
    from cephview.model.confidence import fit_calibration

    print("\nupper bound: the shipped signals fitted on each set itself (in-sample, not a result)")
    print(f"{'images':<26}{'fitted for':<22}" + REPORT_HEADER)
    for name, s in sets:
        x = np.concatenate([features(r, SHIPPED, shape=shape) for r in s.raws])
        lm = np.tile(np.arange(len(codes)), len(s.raws))
        err = s.errors_mm.ravel()
        for label, limit in (("within 2 mm", 2.0), ("within 4 mm", 4.0)):
            cal = fit_calibration(x, lm, err <= limit, SHIPPED, codes)
            conf = cal.probability_for(x, lm)
            print(f"{name:<26}{label:<22}" + format_report_row(confidence_report(conf, err)))


def ensemble_points(model, test1: SignalSet, cache: Path) -> np.ndarray:
    """(N, K, 2) ``model``'s points on the images of ``test1``, predicted once into ``cache``; named
    by the images' count too, as ``--n`` scores the first N images of a set of the same name."""
    out = cache_file(cache, f"ensemble {model.version} {test1.name} {len(test1.image_names)} images")
    if not out.is_file():
        predictor = Predictor(model, calibration=HeatmapMass())
        pts = [predictor.predict(load_radiograph(name).model_pixels).points for name in test1.image_names]
        np.savez_compressed(out, points=np.stack(pts))
    return np.load(out)["points"]


def ensemble(models: list[Path], test1: SignalSet, cache: Path, shape: ShapeModel, codes: list[str]) -> None:
    """Other models (e.g. the cross-validation folds) on ``test1``: the mean's accuracy, and what
    their disagreement with the shipped model says about its errors, alone and added to the
    shipped signals (both fitted in-sample on Test1: an upper bound, not a result)."""
    from cephview.model.confidence import fit_two_part

    def mre(points: np.ndarray) -> float:
        return float(np.mean(np.linalg.norm(points - test1.truth, axis=2) * test1.mm_per_px[:, None]))

    others = []
    print(f"\nensemble on {test1.name}:\n{'model':<28}{'MRE mm':>7}\n{'shipped':<28}{mre(test1.points):>7.3f}")
    for path in models:
        model = load_model(path)
        others.append(ensemble_points(model, test1, cache))
        print(f"{model.version:<28}{mre(others[-1]):>7.3f}")
    print(f"{'mean of all':<28}{mre(np.mean([test1.points] + others, axis=0)):>7.3f}")
    scale = np.array([r.anatomy_scale or 1.0 for r in test1.raws])[:, None]
    apart = np.linalg.norm(test1.points - np.mean(others, axis=0), axis=2) * TRAINING_MM_PER_PX / scale
    err = test1.errors_mm
    print(f"disagreement with the shipped model alone: AUC>2mm {failure_auc(-apart, err, 2.0):.3f}, "
          f"AUC>4mm {failure_auc(-apart, err, 4.0):.3f}, >4mm caught@10% {catch_rate(-apart, err):.1%}")
    x = np.concatenate([features(r, SHIPPED, shape=shape) for r in test1.raws])
    lm = np.tile(np.arange(len(codes)), len(test1.raws))
    print(f"{'fitted in-sample on it (upper bound)':<38}" + REPORT_HEADER)
    for label, xx in (("shipped signals", x), ("+ disagreement", np.column_stack([x, np.log1p(apart.ravel())]))):
        cal = fit_two_part(xx, lm, err.ravel(), tuple(f"s{i}" for i in range(xx.shape[1])), codes)
        print(f"{label:<38}" + format_report_row(confidence_report(cal.probability_for(xx, lm), err.ravel())))


def cost(model_path: Path, image: Path, runs: int) -> None:
    """Median seconds of open + predict for the shipped predictor and with the costly views."""
    model = load_model(model_path)
    variants = {
        "shipped (1 patch view, calibrated)": Predictor(model),
        "uncalibrated heatmap mass": Predictor(model, calibration=HeatmapMass()),
        "+ 2nd global view": Predictor(model, global_view=True),
        "+ 2nd patch view": Predictor(model, patch_views=2),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(runs + 1):
        for name, predictor in variants.items():
            t0 = time.perf_counter()
            predictor.predict(load_radiograph(image).model_pixels)
            if i:
                times[name].append(time.perf_counter() - t0)
    print(f"{'open + predict':<36}{'median s':>9}")
    for name, values in times.items():
        print(f"{name:<36}{statistics.median(values):>9.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = device_bench_parser(__doc__)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.7, 0.5, 1.4])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cephview-confidence"))
    ap.add_argument("--n", type=int, help="only the first N Test1 images (and their simulated devices)")
    ap.add_argument("--ablation", action="store_true", help="score other sets of signals, refitted on the validation cache")
    ap.add_argument("--cost", action="store_true", help="time prediction with the costly views")
    ap.add_argument("--ceiling", action="store_true",
                    help="fit the shipped signals on each scored set itself: an upper bound of what they can rank, not a result")
    ap.add_argument("--runs", type=int, default=5, help="timing runs for --cost")
    ap.add_argument("--folds", type=Path, nargs="*", default=[], metavar="FOLD.pt",
                    help="with --ablation: fit on the fold models' held-out images too, as calibrate_confidence.py")
    ap.add_argument("--ensemble", type=Path, nargs="*", default=[], metavar="MODEL.pt",
                    help="other models to predict Test1 with: their mean's MRE and their disagreement as a signal")
    args = ap.parse_args(argv)
    model_path = args.model or default_model_path()
    if args.cost:
        cost(model_path, args.isbi / "RawImage" / "Test1Data" / "151.jpg", args.runs)
        return 0
    model = load_model(model_path)
    reference = reference_distances(model.meta)
    collector = Predictor(model, patch_views=2, global_view=True, calibration=HeatmapMass(), all_signals=True)
    sets = []
    for name, dataset in device_bench_sets(args, args.scales, args.n):
        path = cache_file(args.cache, name if args.n is None else f"{name} first{args.n}")
        if not path.is_file():
            collect(collector, dataset, path)
        sets.append((name, load_set(path, reference)))
    cal = calibration_for(model)
    print(f"model {model.version}; confidence = P(error <= 2 mm against the doctors' mean)")
    print(f"{'images':<26}{'confidence':<22}{'MRE mm':>7} " + REPORT_HEADER)
    for name, s in sets:
        mre = np.nanmean(s.errors_mm)
        for label, conf in (("calibrated", confidences(cal, s.raws)),
                            ("heatmap mass", confidences(HeatmapMass(), s.raws))):
            print(f"{name:<26}{label:<22}{mre:>7.3f} " + format_report_row(confidence_report(conf, s.errors_mm)))
    name, first = sets[0]
    conf = confidences(cal, first.raws)
    print(f"\nreliability on {name} (calibrated):\n" + format_reliability(reliability(conf, first.errors_mm)))
    print(f"\nreview threshold on {name}:\n" + review_thresholds(conf, first.errors_mm))
    if args.ceiling:
        ceiling(sets, load_schema(model.schema).codes, training_shapes(args.isbi, model.meta))
    if args.ensemble:
        ensemble(args.ensemble, first, args.cache, training_shapes(args.isbi, model.meta), load_schema(model.schema).codes)
    if args.ablation:
        codes = load_schema(model.schema).codes
        val = [load_set(p, reference, views=2) for p in sorted(args.cache.glob("validation*.npz"))]
        if not val:
            sys.exit(f"no validation signals in {args.cache}: run calibrate_confidence.py --cache {args.cache} first")
        val1 = [load_set(p, reference) for p in sorted(args.cache.glob("validation*.npz"))]
        shape = training_shapes(args.isbi, model.meta)
        work = args.cache / "images"
        folds = {v: fold_sets(args.folds, args.isbi, args.cache, work, views=v)[0] for v in (1, 2)}
        print(f"\nablation: refitted on {sum(len(v.raws) for v in val)} validation images (all devices)"
              + (f" and {sum(len(v.raws) for v in folds[1])} of {len(args.folds)} fold model(s)" if args.folds else "")
              + "; CV = leave-one-patient-out on the validation images")
        print(f"{'signals':<38}{'images':<26}" + REPORT_HEADER)
        for label, (names, two_part) in ABLATION.items():
            views = 2 if "view_spread_mm" in names else 1
            train = val if views == 2 else val1
            try:
                conf, err = cross_validated(train, names, codes, shape, two_part, extra=folds[views])
            except ValueError as exc:  # a cache collected before the signal was measured
                print(f"{label:<38}{exc}; collect the cache again to score it")
                continue
            print(f"{label:<38}{'validation (CV)':<26}" + format_report_row(confidence_report(conf, err)))
            fitted = fit(train, names, codes, shape, two_part, extra=folds[views])
            for name, _ in sets:
                path = cache_file(args.cache, name if args.n is None else f"{name} first{args.n}")
                s = load_set(path, reference, views=views)
                conf = confidences(fitted, s.raws, names, shape)
                print(f"{'':<38}{name:<26}" + format_report_row(confidence_report(conf, s.errors_mm)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

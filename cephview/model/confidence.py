"""A landmark's confidence: the calibrated probability that it lies within 2 mm of the experts.

The predictor measures a few signals per landmark (:mod:`cephview.model.confidence_signals`);
small logistic models turn them into a probability: one weight per signal, shared by all
landmarks, plus one intercept per landmark (how hard that landmark is). Its parameters are a
small JSON file beside the model file (``<model>.confidence.json``), fitted by
``scripts/calibrate_confidence.py`` on images the model did not train on.

The shipped calibration has two parts: P(within GROSS_MM) times P(within TARGET_MM | within
GROSS_MM). One logistic model for P(within 2 mm) ranks the landmarks that are often a little off
(porion, gonion, articulare) below those rarely off but then far off; its own part for the gross
errors puts the latter first, which is what a clinician walking the least confident landmarks
needs. The product is still the probability of being within 2 mm.

A model without its own calibration file (a project's fine-tuned model, a freshly trained one)
uses the shipped model's when it predicts the same landmarks: the signals are the model's own,
and a fine-tuned model is usually more accurate than the calibration assumes, so its
confidences err on the cautious side. A model of other landmarks falls back to the raw
heatmap mass, logged as uncalibrated. A calibration file that exists but cannot be read is an
error, never silently replaced.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cephview.core.errors import ModelFileError
from cephview.model.confidence_signals import FEATURES, NEEDS_SHAPE_MODEL, RawSignals, ShapeModel, features

if TYPE_CHECKING:
    from cephview.model.modelfile import LandmarkModel

log = logging.getLogger(__name__)

FORMAT = "cephview-confidence"
FORMAT_VERSION = 2  # 2: the optional gross-error part
TARGET_MM = 2.0  # the confidence is P(error <= TARGET_MM against the experts' mean)
GROSS_MM = 4.0  # the two-part model's first part: P(error <= GROSS_MM)
SUFFIX = ".confidence.json"


@dataclass
class ConfidenceCalibration:
    """p = sigmoid(intercept[landmark] + z @ coef), z = (x - mean) / scale: P(within TARGET_MM).

    With ``gross_coef``/``gross_intercept`` that part is P(within TARGET_MM | within GROSS_MM)
    and p is multiplied by sigmoid(gross_intercept[landmark] + z @ gross_coef) = P(within GROSS_MM).
    """

    landmarks: list[str]
    features: tuple[str, ...]
    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (F,)
    intercept: np.ndarray  # (K,)
    patch_views: int = 1  # the patch views the features were measured with
    shape: ShapeModel | None = None  # for the shape-residual signals
    model_version: str | None = None
    info: dict = field(default_factory=dict)  # what it was fitted on, its figures
    gross_coef: np.ndarray | None = None  # (F,)
    gross_intercept: np.ndarray | None = None  # (K,)

    def probability_for(self, x: np.ndarray, landmark: np.ndarray) -> np.ndarray:
        """Probabilities of samples ``x`` (N, F) of landmarks ``landmark`` (N,) indices."""
        z = (x - self.mean) / self.scale
        p = _sigmoid(self.intercept[landmark] + z @ self.coef)
        if self.gross_coef is not None:
            p = p * _sigmoid(self.gross_intercept[landmark] + z @ self.gross_coef)
        return p

    def probability(self, signals: RawSignals) -> np.ndarray:
        x = features(signals, self.features, views=self.patch_views, shape=self.shape)
        if len(x) != len(self.intercept):
            raise ModelFileError(f"confidence calibration is for {len(self.intercept)} landmarks, the model has {len(x)}")
        return self.probability_for(x, np.arange(len(x)))

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "target_mm": TARGET_MM,
            "model_version": self.model_version, "landmarks": list(self.landmarks),
            "features": list(self.features), "patch_views": self.patch_views,
            "mean": _floats(self.mean), "scale": _floats(self.scale), "coef": _floats(self.coef),
            "intercept": _floats(self.intercept), "info": self.info,
            **({} if self.gross_coef is None else {
                "gross_mm": GROSS_MM, "gross_coef": _floats(self.gross_coef),
                "gross_intercept": _floats(self.gross_intercept)}),
            "shape": None if self.shape is None else {
                "mean": _floats(self.shape.mean), "cov": _floats(self.shape.cov), "typical": _floats(self.shape.typical),
            },
        }

    @classmethod
    def from_json(cls, data: dict, where: str = "confidence calibration") -> ConfidenceCalibration:
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"no '{FORMAT}' marker")
            if int(data.get("format_version", 0)) > FORMAT_VERSION:
                raise ValueError("written by a newer cephview")
            names = tuple(str(n) for n in data["features"])
            unknown = [n for n in names if n not in KNOWN_FEATURES]
            if unknown:
                raise ValueError(f"unknown signals {', '.join(unknown)}")
            landmarks = [str(c) for c in data["landmarks"]]
            arrays = {key: np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "coef", "intercept")}
            for key in ("mean", "scale", "coef"):
                if arrays[key].shape != (len(names),):
                    raise ValueError(f"'{key}' must have one number per signal ({len(names)})")
            if arrays["intercept"].shape != (len(landmarks),):
                raise ValueError(f"'intercept' must have one number per landmark ({len(landmarks)})")
            gross_coef = gross_intercept = None
            if "gross_coef" in data or "gross_intercept" in data:
                if float(data.get("gross_mm", GROSS_MM)) != GROSS_MM:
                    raise ValueError(f"the gross-error part must be for {GROSS_MM:g} mm")
                gross_coef = np.asarray(data["gross_coef"], dtype=np.float64)
                gross_intercept = np.asarray(data["gross_intercept"], dtype=np.float64)
                if gross_coef.shape != (len(names),) or gross_intercept.shape != (len(landmarks),):
                    raise ValueError("the gross-error part needs one weight per signal and one intercept per landmark")
                arrays["gross_coef"], arrays["gross_intercept"] = gross_coef, gross_intercept
            if not all(np.isfinite(a).all() for a in arrays.values()) or (arrays["scale"] <= 0).any():
                raise ValueError("numbers must be finite, scales positive")
            views = int(data.get("patch_views", 1))
            shape = None
            if data.get("shape") is not None:
                k = len(landmarks)
                mean = np.asarray(data["shape"]["mean"], dtype=np.float64).reshape(k, 2)
                cov = np.asarray(data["shape"]["cov"], dtype=np.float64).reshape(2 * k, 2 * k)
                typical = np.asarray(data["shape"]["typical"], dtype=np.float64).reshape(k)
                if not (np.isfinite(mean).all() and np.isfinite(cov).all() and (typical > 0).all()):
                    raise ValueError("shape model numbers must be finite")
                shape = ShapeModel(mean, cov, typical)
            elif any(n in NEEDS_SHAPE_MODEL for n in names):
                raise ValueError("shape signals without a shape model")
            return cls(landmarks, names, arrays["mean"], arrays["scale"], arrays["coef"], arrays["intercept"],
                       views, shape, data.get("model_version"), dict(data.get("info", {})), gross_coef, gross_intercept)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{where}: not a valid confidence calibration ({exc})") from None

    def save(self, path: str | Path) -> None:
        """One key a line, so a reader sees the weights at a glance."""
        data = self.to_json()
        Path(path).write_text("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n")


KNOWN_FEATURES = FEATURES + NEEDS_SHAPE_MODEL + ("mirror_shift_mm", "global_view_shift_mm", "refine_second")


class HeatmapMass:
    """No calibration available: the probability mass near the refined (or global) peak, as before."""

    patch_views = 1
    info: dict = {}

    def probability(self, signals: RawSignals) -> np.ndarray:
        if signals.refine_mass is not None:
            return signals.refine_mass.mean(axis=0)
        return np.asarray(signals.global_mass, dtype=np.float64)


def calibration_path(model_path: str | Path) -> Path:
    """``models/cephview-isbi19.pt`` -> ``models/cephview-isbi19.confidence.json``."""
    p = Path(model_path)
    return p.with_name(p.stem + SUFFIX)


def load_calibration(path: str | Path) -> ConfidenceCalibration:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read the confidence calibration ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: not a valid confidence calibration (not a JSON object)")
    return ConfidenceCalibration.from_json(data, str(path))


def calibration_for(model: LandmarkModel) -> ConfidenceCalibration | HeatmapMass:
    """The model's own calibration file, else the shipped model's for the same landmarks, else none."""
    from cephview.core.schema import load_schema
    from cephview.model.modelfile import default_model_path

    codes = load_schema(model.schema).codes
    own = calibration_path(model.source) if model.source is not None else None
    if own is not None and own.is_file():
        cal = load_calibration(own)
        if cal.landmarks != codes:
            raise ModelFileError(f"{own}: calibrated for other landmarks than the model's")
        if cal.model_version != model.version:
            log.warning("%s was fitted for model %s, not %s", own, cal.model_version, model.version)
        return cal
    shipped = calibration_path(default_model_path())
    if shipped.is_file():
        cal = load_calibration(shipped)
        if cal.landmarks == codes:
            log.info("model %s has no confidence calibration of its own; using %s", model.version, shipped.name)
            return cal
    log.warning("model %s: no confidence calibration for its landmarks; confidence is the raw heatmap mass",
                model.version)
    return HeatmapMass()


# ---------------------------------------------------------------------------- fitting
def fit_calibration(
    x: np.ndarray, landmark: np.ndarray, within: np.ndarray, names: tuple[str, ...], codes: list[str],
    l2: float = 1.0, l2_intercept: float = 0.5, weights: np.ndarray | None = None, shape: ShapeModel | None = None,
) -> ConfidenceCalibration:
    """Fit the one-part logistic model on samples ``x`` (N, F) of landmarks ``landmark`` (N,)
    indices, ``within`` (N,) bool: was the landmark within TARGET_MM.

    Penalties: ``l2`` on the signal weights (standardised signals); ``l2_intercept`` pulls each
    landmark's intercept towards their common mean, so a landmark with few failures in the
    calibration data borrows strength from the others.
    """
    mean, scale = _standardisation(x)
    coef, icpt = _fit_logistic((x - mean) / scale, landmark, within, len(codes), l2, l2_intercept, weights)
    return ConfidenceCalibration(list(codes), tuple(names), mean, scale, coef, icpt, shape=shape)


def fit_two_part(
    x: np.ndarray, landmark: np.ndarray, errors_mm: np.ndarray, names: tuple[str, ...], codes: list[str],
    l2: float = 1.0, l2_intercept: float = 0.5, l2_intercept_gross: float = 2.0, shape: ShapeModel | None = None,
) -> ConfidenceCalibration:
    """P(within GROSS_MM) on every sample, P(within TARGET_MM | within GROSS_MM) on those within it.

    The gross part's intercepts are pulled harder together (``l2_intercept_gross``): gross errors
    are rare, a landmark's few in the calibration data say little about its rate (the value won
    the leave-one-patient-out cross-validation of ``scripts/calibrate_confidence.py``).
    """
    mean, scale = _standardisation(x)
    z = (x - mean) / scale
    k = len(codes)
    gross_coef, gross_icpt = _fit_logistic(z, landmark, errors_mm <= GROSS_MM, k, l2, l2_intercept_gross)
    near = errors_mm <= GROSS_MM
    coef, icpt = _fit_logistic(z[near], landmark[near], errors_mm[near] <= TARGET_MM, k, l2, l2_intercept)
    return ConfidenceCalibration(list(codes), tuple(names), mean, scale, coef, icpt, shape=shape,
                                 gross_coef=gross_coef, gross_intercept=gross_icpt)


def _standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def _fit_logistic(
    z: np.ndarray, landmark: np.ndarray, positive: np.ndarray, k: int, l2: float, l2_intercept: float,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Penalised maximum likelihood: (weights (F,), per-landmark intercepts (K,))."""
    from scipy.optimize import minimize

    n, f = z.shape
    y = positive.astype(np.float64)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), landmark] = 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, icpt = theta[:f], theta[f:]
        t = z @ coef + onehot @ icpt
        p = _sigmoid(t)
        nll = np.sum(w * (np.logaddexp(0.0, t) - y * t))
        centred = icpt - icpt.mean()
        value = nll + 0.5 * l2 * coef @ coef + 0.5 * l2_intercept * centred @ centred
        r = w * (p - y)
        grad = np.concatenate([z.T @ r + l2 * coef, onehot.T @ r + l2_intercept * (centred - centred.mean())])
        return float(value), grad

    start = np.zeros(f + k)
    base = np.clip(np.average(y, weights=w), 1e-3, 1 - 1e-3)
    start[f:] = math.log(base / (1 - base))
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    if not result.success:
        log.warning("confidence fit: %s", result.message)
    return result.x[:f], result.x[f:]


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-t))


def _floats(a: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in np.asarray(a).ravel()]

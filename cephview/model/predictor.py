"""Predict landmarks on a radiograph: global heatmaps, facing detection, patch refinement."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from cephview.model import coords
from cephview.model.confidence import ConfidenceCalibration, calibration_for
from cephview.model.confidence_signals import NEEDS_GLOBAL_SHAPE, TRAINING_MM_PER_PX, MapShape, RawSignals, map_shape
from cephview.model.device_scale import image_scale, needs_rescale, reference_distances, usable_pairs
from cephview.model.heatmaps import decode, decode_peak, display_maps, spatial_softmax
from cephview.model.modelfile import LandmarkModel, load_model
from cephview.model.samples import global_base_transform, normalise, prepare, render
from cephview.model.shape_check import MAX_DEVIATION, candidate_peaks, check_shape, deviation_of

log = logging.getLogger(__name__)

# Test-time views of each refinement patch: the centre and four diagonal shifts, in patch pixels.
# The patch network's answer moves a little with where the patch is cut. Averaging five cuts
# lowered the MRE by 4 % on a simulated new device before fine-tuning, but by 0.1 % on ISBI
# Test1, at 4-5 times the prediction time (scripts/bench_patch_views.py): an option, not the default.
PATCH_SHIFT_PX = 6.0
MIN_ANATOMY_SCALE, MAX_ANATOMY_SCALE = 0.25, 4.0  # head size against the training images
PATCH_VIEWS = ((0.0, 0.0), (1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0))
# The refinement patch is trusted up to as far from the whole-image estimate as its training
# patches were centred from the landmark (36 patch pixels at 0.2 mm: 7.2 mm of the training
# images). Farther, it has jumped to another structure, as it does on images of unfamiliar
# contrast: on the validation images through simulated devices of other contrast curves,
# keeping the whole-image estimate there cut the MRE from 1.52 to 1.13 mm (gamma curve) and
# from 1.23 to 1.13 mm (hard contrast); ISBI Test1 1.066 -> 1.065 mm. (A limit of 5 mm, chosen
# on the validation images first, cost Test1 0.005 mm; see the model card.)
MAX_REFINE_SHIFT_MM = 7.2


@dataclass
class Prediction:
    points: np.ndarray  # (K, 2) original-image pixels
    confidence: np.ndarray  # (K,) in [0, 1]
    heatmaps: np.ndarray  # (K, h, w) float32 global-stage probability maps scaled to [0, 1]
    heatmap_to_image: coords.Matrix  # maps heatmap (x, y) to original-image (x, y)
    facing: str  # "right" (as the training images) or "left"
    codes: list[str]
    model_version: str
    global_points: np.ndarray | None = None  # (K, 2) whole-image estimates before refinement
    anatomy_scale: float | None = None  # head size against the training data's (None: not measured)
    patch_scale: float | None = None  # the refinement patch scale used (None: no refinement)
    signals: RawSignals | None = None  # what the confidence is computed from (confidence_signals.py)


class Predictor:
    """Holds a loaded model; ``predict`` takes a uint8 bone-bright image (``model_pixels``)."""

    def __init__(
        self, model: LandmarkModel, device: str | torch.device = "cpu", patch_views: int = 1,
        adapt_patch_scale: bool = True, global_view: bool = False, calibration: ConfidenceCalibration | None = None,
        all_signals: bool = False,
    ) -> None:
        """``global_view`` adds a second whole-image view and ``all_signals`` measures every signal
        of ``confidence_signals``, for fitting and comparing calibrations; the shipped predictor
        measures only those its calibration uses."""
        from cephview.core.schema import load_schema

        if not 1 <= patch_views <= len(PATCH_VIEWS):
            raise ValueError(f"patch_views must be 1 to {len(PATCH_VIEWS)}")
        self.model = model
        self.patch_views = patch_views
        self.adapt_patch_scale = adapt_patch_scale
        self.global_view = global_view
        self.all_signals = all_signals
        self.calibration = calibration if calibration is not None else calibration_for(model)
        self.device = torch.device(device)
        self.codes = load_schema(model.schema).codes
        # channels_last: oneDNN's convolutions run 20-25 % faster that way on a CPU (global stage
        # 103 -> 82 ms, refinement 133 -> 98 ms per image, scripts/bench_predict.py); same numbers.
        for _, net in model.stages.values():
            net.to(self.device, memory_format=torch.channels_last).eval()
        # The training data's landmark distances, to catch points on a look-alike (shape_check.py).
        self.reference = reference_distances(model.meta)

    @classmethod
    def from_file(cls, path: str | Path | None = None, device: str = "cpu", patch_views: int = 1) -> Predictor:
        return cls(load_model(path), device, patch_views)

    def _run(self, net: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(normalise(batch)).unsqueeze(1).to(self.device)
            x = x.contiguous(memory_format=torch.channels_last)
            return net(x).float().contiguous().cpu().numpy()

    def predict(self, image: np.ndarray, facing: str = "auto", refine: bool = True) -> Prediction:
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError("predict expects a 2-D uint8 image (Radiograph.model_pixels)")
        h, w = image.shape
        cfg, net = self.model.stages["global"]
        if cfg.architecture == "regression":
            return self._predict_coordinates(image, facing)
        prepared = prepare(image, cfg)
        base = global_base_transform(w, h, cfg)
        frames = {"right": coords.identity(), "left": coords.mirror_x(w)}
        names = ["right", "left"] if facing == "auto" else [facing]
        inputs = np.stack([render(prepared, base @ frames[n], cfg) for n in names])
        maps = self._run(net, inputs)
        to_hm = coords.input_to_heatmap(cfg.output_stride)
        readings = [decode(maps[i], cfg.sigma) for i in range(len(names))]
        chosen = max(range(len(names)), key=lambda i: readings[i][1].mean())
        name, (pts_hm, conf), hm = names[chosen], readings[chosen], maps[chosen]
        image_to_hm = to_hm @ base @ frames[name]
        hm_to_image = coords.invert(image_to_hm)
        points = coords.apply(hm_to_image, pts_hm)
        mirror_points = None
        if len(names) > 1:
            other = 1 - chosen
            mirror_points = coords.apply(coords.invert(to_hm @ base @ frames[names[other]]), readings[other][0])
        if self.reference is not None:
            points, conf = self._fix_misplaced(points, conf, hm, hm_to_image, cfg.sigma)
        global_points = points.copy()
        hm_px = 1.0 / coords.linear_scale(image_to_hm)  # image pixels per heatmap pixel
        wanted = set(getattr(self.calibration, "features", ()))
        will_refine = refine and "refine" in self.model.stages
        # Without refinement the refinement's signals are read from the whole-image map (features()).
        if self.all_signals or NEEDS_GLOBAL_SHAPE & wanted or (
                not will_refine and {"refine_spread_mm", "refine_second"} & wanted):
            global_shape = map_shape(hm, coords.apply(image_to_hm, points), cfg.sigma)
        else:  # 70 ms on this CPU for signals the shipped calibration does not use
            global_shape = MapShape(np.full(len(points), np.nan), np.full(len(points), np.nan))
        global_view_points = None
        if self.global_view:
            global_view_points = self._global_view(prepared, base @ frames[name], cfg)
        scale = image_scale(points, self.reference) if self.reference is not None else None
        patch_scale = None
        refined = refine_mass = refine_spread = refine_second = None
        if will_refine:
            patch_scale = self._patch_scale(scale)
            refined, refine_mass, refine_spread, refine_second = self._refine(image, points, frames[name], patch_scale)
            # Per landmark, how far to trust the patch over the whole-image estimate: chosen on
            # the validation images after training (1 = patch only), see stage_weights.py.
            weight = np.asarray(self.model.meta.get("refine_weights", [1.0] * len(points)))[:, None]
            weight = weight * self._trusted_refinement(points, refined.mean(axis=0), scale)[:, None]
            points = points + weight * (refined.mean(axis=0) - points)
        # A landmark is a point of the image: keep estimates from the padding inside it.
        points[:, 0] = np.clip(points[:, 0], 0, w - 1)
        points[:, 1] = np.clip(points[:, 1], 0, h - 1)
        deviation = (check_shape(points, self.reference).deviation if self.reference is not None
                     else np.full(len(points), np.nan))
        signals = RawSignals(
            points=points.copy(), global_points=global_points, global_mass=conf, global_spread_px=global_shape.spread * hm_px,
            global_second=global_shape.second, refined_points=refined, refine_mass=refine_mass,
            refine_spread_px=refine_spread, refine_second=refine_second, shape_deviation=deviation, anatomy_scale=scale,
            mirror_points=mirror_points, global_view_points=global_view_points,
        )
        return Prediction(
            points=points, confidence=self.calibration.probability(signals),
            heatmaps=display_maps(hm, cfg.sigma),
            heatmap_to_image=hm_to_image, facing=name, codes=self.codes,
            model_version=self.model.version, global_points=global_points,
            anatomy_scale=scale, patch_scale=patch_scale, signals=signals,
        )

    def _global_view(self, prepared, image_to_input: coords.Matrix, cfg) -> np.ndarray:
        """The whole-image stage's reading of the image drawn 10 % smaller and shifted: where it
        disagrees with the main reading, the landmark sits on ground the network is unsure of."""
        c = ((cfg.input_width - 1) / 2, (cfg.input_height - 1) / 2)
        view = coords.translation(6.0, -6.0) @ coords.rotation_scale_about(c[0], c[1], 0.0, 0.9) @ image_to_input
        logits = self._run(self.model.stages["global"][1], render(prepared, view, cfg)[None])[0]
        pts_hm, _ = decode(logits, cfg.sigma)
        return coords.apply(coords.invert(coords.input_to_heatmap(cfg.output_stride) @ view), pts_hm)

    @staticmethod
    def _trusted_refinement(global_points: np.ndarray, refined: np.ndarray, scale: float | None) -> np.ndarray:
        """(K,) 1 where the patch's answer may replace the whole-image estimate, 0 where it moved
        the landmark farther than MAX_REFINE_SHIFT_MM (head-size corrected): there the patch has
        locked onto another structure, as it does on images of unfamiliar contrast."""
        to_mm = TRAINING_MM_PER_PX / (scale if scale and scale > 0 else 1.0)
        shift = np.linalg.norm(refined - global_points, axis=1) * to_mm
        return (shift <= MAX_REFINE_SHIFT_MM).astype(np.float64)

    def _predict_coordinates(self, image: np.ndarray, facing: str) -> Prediction:
        """A coordinate-regression model (research baseline): positions straight from the network.

        It has no heatmap and no confidence (NaN), so it cannot tell which way a profile faces:
        ``auto`` reads the image as the training images face (right).
        """
        from cephview.model.regression import output_to_heatmap_points

        h, w = image.shape
        cfg, net = self.model.stages["global"]
        frame = coords.mirror_x(w) if facing == "left" else coords.identity()
        base = global_base_transform(w, h, cfg)
        out = self._run(net, render(prepare(image, cfg), base @ frame, cfg)[None])[0]
        image_to_hm = coords.input_to_heatmap(cfg.output_stride) @ base @ frame
        points = coords.apply(coords.invert(image_to_hm), output_to_heatmap_points(out, cfg))
        points[:, 0] = np.clip(points[:, 0], 0, w - 1)
        points[:, 1] = np.clip(points[:, 1], 0, h - 1)
        k = len(points)
        return Prediction(
            points=points, confidence=np.full(k, np.nan), heatmaps=np.zeros((k, 1, 1), np.float32),
            heatmap_to_image=coords.invert(image_to_hm), facing="left" if facing == "left" else "right",
            codes=self.codes, model_version=self.model.version, global_points=points.copy(),
        )

    def _patch_scale(self, scale: float | None) -> float:
        """The refinement patch scale for an image whose head is ``scale`` times the training data's.

        The patch covers a fixed number of image pixels, learnt at the training data's pixel size;
        an image that draws the anatomy smaller or larger (another device, a downsized JPEG export)
        gets a patch re-scaled by the head size its global landmarks show. Measured with
        ``scripts/bench_patch_scale.py`` (MRE, shipped model): ISBI Test1 1.066 -> 1.065 mm,
        simulated devices at 0.7x 1.431 -> 1.214 mm, 0.5x 6.09 -> 1.32 mm, 1.4x 1.269 -> 1.136 mm.
        """
        trained = self.model.stages["refine"][0].patch_scale
        if self.adapt_patch_scale and scale is not None and scale > 0 and needs_rescale(scale):
            # A global stage lost on a non-radiograph can measure any "head size": stay within
            # what a cephalostat can produce rather than cut absurd patches.
            return trained / min(max(scale, MIN_ANATOMY_SCALE), MAX_ANATOMY_SCALE)
        return trained

    def _fix_misplaced(
        self, points: np.ndarray, conf: np.ndarray, logits: np.ndarray, hm_to_image: coords.Matrix, sigma: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move a landmark that breaks the head's proportions to the peak of its map that fits them."""
        check = check_shape(points, self.reference)
        outliers = check.outliers()
        if outliers.size == 0:
            return points, conf
        points, conf = points.copy(), conf.copy()
        pairs = usable_pairs(self.reference)
        for k in outliers:
            probs = spatial_softmax(logits[k : k + 1])[0]
            best = (check.deviation[k], points[k], conf[k])
            for px, py in candidate_peaks(logits[k], sigma):
                (x, y), c = decode_peak(logits[k], probs, px, py, sigma)
                candidate = coords.apply(hm_to_image, np.array([[x, y]]))[0]
                deviation = deviation_of(k, candidate, points, self.reference, check.scale, pairs)
                if deviation < best[0]:
                    best = (deviation, candidate, c)
            if best[0] <= MAX_DEVIATION:
                log.info("landmark %s broke the proportions (%.2f); moved to another peak (%.2f)",
                         self.codes[k], check.deviation[k], best[0])
                points[k], conf[k] = best[1], best[2]
        return points, conf

    def _refine(
        self, image: np.ndarray, points: np.ndarray, frame: coords.Matrix, patch_scale: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Re-locate each landmark in full-detail patches around its global estimate.

        Each landmark is looked at through ``patch_views`` patches (the centred one and shifted
        ones, PATCH_VIEWS) in one batch. Returns per view and landmark (V, K, ...) the position
        (image pixels), the probability mass near the peak, the map's spread (image pixels) and
        its strongest peak away from the chosen one (against the chosen one).
        """
        cfg, net = self.model.stages["refine"]
        if patch_scale is not None and patch_scale != cfg.patch_scale:
            cfg = replace(cfg, patch_scale=patch_scale)  # also picks the matching image pyramid level
        prepared = prepare(image, cfg)
        canonical = coords.apply(frame, points)
        shifts = np.asarray(PATCH_VIEWS[: self.patch_views]) * (PATCH_SHIFT_PX / cfg.patch_scale)
        mats = [coords.patch(x + dx, y + dy, cfg.patch_scale, cfg.input_width) @ frame
                for dx, dy in shifts for x, y in canonical]
        patches = np.stack([render(prepared, m, cfg) for m in mats])
        maps = self._run(net, patches)
        to_hm = coords.input_to_heatmap(cfg.output_stride)
        k_all = len(points)
        found = np.zeros((len(shifts), k_all, 2))
        found_conf = np.zeros((len(shifts), k_all))
        peaks_hm = np.zeros((len(mats), 2))
        own = maps[np.arange(len(mats)), np.tile(np.arange(k_all), len(shifts))]  # each patch's own channel
        for n, m in enumerate(mats):
            view, k = divmod(n, k_all)
            pts_hm, c = decode(own[n : n + 1], cfg.sigma)
            found[view, k] = coords.apply(coords.invert(to_hm @ m), pts_hm)[0]
            found_conf[view, k] = c[0]
            peaks_hm[n] = pts_hm[0]
        hm_px = 1.0 / coords.linear_scale(to_hm @ mats[0])  # image pixels per patch heatmap pixel
        shape = map_shape(own, peaks_hm, cfg.sigma)
        spread = (shape.spread * hm_px).reshape(len(shifts), k_all)
        return found, found_conf, spread, shape.second.reshape(len(shifts), k_all)


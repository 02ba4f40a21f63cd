"""What a fine-tuning run is asked to do, what it reports while it runs, and what it returns."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cephview.core.errors import CephviewError
from cephview.model.config import StageConfig, TrainConfig
from cephview.model.config_checks import ConfigError
from cephview.model.finetune.scale import ScaleAdaptation
from cephview.model.metrics import Evaluation
from cephview.model.modelfile import LandmarkModel
from cephview.model.registry import ModelVersion
from cephview.model.train import TrainProgress

MIN_IMAGES_FOR_HOLDOUT = 5


@dataclass
class FinetuneSettings:
    epochs: int = 10  # per stage
    epochs_refine: int | None = None  # None: as ``epochs``
    lr: float = 2e-4  # gentle: the model already knows the anatomy
    freeze_encoder: bool = False
    stages: list[str] | None = None  # None: every stage of the active model
    holdout_fraction: float = 0.25  # of the reviewed images, to judge old vs new
    min_images_for_holdout: int = MIN_IMAGES_FOR_HOLDOUT
    base_ratio: float = 1.0  # base images mixed in per project training image and epoch (with base data)
    # Draw those base images afresh every epoch from the whole base set (loaded once) rather
    # than fixing a few for the run: same cost per epoch, far more anatomy seen.
    rotate_base: bool = True
    adapt_scale: bool = True  # re-scale the refinement patch to the device's scale (see device_scale.py)
    seed: int = 0
    force: bool = False  # promote even if not better (the user has seen both figures)
    min_improvement: float = 0.0  # relative MRE reduction needed to promote
    device: str | None = None
    num_threads: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # any other TrainConfig field

    def to_dict(self) -> dict:
        return asdict(self)

    def train_config(self, model: LandmarkModel) -> TrainConfig:
        """The model's own training recipe (augmentation, batch sizes), with fine-tuning's epochs and rate."""
        recipe = model.meta.get("config")
        cfg = TrainConfig.from_dict(recipe) if isinstance(recipe, dict) else TrainConfig()
        # The stages keep the model's sizes: images are prepared for those, not the defaults.
        cfg.global_stage = StageConfig.from_dict(vars(model.stages["global"][0]))
        if "refine" in model.stages:
            cfg.refine_stage = StageConfig.from_dict(vars(model.stages["refine"][0]))
        wanted = self.stages or ["global", "refine"]
        cfg.stages = [s for s in ("global", "refine") if s in model.stages and s in wanted]
        if not cfg.stages:
            raise CephviewError(f"the model has none of the stages {', '.join(wanted)} to fine-tune")
        cfg.epochs_global = self.epochs
        cfg.epochs_refine = self.epochs if self.epochs_refine is None else self.epochs_refine
        cfg.lr, cfg.warmup_epochs, cfg.seed = self.lr, 0, self.seed
        # The held-out images judge the result; choosing epochs on them as well would flatter it.
        cfg.val_fraction = 0.0
        cfg.pretrained = False
        cfg.freeze_encoder = self.freeze_encoder
        cfg.num_threads = self.num_threads
        for key, value in self.overrides.items():
            if not hasattr(cfg, key):
                raise CephviewError(f"unknown training setting {key!r}")
            setattr(cfg, key, value)
        try:
            cfg.validate()
        except ConfigError as exc:
            raise CephviewError(f"fine-tuning settings: {exc}") from None
        return cfg


@dataclass
class FinetuneProgress:
    phase: str  # "evaluating current", "training", "evaluating new", "saving"
    done: int
    total: int
    message: str = ""
    train: TrainProgress | None = None  # during "training"
    seconds_left: float | None = None


FinetuneCallback = Callable[[FinetuneProgress], None]


@dataclass
class FinetuneResult:
    version: ModelVersion  # the new version (kept whether promoted or not)
    parent: ModelVersion
    promoted: bool
    reason: str
    before: Evaluation  # the parent on the held-out images
    after: Evaluation  # the new model on the same images
    held_out: list[str]
    train_images: list[str]
    base_images: int = 0  # base images mixed in (all of them when drawn afresh each epoch)
    in_sample: bool = False
    note: str = ""
    to_repredict: list[str] = field(default_factory=list)  # after promotion: images to predict again
    training_seconds: float = 0.0
    seconds: float = 0.0
    scale: ScaleAdaptation | None = None
    base_per_epoch: int = 0  # of the base images, how many each epoch trained on

    @property
    def unit(self) -> str:
        return self.after.unit

    @property
    def relative_change(self) -> float | None:
        """(after - before) / before; negative is better."""
        b, a = self.before.mre, self.after.mre
        return (a - b) / b if b and math.isfinite(a) and math.isfinite(b) else None

    def summary(self) -> str:
        change = self.relative_change
        pct = f" ({100 * change:+.1f} %)" if change is not None else ""
        where = "training images (in-sample)" if self.in_sample else f"{len(self.held_out)} held-out image(s)"
        verdict = "promoted" if self.promoted else "kept aside"
        return (f"MRE on {where}: {self.parent.version} {self.before.mre:.3f} {self.unit} -> "
                f"{self.version.version} {self.after.mre:.3f} {self.unit}{pct}; {verdict}: {self.reason}")

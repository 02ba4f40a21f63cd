"""Configuration of the two network stages and of a training run, as plain dataclasses.

Stored in model files and checkpoints as dicts (never pickled objects), so files load with
``torch.load(weights_only=True)``. Every construction (a configuration file, a model file's
stored settings, a job of a distributed run) checks each field's type and range
(:mod:`cephview.model.config_checks`) and raises a :class:`ConfigError` naming the field;
code that changes fields afterwards calls ``validate()`` again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from cephview.model.config_checks import STAGE_RULES, TRAIN_RULES, ConfigError, check_fields

INPUT_MEAN = 0.5  # uint8 / 255 is normalised to (v - mean) / std
INPUT_STD = 0.25


@dataclass
class StageConfig:
    """One heatmap network: ``global`` sees the whole image, ``refine`` sees a patch per landmark."""

    kind: str = "global"
    # "unet": heatmaps from a decoder with skip connections (the shipped model); "heatmap":
    # heatmaps from a plain upsampling decoder without skips; "regression": coordinates from
    # pooled features (global stage only).
    architecture: str = "unet"
    encoder: str = "efficientnet_lite0"
    input_width: int = 320
    input_height: int = 384
    output_stride: int = 2
    sigma: float = 2.0  # Gaussian target width, in heatmap pixels
    patch_scale: float = 0.5  # refine only: patch pixels per original pixel
    cvm_classes: int = 0  # global only: > 0 adds a CVM stage classifier on the deepest features

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` (field name first) for a value of the wrong type or range."""
        check_fields(self, STAGE_RULES)
        if self.kind == "global":
            for name in ("input_width", "input_height"):
                if getattr(self, name) % 32:  # the encoder's deepest features are 1/32 of the input
                    raise ConfigError(name, f"must be a multiple of 32 for the global stage, got {getattr(self, name)}")
            return
        for name in ("input_width", "input_height"):
            side = getattr(self, name)
            if side < 16 or side % self.output_stride:  # the heatmap is 1/output_stride of the patch
                raise ConfigError(name, f"must be at least 16 and a multiple of output_stride ({self.output_stride}) "
                                        f"for the refine stage, got {side}")
        if self.architecture == "regression":
            raise ConfigError("architecture", "the refine stage cannot be a regression")
        if self.cvm_classes:
            raise ConfigError("cvm_classes", "must be 0 for the refine stage (the CVM head belongs to the global stage)")

    @classmethod
    def from_dict(cls, d: dict) -> StageConfig:
        """Stored settings (unknown keys, from a newer version, left out); checked like any other."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def default_global_stage() -> StageConfig:
    return StageConfig(kind="global", input_width=320, input_height=384, sigma=2.0)


def default_refine_stage() -> StageConfig:
    return StageConfig(kind="refine", input_width=128, input_height=128, sigma=2.0, patch_scale=0.5)


STAGE_TABLES = ("global_stage", "refine_stage")


@dataclass
class TrainConfig:
    stages: list[str] = field(default_factory=lambda: ["global", "refine"])
    global_stage: StageConfig = field(default_factory=default_global_stage)
    refine_stage: StageConfig = field(default_factory=default_refine_stage)
    epochs_global: int = 60
    epochs_refine: int = 40
    batch_size_global: int = 4
    batch_size_refine: int = 16
    patches_per_image: int = 10  # refine patches drawn per training image and epoch
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    val_fraction: float = 0.1
    seed: int = 0
    pretrained: bool = True  # ImageNet encoder weights when training from scratch
    # Augmentation (radiograph-appropriate: no horizontal flip of the anatomy).
    rotate_deg: float = 10.0
    scale_range: float = 0.1
    shift_fraction: float = 0.05
    refine_offset_px: float = 36.0  # patch pixels: how far the patch centre may miss the landmark
    gamma_range: tuple[float, float] = (0.6, 1.6)
    noise_std: float = 0.03
    # Probability that a sample is drawn with another device's look (tone curve, dynamic range,
    # blur or lost resolution, collimator edges, a ruler: model/device_look.py); 0 for ISBI alone.
    device_look: float = 0.0
    num_threads: int = 0  # 0: leave torch's default
    # Fine-tuning: train only decoder and head; the encoder (BatchNorm statistics included)
    # stays as it was, which is faster on a CPU and forgets less on a handful of images.
    freeze_encoder: bool = False
    # The first epochs of each stage train only decoder and heads (encoder weights and
    # BatchNorm statistics held), then the whole network: the "head first" schedule.
    head_only_epochs: int = 0
    # A model file whose tensors of the same name and shape start each stage of the same kind
    # (e.g. the encoder of a 256 px model for a 512 px U-Net); unlike --init the architecture and
    # input size may differ.
    transfer_from: str = ""
    cvm_loss_weight: float = 1.0  # weight of the CVM head's class-weighted cross-entropy

    def __post_init__(self) -> None:
        for table in STAGE_TABLES:  # a stage given as a dict of its settings (a file's table)
            value = getattr(self, table)
            if isinstance(value, dict):
                try:
                    setattr(self, table, StageConfig.from_dict(value))
                except ConfigError as exc:
                    raise exc.within(table) from None
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` (field name first) for a value of the wrong type or range, or
        a combination of stages that cannot train."""
        check_fields(self, TRAIN_RULES)
        for table in STAGE_TABLES:
            stage, kind = getattr(self, table), table.split("_")[0]
            if not isinstance(stage, StageConfig):
                raise ConfigError(table, f"must be a table of stage settings, got {stage!r}")
            try:
                stage.validate()
            except ConfigError as exc:
                raise exc.within(table) from None
            if stage.kind != kind:
                raise ConfigError(f"{table}.kind", f"must be {kind!r}, got {stage.kind!r}")
        if self.global_stage.architecture == "regression" and "refine" in self.stages:
            raise ConfigError("stages", 'a regression model has one stage: stages = ["global"]')

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gamma_range"] = list(self.gamma_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def tiny_train_config(**overrides) -> TrainConfig:
    """A very small two-stage recipe (ResNet-18 at 96 x 128 and 48 x 48, no pretrained weights)
    for smoke tests and latency benchmarks: fast, not accurate."""
    cfg = TrainConfig(
        global_stage=StageConfig(kind="global", encoder="resnet18", input_width=96, input_height=128, sigma=1.5),
        refine_stage=StageConfig(kind="refine", encoder="resnet18", input_width=48, input_height=48, sigma=1.5,
                                 patch_scale=0.5),
        batch_size_global=2, batch_size_refine=8, patches_per_image=2, refine_offset_px=8.0, pretrained=False,
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    cfg.validate()
    return cfg

"""Model files: weights plus metadata in one ``torch.save`` dict of plain types.

Always loaded with ``torch.load(weights_only=True)``: a model file can never run code.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cephview.core.errors import ModelFileError
from cephview.model.config import INPUT_MEAN, INPUT_STD, StageConfig, TrainConfig
from cephview.model.config_checks import ARCHITECTURES, ConfigError
from cephview.model.network import HeatmapUNet
from cephview.resources import DEFAULT_MODEL_NAME, default_model_path, models_dir  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

FORMAT = "cephview-landmark-model"
FORMAT_VERSION = 1


@dataclass
class LandmarkModel:
    schema: str
    stages: dict[str, tuple[StageConfig, torch.nn.Module]]
    meta: dict = field(default_factory=dict)  # version, training data, metrics, ...
    source: Path | None = None  # the file it was read from (its confidence calibration lies beside it)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))




def build_network(stage: StageConfig, num_landmarks: int, pretrained: bool = False) -> torch.nn.Module:
    """The network a stage describes (``StageConfig.architecture``), with fresh weights."""
    if stage.architecture == "unet":
        return HeatmapUNet(num_landmarks, stage.encoder, stage.output_stride, pretrained=pretrained,
                           cvm_classes=stage.cvm_classes)
    if stage.architecture == "heatmap":
        from cephview.model.network import PlainHeatmapNet

        return PlainHeatmapNet(num_landmarks, stage.encoder, stage.output_stride, pretrained=pretrained,
                               cvm_classes=stage.cvm_classes)
    if stage.architecture == "regression":
        if stage.kind != "global":
            raise ValueError("coordinate regression is a whole-image (global) stage only")
        from cephview.model.regression import CoordinateRegressor

        return CoordinateRegressor(num_landmarks, stage.encoder, pretrained=pretrained, cvm_classes=stage.cvm_classes)
    raise ValueError(f"unknown architecture {stage.architecture!r}; choose {', '.join(ARCHITECTURES)}")


def untrained_model(cfg: TrainConfig, schema: str = "isbi2015", meta: dict | None = None) -> LandmarkModel:
    """Both stages of ``cfg`` with fresh weights; the recipe goes into the metadata."""
    from cephview.core.schema import load_schema

    k = len(load_schema(schema))
    stages = {s.kind: (s, build_network(s, k)) for s in (cfg.global_stage, cfg.refine_stage)}
    return LandmarkModel(schema, stages, {**(meta or {}), "config": cfg.to_dict()})


def save_model(model: LandmarkModel, path: str | Path) -> None:
    """Write atomically: a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema": model.schema,
        "meta": model.meta,
        "input": {"mean": INPUT_MEAN, "std": INPUT_STD},
        "stages": {
            name: {"config": vars(cfg).copy(), "state_dict": _compact_state(net)}
            for name, (cfg, net) in model.stages.items()
        },
    }
    atomic_torch_save(payload, path)


def _compact_state(net: torch.nn.Module) -> dict:
    """Weights as float16 (half the file, no measurable change in accuracy); BatchNorm
    statistics stay float32, as tiny variances would underflow. Loading casts back to float32."""
    buffers = {name for name, _ in net.named_buffers()}
    return {
        k: v.half() if v.is_floating_point() and k not in buffers else v
        for k, v in net.state_dict().items()
    }


def atomic_torch_save(obj: dict, path: Path) -> None:
    """``torch.save`` through a temporary file and ``os.replace``: never half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a model file is not a secret
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_model(path: str | Path | None = None) -> LandmarkModel:
    """Read a model file; any problem becomes a :class:`ModelFileError` naming the file."""
    path = Path(path) if path else default_model_path()
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable cephview model file ({type(exc).__name__}: {exc})"[:400]) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a cephview landmark model (no '{FORMAT}' marker)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer cephview (format {payload['format_version']}); update cephview"
        )
    from cephview.core.schema import load_schema

    try:
        schema = load_schema(payload["schema"])
        stages = {}
        for name, entry in payload["stages"].items():
            try:
                cfg = StageConfig.from_dict(entry["config"])
            except ConfigError as exc:
                raise ModelFileError(f"{path}: {exc.within(f'{name}_stage')}") from None
            net = build_network(cfg, len(schema), pretrained=False)
            net.load_state_dict(entry["state_dict"])
            net.eval()
            stages[name] = (cfg, net)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: model weights do not match their description ({exc})"[:400]) from None
    if "global" not in stages:
        raise ModelFileError(f"{path}: model has no global stage")
    return LandmarkModel(payload["schema"], stages, dict(payload.get("meta", {})), source=path)

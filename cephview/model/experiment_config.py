"""Experiment configurations: one TOML file per experiment, loaded into :class:`TrainConfig`.

A file holds ``description`` (one line, shown by ``cephview train --list-configs``), optionally
``notes``, the ``TrainConfig`` fields at the top level and the two stages as tables::

    description = "Plain heatmap ResNet-50 at 256 px, sigma 2, strong augmentation"
    stages = ["global"]
    epochs_global = 80
    [global_stage]
    architecture = "heatmap"
    encoder = "resnet50"
    input_width = 256

Fields left out keep the dataclass defaults (those of the shipped model's recipe). A key the
dataclass does not know is an error, as is a value of the wrong type: a typo must not silently
train the default. The shipped configurations live in ``configs/`` beside the package.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

from cephview.core.errors import CephviewError
from cephview.model.config import StageConfig, TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
META_KEYS = ("description", "notes")
STAGE_TABLES = ("global_stage", "refine_stage")
ENCODERS = ("efficientnet_lite0", "resnet18", "resnet50")
ARCHITECTURES = ("unet", "heatmap", "regression")
# Encoders without weights available to this project: they train from scratch whatever `pretrained` says.
FROM_SCRATCH_ENCODERS = ("resnet18", "resnet50")


@dataclass
class ExperimentConfig:
    name: str
    description: str
    config: TrainConfig
    path: Path | None = None
    notes: str = ""

    def meta(self, command: str | None = None) -> dict:
        """What a checkpoint and a model file record about the experiment (plain types only)."""
        return {"name": self.name, "description": self.description, "file": self.path.name if self.path else None,
                "command": command}

    @property
    def from_scratch(self) -> bool:
        stages = [self.config.global_stage if s == "global" else self.config.refine_stage for s in self.config.stages]
        return any(s.encoder in FROM_SCRATCH_ENCODERS for s in stages) or not self.config.pretrained


def configs_dir() -> Path:
    """The folder of shipped configurations: beside the package in a checkout, else under the prefix."""
    for candidate in (_PACKAGE_DIR.parent / "configs", _PACKAGE_DIR / "configs",
                      Path(sys.prefix) / "share" / "cephview" / "configs"):
        if candidate.is_dir():
            return candidate
    return _PACKAGE_DIR.parent / "configs"


def list_configs(folder: Path | None = None) -> list[ExperimentConfig]:
    folder = folder or configs_dir()
    return [load_config(p) for p in sorted(folder.glob("*.toml"))] if folder.is_dir() else []


def resolve_config(name_or_path: str | Path) -> Path:
    """A configuration file: a path as given, or the name of one in ``configs_dir()``."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.parent != Path("."):
        if not p.is_file():
            raise CephviewError(f"{p}: configuration file not found")
        return p
    candidate = configs_dir() / f"{p.name}.toml"
    if not candidate.is_file():
        names = ", ".join(c.name for c in list_configs()) or "none"
        raise CephviewError(f"{name_or_path}: no such configuration (known: {names}; or give a .toml file)")
    return candidate


def load_config(name_or_path: str | Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    """A configuration by name or file (None: the defaults), with ``KEY=VALUE`` overrides applied
    before checking (``epochs_global=5``, ``global_stage.sigma=4``; values in TOML syntax)."""
    if name_or_path is None:
        data, path = {"description": "the TrainConfig defaults (the shipped model's recipe)"}, None
    else:
        path = resolve_config(name_or_path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CephviewError(f"{path}: not valid TOML ({exc})") from None
    for item in overrides:
        apply_override(data, item)
    experiment = config_from_dict(data, path)
    if path is None:
        experiment.name = "defaults"
    return experiment


def apply_override(data: dict, item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise CephviewError(f"--set {item!r}: expected KEY=VALUE, e.g. epochs_global=5 or global_stage.sigma=4")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: a string
    *tables, name = key.strip().split(".")
    target = data
    for table in tables:
        target = target.setdefault(table, {})
        if not isinstance(target, dict):
            raise CephviewError(f"--set {item!r}: {table} is not a table")
    target[name] = value


def overrides_between(base: TrainConfig, cfg: TrainConfig) -> list[str]:
    """``KEY=VALUE`` items that turn ``base`` into ``cfg`` (for a command that reproduces a run)."""
    out = []
    a, b = base.to_dict(), cfg.to_dict()
    for key, value in b.items():
        if isinstance(value, dict):
            out += [f"{key}.{k}={_toml_value(v)}" for k, v in value.items() if a[key].get(k) != v]
        elif a.get(key) != value:
            out.append(f"{key}={_toml_value(value)}")
    return out


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def config_from_dict(data: dict, path: Path | None = None) -> ExperimentConfig:
    where = str(path) if path else "configuration"
    description = data.get("description", "")
    if not isinstance(description, str) or not description.strip():
        raise CephviewError(f"{where}: 'description' (one line) is missing")
    notes = data.get("notes", "")
    kwargs = _typed_fields(TrainConfig, {k: v for k, v in data.items() if k not in META_KEYS}, where, STAGE_TABLES)
    defaults = TrainConfig()
    for table in STAGE_TABLES:
        if table in data:
            if not isinstance(data[table], dict):
                raise CephviewError(f"{where}: [{table}] must be a table")
            base = dataclasses.asdict(getattr(defaults, table))
            base.update(_typed_fields(StageConfig, data[table], f"{where} [{table}]", ()))
            kwargs[table] = StageConfig(**base)
    cfg = TrainConfig(**kwargs)
    check_config(cfg, where)
    return ExperimentConfig(path.stem if path else "inline", description.strip(), cfg, path, str(notes).strip())


def _typed_fields(cls: type, data: dict, where: str, tables: tuple[str, ...]) -> dict:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    out = {}
    for key, value in data.items():
        if key in tables:
            continue
        if key not in names:
            allowed = ", ".join(n for n in names if n not in tables)
            raise CephviewError(f"{where}: unknown key {key!r} (known: {allowed})")
        out[key] = _coerce(value, hints[key], f"{where}: {key}")
    return out


def _coerce(value: object, hint: object, what: str) -> object:
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise CephviewError(f"{what} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CephviewError(f"{what} must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CephviewError(f"{what} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise CephviewError(f"{what} must be a string, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise CephviewError(f"{what} must be a list, got {value!r}")
        args = typing.get_args(hint)
        items = [_coerce(v, args[0], what) for v in value]
        if origin is tuple:
            if len(items) != len(args):
                raise CephviewError(f"{what} must have {len(args)} values, got {len(items)}")
            return tuple(items)
        return items
    return value


def check_config(cfg: TrainConfig, where: str = "configuration") -> None:
    """Refuse what would fail late in a run: unknown names, impossible sizes, bad combinations."""
    if not cfg.stages or any(s not in ("global", "refine") for s in cfg.stages):
        raise CephviewError(f"{where}: stages must name global and/or refine, got {cfg.stages}")
    for name, stage in (("global_stage", cfg.global_stage), ("refine_stage", cfg.refine_stage)):
        if stage.kind != name.split("_")[0]:
            raise CephviewError(f"{where}: [{name}] kind must be {name.split('_')[0]!r}")
        if stage.encoder not in ENCODERS:
            raise CephviewError(f"{where}: [{name}] encoder {stage.encoder!r} unknown; choose {', '.join(ENCODERS)}")
        if stage.architecture not in ARCHITECTURES:
            raise CephviewError(f"{where}: [{name}] architecture {stage.architecture!r} unknown; "
                                f"choose {', '.join(ARCHITECTURES)}")
        if stage.input_width <= 0 or stage.input_height <= 0 or stage.input_width % 32 or stage.input_height % 32:
            if stage.kind == "global":
                raise CephviewError(f"{where}: [{name}] input size must be positive multiples of 32")
        if stage.output_stride not in (2, 4) or stage.sigma <= 0 or stage.cvm_classes < 0:
            raise CephviewError(f"{where}: [{name}] output_stride must be 2 or 4, sigma positive, cvm_classes >= 0")
    if cfg.refine_stage.architecture == "regression":
        raise CephviewError(f"{where}: the refine stage cannot be a regression")
    if cfg.refine_stage.cvm_classes:
        raise CephviewError(f"{where}: the CVM head belongs to the global stage")
    if cfg.global_stage.architecture == "regression" and "refine" in cfg.stages:
        raise CephviewError(f"{where}: a regression model has one stage: stages = [\"global\"]")
    if min(cfg.epochs_global, cfg.epochs_refine, cfg.head_only_epochs) < 0 or cfg.lr <= 0:
        raise CephviewError(f"{where}: epochs must not be negative and lr must be positive")
    if not 0 <= cfg.val_fraction < 1:
        raise CephviewError(f"{where}: val_fraction must be at least 0 and below 1")
    if not 0 <= cfg.device_look <= 1:
        raise CephviewError(f"{where}: device_look is a probability, from 0 to 1; got {cfg.device_look:g}")


def format_config_list(configs: list[ExperimentConfig]) -> str:
    width = max((len(c.name) for c in configs), default=4)
    return "\n".join(f"{c.name:<{width}}  {c.description}" for c in configs)

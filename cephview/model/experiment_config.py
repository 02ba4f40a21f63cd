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
dataclass does not know is an error, as is a value of the wrong type or range (checked by the
dataclasses, :mod:`cephview.model.config_checks`): a typo must not silently train the default.
The shipped configurations live in ``configs/`` beside the package.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cephview.core.errors import CephviewError
from cephview.model.config import STAGE_TABLES, StageConfig, TrainConfig
from cephview.model.config_checks import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
META_KEYS = ("description", "notes")
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
    set_by = {}  # field -> the --set item that gave its value: an error names that, not the file
    for item in overrides:
        apply_override(data, item)
        set_by[item.partition("=")[0].strip()] = item
    experiment = config_from_dict(data, path, set_by)
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


def config_from_dict(data: dict, path: Path | None = None, set_by: dict[str, str] | None = None) -> ExperimentConfig:
    """The experiment of a configuration file's contents; a bad value is a one-line error
    ``FILE: FIELD: REASON`` (``--set ITEM: FIELD: REASON`` for a field given by ``set_by``)."""
    set_by = set_by or {}
    where = str(path) if path else "configuration"

    def where_of(name: str) -> str:
        return f"--set {set_by[name]}" if name in set_by else where

    description = data.get("description", "")
    if not isinstance(description, str) or not description.strip():
        raise CephviewError(f"{where}: description: missing (one line, shown by --list-configs)")
    notes = data.get("notes", "")
    settings = {k: v for k, v in data.items() if k not in META_KEYS}
    _check_known(TrainConfig, settings, where_of, "")
    defaults = TrainConfig()
    for table in STAGE_TABLES:
        if table in settings:
            if not isinstance(settings[table], dict):
                raise CephviewError(f"{where_of(table)}: {table}: must be a table ([{table}]), got {settings[table]!r}")
            _check_known(StageConfig, settings[table], where_of, f"{table}.")
            # fields left out keep the default stage's (its kind, sizes and sigma)
            settings[table] = {**dataclasses.asdict(getattr(defaults, table)), **settings[table]}
    try:
        cfg = TrainConfig(**settings)
    except ConfigError as exc:
        raise CephviewError(f"{where_of(exc.field)}: {exc}") from None
    return ExperimentConfig(path.stem if path else "inline", description.strip(), cfg, path, str(notes).strip())


def _check_known(cls: type, data: dict, where_of: Callable[[str], str], prefix: str) -> None:
    """A key the dataclass does not know is an error: a typo must not silently train the default."""
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            allowed = ", ".join(n for n in names if n not in STAGE_TABLES)
            raise CephviewError(f"{where_of(prefix + key)}: {prefix}{key}: unknown key (known: {allowed})")


def check_config(cfg: TrainConfig, where: str = "configuration") -> None:
    """Check ``cfg`` again after its fields were changed (command-line options): types, ranges,
    names and combinations (:meth:`TrainConfig.validate`), as one line starting with ``where``."""
    try:
        cfg.validate()
    except ConfigError as exc:
        raise CephviewError(f"{where}: {exc}") from None


def format_config_list(configs: list[ExperimentConfig]) -> str:
    width = max((len(c.name) for c in configs), default=4)
    return "\n".join(f"{c.name:<{width}}  {c.description}" for c in configs)

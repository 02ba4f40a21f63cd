"""Type and range checks of the training settings (:mod:`cephview.model.config`), field by field.

A setting out of range fails here, as the configuration is read, with the field's name and what
it may be (``global_stage.sigma: must be above 0, got 0``), not deep inside sample generation
or training. Each field has a type (from the dataclass annotation) and, where it makes sense, a
rule; the combinations of fields are checked by the dataclasses themselves.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Callable
from dataclasses import fields

from cephview.core.errors import CephviewError

ENCODERS = ("efficientnet_lite0", "resnet18", "resnet50")
# "unet": heatmaps from a decoder with skip connections (the shipped model); "heatmap": heatmaps
# from a plain upsampling decoder without skips; "regression": coordinates from pooled features.
ARCHITECTURES = ("unet", "heatmap", "regression")
STAGE_KINDS = ("global", "refine")
OUTPUT_STRIDES = (2, 4)

#: A rule gives the reason a value is refused, or None when it is allowed.
Rule = Callable[[typing.Any], "str | None"]


class ConfigError(CephviewError):
    """A training setting of the wrong type or out of range; the message starts with its field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")

    def within(self, table: str) -> ConfigError:
        """The same error for a field of a stage table (``sigma`` -> ``global_stage.sigma``)."""
        return ConfigError(f"{table}.{self.field}", self.reason)

    def __reduce__(self):  # rebuilt from (field, reason) when it crosses to another process
        return type(self), (self.field, self.reason)


# ---------------------------------------------------------------- rules
def one_of(*choices: object) -> Rule:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(str, choices))}, got {v!r}"


def at_least(low: float) -> Rule:
    return lambda v: None if v >= low else f"must be at least {low:g}, got {v!r}"


def above(low: float) -> Rule:
    return lambda v: None if v > low else f"must be above {low:g}, got {v!r}"


def within(low: float, high: float, high_open: bool = False) -> Rule:
    def rule(v: float) -> str | None:
        if low <= v and (v < high if high_open else v <= high):
            return None
        return f"must be from {low:g} to {'below ' if high_open else ''}{high:g}, got {v!r}"

    return rule


def _gamma_range(v: tuple[float, float]) -> str | None:
    lo, hi = v
    return None if 0 < lo <= hi else f"must be [low, high] with 0 < low <= high, got [{lo:g}, {hi:g}]"


def _stage_list(v: list[str]) -> str | None:
    if not v or any(s not in STAGE_KINDS for s in v) or len(set(v)) != len(v):
        return f"must name global and/or refine, each once, got {v!r}"
    return None


STAGE_RULES: dict[str, Rule] = {
    "kind": one_of(*STAGE_KINDS),
    "architecture": one_of(*ARCHITECTURES),
    "encoder": one_of(*ENCODERS),
    "input_width": at_least(1),
    "input_height": at_least(1),
    "output_stride": one_of(*OUTPUT_STRIDES),
    "sigma": above(0),
    "patch_scale": above(0),
    "cvm_classes": at_least(0),
}

TRAIN_RULES: dict[str, Rule] = {
    "stages": _stage_list,
    "epochs_global": at_least(0),
    "epochs_refine": at_least(0),
    "batch_size_global": at_least(1),
    "batch_size_refine": at_least(1),
    "patches_per_image": at_least(1),
    "lr": above(0),
    "weight_decay": at_least(0),
    "warmup_epochs": at_least(0),
    "val_fraction": within(0, 1, high_open=True),
    "seed": at_least(0),  # numpy's generators refuse negative seeds
    "rotate_deg": within(0, 180),
    "scale_range": within(0, 1),  # the image is scaled by exp(+-scale_range)
    "shift_fraction": within(0, 1),
    "refine_offset_px": at_least(0),
    "gamma_range": _gamma_range,
    "noise_std": at_least(0),
    "device_look": within(0, 1),  # a probability
    "num_threads": at_least(0),
    "head_only_epochs": at_least(0),
    "cvm_loss_weight": at_least(0),
}


# ---------------------------------------------------------------- types
def typed_value(value: object, hint: object, name: str) -> object:
    """``value`` as the annotated type wants it (an int for a float field becomes a float, a list
    for a tuple a tuple), or a :class:`ConfigError` naming ``name``."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, f"must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, f"must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(name, f"must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be a string, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(name, f"must be a list, got {value!r}")
        args = typing.get_args(hint)
        if origin is tuple:
            if len(value) != len(args):
                raise ConfigError(name, f"must have {len(args)} values, got {len(value)}")
            return tuple(typed_value(v, a, name) for v, a in zip(value, args))
        return [typed_value(v, args[0], name) for v in value]
    return value  # nested dataclasses: checked by their owner


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def check_fields(obj: object, rules: dict[str, Rule]) -> None:
    """Put each field of the dataclass ``obj`` into its annotated type and apply its rule."""
    hints = _hints(type(obj))
    for f in fields(obj):  # type: ignore[arg-type]
        value = typed_value(getattr(obj, f.name), hints[f.name], f.name)
        if value is not getattr(obj, f.name):
            setattr(obj, f.name, value)
        rule = rules.get(f.name)
        reason = rule(value) if rule else None
        if reason:
            raise ConfigError(f.name, reason)

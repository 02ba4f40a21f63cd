"""Training settings are checked field by field as they are read: a bad value is one line naming
the field and what it may be, before any image is read or any training starts."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import torch

from cephview.cli import main
from cephview.core.errors import CephviewError, ModelFileError
from cephview.model.config import StageConfig, TrainConfig, tiny_train_config
from cephview.model.config_checks import STAGE_RULES, TRAIN_RULES, ConfigError
from cephview.model.experiment_config import configs_dir, list_configs, load_config
from cephview.model.modelfile import load_model, save_model, untrained_model

REPO = Path(__file__).resolve().parents[2]

# (TOML line(s), the field the error names, words of its reason)
BAD_VALUES = [
    ('device_look = "0.5"', "device_look", "must be a number, got '0.5'"),
    ("device_look = 1.5", "device_look", "must be from 0 to 1"),
    ("device_look = -0.1", "device_look", "must be from 0 to 1"),
    ("epochs_global = -1", "epochs_global", "must be at least 0"),
    ("epochs_refine = 2.5", "epochs_refine", "must be a whole number"),
    ("epochs_global = true", "epochs_global", "must be a whole number"),
    ("lr = 0", "lr", "must be above 0"),
    ("lr = nan", "lr", "must be a finite number"),
    ("lr = inf", "lr", "must be a finite number"),
    ("weight_decay = -1e-4", "weight_decay", "must be at least 0"),
    ("batch_size_global = 0", "batch_size_global", "must be at least 1"),
    ("batch_size_refine = -4", "batch_size_refine", "must be at least 1"),
    ("patches_per_image = 0", "patches_per_image", "must be at least 1"),
    ("warmup_epochs = -2", "warmup_epochs", "must be at least 0"),
    ("val_fraction = 1", "val_fraction", "must be from 0 to below 1"),
    ("seed = -1", "seed", "must be at least 0"),
    ('pretrained = "yes"', "pretrained", "must be true or false"),
    ("pretrained = 1", "pretrained", "must be true or false"),
    ("rotate_deg = -5", "rotate_deg", "must be from 0 to 180"),
    ("scale_range = 2", "scale_range", "must be from 0 to 1"),
    ("shift_fraction = -0.1", "shift_fraction", "must be from 0 to 1"),
    ("refine_offset_px = -1", "refine_offset_px", "must be at least 0"),
    ("gamma_range = [1.6, 0.6]", "gamma_range", "0 < low <= high"),
    ("gamma_range = [0, 1]", "gamma_range", "0 < low <= high"),
    ("gamma_range = [0.6]", "gamma_range", "must have 2 values"),
    ('gamma_range = "wide"', "gamma_range", "must be a list"),
    ("noise_std = -0.01", "noise_std", "must be at least 0"),
    ("num_threads = -1", "num_threads", "must be at least 0"),
    ('freeze_encoder = "no"', "freeze_encoder", "must be true or false"),
    ("head_only_epochs = -1", "head_only_epochs", "must be at least 0"),
    ("transfer_from = 3", "transfer_from", "must be a string"),
    ("cvm_loss_weight = -1", "cvm_loss_weight", "must be at least 0"),
    ('stages = ["global", "global"]', "stages", "each once"),
    ('stages = ["globl"]', "stages", "must name global and/or refine"),
    ("stages = []", "stages", "must name global and/or refine"),
    ('stages = "global"', "stages", "must be a list"),
    ("stages = [1]", "stages", "must be a string"),
    ("global_stage = 3", "global_stage", "must be a table"),
    ('[global_stage]\nencoder = "vgg16"', "global_stage.encoder",
     "must be one of efficientnet_lite0, resnet18, resnet50, got 'vgg16'"),
    ('[global_stage]\narchitecture = "transformer"', "global_stage.architecture", "must be one of unet, heatmap"),
    ('[global_stage]\nkind = "refine"', "global_stage.kind", "must be 'global'"),
    ('[refine_stage]\nkind = "side"', "refine_stage.kind", "must be one of global, refine"),
    ("[global_stage]\nsigma = 0", "global_stage.sigma", "must be above 0"),
    ("[refine_stage]\nsigma = -2", "refine_stage.sigma", "must be above 0"),
    ('[global_stage]\nsigma = "wide"', "global_stage.sigma", "must be a number"),
    ("[global_stage]\ninput_width = 0", "global_stage.input_width", "must be at least 1"),
    ("[global_stage]\ninput_height = 100", "global_stage.input_height", "multiple of 32"),
    ("[global_stage]\ninput_width = 320.0", "global_stage.input_width", "must be a whole number"),
    ("[refine_stage]\ninput_width = 8", "refine_stage.input_width", "at least 16"),
    ("[refine_stage]\ninput_height = 129", "refine_stage.input_height", "multiple of output_stride"),
    ("[global_stage]\noutput_stride = 8", "global_stage.output_stride", "must be one of 2, 4"),
    ("[refine_stage]\npatch_scale = 0", "refine_stage.patch_scale", "must be above 0"),
    ("[global_stage]\ncvm_classes = -1", "global_stage.cvm_classes", "must be at least 0"),
    ("[refine_stage]\ncvm_classes = 6", "refine_stage.cvm_classes", "must be 0 for the refine stage"),
    ('[refine_stage]\narchitecture = "regression"', "refine_stage.architecture", "cannot be a regression"),
    ('[global_stage]\narchitecture = "regression"', "stages", "a regression model has one stage"),
]


@pytest.mark.parametrize(("toml", "field", "reason"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_a_bad_value_in_a_file_names_the_file_and_the_field(tmp_path, toml, field, reason):
    path = tmp_path / "bad.toml"
    path.write_text(f'description = "a bad value"\n{toml}\n')
    with pytest.raises(CephviewError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert reason in message and "\n" not in message


@pytest.mark.parametrize(("toml", "field", "reason"), BAD_VALUES[:8], ids=[b[0] for b in BAD_VALUES[:8]])
def test_a_bad_value_given_with_set_names_that_item(toml, field, reason):
    item = toml.replace(" = ", "=").replace("\n", "")
    if item.startswith("["):  # "[global_stage]sigma=0" -> "global_stage.sigma=0"
        table, _, rest = item[1:].partition("]")
        item = f"{table}.{rest}"
    with pytest.raises(CephviewError) as caught:
        load_config("cephview-isbi19", [item])
    assert str(caught.value).startswith(f"--set {item}: {field}: "), str(caught.value)


def _wrong_type(hint: object) -> object:
    """A value no field of type ``hint`` accepts."""
    if hint is str:
        return 3
    if hint is bool:
        return "true"
    return "x"


@pytest.mark.parametrize("cls", [StageConfig, TrainConfig])
def test_every_field_refuses_a_value_of_the_wrong_type(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        with pytest.raises(ConfigError) as caught:
            cls(**{f.name: _wrong_type(hints[f.name])})
        assert caught.value.field == f.name, (f.name, str(caught.value))


def test_every_field_has_a_rule_or_is_free_by_its_nature():
    """A new field gets a rule (or is listed here): a range check must not be forgotten."""
    free = {"pretrained", "freeze_encoder", "transfer_from", "global_stage", "refine_stage"}
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(TRAIN_RULES) | free
    assert {f.name for f in dataclasses.fields(StageConfig)} == set(STAGE_RULES)


def test_stored_settings_are_checked_as_they_load():
    stored = TrainConfig().to_dict()
    stored["refine_stage"]["sigma"] = 0
    with pytest.raises(ConfigError, match=r"^refine_stage\.sigma: must be above 0"):
        TrainConfig.from_dict(stored)
    with pytest.raises(ConfigError, match="^batch_size_global: must be at least 1"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "batch_size_global": 0})
    # a JSON round trip gives lists and whole numbers where tuples and floats are meant
    again = TrainConfig.from_dict({**TrainConfig().to_dict(), "lr": 1, "gamma_range": [1, 2]})
    assert again.lr == 1.0 and isinstance(again.lr, float) and again.gamma_range == (1.0, 2.0)
    # a field changed after construction is checked by validate()
    cfg = tiny_train_config()
    cfg.global_stage.encoder = "vgg"
    with pytest.raises(ConfigError, match=r"^global_stage\.encoder: must be one of"):
        cfg.validate()


def test_every_shipped_configuration_is_valid_and_round_trips():
    configs = list_configs()
    assert len(configs) == len(list(configs_dir().glob("*.toml"))) >= 9
    for c in configs:
        c.config.validate()
        assert TrainConfig.from_dict(c.config.to_dict()) == c.config, c.name
    assert load_config(None).config == TrainConfig()


def test_every_model_file_in_models_loads_with_its_stored_settings():
    paths = sorted((REPO / "models").glob("*.pt"))
    assert paths
    for path in paths:
        model = load_model(path)
        TrainConfig.from_dict(model.meta["config"]).validate()
        for cfg, _net in model.stages.values():
            cfg.validate()


def test_a_model_file_with_a_bad_stage_setting_is_one_line_naming_it(tmp_path):
    path = tmp_path / "m.pt"
    save_model(untrained_model(tiny_train_config()), path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["stages"]["refine"]["config"]["patch_scale"] = -0.5
    torch.save(payload, path)
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    assert str(caught.value) == f"{path}: refine_stage.patch_scale: must be above 0, got -0.5"


def test_cli_train_with_a_bad_configuration_file_stops_before_training(tmp_path, capsys):
    conf = tmp_path / "bad.toml"
    conf.write_text('description = "zero batch"\nbatch_size_global = 0\n')
    out = tmp_path / "m.pt"
    # the images do not exist: the configuration is refused before the dataset is opened
    code = main(["train", "--config", str(conf), "--images", str(tmp_path / "none"),
                 "--annotations", str(tmp_path / "none.csv"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == f"cephview: error: {conf}: batch_size_global: must be at least 1, got 0\n"
    assert not list(tmp_path.glob("m.pt*"))


def test_cli_train_with_a_bad_set_item_names_it(tmp_path, capsys):
    code = main(["train", "--config", "cephview-isbi19", "--set", "global_stage.sigma=0", "--images", str(tmp_path),
                 "--annotations", str(tmp_path / "none.csv"), "--out", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err == ("cephview: error: --set global_stage.sigma=0: global_stage.sigma: "
                                 "must be above 0, got 0.0\n")


def test_cli_options_are_checked_with_the_configuration(tmp_path, capsys):
    code = main(["train", "--stages", "global,refine", "--set", 'stages=["global"]',
                 "--set", 'global_stage.architecture="regression"',
                 "--images", str(tmp_path), "--annotations", str(tmp_path / "none.csv"),
                 "--out", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err == 'cephview: error: settings: stages: a regression model has one stage: stages = ["global"]\n'

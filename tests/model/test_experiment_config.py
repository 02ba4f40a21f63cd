"""Experiment configurations: the shipped files load, strictly, and reproduce the shipped model's recipe."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from cephview.cli import main
from cephview.core.errors import CephviewError
from cephview.model.config import TrainConfig
from cephview.model.experiment_config import (
    configs_dir,
    list_configs,
    load_config,
    overrides_between,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "cephview-isbi19.pt"


def test_every_shipped_configuration_loads_with_a_description():
    configs = list_configs()
    names = {c.name for c in configs}
    assert {"cephview-isbi19", "regression-r18-256", "regression-r18-256-cvm", "heatmap-r50-256",
            "heatmap-r50-512-s2", "heatmap-r50-512-s4", "heatmap-r50-512-s2-weakaug",
            "unet-r50-512", "unet-r50-512-transfer"} <= names
    for c in configs:
        assert c.description and "\n" not in c.description
        # every configuration says whether its encoder starts from scratch
        assert ("from scratch" in c.description + c.notes) == c.from_scratch, c.name


def test_the_shipped_recipe_reproduces_the_shipped_models_training_settings():
    stored = torch.load(SHIPPED, map_location="cpu", weights_only=True)["meta"]["config"]
    recipe = load_config("cephview-isbi19").config.to_dict()
    shipped = TrainConfig.from_dict(stored).to_dict()
    differing = {k for k in shipped if shipped[k] != recipe[k]}
    assert differing == {"num_threads"}  # the thread count of the machine it ran on, not a setting
    assert recipe == TrainConfig().to_dict()  # and the defaults are that recipe


def test_configurations_differ_where_the_experiments_do():
    s2, s4, weak = (load_config(n).config for n in ("heatmap-r50-512-s2", "heatmap-r50-512-s4",
                                                       "heatmap-r50-512-s2-weakaug"))
    assert (s2.global_stage.sigma, s4.global_stage.sigma) == (2.0, 4.0)
    assert weak.rotate_deg < s2.rotate_deg and weak.gamma_range[0] > s2.gamma_range[0]
    reg = load_config("regression-r18-256-cvm").config
    assert reg.global_stage.architecture == "regression" and reg.global_stage.cvm_classes == 6
    assert reg.stages == ["global"]
    assert load_config("unet-r50-512-transfer").config.transfer_from.endswith("heatmap-r50-256.pt")


def test_an_unknown_key_or_a_wrong_type_is_an_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\nepochs_globl = 3\n')
    with pytest.raises(CephviewError, match="epochs_globl: unknown key"):
        load_config(bad)
    bad.write_text('description = "x"\n[global_stage]\nsigmaa = 3\n')
    with pytest.raises(CephviewError, match="global_stage.sigmaa: unknown key"):
        load_config(bad)
    bad.write_text('description = "x"\nepochs_global = "many"\n')
    with pytest.raises(CephviewError, match="epochs_global: must be a whole number"):
        load_config(bad)
    bad.write_text('description = "x"\n[global_stage]\nencoder = "vgg"\n')
    with pytest.raises(CephviewError, match="global_stage.encoder: must be one of .*got 'vgg'"):
        load_config(bad)
    bad.write_text('description = "x"\nstages = ["global", "refine"]\n[global_stage]\narchitecture = "regression"\n')
    with pytest.raises(CephviewError, match="one stage"):
        load_config(bad)
    with pytest.raises(CephviewError, match="no such configuration"):
        load_config("no-such-experiment")
    with pytest.raises(CephviewError, match=r"device_look: must be from 0 to 1, got 1\.5"):
        load_config("cephview-isbi19", ["device_look=1.5"])
    assert load_config("cephview-isbi19", ["device_look=0.5"]).config.device_look == 0.5


def test_overrides_apply_before_checking_and_round_trip():
    exp = load_config("heatmap-r50-256", ["epochs_global=3", "global_stage.sigma=4", "gamma_range=[0.9, 1.1]"])
    assert exp.config.epochs_global == 3 and exp.config.global_stage.sigma == 4.0
    assert exp.config.gamma_range == (0.9, 1.1)
    base = load_config("heatmap-r50-256").config
    items = overrides_between(base, exp.config)
    assert sorted(items) == sorted(["epochs_global=3", "global_stage.sigma=4.0", "gamma_range=[0.9, 1.1]"])
    assert load_config("heatmap-r50-256", items).config == exp.config
    with pytest.raises(CephviewError, match="KEY=VALUE"):
        load_config("heatmap-r50-256", ["sigma"])


def test_list_configs_prints_each_name_and_description(capsys):
    assert main(["train", "--list-configs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(list(configs_dir().glob("*.toml")))
    line = next(ln for ln in out if ln.startswith("unet-r50-512-transfer "))
    assert "transferred" in line


def test_a_missing_configuration_is_one_line(capsys, tmp_path):
    code = main(["train", "--config", str(tmp_path / "nope.toml"), "--images", str(tmp_path),
                 "--annotations", str(tmp_path / "a.csv"), "--out", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"cephview: error: {tmp_path / 'nope.toml'}: configuration file not found\n"


@pytest.mark.slow
def test_config_and_command_are_saved_in_checkpoint_and_model(tmp_path, capsys):
    from cephview.core.synthetic import write_synthetic_dataset
    from cephview.model.modelfile import load_model

    folder = tmp_path / "images"
    write_synthetic_dataset(folder, 3, seed=5, width=240, height=300)
    conf = tmp_path / "tiny.toml"
    conf.write_text('\n'.join([
        'description = "tiny regression for a test, from scratch"', 'stages = ["global"]', "epochs_global = 1",
        "batch_size_global = 2", "val_fraction = 0.34", "pretrained = false",
        "[global_stage]", 'architecture = "regression"', 'encoder = "resnet18"', "input_width = 64",
        "input_height = 64"]))
    out = tmp_path / "m.pt"
    args = ["train", "--config", str(conf), "--images", str(folder), "--annotations", str(folder / "landmarks.csv"),
            "--out", str(out), "--set", "seed=3", "--lr", "0.002"]
    assert main(args) == 0
    capsys.readouterr()
    model = load_model(out)
    assert model.meta["config"]["seed"] == 3 and model.meta["config"]["lr"] == 0.002
    assert model.stages["global"][0].architecture == "regression"
    exp = model.meta["experiment"]
    assert exp["name"] == "tiny" and exp["description"].startswith("tiny regression")
    ckpt = torch.load(tmp_path / "m.pt.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["config"] == model.meta["config"]
    # the recorded command trains the same configuration again
    again = shlex.split(exp["command"])
    assert again[:2] == ["cephview", "train"] and "--set" in again
    out2 = tmp_path / "m2.pt"
    again[again.index("--out") + 1] = str(out2)
    assert main(again[1:]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(out2)
    assert load_model(out2).meta["config"] == model.meta["config"]

"""Command-line parts of research training: configurations, distributed runs, model comparison.

``cephview train --config NAME|FILE`` / ``--list-configs`` / ``--set KEY=VALUE`` /
``--devices N --nodes M --rdzv-endpoint HOST:PORT --join-timeout S``, and ``cephview evaluate --compare A.pt B.pt ...``.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from cephview.core.errors import CephviewError

JOIN_TIMEOUT = 600  # seconds; cephview.model.distributed.JOIN_TIMEOUT, without importing torch for --help


def add_train_experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="NAME|FILE",
                   help="an experiment configuration: a name from --list-configs or a .toml file; "
                        "the other options override its values")
    p.add_argument("--list-configs", action="store_true", help="list the shipped configurations and stop")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="any training setting, e.g. --set epochs_global=5 --set global_stage.sigma=4 (TOML values)")
    p.add_argument("--devices", type=int, default=1,
                   help="processes per machine under torchrun with DistributedDataParallel (GPUs: one each, NCCL; "
                        "CPU: gloo); batch sizes stay the global ones")
    p.add_argument("--nodes", type=int, default=1, help="machines taking part (run the same command on each)")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="rendezvous of the machines (with --nodes above 1): the first machine's address and a free port")
    p.add_argument("--join-timeout", type=int, default=JOIN_TIMEOUT, metavar="SECONDS",
                   help=f"with --nodes above 1: how long the machines wait for each other before giving up "
                        f"(default {JOIN_TIMEOUT})")
    p.add_argument("--max-restarts", type=int, default=0,
                   help="with --devices: restart a failed run this often; it continues from OUT.ckpt")


def list_configs_text() -> str:
    from cephview.model.experiment_config import configs_dir, format_config_list, list_configs

    configs = list_configs()
    if not configs:
        raise CephviewError(f"{configs_dir()}: no configurations found")
    return format_config_list(configs)


def train_config(args: argparse.Namespace):
    """The run's TrainConfig and its ExperimentConfig: the configuration file (or the defaults),
    ``--set`` items, then the dedicated options, in that order."""
    from cephview.model.experiment_config import check_config, load_config

    experiment = load_config(args.config, args.overrides)
    cfg = experiment.config
    if args.init and not args.config:  # fine-tuning: fewer epochs and a gentler rate unless told otherwise
        cfg.epochs_global, cfg.epochs_refine, cfg.lr, cfg.warmup_epochs = 10, 8, 2e-4, 0
    if args.epochs is not None:
        cfg.epochs_global = cfg.epochs_refine = args.epochs
    for name in ("epochs_global", "epochs_refine", "lr", "seed", "val_fraction"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.stages:
        cfg.stages = args.stages.split(",")
    if args.encoder:
        cfg.global_stage.encoder = cfg.refine_stage.encoder = args.encoder
    if args.input_size:
        from cephview.cli_common import parse_size

        cfg.global_stage.input_width, cfg.global_stage.input_height = parse_size(args.input_size)
    if args.patch_size:
        cfg.refine_stage.input_width = cfg.refine_stage.input_height = args.patch_size
    if args.threads:
        cfg.num_threads = args.threads
    check_config(cfg, f"--config {args.config}" if args.config else "settings")
    return cfg, experiment


def reproduce_command(args: argparse.Namespace, experiment, cfg) -> str:
    """A command that trains ``cfg`` again: the configuration, the dataset and every difference as --set."""
    from cephview.model.config import TrainConfig
    from cephview.model.experiment_config import load_config, overrides_between

    cmd = ["cephview", "train"]
    if args.config:
        cmd += ["--config", args.config]
    for option in ("dataset", "root", "split", "reference", "images", "annotations"):
        value = getattr(args, option, None)
        if value is not None:
            cmd += [f"--{option}", str(value)]
    if getattr(args, "annotations", None) is not None:
        cmd += ["--schema", args.schema]
    cmd += ["--out", str(args.out)]
    if args.init:
        cmd += ["--init", str(args.init)]
    base = load_config(args.config).config if args.config else TrainConfig()
    if args.init and not args.config:
        base.epochs_global, base.epochs_refine, base.lr, base.warmup_epochs = 10, 8, 2e-4, 0
    free = ("num_threads=",)
    for item in overrides_between(base, cfg):
        if not item.startswith(free):
            cmd += ["--set", item]
    if args.devices > 1 or args.nodes > 1:
        cmd += ["--devices", str(args.devices)] + (["--nodes", str(args.nodes)] if args.nodes > 1 else [])
    return shlex.join(cmd)


def launch_distributed(args: argparse.Namespace, cfg, experiment, command: str) -> int:
    from cephview.model.distributed import launch

    if args.project:
        raise CephviewError("--devices is for dataset training, not with --project")
    job = {
        "dataset": {"kind": args.dataset or "folder", "root": _str(args.root), "images": _str(args.images),
                    "annotations": _str(args.annotations), "split": args.split, "reference": args.reference,
                    "schema": args.schema},
        "config": cfg.to_dict(), "out": str(Path(args.out).resolve()), "init": _str(args.init),
        "resume": bool(args.resume), "device": args.device, "experiment": experiment.meta(command),
    }
    return launch(job, args.out, args.devices, args.nodes, args.rdzv_endpoint, args.max_restarts, args.join_timeout)


def _str(value: object) -> str | None:
    return str(Path(value).resolve()) if value is not None else None


# ---------------------------------------------------------------- evaluate --compare
def add_compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compare", nargs="+", type=Path, metavar="MODEL",
                   help="score several model files on the same images: one table and a paired per-image test")


def run_compare(args: argparse.Namespace) -> int:
    from cephview.cli_common import check_output, open_dataset_from_args
    from cephview.model.compare import compare_models, format_comparison
    from cephview.progress import ProgressBar

    check_output(args.json)
    if len(args.compare) < 2:
        raise CephviewError("--compare needs at least two model files")
    dataset = open_dataset_from_args(args)
    bar = ProgressBar("evaluate")
    result = compare_models(args.compare, dataset, device=args.device, progress=bar.update,
                            refine=not args.no_refine, patch_views=args.patch_views)
    bar.close()
    print(format_comparison(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
    return 0

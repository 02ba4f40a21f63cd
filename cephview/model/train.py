"""Training and fine-tuning: small explicit loops, dict checkpoints, progress and cancellation.

``fit`` trains the stages named in the config one after the other on a LandmarkDataset. Every
epoch writes a checkpoint (atomically) from which ``resume=True`` continues; the output model
file is written only when the run completes, so a cancelled run changes nothing.
"""

from __future__ import annotations

import copy
import logging
import math
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from cephview.core.datasets import LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.model import coords
from cephview.model.config import StageConfig, TrainConfig
from cephview.model.config_checks import ConfigError
from cephview.model.cvm_head import UNLABELLED, class_weights, cvm_loss, cvm_scores, labels_of
from cephview.model.device_scale import LANDMARK_DISTANCES_KEY, distances_for_meta, median_distances
from cephview.model.dist_context import DistributedContext, shard_positions
from cephview.model.heatmaps import decode
from cephview.model.modelfile import LandmarkModel, atomic_torch_save, build_network, load_model, save_model
from cephview.model.regression import output_to_heatmap_points, regression_loss, regression_targets
from cephview.model.samples import PreparedImage, global_sample, global_view, normalise, prepare, refine_sample
from cephview.model.stage_weights import fit_refine_weights

log = logging.getLogger(__name__)


class TrainingCancelled(CephviewError):
    """Raised when ``should_stop`` returned True; the output model was not written."""


@dataclass
class TrainProgress:
    stage: str
    epoch: int  # 1-based, within the stage
    epochs: int
    step: int  # batches done in this epoch
    steps: int
    loss: float  # running mean of this epoch
    val_error: float | None  # after an epoch: validation MRE (mm, or px without calibration)
    seconds_left: float | None
    finished_epoch: bool = False


ProgressCallback = Callable[[TrainProgress], None]


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between each channel's spatial softmax and its normalised Gaussian target.

    Plain MSE on heatmaps sits for many epochs at the all-zero output (the peak covers a few
    hundred of 30 000 pixels); a spatial distribution cannot collapse that way. ``mask`` (B, K)
    removes landmarks without ground truth or outside the input.
    """
    b, k = logits.shape[:2]
    log_p = torch.log_softmax(logits.reshape(b, k, -1).float(), dim=-1)
    t = target.reshape(b, k, -1)
    t = t / t.sum(dim=-1, keepdim=True).clamp(min=1e-8)
    per_channel = -(t * log_p).sum(dim=-1)
    return (per_channel * mask).sum() / mask.sum().clamp(min=1.0)


def split_train_val(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n < 2 or fraction <= 0:
        idx = np.arange(n)
        return idx, idx[:0]
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_images(dataset: LandmarkDataset) -> list[np.ndarray]:
    from cephview.core.radiograph import load_radiograph

    return [load_radiograph(item.image_path).model_pixels for item in dataset.images]


def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        t = (epoch - warmup) / max(1, total - warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


class _StageRun:
    """State of one stage's training: network, optimiser, schedule, best weights."""

    def __init__(self, name: str, stage: StageConfig, net: torch.nn.Module, epochs: int, cfg: TrainConfig,
                 device: torch.device, dist: DistributedContext | None = None) -> None:
        # channels_last: oneDNN's convolutions run about 15 % faster that way on a CPU (measured, training steps).
        self.name, self.stage, self.epochs = name, stage, epochs
        self.net = net.to(device, memory_format=torch.channels_last)
        # What the training step calls: the network itself, or its DistributedDataParallel wrapper
        # (same parameters; gradients averaged over the processes).
        self.model = dist.wrap(self.net, device) if dist is not None else self.net
        self.with_cvm = stage.cvm_classes > 0
        self.head_only_epochs = cfg.head_only_epochs
        self.freeze_encoder = cfg.freeze_encoder
        if cfg.freeze_encoder:
            net.encoder.requires_grad_(False)
        params = [p for p in net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(cfg.warmup_epochs, epochs))
        self.epoch = 0
        self.best_val = math.inf
        self.best_state = copy.deepcopy(net.state_dict())
        self.history: list[dict] = []

    @property
    def head_only(self) -> bool:
        """This epoch trains decoder and heads only (the "head first" schedule)."""
        return self.epoch < self.head_only_epochs

    def train_mode(self) -> None:
        self.net.train()
        if self.freeze_encoder or self.head_only:
            self.net.encoder.eval()  # frozen means frozen: BatchNorm statistics too

    def state(self) -> dict:
        return {
            "name": self.name, "epoch": self.epoch, "best_val": self.best_val,
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "best_state": self.best_state,
            "history": self.history,
        }

    def restore(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.best_val = float(state["best_val"])
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.best_state = state["best_state"]
        self.history = list(state["history"])


@dataclass(frozen=True)
class EpochDraw:
    """Training items from index ``pool_start`` on are a pool: each epoch trains on the items
    before it and on ``per_epoch`` items drawn afresh from the pool.

    Fine-tuning mixes base images in this way: an epoch costs what ``per_epoch`` of them cost,
    yet over a run the model sees many different ones instead of the same few.
    """

    pool_start: int
    per_epoch: int


class Trainer:
    def __init__(
        self, dataset: LandmarkDataset, config: TrainConfig, out: str | Path,
        init: str | Path | None = None, device: str | None = None,
        progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
        images: list[np.ndarray] | None = None, draw: EpochDraw | None = None,
        experiment: dict | None = None, dist: DistributedContext | None = None,
    ) -> None:
        self.dataset, self.cfg, self.out, self.draw = dataset, config, Path(out), draw
        self.experiment = experiment  # name, description, file and command of a configuration, for the metadata
        self.dist = dist
        self.rank, self.world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
        self.checkpoint_path = self.out.with_name(self.out.name + ".ckpt")
        self.init_path = Path(init) if init else None
        if dist is not None:
            self.device = dist.device
        else:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.progress = progress or (lambda p: None)
        self.should_stop = should_stop or (lambda: False)
        self._images = images
        self.k = len(dataset.schema)

    # ------------------------------------------------------------------ data
    def _prepare(self) -> None:
        images = self._images if self._images is not None else load_images(self.dataset)
        self.points = [item.points for item in self.dataset.images]
        self.valid = [item.valid for item in self.dataset.images]
        # (x, y) scale of each image's errors: column and row spacing, or pixels without calibration
        self.spacing = [
            np.array([item.calibration.col_mm, item.calibration.row_mm]) if item.calibration.is_calibrated else None
            for item in self.dataset.images
        ]
        self.train_idx, self.val_idx = split_train_val(len(images), self.cfg.val_fraction, self.cfg.seed)
        if self.train_idx.size == 0:
            raise CephviewError(
                f"no image left to train on ({len(images)} image(s), validation fraction {self.cfg.val_fraction})")
        self._fixed_idx, self._pool_idx = self.train_idx, self.train_idx[:0]
        if self.draw is not None:
            in_pool = self.train_idx >= self.draw.pool_start
            self._fixed_idx, self._pool_idx = self.train_idx[~in_pool], self.train_idx[in_pool]
        self.prepared: dict[str, list[PreparedImage]] = {}
        for name in self.cfg.stages:
            stage = self._stage_config(name)
            self.prepared[name] = [prepare(img, stage) for img in images]
        self.unit = "mm" if all(m is not None for m in self.spacing) else "px"
        self.cvm_labels = labels_of([item.cvm_stage for item in self.dataset.images])
        self.cvm_weights = None
        if "global" in self.cfg.stages and self.cfg.global_stage.cvm_classes > 0:
            if not (self.cvm_labels[self.train_idx] != UNLABELLED).any():
                raise CephviewError(
                    f"{self.dataset.description}: no training image has a CVM stage; the CVM head needs a "
                    "dataset that provides them (Aariz), or a configuration without it")
            weights = class_weights(self.cvm_labels[self.train_idx], self.cfg.global_stage.cvm_classes)
            self.cvm_weights = torch.from_numpy(weights).to(self.device)
            log.info("CVM class weights: %s", np.round(weights, 3).tolist())

    def _stage_config(self, name: str) -> StageConfig:
        return self.cfg.global_stage if name == "global" else self.cfg.refine_stage

    def _initial_network(self, name: str, init: LandmarkModel | None) -> tuple[StageConfig, torch.nn.Module]:
        stage = self._stage_config(name)
        if init is not None and name in init.stages:
            init_stage, net = init.stages[name]
            # Sampling settings (patch scale, sigma) may change in fine-tuning; the network's shape may not.
            shape = ("encoder", "input_width", "input_height", "output_stride")
            if any(getattr(stage, f) != getattr(init_stage, f) for f in shape):
                raise CephviewError(f"the {name} stage of the starting model has another architecture than the settings")
            return stage, copy.deepcopy(net).train()
        net = build_network(stage, self.k, pretrained=self.cfg.pretrained)
        if self.cfg.transfer_from:
            from cephview.model.transfer import transfer_weights

            self._transferred[name] = transfer_weights(net, self.cfg.transfer_from, name, stage.architecture)
        return stage, net.train()

    # ------------------------------------------------------------------ loops
    def _pool_draw_size(self) -> int:
        return min(self.draw.per_epoch, len(self._pool_idx)) if self.draw is not None else 0

    def _epoch_items(self, rng: np.random.Generator) -> np.ndarray:
        """The training items of one epoch: all of them, or the fixed ones and a fresh draw from the pool."""
        if self.draw is None:
            return self.train_idx
        drawn = rng.choice(self._pool_idx, size=self._pool_draw_size(), replace=False)
        return np.concatenate([self._fixed_idx, drawn]).astype(int)

    def _batches(self, run: _StageRun, rng: np.random.Generator) -> list[list]:
        items = self._epoch_items(rng)
        if run.name == "global":
            order = rng.permutation(items)
            b = self.cfg.batch_size_global
            return [list(order[i : i + b]) for i in range(0, len(order), b)]
        pairs = []
        for i in items:
            valid = np.flatnonzero(self.valid[i])
            if valid.size:
                for k in rng.choice(valid, size=self.cfg.patches_per_image, replace=True):
                    pairs.append((int(i), int(k)))
        order = rng.permutation(len(pairs))
        b = self.cfg.batch_size_refine
        return [[pairs[j] for j in order[i : i + b]] for i in range(0, len(order), b)]

    def _make_batch(self, run: _StageRun, batch: list, rngs: list[np.random.Generator]) -> tuple[torch.Tensor, ...]:
        """Inputs, targets, masks and CVM labels of ``batch``; each entry is augmented with its own
        generator, so a batch split over processes gets the same samples as in one process."""
        xs, ys, masks, cvm = [], [], [], []
        for entry, rng in zip(batch, rngs):
            if run.name == "global" and run.stage.architecture == "regression":
                i = entry
                x, matrix = global_view(self.prepared["global"][i], run.stage, self.cfg, rng)
                y, mask = regression_targets(coords.apply(matrix, self.points[i]), self.valid[i], run.stage)
            else:
                if run.name == "global":
                    i = entry
                    x, y = global_sample(self.prepared["global"][i], self.points[i], self.valid[i], run.stage, self.cfg, rng)
                else:
                    i, k = entry
                    x, y, _ = refine_sample(self.prepared["refine"][i], self.points[i], self.valid[i], k, run.stage, self.cfg, rng)
                # Landmarks outside the input have no target distribution: leave them out.
                mask = (self.valid[i] & (y.reshape(len(y), -1).max(axis=1) > 0.5)).astype(np.float32)
            xs.append(x)
            ys.append(y)
            masks.append(mask)
            cvm.append(self.cvm_labels[i])
        to = lambda a: torch.from_numpy(np.stack(a)).to(self.device)  # noqa: E731
        x = to([normalise(x) for x in xs]).unsqueeze(1).contiguous(memory_format=torch.channels_last)
        return x, to(ys), to(masks), to(cvm)

    def _loss(self, run: _StageRun, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, cvm: torch.Tensor) -> torch.Tensor:
        out = run.model(x, with_cvm=True) if run.with_cvm else run.model(x)
        out, cvm_logits = out if run.with_cvm else (out, None)
        if run.stage.architecture == "regression":
            loss = regression_loss(out, y, mask)
        else:
            loss = heatmap_loss(out, y, mask)
        if cvm_logits is not None:
            loss = loss + self.cfg.cvm_loss_weight * cvm_loss(cvm_logits, cvm, self.cvm_weights)
        return loss

    def _train_epoch(self, run: _StageRun, rng: np.random.Generator, started: float, done_before: int, total_steps: int) -> float:
        run.train_mode()
        batches = self._batches(run, rng)
        epoch_seed = int(rng.integers(2**62))
        losses = []
        for step, batch in enumerate(batches, 1):
            if self.should_stop():
                raise TrainingCancelled("training cancelled; the model was not changed")
            # This process's share of the batch (all of it in one process), each sample with a
            # generator of its own position: the same augmentation whatever the process count.
            positions = shard_positions(len(batch), self.rank, self.world)
            rngs = [np.random.default_rng((epoch_seed, step, j)) for j in positions]
            x, y, mask, cvm = self._make_batch(run, [batch[j] for j in positions], rngs)
            loss = self._loss(run, x, y, mask, cvm)
            if not torch.isfinite(loss):
                raise CephviewError(f"training diverged (loss {loss.item()}) in stage {run.name}; lower the learning rate")
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if run.head_only:
                for p in run.net.encoder.parameters():
                    p.grad = None  # AdamW leaves a parameter without gradient untouched
            run.optimizer.step()
            losses.append(self._mean_over_processes(loss.item()))
            done = done_before + step
            rate = (time.monotonic() - started) / max(1, done - self._steps_at_start)
            self.progress(TrainProgress(
                run.name, run.epoch + 1, run.epochs, step, len(batches), float(np.mean(losses)),
                None, rate * (total_steps - done),
            ))
        run.scheduler.step()
        return float(np.mean(losses)) if losses else float("nan")

    @torch.inference_mode()
    def _validate(self, run: _StageRun) -> float:
        """Validation MRE: whole-image prediction (global) or offset patches (refine).

        With several processes each scores its share of the images and the sums are combined.
        CVM scores of a network with a CVM head go to ``self.last_cvm_scores``.
        """
        self.last_cvm_scores = None
        if len(self.val_idx) == 0:
            return float("nan")
        run.net.eval()
        errors = []
        cvm_true, cvm_pred = [], []
        mine = self.val_idx[shard_positions(len(self.val_idx), self.rank, self.world, pad=False)]
        for i in mine:
            rng = np.random.default_rng((12345, int(i)))  # the same offsets every epoch
            scale = self.spacing[i] if self.spacing[i] is not None else np.ones(2)
            if run.name == "global":
                from cephview.model.samples import global_base_transform, render

                prep = self.prepared["global"][i]
                base = global_base_transform(prep.width, prep.height, run.stage)
                x = torch.from_numpy(normalise(render(prep, base, run.stage))[None, None]).to(self.device)
                out = run.net(x, with_cvm=True) if run.with_cvm else run.net(x)
                if run.with_cvm:
                    out, logits = out
                    cvm_true.append(self.cvm_labels[i])
                    cvm_pred.append(int(logits[0].argmax()))
                out = out[0].float().cpu().numpy()
                if run.stage.architecture == "regression":
                    pts = output_to_heatmap_points(out, run.stage)
                else:
                    pts, _ = decode(out, run.stage.sigma)
                pred = coords.apply(coords.invert(coords.input_to_heatmap(run.stage.output_stride) @ base), pts)
                err = np.linalg.norm((pred - self.points[i]) * scale, axis=1)
                errors.extend(err[self.valid[i]])
            else:
                for k in np.flatnonzero(self.valid[i]):
                    r = self.cfg.refine_offset_px * 0.7
                    a = rng.uniform(0, 2 * math.pi)
                    offset = np.array([r * math.cos(a), r * math.sin(a)])
                    img, _, m = refine_sample(
                        self.prepared["refine"][i], self.points[i], self.valid[i], int(k),
                        run.stage, self.cfg, rng, offset=offset, augment=False,
                    )
                    x = torch.from_numpy(normalise(img)[None, None]).to(self.device)
                    hm = run.net(x)[0, k : k + 1].float().cpu().numpy()
                    pts, _ = decode(hm, run.stage.sigma)
                    pred = coords.apply(coords.invert(coords.input_to_heatmap(run.stage.output_stride) @ m), pts)[0]
                    errors.append(float(np.linalg.norm((pred - self.points[i][k]) * scale)))
        run.train_mode()
        if run.with_cvm:
            true, pred = self._gather(cvm_true), self._gather(cvm_pred)
            self.last_cvm_scores = cvm_scores(np.array(true, dtype=np.int64), np.array(pred, dtype=np.int64),
                                              run.stage.cvm_classes)
        if self.dist is not None:
            total, count = self.dist.sum_over_processes([float(np.sum(errors)), float(len(errors))])
            return total / count if count else float("nan")
        return float(np.mean(errors))

    def _mean_over_processes(self, value: float) -> float:
        return self.dist.sum_over_processes([value])[0] / self.world if self.dist is not None else value

    def _gather(self, values: list) -> list:
        return self.dist.gather_lists(values) if self.dist is not None else values

    # ------------------------------------------------------------------ main
    def fit(self, resume: bool = False) -> LandmarkModel:
        cfg = self.cfg
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        # A checkpoint that cannot be used is refused before any image is prepared.
        ckpt = _read_checkpoint(self.checkpoint_path) if resume and self.checkpoint_path.is_file() else None
        self._prepare()
        init = load_model(self.init_path) if self.init_path else None
        finished: dict[str, dict] = {}
        current: dict | None = None
        rng_state = None
        if ckpt is not None:
            # Through from_dict: a checkpoint from before a new config field (at its default) still
            # matches. The thread count may change on resume, and so may the epoch counts: the
            # learning-rate schedule then stretches or shrinks over the remaining epochs.
            free = {"num_threads": 0, "epochs_global": 0, "epochs_refine": 0}
            try:
                saved = TrainConfig.from_dict(ckpt.get("config") or {}).to_dict()
            except ConfigError as exc:
                raise CephviewError(f"{self.checkpoint_path}: {exc}; start without --resume") from None
            if {**saved, **free} != {**cfg.to_dict(), **free}:
                raise CephviewError(f"{self.checkpoint_path}: checkpoint was made with other settings; start without --resume")
            finished, current, rng_state = ckpt["finished"], ckpt["current"], ckpt["rng"]
            log.info("resuming from %s", self.checkpoint_path)

        epochs = {"global": cfg.epochs_global, "refine": cfg.epochs_refine}
        stages_out: dict[str, tuple[StageConfig, torch.nn.Module]] = {}
        if init is not None:
            stages_out.update({n: v for n, v in init.stages.items() if n not in cfg.stages})
        rng = np.random.default_rng(cfg.seed)
        if rng_state is not None:
            with _checkpoint_content(self.checkpoint_path):
                rng.bit_generator.state = rng_state
        started = time.monotonic()
        total_steps = sum(self._steps_per_epoch(n) * epochs[n] for n in cfg.stages)
        done_before = sum(self._steps_per_epoch(n) * epochs[n] for n in finished)
        if current is not None:
            with _checkpoint_content(self.checkpoint_path):
                done_before += self._steps_per_epoch(current["name"]) * int(current["epoch"])
        self._steps_at_start = done_before
        self._transferred: dict[str, dict] = {}
        history = {}
        for name in cfg.stages:
            stage, net = self._initial_network(name, init)
            if name in finished:
                with _checkpoint_content(self.checkpoint_path):
                    net.load_state_dict(finished[name]["best_state"])
                    history[name] = list(finished[name]["history"])
                stages_out[name] = (stage, net.eval())
                continue
            run = _StageRun(name, stage, net, epochs[name], cfg, self.device, self.dist)
            if current is not None and current["name"] == name:
                with _checkpoint_content(self.checkpoint_path):
                    run.restore(current)
            while run.epoch < run.epochs:
                loss = self._train_epoch(run, rng, started, done_before, total_steps)
                val = self._validate(run)
                run.epoch += 1
                done_before += self._steps_per_epoch(name)
                if not (val >= run.best_val):  # also takes the first NaN-free value
                    run.best_val = val
                    run.best_state = copy.deepcopy(run.net.state_dict())
                entry = {"epoch": run.epoch, "loss": loss, "val": val, "lr": run.scheduler.get_last_lr()[0]}
                if self.last_cvm_scores is not None:
                    entry["cvm"] = self.last_cvm_scores.to_dict()
                run.history.append(entry)
                log.info("%s epoch %d/%d loss %.5f val %.3f %s", name, run.epoch, run.epochs, loss, val, self.unit)
                rate = (time.monotonic() - started) / max(1, done_before - self._steps_at_start)
                self.progress(TrainProgress(name, run.epoch, run.epochs, 0, 0, loss, val, rate * (total_steps - done_before), True))
                self._save_checkpoint(finished, run.state(), rng)
            if len(self.val_idx) == 0:
                run.best_state = copy.deepcopy(run.net.state_dict())
            finished[name] = {"best_state": run.best_state, "best_val": run.best_val, "history": run.history}
            self._save_checkpoint(finished, None, rng)
            net.load_state_dict(run.best_state)
            # Back to the default layout: the model returned computes exactly as the file it is saved to.
            stages_out[name] = (stage, net.to(memory_format=torch.contiguous_format).eval())
            history[name] = run.history
        if "global" not in stages_out:
            raise CephviewError("a model needs a global stage: train it or give --init")
        model = LandmarkModel(self.dataset.schema.name, stages_out, self._meta(finished, history, init, time.monotonic() - started))
        if self.rank != 0:
            return model  # only the first process chooses blend weights and writes files
        if len(self.val_idx) == 0 and init is not None and "refine_weights" in init.meta:
            # Nothing to choose them on: the starting model's choice beats patch-only.
            model.meta["refine_weights"] = list(init.meta["refine_weights"])
        else:
            model.meta["refine_weights"] = fit_refine_weights(model, self.dataset.subset(self.val_idx))
        save_model(model, self.out)
        return model

    def _steps_per_epoch(self, name: str) -> int:
        n = len(self._fixed_idx) + self._pool_draw_size()
        if name == "global":
            return math.ceil(n / self.cfg.batch_size_global)
        return math.ceil(n * self.cfg.patches_per_image / self.cfg.batch_size_refine)

    def _save_checkpoint(self, finished: dict, current: dict | None, rng: np.random.Generator) -> None:
        if self.rank != 0:
            return
        atomic_torch_save(
            {"config": self.cfg.to_dict(), "finished": finished, "current": current, "rng": rng.bit_generator.state},
            self.checkpoint_path,
        )

    def _meta(self, finished: dict, history: dict, init: LandmarkModel | None, seconds: float) -> dict:
        now = datetime.now(timezone.utc)
        return {
            "version": now.strftime("%Y%m%d-%H%M%S"),
            "created": now.isoformat(timespec="seconds"),
            "training_data": shareable_description(self.dataset),
            "train_images": shareable_names(self.dataset, self.train_idx),
            "val_images": shareable_names(self.dataset, self.val_idx),
            "validation": {n: {"mre": f["best_val"], "unit": self.unit} for n, f in finished.items()},
            "history": history,
            "config": self.cfg.to_dict(),
            "init": init.version if init else None,
            "experiment": self.experiment,
            "transfer": {"from": self.cfg.transfer_from, "stages": self._transferred} if self.cfg.transfer_from else None,
            "processes": self.world,
            "cvm": self._best_cvm(finished),
            LANDMARK_DISTANCES_KEY: distances_for_meta(median_distances([self.points[i] for i in self.train_idx]))
            if len(self.train_idx) else None,
            "training_seconds_this_run": round(seconds, 1),
            "hardware": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {self.device}, "
                        f"{torch.get_num_threads()} threads" + (f", {self.world} processes" if self.world > 1 else ""),
        }

    @staticmethod
    def _best_cvm(finished: dict) -> dict | None:
        """The CVM validation scores of the global stage's best epoch (None without a CVM head)."""
        entry = finished.get("global")
        if entry is None:
            return None
        scored = [h for h in entry["history"] if "cvm" in h]
        if not scored:
            return None
        best = min(scored, key=lambda h: h["val"] if h["val"] == h["val"] else math.inf)
        return {"epoch": best["epoch"], **best["cvm"], "note": "validation images; stages 0-based in the confusion matrix"}


def shareable_description(dataset: LandmarkDataset) -> str:
    """What a model file says it learnt from. Model files travel between clinics: a clinic's
    folder and file names (often patients' names) stay out; published datasets are named."""
    return dataset.description if dataset.published else f"{len(dataset)} annotated images (names left out)"


def shareable_names(dataset: LandmarkDataset, indices) -> list[str]:
    """Image names for a model file: published datasets' own, otherwise content ids
    (``sha256:`` and 16 hex digits, as the project store's hashes)."""
    items = [dataset.images[i] for i in indices]
    if dataset.published:
        return [it.name for it in items]
    return [f"sha256:{_file_sha256(it.image_path)[:16]}" for it in items]


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "0" * 64  # an image already prepared whose file is gone: still no name
    return digest.hexdigest()


def fit(dataset: LandmarkDataset, config: TrainConfig, out: str | Path, **kwargs) -> LandmarkModel:
    resume = kwargs.pop("resume", False)
    return Trainer(dataset, config, out, **kwargs).fit(resume=resume)


def _read_checkpoint(path: Path) -> dict:
    """A training checkpoint, loaded as data only (``weights_only``: no code runs), or one line
    saying it cannot be used: damaged, cut short, or not a checkpoint at all."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise CephviewError(f"{path}: not a usable training checkpoint ({type(exc).__name__}); "
                            "start without --resume") from None
    parts = (("config", dict), ("finished", dict), ("current", (dict, type(None))), ("rng", (dict, type(None))))
    if not isinstance(ckpt, dict) or any(not isinstance(ckpt.get(key), kinds) for key, kinds in parts):
        raise CephviewError(f"{path}: not a cephview training checkpoint; start without --resume")
    return ckpt


@contextmanager
def _checkpoint_content(path: Path) -> Iterator[None]:
    """Weights or state in a checkpoint that do not fit the network: one line, not a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        raise CephviewError(f"{path}: the checkpoint does not fit this training run ({type(exc).__name__}); "
                            "start without --resume") from None


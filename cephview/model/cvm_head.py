"""A CVM stage classifier head beside the landmark output, its class-weighted loss and its scores.

Cervical vertebral maturation (CS1-CS6) is labelled in the Aariz dataset only
(``AnnotatedImage.cvm_stage``); the ISBI images carry no stage. The head reads the encoder's
deepest features (global average pooling, dropout, one linear layer), so any landmark network
can carry it and train both tasks at once. CVM stages are skewed towards the late stages in
orthodontic populations: without class weights a classifier learns the majority stage (the
research log's first CVM classifier reached macro F1 0.1 that way), hence inverse-frequency
weights in the cross-entropy and macro F1 with per-stage recall as the scores.

No CVM-labelled data is available to this project's training runs, so no shipped or zoo model
has a trained head; the tests exercise the mechanics on synthetic labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

CVM_STAGES = 6  # CS1..CS6; labels are 0-based inside the network and the metrics
UNLABELLED = -1  # an image without a stage: left out of the loss and the scores


class CvmHead(nn.Module):
    def __init__(self, in_channels: int, classes: int = CVM_STAGES, dropout: float = 0.2) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, classes)

    def forward(self, deepest: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.pool(deepest).flatten(1)))


def labels_of(stages: list[int | None]) -> np.ndarray:
    """Stages 1..6 (None unknown) -> int64 labels 0..5, UNLABELLED for unknown."""
    return np.array([UNLABELLED if s is None else int(s) - 1 for s in stages], dtype=np.int64)


def class_weights(labels: np.ndarray, classes: int = CVM_STAGES) -> np.ndarray:
    """Inverse-frequency weights, mean 1 over the classes present; absent classes weigh 0.

    A class with n examples among N labelled ones over C present classes weighs N / (C n), so
    every present class contributes the same total to the loss.
    """
    known = labels[labels != UNLABELLED]
    counts = np.bincount(known, minlength=classes).astype(np.float64)[:classes]
    present = counts > 0
    weights = np.zeros(classes)
    if present.any():
        weights[present] = known.size / (present.sum() * counts[present])
    return weights.astype(np.float32)


def cvm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class-weighted cross-entropy over the labelled images of the batch (0 when none is)."""
    labelled = labels != UNLABELLED
    if not bool(labelled.any()):
        return logits.sum() * 0.0  # keeps the head in the graph (DDP expects every parameter used)
    return nn.functional.cross_entropy(logits[labelled].float(), labels[labelled], weight=weights)


@dataclass
class CvmScores:
    count: int
    accuracy: float
    macro_f1: float  # mean F1 over the stages present in truth or prediction
    recall: dict[str, float]  # "CS1".. -> recall; NaN for a stage absent from the truth
    confusion: list[list[int]]  # rows truth, columns prediction

    def to_dict(self) -> dict:
        return {"count": self.count, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "recall": self.recall, "confusion": self.confusion}


def cvm_scores(truth: np.ndarray, predicted: np.ndarray, classes: int = CVM_STAGES) -> CvmScores:
    """Scores of 0-based predictions against 0-based labels; unlabelled images are left out."""
    keep = truth != UNLABELLED
    t, p = truth[keep].astype(int), predicted[keep].astype(int)
    confusion = np.zeros((classes, classes), dtype=int)
    np.add.at(confusion, (t, p), 1)
    tp = np.diag(confusion).astype(float)
    in_truth, in_pred = confusion.sum(axis=1), confusion.sum(axis=0)
    recall = np.where(in_truth > 0, tp / np.maximum(in_truth, 1), np.nan)
    precision = np.where(in_pred > 0, tp / np.maximum(in_pred, 1), 0.0)
    f1 = np.where(precision + np.nan_to_num(recall) > 0,
                  2 * precision * np.nan_to_num(recall) / np.maximum(precision + np.nan_to_num(recall), 1e-12), 0.0)
    # The convention of scikit-learn's f1_score(average="macro", labels=present): a stage that
    # is neither in the truth nor predicted does not count.
    present = (in_truth > 0) | (in_pred > 0)
    macro = float(f1[present].mean()) if present.any() else float("nan")
    return CvmScores(
        int(keep.sum()), float((t == p).mean()) if t.size else float("nan"), macro,
        {f"CS{i + 1}": float(recall[i]) for i in range(classes)}, confusion.tolist(),
    )


def format_cvm_scores(scores: CvmScores) -> str:
    recall = "  ".join(f"{k} {v:.2f}" if v == v else f"{k} -" for k, v in scores.recall.items())
    return (f"CVM stage: {scores.count} images, accuracy {scores.accuracy:.3f}, macro F1 {scores.macro_f1:.3f}\n"
            f"recall per stage: {recall}")

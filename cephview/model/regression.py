"""Coordinate regression (architecture "regression"): pooled encoder features -> 2 numbers a landmark.

The research log's first model: a ResNet-18 at 256 px regressing all landmarks at once (with
an optional CVM head). It has no heatmap, so no confidence and no sub-pixel decoding; it is
kept as the baseline the heatmap models are measured against. The output is each landmark's
position as a fraction of the input's width and height (0..1), trained with a smooth L1 loss.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cephview.model.config import StageConfig
from cephview.model.cvm_head import CvmHead
from cephview.model.encoders import build_encoder
from cephview.model.network import with_cvm_output


class CoordinateRegressor(nn.Module):
    def __init__(self, num_landmarks: int, encoder: str = "resnet18", pretrained: bool = True,
                 cvm_classes: int = 0, dropout: float = 0.2) -> None:
        super().__init__()
        self.num_landmarks = num_landmarks
        self.encoder = build_encoder(encoder, in_channels=1, pretrained=pretrained)
        c = self.encoder.channels[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, 2 * num_landmarks))
        # Start at the centre of the input: a random start far off makes the first epochs chase the mean.
        nn.init.zeros_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)
        self.cvm = CvmHead(c, cvm_classes) if cvm_classes > 0 else None

    def forward(self, x: torch.Tensor, with_cvm: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, K, 2) positions as fractions of the input's width and height."""
        deepest = self.encoder(x)[-1]
        out = self.head(self.pool(deepest).flatten(1)).view(-1, self.num_landmarks, 2) + 0.5
        return with_cvm_output(out, self.cvm, deepest, with_cvm)


def input_size(stage: StageConfig) -> np.ndarray:
    return np.array([stage.input_width, stage.input_height], dtype=np.float32)


def regression_targets(points_input: np.ndarray, valid: np.ndarray, stage: StageConfig) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) targets as fractions of the input, and the (K,) mask of those inside the input."""
    frac = (np.nan_to_num(points_input, nan=-1.0) / input_size(stage)).astype(np.float32)
    inside = valid & (frac >= 0).all(axis=1) & (frac <= 1).all(axis=1)
    return frac, inside.astype(np.float32)


def regression_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Smooth L1 on fractions of the input (beta 0.01: L1 beyond about 2.5 input pixels at 256)."""
    per_point = nn.functional.smooth_l1_loss(pred.float(), target, reduction="none", beta=0.01).sum(dim=-1)
    return (per_point * mask).sum() / mask.sum().clamp(min=1.0)


def output_to_heatmap_points(out: np.ndarray, stage: StageConfig) -> np.ndarray:
    """(K, 2) regression output -> the positions in the heatmap frame of ``coords.input_to_heatmap``,
    so that training validation and prediction map them back as they do heatmap peaks."""
    from cephview.model import coords

    points_input = out.astype(np.float64) * input_size(stage)
    return coords.apply(coords.input_to_heatmap(stage.output_stride), points_input)

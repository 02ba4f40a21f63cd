"""Heatmap networks: an encoder, a decoder, one heatmap per landmark, and an optional CVM head.

``HeatmapUNet`` (architecture "unet", the shipped model) fuses the encoder's features at every
stride through skip connections; ``PlainHeatmapNet`` (architecture "heatmap") upsamples the
deepest features alone, as the "simple baselines" of pose estimation do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cephview.model.cvm_head import CvmHead
from cephview.model.encoders import build_encoder


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class _UpBlock(nn.Module):
    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.fuse = nn.Sequential(_conv_bn_relu(c_in + c_skip, c_out), _conv_bn_relu(c_out, c_out))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([x, skip], dim=1))


class HeatmapUNet(nn.Module):
    """Heatmaps at ``output_stride`` (2 or 4) of the input, one channel per landmark.

    The output is logits; training makes each channel's spatial softmax match a Gaussian
    around the landmark (see ``train.heatmap_loss`` and ``heatmaps.decode``).
    """

    def __init__(
        self,
        num_landmarks: int,
        encoder: str = "efficientnet_lite0",
        output_stride: int = 2,
        decoder_channels: tuple[int, int, int, int] = (128, 64, 48, 32),
        pretrained: bool = True,
        cvm_classes: int = 0,
    ) -> None:
        super().__init__()
        if output_stride not in (2, 4):
            raise ValueError("output_stride must be 2 or 4")
        self.output_stride = output_stride
        self.encoder = build_encoder(encoder, in_channels=1, pretrained=pretrained)
        c2, c4, c8, c16, c32 = self.encoder.channels
        d16, d8, d4, d2 = decoder_channels
        self.up16 = _UpBlock(c32, c16, d16)
        self.up8 = _UpBlock(d16, c8, d8)
        self.up4 = _UpBlock(d8, c4, d4)
        self.up2 = _UpBlock(d4, c2, d2) if output_stride == 2 else None
        self.head = nn.Conv2d(d2 if output_stride == 2 else d4, num_landmarks, 1)
        self.cvm = CvmHead(c32, cvm_classes) if cvm_classes > 0 else None

    def forward(self, x: torch.Tensor, with_cvm: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Heatmap logits; with ``with_cvm`` (a network with a CVM head) also the CVM logits."""
        s2, s4, s8, s16, s32 = self.encoder(x)
        y = self.up16(s32, s16)
        y = self.up8(y, s8)
        y = self.up4(y, s4)
        if self.up2 is not None:
            y = self.up2(y, s2)
        return with_cvm_output(self.head(y), self.cvm, s32, with_cvm)


def with_cvm_output(out: torch.Tensor, cvm: CvmHead | None, deepest: torch.Tensor, with_cvm: bool):
    if not with_cvm:
        return out
    if cvm is None:
        raise ValueError("this network has no CVM head")
    return out, cvm(deepest)


class PlainHeatmapNet(nn.Module):
    """Heatmaps from the deepest features only: bilinear x2 + two 3x3 convolutions per step,
    from stride 32 down to ``output_stride`` (no skip connections)."""

    def __init__(
        self, num_landmarks: int, encoder: str = "resnet50", output_stride: int = 4,
        channels: int = 256, pretrained: bool = True, cvm_classes: int = 0,
    ) -> None:
        super().__init__()
        if output_stride not in (2, 4):
            raise ValueError("output_stride must be 2 or 4")
        self.output_stride = output_stride
        self.encoder = build_encoder(encoder, in_channels=1, pretrained=pretrained)
        c_in = self.encoder.channels[-1]
        steps = {4: 3, 2: 4}[output_stride]
        blocks = []
        for i in range(steps):
            blocks.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                _conv_bn_relu(c_in if i == 0 else channels, channels),
                _conv_bn_relu(channels, channels),
            ))
        self.decoder = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, num_landmarks, 1)
        self.cvm = CvmHead(c_in, cvm_classes) if cvm_classes > 0 else None

    def forward(self, x: torch.Tensor, with_cvm: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        deepest = self.encoder(x)[-1]
        y = self.decoder(deepest)
        # The input need not be a multiple of 32: match the map to input / output_stride.
        size = (x.shape[-2] // self.output_stride, x.shape[-1] // self.output_stride)
        if y.shape[-2:] != size:
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return with_cvm_output(self.head(y), self.cvm, deepest, with_cvm)

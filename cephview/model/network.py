"""U-Net style heatmap network: an encoder, a light decoder with skips, one heatmap per landmark."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s2, s4, s8, s16, s32 = self.encoder(x)
        y = self.up16(s32, s16)
        y = self.up8(y, s8)
        y = self.up4(y, s4)
        if self.up2 is not None:
            y = self.up2(y, s2)
        return self.head(y)

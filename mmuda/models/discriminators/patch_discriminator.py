"""The patch discriminators of the multi-adversarial proxies paper (paper 004, section 2.4)."""
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class PatchDiscriminator(BaseModule):
    """Stride-1 convolutions with LeakyReLU, downsampled by strided average pooling.

    Paper 004 applies two discriminators to features of different resolutions (the decoder
    output at 1/4 of the image, a mid-level backbone feature at 1/8) and wants both outputs at
    1/32 of the image, so that every output cell judges a patch of the same image size. The
    downsampling is therefore a setting, ``num_downsamples``, rather than a consequence of the
    layer count: ``k`` 2x2 average poolings (stride 2, ceil mode) turn a 1/s feature into a
    1/(s * 2^k) map (1/4 -> 3 poolings, 1/8 -> 2).

    Layout: ``len(channels)`` hidden ``kernel_size`` convolutions (stride 1, same padding), each
    followed by LeakyReLU; the first ``num_downsamples`` of them are also followed by a pooling
    (pooling early keeps the wider later layers cheap); a last convolution gives one domain
    logit per cell.

    Args:
        in_channels: Channels of the feature it judges.
        num_downsamples: Number of 2x average poolings; at most ``len(channels)``.
        channels: Widths of the hidden convolutions (default: AdaptSegNet's 64-128-256-512,
            the "small fully convolutional network" the paper builds on).
        kernel_size: Kernel of every convolution (odd; padding ``kernel_size // 2``).
        negative_slope: Slope of the LeakyReLU (the paper: 0.2).
    """

    def __init__(self, in_channels: int, num_downsamples: int,
                 channels: Sequence[int] = (64, 128, 256, 512), kernel_size: int = 3,
                 negative_slope: float = 0.2, init_cfg=None) -> None:
        super().__init__(init_cfg)
        if not 0 <= num_downsamples <= len(channels):
            raise ValueError(f'PatchDiscriminator num_downsamples must lie in [0, '
                             f'len(channels)] = [0, {len(channels)}], got {num_downsamples}')
        if kernel_size % 2 != 1:
            raise ValueError(f'PatchDiscriminator kernel_size must be odd, got {kernel_size}')
        self.in_channels = in_channels
        self.num_downsamples = num_downsamples
        self.layers = nn.Sequential(*self._layers(in_channels, channels, kernel_size,
                                                  negative_slope))

    def _layers(self, in_channels: int, channels: Sequence[int], kernel_size: int,
                negative_slope: float) -> list:
        layers: list = []
        widths = [in_channels, *channels]
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2),
                       nn.LeakyReLU(negative_slope, inplace=True)]
            if i < self.num_downsamples:
                layers.append(nn.AvgPool2d(2, stride=2, ceil_mode=True))
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size, padding=kernel_size // 2))
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects {self.in_channels} input channels '
                             f'(its `in_channels`), got a tensor of shape {tuple(x.shape)}')
        return self.layers(x)

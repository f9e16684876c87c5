"""The residual image generator of Johnson et al. (ECCV 2016), as CycleGAN and pix2pixHD use it."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS

NORMS = dict(IN=lambda c: nn.InstanceNorm2d(c, affine=True),
             BN=nn.BatchNorm2d,
             GN=lambda c: nn.GroupNorm(min(32, c), c))


def norm_layer(norm: Optional[str], channels: int) -> nn.Module:
    """A normalisation layer by short name (``'IN'``, ``'BN'``, ``'GN'``; ``None``: none)."""
    if norm is None:
        return nn.Identity()
    if norm not in NORMS:
        raise ValueError(f'unknown norm {norm!r}: expected one of {sorted(NORMS)} or None')
    return NORMS[norm](channels)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions (reflection padding, norm, ReLU between) plus the identity."""

    def __init__(self, channels: int, norm: Optional[str]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@MODELS.register_module()
class ResnetGenerator(BaseModule):
    """Encoder, residual blocks, decoder: an image-to-image network at the input's resolution.

    ``c7s1-C, d2C, d4C, num_blocks x R4C, u2C, uC, c7s1-out`` for ``num_downsamples=2``: a 7x7
    convolution, ``num_downsamples`` stride-2 3x3 convolutions doubling the width, residual
    blocks, as many stride-2 3x3 transposed convolutions back to the input size, and a 7x7
    convolution to ``out_channels`` with ``tanh`` (images in [-1, 1]). This one network is the
    CycleGAN translator of LDR (section 3.2, 3 -> 3 channels) and its label-to-image
    reconstruction network M (section 3.4, num_classes -> 3 channels; "3 convolutions, 9 ResNet
    blocks, 3 transposed convolutions" in the paper's words).

    Inputs whose sides are not multiples of ``2 ** num_downsamples`` are padded (reflection)
    and the output is cropped back, so any image size works.

    Args:
        in_channels: Input channels (3 for an image, the number of classes for a label map).
        out_channels: Output channels.
        base_channels: Width of the first convolution (64 in the papers).
        num_downsamples: Stride-2 stages of the encoder and decoder.
        num_blocks: Residual blocks at the bottleneck (9 in the papers).
        norm: ``'IN'`` (instance norm, the papers), ``'BN'``, ``'GN'`` or ``None``.
        out_act: ``'tanh'`` (images in [-1, 1]) or ``None`` (raw output).
    """

    def __init__(self, in_channels: int, out_channels: int = 3, base_channels: int = 64,
                 num_downsamples: int = 2, num_blocks: int = 9, norm: Optional[str] = 'IN',
                 out_act: Optional[str] = 'tanh', init_cfg=dict(type='Normal', std=0.02,
                                                                layer=['Conv2d',
                                                                       'ConvTranspose2d'])
                 ) -> None:
        super().__init__(init_cfg)
        if out_act not in ('tanh', None):
            raise ValueError(f"ResnetGenerator out_act must be 'tanh' or None, got {out_act!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_downsamples = num_downsamples
        c = base_channels
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7), norm_layer(norm, c),
                  nn.ReLU(inplace=True)]
        for _ in range(num_downsamples):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm_layer(norm, 2 * c),
                       nn.ReLU(inplace=True)]
            c *= 2
        layers += [ResidualBlock(c, norm) for _ in range(num_blocks)]
        for _ in range(num_downsamples):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       norm_layer(norm, c // 2), nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7)]
        if out_act == 'tanh':
            layers.append(nn.Tanh())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects {self.in_channels} input channels '
                             f'(its `in_channels`), got a tensor of shape {tuple(x.shape)}')
        h, w = x.shape[2:]
        m = 2 ** self.num_downsamples
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode='reflect')
        return self.layers(x)[:, :, :h, :w]

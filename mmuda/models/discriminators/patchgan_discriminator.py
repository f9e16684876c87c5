"""PatchGAN (Isola et al., CVPR 2017) and its multi-scale form (pix2pixHD, Wang et al. 2018)."""
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..generators.resnet_generator import norm_layer

Tensor = torch.Tensor


@MODELS.register_module()
class PatchGANDiscriminator(BaseModule):
    """``num_layers`` stride-2 4x4 convolutions, one stride-1, then one real/fake logit per patch.

    ``C, 2C, 4C, ... (capped at 8C)`` channels, LeakyReLU(0.2), norm after every convolution
    but the first and the last (Isola et al.'s 70x70 PatchGAN for ``num_layers=3``). The
    discriminators of LDR's translator and of its reconstruction (eq. 4) are this network;
    :meth:`forward_features` also returns every intermediate activation, which the
    feature-matching term of LDR's eq. 5 compares.

    Args:
        in_channels: Input channels (3 for an image; classes + 3 for a (label map, image) pair).
        base_channels: Width of the first convolution (64 in the papers).
        num_layers: Stride-2 convolutions.
        norm: ``'IN'`` (the papers), ``'BN'``, ``'GN'`` or ``None``.
    """

    def __init__(self, in_channels: int, base_channels: int = 64, num_layers: int = 3,
                 norm: Optional[str] = 'IN', init_cfg=dict(type='Normal', std=0.02,
                                                          layer='Conv2d')) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        blocks = [nn.Sequential(nn.Conv2d(in_channels, base_channels, 4, stride=2, padding=1),
                                nn.LeakyReLU(0.2, inplace=True))]
        c = base_channels
        for i in range(1, num_layers + 1):
            c_out = base_channels * min(2 ** i, 8)
            stride = 2 if i < num_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(c, c_out, 4, stride=stride, padding=1),
                                        norm_layer(norm, c_out), nn.LeakyReLU(0.2, inplace=True)))
            c = c_out
        blocks.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.blocks = nn.ModuleList(blocks)

    def forward_features(self, x: Tensor) -> List[Tensor]:
        """Every block's output; the last one is the logit map."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects {self.in_channels} input channels '
                             f'(its `in_channels`), got a tensor of shape {tuple(x.shape)}')
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)[-1]


@MODELS.register_module()
class MultiScaleDiscriminator(BaseModule):
    """``num_scales`` PatchGANs of one architecture on the input at scales 1, 1/2, 1/4, ...

    pix2pixHD's multi-scale discriminator, LDR's D_1..D_3 (section 3.4): the coarser scales see
    a larger part of the image per output cell. Each scale is 2x smaller than the previous by a
    3x3 stride-2 average pooling that does not count the padding.

    Args:
        discriminator: Config of each scale's discriminator (e.g. a ``PatchGANDiscriminator``).
        num_scales: Number of scales (3 in LDR).
    """

    def __init__(self, discriminator: dict, num_scales: int = 3, init_cfg=None) -> None:
        super().__init__(init_cfg)
        if num_scales < 1:
            raise ValueError(f'MultiScaleDiscriminator num_scales must be >= 1, got {num_scales}')
        self.scales = nn.ModuleList(MODELS.build(discriminator) for _ in range(num_scales))
        self.in_channels = self.scales[0].in_channels

    @staticmethod
    def downsample(x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)

    def forward_features(self, x: Tensor) -> List[List[Tensor]]:
        """Per scale (finest first), the intermediate activations and last the logits."""
        out = []
        for i, disc in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            out.append(disc.forward_features(x))
        return out

    def forward(self, x: Tensor) -> List[Tensor]:
        """The logit map of every scale, finest first."""
        return [feats[-1] for feats in self.forward_features(x)]

"""AdaptSegNet's fully convolutional domain discriminator."""
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class FCDiscriminator(BaseModule):
    """Strided 4x4 convolutions down to one domain logit per patch.

    ``in_channels -> 64 -> 128 -> 256 -> 512 -> 1``, each conv 4x4 with stride 2 and padding 1,
    LeakyReLU(0.2) after all but the last. The output is a map at 1/32 of the input; it is
    scored as is (no upsampling), as the reference code does.

    Args:
        in_channels: Channels of the input: the number of classes for output-space
            adaptation, the feature width for the feature-level variant.
        channels: Widths of the hidden convolutions.
        negative_slope: Slope of the LeakyReLU.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (64, 128, 256, 512),
                 negative_slope: float = 0.2, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        widths = [in_channels, *channels]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1),
                       nn.LeakyReLU(negative_slope, inplace=True)]
        layers.append(nn.Conv2d(widths[-1], 1, 4, stride=2, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects {self.in_channels} input channels '
                             f'(its `in_channels`), got a tensor of shape {tuple(x.shape)}; '
                             'set the discriminator in_channels to the number of classes '
                             '(output space) or the feature width (feature level)')
        return self.layers(x)

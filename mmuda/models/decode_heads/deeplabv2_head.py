"""DeepLab-v2's classifier: a sum of parallel dilated 3x3 convolutions."""
from typing import Sequence

import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """Sum of 3x3 convolutions with dilation = padding = ``dilations``, straight to classes.

    Unlike mmseg's ASPP head there is no bottleneck and no 1x1 ``conv_seg``: each branch maps the
    backbone feature to class scores and the scores are summed. Weights are drawn from
    N(0, 0.01) and biases start at 0, as in the reference code.

    Args:
        dilations: Dilation of each branch. The paper uses (6, 12, 18, 24). The public
            AdaptSegNet/SSF-DAN code returns inside its loop and so only sums the first two
            branches; ``dilations=(6, 12)`` reproduces that variant.
        init_std: Standard deviation of the weight initialisation.
    """

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24), init_std: float = 0.01,
                 init_cfg=None, **kwargs) -> None:
        kwargs.setdefault('channels', kwargs.get('in_channels'))
        kwargs.setdefault('dropout_ratio', 0.0)
        # mmseg's default init_cfg targets ``conv_seg``, which this head does not have.
        super().__init__(init_cfg=init_cfg, **kwargs)
        del self.conv_seg  # the branches already produce class scores
        self.dilations = tuple(dilations)
        self.init_std = init_std
        self.branches = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d, dilation=d, bias=True)
            for d in self.dilations)

    def init_weights(self) -> None:
        super().init_weights()
        for conv in self.branches:
            nn.init.normal_(conv.weight, 0.0, self.init_std)
            nn.init.zeros_(conv.bias)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        return sum(conv(x) for conv in self.branches)

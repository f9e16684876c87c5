"""DeepLab-v2's classifier: a sum of parallel dilated 3x3 convolutions."""
import math
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
    N(0, 0.01), as in the reference code (AdaptSegNet's ``Classifier_Module``). Its biases keep
    PyTorch's default initialisation, uniform in +-1/sqrt(9 * in_channels) (at most 0.0074 on
    layer4, 0.0104 on layer3); mmuda starts them at 0 by default (``bias_init``).

    Args:
        dilations: Dilation of each branch. The paper uses (6, 12, 18, 24). The public
            AdaptSegNet/SSF-DAN code returns inside its loop and so only sums the first two
            branches; ``dilations=(6, 12)`` reproduces that variant.
        init_std: Standard deviation of the weight initialisation.
        bias_init: ``'zeros'`` (default: every class starts without an offset; the toy
            results in the method READMEs were measured with it) or ``'pytorch'``: PyTorch's
            default uniform bias, which the reference code keeps.
    """

    BIAS_INITS = ('zeros', 'pytorch')

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24), init_std: float = 0.01,
                 bias_init: str = 'zeros', init_cfg=None, **kwargs) -> None:
        if bias_init not in self.BIAS_INITS:
            raise ValueError(f'DeepLabV2Head bias_init must be one of {self.BIAS_INITS}, got '
                             f'{bias_init!r} (decode_head / auxiliary_head of the segmentor)')
        kwargs.setdefault('channels', kwargs.get('in_channels'))
        kwargs.setdefault('dropout_ratio', 0.0)
        # mmseg's default init_cfg targets ``conv_seg``, which this head does not have.
        super().__init__(init_cfg=init_cfg, **kwargs)
        del self.conv_seg  # the branches already produce class scores
        self.dilations = tuple(dilations)
        self.init_std = init_std
        self.bias_init = bias_init
        self.branches = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d, dilation=d, bias=True)
            for d in self.dilations)

    def init_weights(self) -> None:
        """The reference initialisation, then a given ``init_cfg`` (e.g. ``Pretrained``) on top,
        so that a user's initialisation is not silently replaced by the default one."""
        for conv in self.branches:
            nn.init.normal_(conv.weight, 0.0, self.init_std)
            if self.bias_init == 'zeros':
                nn.init.zeros_(conv.bias)
            else:  # PyTorch's Conv2d default, as the reference leaves it
                bound = 1.0 / math.sqrt(conv.weight[0].numel())
                nn.init.uniform_(conv.bias, -bound, bound)
        super().init_weights()

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        return sum(conv(x) for conv in self.branches)

"""The ResNet of DeepLab-v2 as the AdaptSegNet lineage builds it."""
import torch.nn as nn
from mmseg.models.backbones import ResNet
from mmseg.registry import MODELS


@MODELS.register_module()
class DeepLabV2ResNet(ResNet):
    """mmseg's ResNet with DeepLab-v2's ceil-mode max-pool and fully frozen batch norm.

    The reference DeepLab-v2 stem pools with ``ceil_mode=True``, which mmseg's ResNet lacks;
    it is what makes a 512x1024 input give 65x129 logits instead of 64x128. Batch statistics at
    batch size 1 are useless, so every BN layer keeps its pretrained affine parameters
    (``requires_grad=False``) and running statistics (``norm_eval=True``). The defaults are the
    Caffe-style ResNet-101 with output stride 8 (dilation 2 in layer3, 4 in every block of
    layer4, no contracted dilation).
    """

    def __init__(self,
                 depth: int = 101,
                 style: str = 'caffe',
                 strides: tuple = (1, 2, 1, 1),
                 dilations: tuple = (1, 1, 2, 4),
                 contract_dilation: bool = False,
                 norm_cfg: dict = dict(type='BN', requires_grad=False),
                 norm_eval: bool = True,
                 ceil_mode_pool: bool = True,
                 **kwargs) -> None:
        super().__init__(depth=depth, style=style, strides=strides, dilations=dilations,
                         contract_dilation=contract_dilation, norm_cfg=norm_cfg,
                         norm_eval=norm_eval, **kwargs)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=ceil_mode_pool)

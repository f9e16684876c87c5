"""Convert torchvision's ImageNet ResNet (``resnet101-*.pth``, the FADA lineage) for mmuda.

The keys are already mmseg ResNet names; they become ``backbone.conv1.weight``, ... and the
ImageNet ``fc`` classifier is dropped. The weights fit the model FADA builds, which differs from
the Caffe DeepLab-v2: stride on the 3x3 conv, first dilation of layer3/layer4 contracted, no
ceil-mode pool, RGB input normalised with the ImageNet mean and std, i.e.

    backbone=dict(type='DeepLabV2ResNet', style='pytorch', contract_dilation=True,
                  ceil_mode_pool=False, init_cfg=dict(type='Pretrained', prefix='backbone.',
                                                      checkpoint='checkpoints/r101_tv.pth'))

Use (default prefix ''):

    python tools/model_converters/torchvision_resnet.py resnet101-63fe2227.pth \\
        checkpoints/r101_tv.pth --config CONFIG
"""
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, build_parser, convert_file, run_cli  # noqa: E402

from mmuda.utils.weight_conversion import convert_torchvision_resnet  # noqa: E402

NAME = 'torchvision_resnet'


def main(argv: Optional[Sequence[str]] = None) -> Report:
    args = build_parser(__doc__, default_prefix='').parse_args(argv)
    return convert_file(args, NAME, convert_torchvision_resnet)


if __name__ == '__main__':
    run_cli(main)

"""Convert a trained AdaptSegNet / ADVENT DeepLab-v2 checkpoint for mmuda.

Source keys: ``conv1.weight``, ``layer1.0.conv1.weight``, ... and one or two classifiers
``layer5``/``layer6.conv2d_list.{0..3}`` (a leading ``module.`` of DataParallel is stripped). The
classifier that reads layer4 (2048 channels in ResNet-101) becomes ``decode_head``, the one that
reads layer3 (1024) ``auxiliary_head``; this is decided from the weight shapes, because the names
differ between codes (AdaptSegNet multi-level: layer5 on layer3, layer6 on layer4; AdaptSegNet
single-level: layer5 on layer4; ADVENT: layer6 on layer4).

Use (default prefix 'segmentor.'): as ``load_from`` of a UDA config, or directly for testing,

    python tools/model_converters/adaptsegnet.py GTA2Cityscapes_multi.pth \\
        checkpoints/adaptsegnet_gta5_multi.pth --config \\
        configs/adaptsegnet/adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512.py
    python tools/test.py CONFIG checkpoints/adaptsegnet_gta5_multi.pth

The public AdaptSegNet code sums only the dilation-6 and -12 branches (it returns inside its
loop), so branches 2 and 3 of its checkpoints were never trained: evaluate those with
``DeepLabV2Head(dilations=(6, 12))``; the two extra branches are then reported as output keys
the model does not have and ignored by the non-strict ``load_from``.
"""
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, build_parser, convert_file, run_cli  # noqa: E402

from mmuda.utils.weight_conversion import convert_adaptsegnet  # noqa: E402

NAME = 'adaptsegnet'


def main(argv: Optional[Sequence[str]] = None) -> Report:
    args = build_parser(__doc__, default_prefix='segmentor.').parse_args(argv)
    return convert_file(args, NAME, convert_adaptsegnet)


if __name__ == '__main__':
    run_cli(main)

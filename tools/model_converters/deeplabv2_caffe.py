"""Convert the Caffe DeepLab-v2 init (``DeepLab_resnet_pretrained_init-f81d91e8.pth``) for mmuda.

The file holds ImageNet+COCO Caffe weights of DeepLab-v2 ResNet-101 under ``Scale.`` and a
``layer5`` classifier trained for another label set. The backbone keys become
``backbone.conv1.weight``, ``backbone.layer1.0.downsample.1.weight``, ...; ``layer5`` is dropped
(as the reference code does for 19 classes) unless ``--keep-classifier`` maps it to
``decode_head.branches.{0..3}``. The file predates ``num_batches_tracked``; the counters are added.

Use (default prefix ''): on the backbone of a DeepLab-v2 config,

    python tools/model_converters/deeplabv2_caffe.py \\
        DeepLab_resnet_pretrained_init-f81d91e8.pth checkpoints/deeplabv2_r101_caffe_init.pth \\
        --config configs/_base_/models/deeplabv2_r101.py
    segmentor.backbone.init_cfg = dict(type='Pretrained', prefix='backbone.',
                                       checkpoint='checkpoints/deeplabv2_r101_caffe_init.pth')
"""
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, build_parser, convert_file, run_cli  # noqa: E402

from mmuda.utils.weight_conversion import convert_caffe_init  # noqa: E402

NAME = 'deeplabv2_caffe'


def main(argv: Optional[Sequence[str]] = None) -> Report:
    parser = build_parser(__doc__, default_prefix='')
    parser.add_argument('--keep-classifier', action='store_true',
                        help='map Scale.layer5 to decode_head instead of dropping it (only '
                             'useful when its number of classes is the one you train)')
    args = parser.parse_args(argv)
    return convert_file(args, NAME, lambda state: convert_caffe_init(state, args.keep_classifier))


if __name__ == '__main__':
    run_cli(main)

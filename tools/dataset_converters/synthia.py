"""Convert SYNTHIA-RAND-CITYSCAPES' 16-bit labels into trainId PNGs and class statistics.

Raw tree (the RAND_CITYSCAPES archive unpacked):
    RAW_ROOT/RGB/0000000.png           RGB, 1280x760
    RAW_ROOT/GT/LABELS/0000000.png     16-bit 3-channel PNG; the class id is the first (R)
                                       channel, the instance id the second
Writes:
    OUT_DIR/GT/LABELS/0000000_labelTrainIds.png   8-bit Cityscapes trainIds, 255 = ignore
    OUT_DIR/class_stats.json
An 8-bit label was re-saved by some tool and lost the class ids: it is reported, as is a
label of another size than its image.
"""
import sys
from pathlib import Path

from mmuda.datasets.convert import (
    LabelFormat,
    RawTree,
    converter_parser,
    list_files,
    missing_dirs,
    pair_files,
    run_converter,
)
from mmuda.datasets.label_maps import NUM_SYNTHIA_IDS, SYNTHIA_ID_TO_TRAIN_ID

OUTPUT_SUFFIX = '_labelTrainIds.png'
LABEL_FORMAT = LabelFormat(
    description='a 16-bit 3-channel PNG with SYNTHIA class ids 0-22 in the first channel, '
                'as distributed (read with cv2.IMREAD_UNCHANGED)',
    id_to_train_id=SYNTHIA_ID_TO_TRAIN_ID, num_ids=NUM_SYNTHIA_IDS, bit_depth=16, channels=3,
    class_channel=0)


def find_samples(root: Path, out_dir: Path) -> RawTree:
    """Pair ``RGB/<n>.png`` with ``GT/LABELS/<n>.png`` by name."""
    tree = RawTree('SYNTHIA', root, LABEL_FORMAT, image_dirs=['RGB'])
    tree.problems += missing_dirs(root, ['RGB', 'GT/LABELS'])
    if tree.problems:
        return tree
    images = list_files(root / 'RGB', '.png')
    labels = list_files(root / 'GT' / 'LABELS', '.png', exclude=[OUTPUT_SUFFIX])
    pair_files(tree, images, labels,
               lambda name, _: out_dir / 'GT' / 'LABELS' / f'{name}{OUTPUT_SUFFIX}',
               out_dir / 'class_stats.json')
    return tree


def main(argv=None) -> int:
    args = converter_parser(__doc__).parse_args(argv)
    return run_converter(find_samples, args)


if __name__ == '__main__':
    sys.exit(main())

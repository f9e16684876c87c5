"""Convert Cityscapes' gtFine labelIds PNGs into trainId PNGs and class statistics.

mmseg's own converter (tools/dataset_converters/cityscapes.py of the mmsegmentation
repository) is not installed with the pip package and needs cityscapesscripts to render the
polygons; the labelIds PNGs of gtFine_trainvaltest already hold the same rendering.

Raw tree (leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip unpacked into one root):
    RAW_ROOT/leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png
    RAW_ROOT/gtFine/{train,val}/<city>/<name>_gtFine_labelIds.png
Writes (the names mmseg's CityscapesDataset reads):
    OUT_DIR/gtFine/{train,val}/<city>/<name>_gtFine_labelTrainIds.png
    OUT_DIR/class_stats_train.json, OUT_DIR/class_stats_val.json
The test split has no public labels and is not converted.
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
from mmuda.datasets.label_maps import LABEL_ID_EXTRA_IGNORED, LABEL_ID_TO_TRAIN_ID, NUM_LABEL_IDS

SPLITS = ('train', 'val')
IMAGE_SUFFIX = '_leftImg8bit.png'
RAW_SUFFIX = '_gtFine_labelIds.png'
OUTPUT_SUFFIX = '_gtFine_labelTrainIds.png'
LABEL_FORMAT = LabelFormat(
    description='an 8-bit single-channel PNG of Cityscapes labelIds 0-33',
    id_to_train_id=LABEL_ID_TO_TRAIN_ID, num_ids=NUM_LABEL_IDS,
    extra_ids=LABEL_ID_EXTRA_IGNORED)


def find_samples(root: Path, out_dir: Path) -> RawTree:
    """Pair ``leftImg8bit/<split>/<city>/<n>_leftImg8bit.png`` with its gtFine labelIds."""
    tree = RawTree('Cityscapes', root, LABEL_FORMAT, image_dirs=['leftImg8bit'])
    tree.problems += missing_dirs(root, [f'{d}/{s}' for d in ('leftImg8bit', 'gtFine')
                                         for s in SPLITS])
    if tree.problems:
        return tree
    for split in SPLITS:
        images = list_files(root / 'leftImg8bit' / split, IMAGE_SUFFIX, recursive=True)
        labels = list_files(root / 'gtFine' / split, RAW_SUFFIX, recursive=True)
        pair_files(tree, images, labels,
                   lambda name, _, s=split: out_dir / 'gtFine' / s / f'{name}{OUTPUT_SUFFIX}',
                   out_dir / f'class_stats_{split}.json')
    return tree


def main(argv=None) -> int:
    args = converter_parser(__doc__).parse_args(argv)
    return run_converter(find_samples, args)


if __name__ == '__main__':
    sys.exit(main())

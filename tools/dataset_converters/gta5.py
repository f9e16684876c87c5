"""Convert GTA5's labels (Cityscapes labelIds) into trainId PNGs and class statistics.

Raw tree (as downloaded from the project page, parts unzipped into one root):
    RAW_ROOT/images/00001.png          RGB, 1914x1052
    RAW_ROOT/labels/00001.png          8-bit palette PNG of Cityscapes labelIds
Writes:
    OUT_DIR/labels/00001_labelTrainIds.png   8-bit trainIds, 255 = ignore
    OUT_DIR/class_stats.json
A few GTA5 labels are not the size of their image; they are resized to it (nearest
neighbour) and listed in the summary. Every other problem stops the run before it writes.
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

OUTPUT_SUFFIX = '_labelTrainIds.png'
LABEL_FORMAT = LabelFormat(
    description='an 8-bit single-channel (palette or grey) PNG of Cityscapes labelIds 0-33',
    id_to_train_id=LABEL_ID_TO_TRAIN_ID, num_ids=NUM_LABEL_IDS,
    extra_ids=LABEL_ID_EXTRA_IGNORED)


def find_samples(root: Path, out_dir: Path) -> RawTree:
    """Pair ``images/<n>.png`` with ``labels/<n>.png`` by name."""
    tree = RawTree('GTA5', root, LABEL_FORMAT, resize_mismatched_labels=True,
                   image_dirs=['images'])
    tree.problems += missing_dirs(root, ['images', 'labels'])
    if tree.problems:
        return tree
    images = list_files(root / 'images', '.png')
    labels = list_files(root / 'labels', '.png', exclude=[OUTPUT_SUFFIX])
    pair_files(tree, images, labels,
               lambda name, _: out_dir / 'labels' / f'{name}{OUTPUT_SUFFIX}',
               out_dir / 'class_stats.json')
    return tree


def main(argv=None) -> int:
    args = converter_parser(__doc__).parse_args(argv)
    return run_converter(find_samples, args)


if __name__ == '__main__':
    sys.exit(main())

"""Convert the NTHU Cross-City test labels into trainId PNGs and class statistics.

Raw tree (NTHU_Datasets as distributed; one folder per city):
    RAW_ROOT/<City>/Images/Train/<name>.jpg       3,200 unlabelled images per city
    RAW_ROOT/<City>/Images/Test/<name>.jpg        100 labelled images per city
    RAW_ROOT/<City>/Labels/Test/<name>_eval.png   8-bit Cityscapes labelIds
Writes:
    OUT_DIR/<City>/Labels/Test/<name>_labelTrainIds.png   Cityscapes trainIds of the 13
                                                          annotated classes, 255 elsewhere
    OUT_DIR/<City>/class_stats_test.json
Cities: Rome, Rio, Tokyo, Taipei (all by default, or --cities). A label of another size than
its image is an error.
"""
import sys
from pathlib import Path
from typing import Sequence

from mmuda.datasets.convert import (
    LabelFormat,
    RawTree,
    converter_parser,
    list_files,
    missing_dirs,
    pair_files,
    run_converter,
)
from mmuda.datasets.crosscity import CITIES
from mmuda.datasets.label_maps import (
    CROSSCITY_LABEL_ID_TO_TRAIN_ID,
    LABEL_ID_EXTRA_IGNORED,
    NUM_LABEL_IDS,
)

RAW_SUFFIX = '_eval.png'
OUTPUT_SUFFIX = '_labelTrainIds.png'
DIRS = ('Images/Train', 'Images/Test', 'Labels/Test')
LABEL_FORMAT = LabelFormat(
    description='an 8-bit single-channel PNG of Cityscapes labelIds 0-33',
    id_to_train_id=CROSSCITY_LABEL_ID_TO_TRAIN_ID, num_ids=NUM_LABEL_IDS,
    extra_ids=LABEL_ID_EXTRA_IGNORED)


def _add_city(tree: RawTree, city: str, out_dir: Path) -> None:
    root = tree.root / city
    if not root.is_dir():
        tree.problems.append(f'missing folder: {city}/ (convert fewer cities with --cities)')
        return
    missing = missing_dirs(tree.root, [f'{city}/{d}' for d in DIRS])
    if missing:
        tree.problems += missing
        return
    if not list_files(root / 'Images' / 'Train', '.jpg'):
        tree.problems.append(f'no images: {city}/Images/Train/ has no *.jpg')
    images = list_files(root / 'Images' / 'Test', '.jpg')
    labels = list_files(root / 'Labels' / 'Test', RAW_SUFFIX)
    pair_files(tree, images, labels,
               lambda name, _: out_dir / city / 'Labels' / 'Test' / f'{name}{OUTPUT_SUFFIX}',
               out_dir / city / 'class_stats_test.json')


def make_tree_builder(cities: Sequence[str] = CITIES):
    """A ``find_samples(root, out_dir)`` restricted to ``cities``."""
    def find_samples(root: Path, out_dir: Path) -> RawTree:
        tree = RawTree('Cross-City', root, LABEL_FORMAT,
                       image_dirs=[f'{c}/Images' for c in cities])
        for city in cities:
            _add_city(tree, city, out_dir)
        return tree
    return find_samples


find_samples = make_tree_builder()


def main(argv=None) -> int:
    parser = converter_parser(__doc__)
    parser.add_argument('--cities', nargs='+', choices=CITIES, default=list(CITIES),
                        help='cities to convert (default: all four)')
    args = parser.parse_args(argv)
    return run_converter(make_tree_builder(args.cities), args)


if __name__ == '__main__':
    sys.exit(main())

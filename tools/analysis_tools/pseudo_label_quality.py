"""How right a folder of pseudo/proxy labels is, measured against the target's ground truth.

An analysis, like evaluation, never a training signal: it answers whether a self-training
stage has anything to learn from (configs/mada/README.md shows a toy case where it had not).
Every label PNG under ``LABEL_DIR`` (written by ``tools/generate_pseudo_labels.py``) is paired
with the file of the same relative path under ``GT_DIR``; pixels equal to ``--ignore-index`` in
the pseudo labels are unlabelled. Printed, and written to ``--out`` as JSON (atomically):

* coverage: labelled pixels / all pixels; accuracy: right pixels / labelled pixels;
* per class: precision (right / labelled as the class), recall (right / ground-truth pixels of
  the class, over all pixels) and the IoU over the labelled pixels.

Example::

    python tools/analysis_tools/pseudo_label_quality.py work_dirs/mada-toy_proxy_labels \\
        data/toy_domains/target/gtFine/train
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image
from prettytable import PrettyTable
from tqdm import tqdm

from mmuda.utils.atomic_write import atomic_write_text


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('label_dir', help='pseudo-label folder (tools/generate_pseudo_labels.py)')
    parser.add_argument('gt_dir', help='ground-truth folder with the same relative paths')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='default: options.num_classes of LABEL_DIR/pseudo_labels.json')
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument('--out', default=None, help='JSON report path (default: none)')
    return parser.parse_args(argv)


def label_files(label_dir: Path) -> List[Path]:
    files = sorted(p.relative_to(label_dir) for p in label_dir.rglob('*.png'))
    if not files:
        raise FileNotFoundError(f'{label_dir}: no label PNGs found')
    return files


def read_labels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int64)


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int,
              where: str) -> np.ndarray:
    """(gt class, pseudo class) pixel counts over the pixels both label."""
    if pred.shape != gt.shape:
        raise ValueError(f'{where}: pseudo labels {pred.shape} vs ground truth {gt.shape}')
    bad = (pred != ignore_index) & ((pred < 0) | (pred >= num_classes))
    if bad.any():
        raise ValueError(f'{where}: pseudo label value {int(pred[bad][0])} is neither a class '
                         f'(0..{num_classes - 1}) nor the ignore index {ignore_index}')
    both = (pred != ignore_index) & (gt >= 0) & (gt < num_classes)
    index = gt[both] * num_classes + pred[both]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def quality(conf: np.ndarray, gt_pixels: np.ndarray, labelled: int, total: int,
            class_names: Sequence[str]) -> Dict:
    """Summary and per-class numbers from the accumulated counts."""
    right = np.diag(conf).astype(np.float64)
    as_class = conf.sum(0)
    union = as_class + conf.sum(1) - right

    def ratio(a, b):
        return [float(x) / float(y) if y else float('nan') for x, y in zip(a, b)]

    per_class = {
        name: dict(precision=p, recall=r, iou_labelled=i)
        for name, p, r, i in zip(class_names, ratio(right, as_class), ratio(right, gt_pixels),
                                 ratio(right, union))}
    return dict(coverage=labelled / total if total else float('nan'),
                accuracy=float(right.sum() / conf.sum()) if conf.sum() else float('nan'),
                labelled_pixels=int(labelled), total_pixels=int(total), per_class=per_class)


def measure(label_dir: Path, gt_dir: Path, num_classes: int, ignore_index: int,
            class_names: Sequence[str]) -> Dict:
    conf = np.zeros((num_classes, num_classes), np.int64)
    gt_pixels = np.zeros(num_classes, np.int64)
    labelled = total = 0
    for rel in tqdm(label_files(label_dir), desc='pseudo-label quality', unit='map'):
        gt_path = gt_dir / rel
        if not gt_path.is_file():
            raise FileNotFoundError(f'{label_dir / rel}: no ground truth at {gt_path}')
        pred, gt = read_labels(label_dir / rel), read_labels(gt_path)
        conf += confusion(pred, gt, num_classes, ignore_index, str(label_dir / rel))
        valid = gt[(gt >= 0) & (gt < num_classes)]
        gt_pixels += np.bincount(valid, minlength=num_classes)
        labelled += int((pred != ignore_index).sum())
        total += pred.size
    return quality(conf, gt_pixels, labelled, total, class_names)


def summary_options(label_dir: Path) -> Dict:
    path = label_dir / 'pseudo_labels.json'
    return json.loads(path.read_text()) if path.is_file() else {}


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    label_dir, gt_dir = Path(args.label_dir), Path(args.gt_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f'gt_dir {gt_dir} is not a folder')
    summary = summary_options(label_dir)
    num_classes = args.num_classes or summary.get('options', {}).get('num_classes')
    if not num_classes:
        raise ValueError(f'--num-classes is needed: {label_dir}/pseudo_labels.json does not give '
                         'options.num_classes')
    names = list(summary.get('kept_pixels', {}))
    if len(names) != num_classes:
        names = [str(c) for c in range(num_classes)]
    report = measure(label_dir, gt_dir, num_classes, args.ignore_index, names)
    table = PrettyTable(['class', 'precision', 'recall', 'IoU (labelled)'])
    for name, row in report['per_class'].items():
        table.add_row([name] + [f'{100 * row[k]:.1f}' for k in
                                ('precision', 'recall', 'iou_labelled')])
    print(table)
    print(f'coverage {100 * report["coverage"]:.1f}%, accuracy on labelled pixels '
          f'{100 * report["accuracy"]:.1f}%')
    if args.out:
        atomic_write_text(json.dumps(report, indent=2), args.out)
    return report


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'error: {error}')

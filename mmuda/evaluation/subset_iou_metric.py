"""mIoU over several class subsets (19, 16, 13 Cityscapes classes) from one confusion matrix.

SYNTHIA->Cityscapes papers report mIoU over 16 classes and mIoU* over 13, Cross-City papers over
13; rescaling a 19-class mean by hand (``mIoU19 * 19 / 16``) is wrong whenever a class outside the
subset has a non-zero IoU. Every subset here is the nan-mean of the per-class IoUs of the same
confusion matrix, so the numbers of one run are consistent by construction.
"""
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from mmuda.datasets.label_maps import SYNTHIA_13, SYNTHIA_16

# The subsets in Cityscapes trainIds (mmuda/datasets/label_maps.py): the 13 classes of SYNTHIA
# and Cross-City, and those 13 plus wall, fence and pole.
CITYSCAPES_13, CITYSCAPES_16 = SYNTHIA_13, SYNTHIA_16

# Named settings a dataset config selects with ``subsets='<name>'``. Each is defined on the 19
# Cityscapes trainIds; the all-classes subset (``mIoU19``) is always added.
SUBSET_PRESETS: Dict[str, dict] = {
    'cityscapes': dict(subsets=dict(mIoU16=CITYSCAPES_16, mIoU13=CITYSCAPES_13),
                       primary='mIoU19'),
    # The 13-class mIoU* is the headline of the SYNTHIA tables (mIoU16 is reported beside it).
    'synthia': dict(subsets=dict(mIoU16=CITYSCAPES_16, mIoU13=CITYSCAPES_13), primary='mIoU13'),
    'cross_city': dict(subsets=dict(mIoU13=CITYSCAPES_13), primary='mIoU13'),
}
SUBSET_PRESETS['gta5'] = SUBSET_PRESETS['cityscapes']

# Keys the metric returns itself; a subset may not take one of these names.
RESERVED = ('aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore', 'mPrecision', 'mRecall')

SubsetSpec = Union[None, str, Dict[str, Sequence[Union[int, str]]]]


@METRICS.register_module()
class SubsetIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` with one confusion matrix and mIoU over named class subsets.

    Each image contributes a ``num_classes x num_classes`` confusion matrix (rows ground truth,
    columns prediction; ``ignore_index`` and labels outside the class range are skipped as in
    ``IoUMetric``); :meth:`compute_metrics` sums them into one matrix and derives every number
    from it. A class that never occurs in the ground truth and is never predicted has IoU NaN and
    is left out of every mean (nan-mean), as the papers do.

    Returned keys: ``aAcc``; ``mIoU`` (and ``mAcc``, ``mDice``... as ``iou_metrics`` asks) over
    the ``primary`` subset, so ``save_best='mIoU'`` follows the number a paper reports; one key
    per subset with its mIoU, always including ``mIoU<num_classes>`` over all classes.

    Args:
        subsets: ``None`` (the default): all classes, plus ``mIoU16``/``mIoU13`` when the
            dataset has the 19 Cityscapes classes. A preset name (``'cityscapes'``/``'gta5'``:
            primary mIoU19; ``'synthia'``: primary mIoU13, mIoU16 beside it;
            ``'cross_city'``: primary mIoU13).
            Or a dict ``name -> class ids or class names``, e.g.
            ``dict(mIoU16=[0, 1, ...], mIoU13=[...])``.
        primary: The subset reported as ``mIoU``; defaults to the preset's, else all classes.
        **kwargs: Everything ``IoUMetric`` accepts (``ignore_index``, ``iou_metrics``,
            ``nan_to_num``, ``output_dir``, ``format_only``, ``prefix``...).
    """

    def __init__(self, subsets: SubsetSpec = None, primary: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self._subset_spec, self._primary_spec = _check_spec(subsets, primary)
        self.subsets: Dict[str, np.ndarray] = OrderedDict()
        self.primary: Optional[str] = None

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """Resolve the subsets as soon as the classes are known: a wrong id fails at startup."""
        self._dataset_meta = dataset_meta
        self._resolve_subsets(list(dataset_meta['classes']))

    def _resolve_subsets(self, classes: List[str]) -> None:
        self.subsets, self.primary = resolve_subsets(self._subset_spec, self._primary_spec,
                                                     classes)

    # ------------------------------------------------------------------ accumulation
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Append one confusion matrix per image to ``self.results``.

        Per image (not one running sum) because mmengine's distributed collection truncates the
        results to the dataset length, which drops the samples a sampler padded in.
        """
        if self.output_dir is not None:  # mmseg writes the prediction PNGs
            kept = len(self.results)
            super().process(data_batch, data_samples)
            del self.results[kept:]
        if self.format_only:
            return
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            self.results.append(confusion_matrix(pred, label, num_classes, self.ignore_index))

    # ------------------------------------------------------------------ metrics
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the confusion matrices and report aAcc, the primary means and every subset."""
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'results are saved to {self.output_dir}')
            return OrderedDict()
        classes = list(self.dataset_meta['classes'])
        if not self.subsets:
            self._resolve_subsets(classes)
        conf = torch.stack([torch.as_tensor(r) for r in results]).sum(0)
        per_class = self._per_class_metrics(conf)
        metrics = OrderedDict(aAcc=_percent(per_class.pop('aAcc')))
        primary_ids = self.subsets[self.primary]
        for key, values in per_class.items():
            metrics['m' + key] = _percent(_nanmean(values[primary_ids]))
        for name, ids in self.subsets.items():
            metrics[name] = _percent(_nanmean(per_class['IoU'][ids]))
        self._log_tables(classes, per_class, metrics, logger)
        return dict(metrics)

    def _per_class_metrics(self, conf: torch.Tensor) -> Dict[str, np.ndarray]:
        """mmseg's own formulas, fed with the areas of the summed confusion matrix."""
        conf = conf.to(torch.float64)
        intersect = conf.diagonal()
        area_label, area_pred = conf.sum(1), conf.sum(0)
        union = area_label + area_pred - intersect
        return OrderedDict(self.total_area_to_metrics(
            intersect, union, area_pred, area_label, self.metrics, self.nan_to_num, self.beta))

    def _log_tables(self, classes: List[str], per_class: Dict[str, np.ndarray],
                    metrics: Dict[str, float], logger: MMLogger) -> None:
        """IoUMetric's per-class table, plus one column per subset marking its members."""
        table = PrettyTable()
        table.add_column('Class', classes)
        for key, values in per_class.items():
            table.add_column(key, [_percent(v) for v in values])
        for name, ids in self.subsets.items():
            member = np.zeros(len(classes), bool)
            member[ids] = True
            table.add_column(name, ['x' if m else '' for m in member])
        print_log('per class results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
        subsets = ', '.join(f'{n} ({len(i)} classes) {metrics[n]}'
                            for n, i in self.subsets.items())
        print_log(f'mIoU = {self.primary}; {subsets}', logger=logger)


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """``num_classes x num_classes`` int64 counts, rows ground truth and columns prediction.

    Pixels labelled ``ignore_index`` or outside ``[0, num_classes)`` are skipped (what
    ``IoUMetric``'s histograms do); a prediction outside the range is an error, because silently
    dropping it would raise that pixel's class IoU.
    """
    pred, label = pred.reshape(-1).long(), label.reshape(-1).long()
    valid = (label != ignore_index) & (label >= 0) & (label < num_classes)
    pred, label = pred[valid], label[valid]
    if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f'prediction holds class id {int(pred.max())} or {int(pred.min())}, '
                         f'outside [0, {num_classes}) of the dataset classes')
    counts = torch.bincount(label * num_classes + pred, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes).cpu()


def resolve_subsets(spec: SubsetSpec, primary: Optional[str],
                    classes: List[str]) -> tuple:
    """``(OrderedDict name -> sorted class-id array, primary name)`` for a dataset's classes.

    The all-classes subset ``mIoU<num_classes>`` comes first; the errors name the config key.
    """
    spec, primary = _check_spec(spec, primary)
    num = len(classes)
    full = f'mIoU{num}'
    if spec is None:
        preset = 'cityscapes' if num == 19 else None
        spec = SUBSET_PRESETS[preset]['subsets'] if preset else {}
    elif isinstance(spec, str):
        if num != 19:
            raise ValueError(f'evaluator `subsets={spec!r}` is defined on the 19 Cityscapes '
                             f'trainIds, but the dataset has {num} classes '
                             '(dataset_meta["classes"]); give `subsets` as a dict of class ids')
        primary = primary or SUBSET_PRESETS[spec]['primary']
        spec = SUBSET_PRESETS[spec]['subsets']
    subsets = OrderedDict({full: np.arange(num)})
    for name, ids in spec.items():
        subsets[name] = _class_ids(name, ids, classes)
    primary = primary or full
    if primary not in subsets:
        raise KeyError(f'evaluator `primary={primary!r}` is not a subset; expected one of '
                       f'{list(subsets)}')
    return subsets, primary


def _check_spec(spec: SubsetSpec, primary: Optional[str]) -> tuple:
    """Validate what does not depend on the dataset, at config-build time."""
    if isinstance(spec, str):
        if spec not in SUBSET_PRESETS:
            raise KeyError(f'evaluator `subsets={spec!r}` is not a preset; expected one of '
                           f'{sorted(SUBSET_PRESETS)} or a dict name -> class ids')
        return spec, primary
    if spec is None:
        return spec, primary
    if not isinstance(spec, dict):
        raise TypeError(f'evaluator `subsets` must be None, a preset name or a dict name -> '
                        f'class ids, got {type(spec).__name__}')
    for name, ids in spec.items():
        if not isinstance(name, str) or name in RESERVED:
            raise ValueError(f'evaluator `subsets` key {name!r} is not allowed: it must be a '
                             f'string other than {RESERVED}')
        if isinstance(ids, (str, int)) or len(ids) == 0:
            raise ValueError(f'evaluator `subsets[{name!r}]` must be a non-empty list of class '
                             f'ids or names, got {ids!r}')
    return dict(spec), primary


def _class_ids(name: str, ids: Sequence[Union[int, str]], classes: List[str]) -> np.ndarray:
    """Class ids (ints or class names) of one subset, checked against the dataset's classes."""
    out = []
    for c in ids:
        if isinstance(c, str):
            if c not in classes:
                raise ValueError(f'evaluator `subsets[{name!r}]` names class {c!r}, which is '
                                 f'not in dataset_meta["classes"] {classes}')
            c = classes.index(c)
        elif not isinstance(c, (int, np.integer)) or not 0 <= c < len(classes):
            raise ValueError(f'evaluator `subsets[{name!r}]` has class id {c!r}, outside '
                             f'[0, {len(classes)}) of the dataset\'s {len(classes)} classes '
                             '(dataset_meta["classes"])')
        out.append(int(c))
    if len(set(out)) != len(out):
        raise ValueError(f'evaluator `subsets[{name!r}]` lists a class twice: {list(ids)}')
    return np.array(sorted(out), dtype=np.int64)


def _nanmean(values: np.ndarray) -> float:
    """Mean over the non-NaN entries; NaN (without numpy's warning) when there are none."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return float(np.nanmean(values))


def _percent(value) -> Union[float, np.ndarray]:
    """mmseg's reporting convention: percentages rounded to two decimals."""
    return np.round(np.asarray(value, dtype=np.float64) * 100, 2).tolist()

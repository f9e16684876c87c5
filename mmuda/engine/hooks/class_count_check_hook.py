"""Refuse to train or evaluate when the model's class counts and the datasets' class lists differ.

Without this check a decode head with fewer classes than the data stops at the first iteration
with a bare ``IndexError: Target 6 is out of bounds`` (a device-side assert on CUDA), and one
with more classes trains and validates silently: the extra outputs are never a target, the
evaluator reads the class list from the dataset, and nothing says the numbers are wrong.
"""
from typing import Dict, Iterator, List, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from mmuda.datasets.transforms import bind_label_checks
from mmuda.models.uda.uda_segmentor import segmentor_class_fields


def model_class_fields(model: nn.Module) -> Dict[str, int]:
    """``{config key: value}`` of the model settings that must equal the number of classes.

    A model says which they are through ``class_count_fields()`` (UDA segmentors, LDR's
    pre-training); a plain mmseg segmentor is read from its heads.
    """
    if is_model_wrapper(model):
        model = model.module
    fields = getattr(model, 'class_count_fields', None)
    return fields() if callable(fields) else segmentor_class_fields(model, 'model')


def dataset_leaves(dataset, key: str) -> List[Tuple[str, object]]:
    """``(config key, dataset)`` of ``dataset``, or of the datasets it wraps (a
    ``UDADataset``'s source and target, a ``ConcatDataset``'s parts, a ``RepeatDataset``'s)."""
    wrapped = [(f'{key}.{name}', getattr(dataset, name, None))
               for name in ('source', 'target', 'dataset')]
    wrapped += [(f'{key}.datasets.{i}', d) for i, d in enumerate(getattr(dataset, 'datasets', []))]
    wrapped = [(k, d) for k, d in wrapped if d is not None]
    if not wrapped:
        return [(key, dataset)]
    return [leaf for k, d in wrapped for leaf in dataset_leaves(d, k)]


def dataset_class_lists(dataset, key: str) -> Iterator[Tuple[str, str, int]]:
    """``(config key, dataset type, number of classes)`` of each of :func:`dataset_leaves`."""
    for leaf_key, leaf in dataset_leaves(dataset, key):
        classes = (getattr(leaf, 'metainfo', None) or {}).get('classes')
        if classes:
            yield leaf_key, type(leaf).__name__, len(classes)


def check_class_counts(model: nn.Module, datasets: Dict[str, object]) -> None:
    """Raise one ``ValueError`` listing every class count when they are not all equal.

    Args:
        model: The model (wrapped or not).
        datasets: ``{config key: built dataset}``, e.g. ``{'train_dataloader.dataset': ...}``.
    """
    lists = [item for key, dataset in datasets.items()
             for item in dataset_class_lists(dataset, key)]
    if not lists:
        return  # datasets without a class list (e.g. a translator's images): nothing to compare
    fields = model_class_fields(model)
    counts = {n for _, _, n in lists} | set(fields.values())
    if len(counts) == 1:
        return
    described = [f'{key} ({kind}) has {n} classes' for key, kind, n in lists]
    described += [f'{key} is {value}' for key, value in fields.items()]
    raise ValueError('class counts disagree: ' + '; '.join(described) + '. The model\'s class '
                     'counts must equal the number of classes of the datasets: fix the keys '
                     'whose value differs (or the datasets\' metainfo classes)')


@HOOKS.register_module()
class ClassCountCheckHook(Hook):
    """Before training, validation or testing: the model's class counts equal the datasets'.

    Checks the settings a model lists in ``class_count_fields()`` (the heads' ``num_classes``,
    discriminator widths that follow them) against the class lists of the datasets about to be
    used, and refuses a mismatch with one error naming every config key and dataset. It also
    gives each ``CheckSegLabels`` without ``num_classes`` in those datasets' pipelines the class
    count (and refuses a stale one), so a label value outside the classes fails naming its file.
    ``tools/train.py`` and ``tools/test.py`` add it to every config (``load_cli_config``).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        datasets = {'train_dataloader.dataset': runner.train_dataloader.dataset}
        if runner.val_loop is not None:
            datasets['val_dataloader.dataset'] = runner.val_loop.dataloader.dataset
        self._check(runner, datasets)
        self._val_checked = True

    def before_val(self, runner) -> None:
        if not getattr(self, '_val_checked', False):  # runner.val() without training
            self._check(runner, {'val_dataloader.dataset': runner.val_loop.dataloader.dataset})
            self._val_checked = True

    def before_test(self, runner) -> None:
        self._check(runner, {'test_dataloader.dataset': runner.test_loop.dataloader.dataset})

    @staticmethod
    def _check(runner, datasets: Dict[str, object]) -> None:
        for key, dataset in datasets.items():
            for leaf_key, leaf in dataset_leaves(dataset, key):
                bind_label_checks(leaf, leaf_key)
        check_class_counts(runner.model, datasets)

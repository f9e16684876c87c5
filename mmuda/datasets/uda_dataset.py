"""Pairs a labelled source sample with an unlabelled target sample."""
import json
import logging
import os.path as osp
from typing import Optional, Union

import numpy as np
from mmcv.transforms import LoadAnnotations
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .file_checks import image_folder_problem, missing_label_files, unreadable_file
from .transforms import CheckSegLabels, bind_label_checks


@DATASETS.register_module()
class UDADataset:
    """Item ``i`` pairs a source and a target sample, each through its own pipeline:
    ``{'inputs': {'source', 'target'}, 'data_samples': {'source', 'target'}}``.

    The dataset is as long as the longer domain; item ``i`` is source ``i mod N_s`` and target
    ``perm[i mod N_t]`` for a seeded permutation ``perm`` of the target. So one pass over the
    indices (which the sampler shuffles) uses every source and every target image, whichever
    domain is larger. (Drawing a random target per source index would leave about 1 - 1/e = 37%
    of the target unused when both domains have the same size.) The pair depends only on
    ``(seed, i)``, so a resumed run, which replays the sampler, sees exactly the pairs of an
    uninterrupted one, in any number of dataloader workers.

    The target is unlabelled: ``LoadAnnotations`` (and ``CheckSegLabels``) are removed from the
    target pipeline, so its label files are never read, even if they exist; a ``gt_sem_seg``
    that a custom transform adds is deleted. The one exception is ``target_labels='pseudo'``
    for methods that train on pseudo labels of the target (LDR's SSL labels): the target's
    ``seg_map_path`` must then be a folder written by ``tools/generate_pseudo_labels.py``
    (its completed ``pseudo_labels.json`` is checked), so ground truth cannot slip in.

    Bad input fails early and names the file or config key: a missing or empty image folder, a
    source without labels or with missing label files (checked when the source is built), a
    corrupt file or a failing transform (the sample's file is named). A :class:`CheckSegLabels`
    in the source pipeline without ``num_classes`` gets the length of the class list; one with
    a different count is an error.

    Args:
        source: Config (or instance) of the labelled source dataset.
        target: Config (or instance) of the target dataset; labels, if any, are dropped.
        seed: Seed of the source-to-target pairing.
        target_labels: ``None`` (the target is unlabelled) or ``'pseudo'`` (the target's
            labels are pseudo labels written by the pseudo-label tool, and are kept).
    """

    TARGET_LABELS = (None, 'pseudo')

    def __init__(self, source: Union[dict, BaseDataset], target: Union[dict, BaseDataset],
                 seed: int = 0, target_labels: Optional[str] = None) -> None:
        if target_labels not in self.TARGET_LABELS:
            raise ValueError(f'UDADataset target_labels must be one of {self.TARGET_LABELS}, '
                             f'got {target_labels!r}')
        self.source = self._build(source, 'source')
        self.target = self._build(target, 'target')
        self.seed = seed
        self.target_labels = target_labels
        self._check_classes()
        self._bind_label_check()
        if target_labels == 'pseudo':
            self._check_pseudo_labels()
        else:
            self._strip_target_annotations()
        self._labels_checked = False
        if getattr(self.source, '_fully_initialized', True):
            self._check_source_labels()

    @staticmethod
    def _build(cfg: Union[dict, BaseDataset], role: str) -> BaseDataset:
        """Build a domain's dataset; a missing or empty image folder is named with its key."""
        if not isinstance(cfg, dict):
            return cfg
        try:
            return DATASETS.build(cfg)
        except Exception as err:
            problem = image_folder_problem(cfg)
            if problem is None:
                raise
            raise FileNotFoundError(
                f'UDADataset: the {role} dataset ({cfg.get("type")}) has no images: {problem}. '
                f'Check train_dataloader.dataset.{role}.data_root ({cfg.get("data_root")!r}) '
                f'and data_prefix.img_path') from err

    @staticmethod
    def _transforms(dataset) -> list:
        return getattr(getattr(dataset, 'pipeline', None), 'transforms', [])

    def _bind_label_check(self) -> None:
        """Give a ``CheckSegLabels`` without ``num_classes`` the source's class count, and
        refuse one whose count disagrees with the class list (a stale config value)."""
        bind_label_checks(self.source, 'train_dataloader.dataset.source')

    def _strip_target_annotations(self) -> None:
        """Target labels must not be read, let alone reach a loss or a label-driven crop."""
        transforms = self._transforms(self.target)
        kept = [t for t in transforms if not isinstance(t, (LoadAnnotations, CheckSegLabels))]
        if len(kept) != len(transforms):
            transforms[:] = kept
            print_log('UDADataset: removed label loading (LoadAnnotations, CheckSegLabels) from '
                      'the target pipeline: the target is unlabelled, its label files are never '
                      'read', 'current', logging.WARNING)

    def _check_pseudo_labels(self) -> None:
        """The target's label folder must hold a completed pseudo-label run, not ground truth."""
        folder = self.target.data_prefix.get('seg_map_path')
        summary = osp.join(folder or '', 'pseudo_labels.json')
        status = None
        if folder and osp.isfile(summary):
            with open(summary) as f:
                status = json.load(f).get('status')
        if status != 'complete':
            raise FileNotFoundError(
                "UDADataset(target_labels='pseudo'): the target's labels must be pseudo labels "
                f'written by tools/generate_pseudo_labels.py, but {summary} '
                f'{"is missing" if status is None else "says status=" + repr(status)}. '
                'Generate them, or check train_dataloader.dataset.target.data_prefix.'
                'seg_map_path')

    def _check_source_labels(self) -> None:
        """Every source image has a label file: fail now, not when the sampler reaches it."""
        if self._labels_checked or not len(self.source):
            return
        name = type(self.source).__name__
        if self.source.get_data_info(0).get('seg_map_path') is None:
            raise ValueError(f'UDADataset: the source dataset ({name}) lists no label files; the '
                             'source must be labelled: set '
                             'train_dataloader.dataset.source.data_prefix.seg_map_path')
        missing = missing_label_files(self.source)
        if missing:
            examples = '; '.join(f"{m['img_path']} -> {m['seg_map_path']}" for m in missing[:3])
            raise FileNotFoundError(
                f'UDADataset: {len(missing)} of {len(self.source)} source images ({name}) have '
                f'no label file, e.g. {examples}. Check '
                'train_dataloader.dataset.source.data_prefix.seg_map_path and seg_map_suffix')
        self._labels_checked = True

    def _check_classes(self) -> None:
        src = tuple(self.source.metainfo.get('classes', ()))
        tgt = tuple(self.target.metainfo.get('classes', ()))
        if src != tgt:
            raise ValueError('UDADataset: source and target datasets must share one class list; '
                             f'source ({type(self.source).__name__}) has {src}, '
                             f'target ({type(self.target).__name__}) has {tgt}')

    @property
    def metainfo(self) -> dict:
        return self.source.metainfo

    def full_init(self) -> None:
        self.source.full_init()
        self.target.full_init()
        self._check_source_labels()

    def __len__(self) -> int:
        return max(len(self.source), len(self.target))

    def source_index(self, idx: int) -> int:
        return idx % len(self.source)

    def target_index(self, idx: int) -> int:
        n = len(self.target)
        if getattr(self, '_perm_size', None) != n:  # the target may be lazily initialised
            self._perm = np.random.default_rng(self.seed).permutation(n)
            self._perm_size = n
        return int(self._perm[idx % n])

    def __getitem__(self, idx: int) -> dict:
        src = self._sample(self.source, self.source_index(idx), 'source')
        tgt = self._sample(self.target, self.target_index(idx), 'target')
        if 'gt_sem_seg' not in src['data_samples']:
            raise KeyError(f"UDADataset: source sample {src['data_samples'].img_path} has no "
                           'label after its pipeline: train_dataloader.dataset.source.pipeline '
                           'must contain LoadAnnotations')
        tgt_sample = tgt['data_samples']
        if 'gt_sem_seg' in tgt_sample and self.target_labels is None:
            del tgt_sample.gt_sem_seg
        return dict(inputs=dict(source=src['inputs'], target=tgt['inputs']),
                    data_samples=dict(source=src['data_samples'], target=tgt_sample))

    @staticmethod
    def _sample(dataset: BaseDataset, index: int, role: str) -> dict:
        """``dataset[index]``; an error is re-raised naming the sample's file at fault."""
        try:
            return dataset[index]
        except Exception as err:
            raise _with_context(err, _sample_context(dataset, index, role, err)) from err


def _sample_context(dataset: BaseDataset, index: int, role: str, err: Exception) -> str:
    """Which sample failed and, if one of its files is unreadable, which one."""
    context = f'UDADataset: {role} sample {index} failed'
    try:
        info = dataset.get_data_info(index)
    except Exception:
        return context
    keys = ('img_path', 'seg_map_path') if role == 'source' else ('img_path',)
    culprit = unreadable_file(info, keys)
    if culprit is None and not any(str(info.get(k)) in str(err) for k in keys):
        culprit = f"image {info.get('img_path')}"  # the error does not say which sample
    return f'{context}: {culprit}' if culprit else context


def _with_context(err: Exception, context: str) -> Exception:
    """An exception of the same type when it can be built from a message, else RuntimeError."""
    message = f'{context}: {type(err).__name__}: {err}'
    try:
        return type(err)(message)
    except Exception:
        return RuntimeError(message)

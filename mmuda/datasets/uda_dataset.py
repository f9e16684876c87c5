"""Pairs a labelled source sample with an unlabelled target sample."""
from typing import Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS


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
    uninterrupted one, in any number of dataloader workers. Target annotations are removed from
    the sample even if the target pipeline loaded them: in UDA the target is unlabelled.

    Args:
        source: Config (or instance) of the labelled source dataset.
        target: Config (or instance) of the target dataset; labels, if any, are dropped.
        seed: Seed of the source-to-target pairing.
    """

    def __init__(self, source: Union[dict, BaseDataset], target: Union[dict, BaseDataset],
                 seed: int = 0) -> None:
        self.source = DATASETS.build(source) if isinstance(source, dict) else source
        self.target = DATASETS.build(target) if isinstance(target, dict) else target
        self.seed = seed
        self._check_classes()

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
        src = self.source[self.source_index(idx)]
        tgt = self.target[self.target_index(idx)]
        tgt_sample = tgt['data_samples']
        if 'gt_sem_seg' in tgt_sample:
            del tgt_sample.gt_sem_seg
        return dict(inputs=dict(source=src['inputs'], target=tgt['inputs']),
                    data_samples=dict(source=src['data_samples'], target=tgt_sample))

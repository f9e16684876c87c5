"""Class-balanced sampling of the labelled source, as FADA's reference code samples GTA5."""
import itertools
import os.path as osp
from pathlib import PurePath
from typing import Dict, Iterator, List, Optional, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from .convert import load_class_stats


def _source_of(dataset: Sized):
    """The labelled dataset whose indices the sampler draws: the source of a UDADataset."""
    return getattr(dataset, 'source', dataset)


def _match_stats(dataset, stats: dict, stats_file: str) -> Dict[str, int]:
    """``{stats key: dataset index}``. Keys are label paths relative to the statistics file,
    so they are matched against the trailing components of each sample's ``seg_map_path``."""
    depths = {len(PurePath(k).parts) for k in stats['images']}
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    tails: Dict[str, int] = {}
    missing: List[str] = []
    for idx in range(len(dataset)):
        path = dataset.get_data_info(idx).get('seg_map_path')
        parts = PurePath(path).parts if path else ()
        found = [PurePath(*parts[-d:]).as_posix() for d in depths if len(parts) >= d]
        found = [k for k in found if k in stats['images']]
        if found:
            tails[found[0]] = idx
        else:
            missing.append(str(path))
    if missing:
        raise ValueError(
            f'ClassBalancedSampler: {len(missing)} of {len(dataset)} labels of the dataset are '
            f'not in {stats_file} (e.g. {missing[0]}); re-run the dataset converter or point '
            '`stats_file` at the statistics of this dataset')
    return tails


@DATA_SAMPLERS.register_module()
class ClassBalancedSampler(Sampler):
    """Infinite, seeded sampler that draws a class uniformly, then an image containing it.

    Uniform sampling shows a rare class (a train, a bus) as rarely as the dataset has it;
    drawing the class first gives every class that occurs the same share of the draws. The
    image lists come from the statistics JSON a dataset converter writes
    (``images_per_class``). With a :class:`UDADataset` an index is the drawn source index plus a
    seeded multiple of the source length, so a source drawn often meets different targets.

    The stream depends only on ``seed`` and restarts identically on every ``iter()``, which is
    what mmengine's resume relies on: it replays the sampler for the finished iterations.
    Ranks take interleaved slices of the same stream, as :class:`InfiniteSampler` does.

    Args:
        dataset: The training dataset (or a UDADataset).
        stats_file: The converter's statistics JSON. Default: ``class_stats.json`` in the
            (source) dataset's ``data_root``.
        seed: Seed of the stream; ``None`` takes one seed shared by all ranks.
        min_pixels: An image counts as containing a class if it has at least this many pixels
            of it; raises the bar above stray pixels at object borders.
    """

    def __init__(self, dataset: Sized, stats_file: Optional[str] = None,
                 seed: Optional[int] = None, min_pixels: int = 1) -> None:
        source = _source_of(dataset)
        if stats_file is None:
            stats_file = osp.join(getattr(source, 'data_root', None) or '', 'class_stats.json')
        if not osp.isfile(stats_file):
            raise FileNotFoundError(
                f'ClassBalancedSampler: no class statistics at {stats_file}; the dataset '
                'converters in tools/dataset_converters write them (set `stats_file`, e.g. '
                'class_stats_train.json for Cityscapes)')
        stats = load_class_stats(stats_file)
        index_of = _match_stats(source, stats, stats_file)
        self.size = len(dataset)
        # A UDADataset index i is source i mod N_s: adding a multiple of N_s keeps the source
        # and changes the target it is paired with (see UDADataset).
        self.source_size = len(source)
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        self.pools = [np.array(sorted(index_of[k] for k in keys
                                      if k in index_of
                                      and stats['images'][k][c] >= min_pixels), dtype=np.int64)
                      for c, keys in enumerate(stats['images_per_class'])]
        self.classes = [c for c, pool in enumerate(self.pools) if pool.size]
        if not self.classes:
            raise ValueError(f'ClassBalancedSampler: no class of {stats_file} has an image with '
                             f'at least {min_pixels} pixels of it in the dataset')

    def _infinite_indices(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed)
        while True:
            classes = rng.choice(self.classes, size=1024)
            picks, offsets = rng.random(1024), rng.random(1024)
            for c, u, v in zip(classes, picks, offsets):
                pool = self.pools[c]
                source_idx = int(pool[int(u * pool.size)])
                repeats = (self.size - 1 - source_idx) // self.source_size + 1
                yield source_idx + self.source_size * int(v * repeats)

    def __iter__(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite_indices(), self.rank, None, self.world_size)

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """Unused: the stream is infinite (iteration-based training)."""

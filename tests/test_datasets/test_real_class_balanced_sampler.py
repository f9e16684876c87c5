"""ClassBalancedSampler: seeded, replayable, rank-sliced, and it oversamples rare classes."""
import itertools
from collections import Counter

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import DATA_SAMPLERS, DATASETS
from test_real_trees import REPO, _palette_png, _rgb, load_tool, write_cityscapes

from mmuda.datasets import ClassBalancedSampler
from mmuda.datasets.convert import convert_tree

N = 10
RARE = 3  # the only image with a car


@pytest.fixture(scope='module')
def gta5_root(tmp_path_factory):
    """10 GTA5 images, all road; image RARE also has a few car pixels, image 5 one bicycle
    pixel."""
    root = tmp_path_factory.mktemp('gta5')
    for k in range(N):
        ids = np.full((4, 8), 7, np.uint8)
        if k == RARE:
            ids[2:, :3] = 26
        if k == 5:
            ids[0, 0] = 33
        _rgb(root / 'images' / f'{k:05d}.png', h=4, w=8)
        _palette_png(ids, root / 'labels' / f'{k:05d}.png')
    convert_tree(load_tool('gta5').find_samples(root, root), root, progress=False)
    return root


def gta5(root) -> dict:
    return dict(type='GTA5Dataset', data_root=str(root), pipeline=[],
                data_prefix=dict(img_path='images', seg_map_path='labels'))


def first(sampler, n: int = 200) -> list:
    return list(itertools.islice(iter(sampler), n))


def test_seeded_and_replayed_identically(gta5_root):
    ds = DATASETS.build(gta5(gta5_root))
    a = ClassBalancedSampler(ds, seed=1)
    b = ClassBalancedSampler(ds, seed=1)
    assert first(a) == first(b) == first(a)  # a resumed run replays the same stream
    assert first(a) != first(ClassBalancedSampler(ds, seed=2))
    assert len(a) == N and set(first(a, 2000)) == set(range(N))


def test_oversamples_the_rare_class(gta5_root):
    ds = DATASETS.build(gta5(gta5_root))
    draws = Counter(first(ClassBalancedSampler(ds, seed=0), 3000))
    # classes road, car, bicycle each get 1/3 of the draws: image RARE is drawn for car and
    # 1/10 of road, about 37% of the time, against 10% uniformly
    assert 0.30 < draws[RARE] / 3000 < 0.45
    assert 0.30 < draws[5] / 3000 < 0.45
    # a higher bar for "contains the class" drops the one-pixel bicycle
    draws = Counter(first(ClassBalancedSampler(ds, seed=0, min_pixels=2), 3000))
    assert 0.45 < draws[RARE] / 3000 < 0.65 and draws[5] / 3000 < 0.1


def test_ranks_take_interleaved_slices(gta5_root, monkeypatch):
    ds = DATASETS.build(gta5(gta5_root))
    full = first(ClassBalancedSampler(ds, seed=4), 100)
    monkeypatch.setattr('mmuda.datasets.samplers.get_dist_info', lambda: (1, 2))
    assert first(ClassBalancedSampler(ds, seed=4), 50) == full[1::2]


def test_built_from_a_config_on_a_uda_dataset(gta5_root, tmp_path):
    """The documented config: indices are the UDADataset's source indices."""
    target = write_cityscapes(tmp_path / 'cityscapes')
    uda = dict(type='UDADataset', source=gta5(gta5_root),
               target=dict(type='CityscapesDataset', data_root=str(target), pipeline=[],
                           data_prefix=dict(img_path='leftImg8bit/train')))
    loader = Runner.build_dataloader(
        dict(batch_size=1, num_workers=0, dataset=uda, collate_fn=dict(type='pseudo_collate'),
             sampler=dict(type='ClassBalancedSampler',
                          stats_file=str(gta5_root / 'class_stats.json'))), seed=0)
    assert isinstance(loader.sampler, ClassBalancedSampler) and loader.sampler.seed == 0
    # stats_file defaults to class_stats.json in the source's data_root
    default = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', seed=0),
                                  default_args=dict(dataset=DATASETS.build(uda)))
    assert first(default, 50) == first(loader.sampler, 50)


def test_stale_statistics_are_refused(gta5_root, tmp_path):
    ds = DATASETS.build(gta5(gta5_root))
    other = tmp_path / 'other'
    _rgb(other / 'images' / '00000.png', h=4, w=8)
    _palette_png(np.full((4, 8), 7), other / 'labels' / '00000.png')
    convert_tree(load_tool('gta5').find_samples(other, other), other, progress=False)
    with pytest.raises(ValueError, match=r'9 of 10 labels of the dataset are not in .*other'):
        ClassBalancedSampler(ds, stats_file=str(other / 'class_stats.json'), seed=0)
    with pytest.raises(FileNotFoundError, match='no class statistics at .*missing.json'):
        ClassBalancedSampler(ds, stats_file=str(tmp_path / 'missing.json'), seed=0)


def test_documented_config_snippet_replaces_the_sampler(tmp_path):
    """docs/dataset_prepare.md: `_delete_=True` drops InfiniteSampler's `shuffle`."""
    leaf = tmp_path / 'leaf.py'
    base = REPO / 'configs/_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py'
    leaf.write_text(f"_base_ = ['{base}']\n"
                    "train_dataloader = dict(sampler=dict(_delete_=True, "
                    "type='ClassBalancedSampler', stats_file='data/gta5/class_stats.json'))\n")
    assert Config.fromfile(str(leaf)).train_dataloader.sampler == dict(
        type='ClassBalancedSampler', stats_file='data/gta5/class_stats.json')


def test_on_a_longer_target_a_source_meets_different_targets(gta5_root):
    """UDADataset index i is source i mod N_s: the sampler adds seeded multiples of N_s."""
    source = dict(gta5(gta5_root), indices=5)  # 5 source images, 10 target images
    uda = DATASETS.build(dict(type='UDADataset', source=source, target=gta5(gta5_root)))
    assert len(uda.source) == 5 and len(uda) == 10
    sampler = ClassBalancedSampler(uda, stats_file=str(gta5_root / 'class_stats.json'), seed=0)
    drawn = first(sampler, 400)
    assert all(0 <= i < len(uda) for i in drawn)
    assert {i % 5 for i in drawn} <= set(int(i) for pool in sampler.pools for i in pool)
    assert any(i >= 5 for i in drawn) and any(i < 5 for i in drawn)
    targets_of = {}
    for i in drawn:
        targets_of.setdefault(uda.source_index(i), set()).add(uda.target_index(i))
    assert max(len(t) for t in targets_of.values()) >= 2

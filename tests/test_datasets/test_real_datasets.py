"""Each real dataset: its fixture tree converts, then builds from its config base and yields the
right trainIds."""
import copy

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS
from test_real_trees import (
    CITYSCAPES_NAMES,
    REPO,
    crosscity_map,
    crosscity_to_train,
    labelid_map,
    labelid_to_train,
    load_tool,
    synthia_map,
    synthia_to_train,
    write_cityscapes,
    write_crosscity,
    write_gta5,
    write_synthia,
)

from mmuda.datasets.convert import convert_tree
from mmuda.datasets.crosscity import crosscity_prefix

BASES = REPO / 'configs' / '_base_' / 'datasets'


def convert(tool: str, root, out_dir=None):
    out_dir = out_dir or root
    return convert_tree(load_tool(tool).find_samples(root, out_dir), out_dir, progress=False)


def dataset_cfg(base: str, loader: str = 'train_dataloader', **overrides) -> dict:
    cfg = copy.deepcopy(Config.fromfile(str(BASES / base))[loader].dataset.to_dict())
    cfg.update(overrides)
    return cfg


def gt_of(item) -> np.ndarray:
    return item['data_samples'].gt_sem_seg.data.numpy()[0]


def resized(label: np.ndarray, size) -> np.ndarray:
    """What mmseg's Resize does to a label (nearest neighbour)."""
    return cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)


@pytest.fixture(scope='module')
def gta5_root(tmp_path_factory):
    root = write_gta5(tmp_path_factory.mktemp('gta5'), n=3)
    convert('gta5', root)
    return root


@pytest.fixture(scope='module')
def synthia_root(tmp_path_factory):
    root = write_synthia(tmp_path_factory.mktemp('synthia'), n=3)
    convert('synthia', root)
    return root


@pytest.fixture(scope='module')
def cityscapes_root(tmp_path_factory):
    root = write_cityscapes(tmp_path_factory.mktemp('cityscapes'))
    convert('cityscapes', root)
    return root


@pytest.fixture(scope='module')
def crosscity_root(tmp_path_factory):
    root = write_crosscity(tmp_path_factory.mktemp('crosscity'), cities=('Rome', 'Rio'))
    tree = load_tool('crosscity').make_tree_builder(['Rome', 'Rio'])(root, root)
    convert_tree(tree, root, progress=False)
    return root


def test_gta5_from_config_base(gta5_root):
    ds = DATASETS.build(dataset_cfg('gta5.py', data_root=str(gta5_root)))
    assert len(ds) == 3 and ds.metainfo['classes'][13] == 'car'
    item = ds[1]  # 00002.png
    assert item['inputs'].shape[1:] == (720, 1280)
    assert np.array_equal(gt_of(item), resized(labelid_to_train(labelid_map(2)), (1280, 720)))


def test_synthia_from_config_base(synthia_root):
    ds = DATASETS.build(dataset_cfg('synthia.py', data_root=str(synthia_root)))
    assert len(ds) == 3
    item = ds[0]
    assert item['inputs'].shape[1:] == (760, 1280)
    expected = synthia_to_train(synthia_map(0))
    assert set(np.unique(expected)) == {0, 3, 13, 255}  # road, wall, car, void
    assert np.array_equal(gt_of(item), resized(expected, (1280, 760)))


def test_cityscapes_from_config_base(cityscapes_root):
    train = DATASETS.build(dataset_cfg('cityscapes.py', data_root=str(cityscapes_root)))
    val = DATASETS.build(dataset_cfg('cityscapes.py', 'val_dataloader',
                                     data_root=str(cityscapes_root)))
    assert (len(train), len(val)) == (len(CITYSCAPES_NAMES['train']),
                                      len(CITYSCAPES_NAMES['val']))
    item = val[0]
    # inference at 1024x512, the label at full size: mmseg resizes the prediction back to it
    assert item['inputs'].shape[1:] == (512, 1024)
    assert np.array_equal(gt_of(item), labelid_to_train(labelid_map(0)))


@pytest.mark.parametrize('city', ['rome', 'rio'])
def test_crosscity_from_config_base(crosscity_root, city):
    ds = DATASETS.build(dataset_cfg(f'crosscity_{city}.py', 'val_dataloader',
                                    data_root=str(crosscity_root)))
    assert len(ds) == 2 and f'/{city.capitalize()}/Images/Test/' in ds[0]['data_samples'].img_path
    item = ds[0]
    assert item['inputs'].shape[1:] == (512, 1024)
    expected = crosscity_to_train(crosscity_map())
    assert 3 not in expected  # wall is not a Cross-City class
    assert np.array_equal(gt_of(item), expected)


def test_crosscity_city_from_argument_or_data_root(crosscity_root):
    by_city = DATASETS.build(dict(type='CrossCityDataset', data_root=str(crosscity_root),
                                  city='rome', split='train',
                                  pipeline=[]))
    by_root = DATASETS.build(dict(type='CrossCityDataset', data_root=str(crosscity_root / 'Rome'),
                                  split='train', pipeline=[]))
    infos = [by_city.get_data_info(i) for i in range(len(by_city))]
    assert len(infos) == 2 and 'seg_map_path' not in infos[0]  # the train split is unlabelled
    assert [i['img_path'] for i in infos] == \
        [by_root.get_data_info(i)['img_path'] for i in range(len(by_root))]
    with pytest.raises(ValueError, match="city must be one of .*'Paris'"):
        crosscity_prefix('Paris', 'test')
    with pytest.raises(ValueError, match="split must be one of"):
        crosscity_prefix('Rome', 'val')


def _uda_cfg(base: str, source_root, target_root) -> tuple:
    cfg = Config.fromfile(str(BASES / base))
    train = cfg.train_dataloader.dataset.to_dict()
    train['source']['data_root'] = str(source_root)
    train['target']['data_root'] = str(target_root)
    val = dict(cfg.val_dataloader.dataset.to_dict(), data_root=str(target_root))
    return train, val, cfg


def _evaluates_perfect_prediction(evaluator_cfg: dict, val) -> None:
    """The config's evaluator on the fixture's val labels: a perfect prediction scores 100."""
    from mmseg.registry import METRICS
    metric = METRICS.build(evaluator_cfg)
    metric.dataset_meta = val.metainfo
    sample = val[0]['data_samples']
    gt = sample.gt_sem_seg.data
    pred = dict(pred_sem_seg=dict(data=gt.clone()), gt_sem_seg=dict(data=gt))
    metric.process({}, [pred])
    result = metric.evaluate(1)
    assert result['mIoU'] == 100.0


@pytest.mark.parametrize('base,source,target', [
    ('uda_gta5-1280x720_to_cityscapes-1024x512.py', 'gta5', 'cityscapes'),
    ('uda_synthia-1280x760_to_cityscapes-1024x512.py', 'synthia', 'cityscapes'),
    ('uda_cityscapes-1024x512_to_crosscity-rome.py', 'cityscapes', 'crosscity'),
    ('uda_cityscapes-1024x512_to_crosscity-rio.py', 'cityscapes', 'crosscity'),
])
def test_uda_pairings_build(base, source, target, request):
    roots = {name: request.getfixturevalue(f'{name}_root') for name in (source, target)}
    train_cfg, val_cfg, cfg = _uda_cfg(base, roots[source], roots[target])
    train = DATASETS.build(train_cfg)
    item = train[0]
    assert 'gt_sem_seg' in item['data_samples']['source']
    assert 'gt_sem_seg' not in item['data_samples']['target']
    assert all(t['type'] != 'LoadAnnotations' for t in train_cfg['target']['pipeline'])
    assert item['inputs']['target'].shape[1:] == (512, 1024)
    val = DATASETS.build(val_cfg)
    assert 'gt_sem_seg' in val[0]['data_samples']
    preset = dict(gta5='gta5', synthia='synthia', cityscapes='cross_city')[source]
    assert cfg.val_evaluator == dict(type='SubsetIoUMetric', subsets=preset)
    _evaluates_perfect_prediction(cfg.val_evaluator, val)
    scales = [t['scale'] for t in cfg.tta_pipeline[1]['transforms'][0]]
    assert scales == [(716, 358), (1024, 512), (1331, 665)]
    if target == 'crosscity':
        city = base.split('-')[-1][:-3].capitalize()
        assert f'/{city}/Images/Train/' in item['data_samples']['target'].img_path
        assert f'/{city}/Images/Test/' in val[0]['data_samples'].img_path

"""Class counts: the model's (heads, the discriminators that follow them) equal the datasets',
or training and testing refuse before the first iteration with one error naming every key; a
label value outside the classes fails naming its file, in training and in evaluation."""
import itertools
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS
from PIL import Image

from conftest import (
    NUM_CLASSES,
    REPO,
    TOY_ADAPTSEGNET,
    TOY_FADA,
    TOY_SOURCE_ONLY,
    TOY_SSF_DAN,
    toy_cfg,
)
from mmuda.engine.hooks.class_count_check_hook import model_class_fields
from mmuda.utils.config import add_check_hooks

_names = itertools.count()
HEADS = ('model.segmentor.decode_head.num_classes', 'model.segmentor.auxiliary_head.num_classes')


def runner(cfg: Config) -> Runner:
    """A runner with the check hooks, as tools/train.py and tools/test.py build it (a config
    that replaces custom_hooks, like the toy FADA stage's, drops the inherited ones)."""
    add_check_hooks(cfg)
    cfg.visualizer.name = f'class_count_{next(_names)}'  # one per Runner in this process
    return Runner.from_cfg(cfg)


def with_classes(config: Path, root: Path, work: Path, n: int) -> Config:
    """A toy config whose model (heads and the discriminators that follow them) has ``n``
    classes: consistent in itself, so only the datasets disagree."""
    cfg = toy_cfg(config, root, work, iters=1)
    seg = cfg.model.segmentor
    seg.decode_head.num_classes = n
    if 'auxiliary_head' in seg:
        seg.auxiliary_head.num_classes = n
    for disc in cfg.model.get('discriminators', {}).values():
        if disc.type == 'FCDiscriminator':
            disc.in_channels = n
        elif 'num_classes' in disc:
            disc.num_classes = n
    return cfg


@pytest.mark.parametrize('n', [5, 19], ids=['fewer', 'more'])
def test_training_refuses_a_head_that_disagrees_with_the_data(toy_root, tmp_path, n):
    """5 classes on the 7-class toy data stopped at iteration 1 with a bare
    ``IndexError: Target 6 is out of bounds``; 19 trained and validated silently."""
    r = runner(with_classes(TOY_SOURCE_ONLY, toy_root, tmp_path, n))
    with pytest.raises(ValueError, match='class counts disagree') as info:
        r.train()
    message = str(info.value)
    assert 'train_dataloader.dataset.source (ToyStreetDataset) has 7 classes' in message
    assert 'val_dataloader.dataset (ToyStreetDataset) has 7 classes' in message
    for key in HEADS:
        assert f'{key} is {n}' in message
    assert not list(tmp_path.glob('*.pth'))  # refused before the first iteration
    print(f'\nMESSAGE ValueError: {message}')


@pytest.mark.parametrize('config,keys', [
    (TOY_ADAPTSEGNET, ['model.discriminators.main.in_channels',
                       'model.discriminators.aux.in_channels']),
    (TOY_FADA, ['model.discriminators.fine.num_classes']),
    (TOY_SSF_DAN, ['model.discriminators.ssd.num_classes']),
], ids=['adaptsegnet', 'fada', 'ssf_dan'])
def test_the_error_names_the_discriminator_keys_that_follow_the_class_count(
        toy_root, tmp_path, config, keys):
    r = runner(with_classes(config, toy_root, tmp_path, 19))
    with pytest.raises(ValueError, match='class counts disagree') as info:
        r.train()
    for key in keys:
        assert f'{key} is 19' in str(info.value)


def test_the_datasets_must_agree_too(toy_root, tmp_path):
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path, iters=1)
    cfg.val_dataloader.dataset.metainfo = dict(classes=('road', 'sidewalk', 'building'))
    for t in cfg.val_dataloader.dataset.pipeline:
        if t.type == 'CheckSegLabels':
            t.num_classes = None  # filled in from the (3-class) dataset
    with pytest.raises(ValueError, match=r'val_dataloader\.dataset \(ToyStreetDataset\) has '
                                         r'3 classes; model\.segmentor\.decode_head\.num_classes '
                                         r'is 7'):
        runner(cfg).train()


def test_testing_refuses_too(toy_root, tmp_path):
    r = runner(with_classes(TOY_SOURCE_ONLY, toy_root, tmp_path, 5))
    with pytest.raises(ValueError, match=r'test_dataloader\.dataset \(ToyStreetDataset\) has '
                                         r'7 classes; model\.segmentor\.decode_head\.num_classes '
                                         r'is 5'):
        r.test()


def test_a_consistent_run_passes_and_fills_in_the_label_checks(toy_root, tmp_path):
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path, iters=1)
    for t in cfg.val_dataloader.dataset.pipeline:
        if t.type == 'CheckSegLabels':
            t.num_classes = None
    r = runner(cfg)
    r.train()
    [check] = [t for t in r.val_loop.dataloader.dataset.pipeline.transforms
               if type(t).__name__ == 'CheckSegLabels']
    assert check.num_classes == NUM_CLASSES


def test_a_stale_label_check_count_in_the_val_pipeline_is_named(toy_root, tmp_path):
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path, iters=1)
    for t in cfg.val_dataloader.dataset.pipeline:
        if t.type == 'CheckSegLabels':
            t.num_classes = 19
    with pytest.raises(ValueError, match=r'CheckSegLabels in val_dataloader\.dataset\.pipeline has '
                                         r'num_classes=19, but val_dataloader\.dataset '
                                         r'\(ToyStreetDataset\) has 7 classes'):
        runner(cfg).train()


def test_a_val_label_outside_the_classes_names_the_file(toy_root, tmp_path):
    """Evaluation drops label values >= num_classes silently (mmseg's IoUMetric): raw labelIds
    in a val set would give a wrong mIoU without any message."""
    import shutil
    data = Path(shutil.copytree(toy_root, tmp_path / 'toy'))
    label = sorted((data / 'target/gtFine/val').rglob('*_gtFine_labelTrainIds.png'))[0]
    array = np.array(Image.open(label))
    array[0, :2] = (9, 33)
    Image.fromarray(array).save(label)
    cfg = toy_cfg(TOY_SOURCE_ONLY, data, tmp_path / 'work', iters=1)
    with pytest.raises(ValueError, match=rf'{label}: label values 9, 33 are outside the class '
                                         r'map \(expected 0\.\.6 for 7 classes'):
        runner(cfg).test()


def test_every_dataset_config_checks_its_labels():
    """Each LoadAnnotations of a shipped dataset config is followed by CheckSegLabels with the
    dataset's class count (training, validation/test and TTA pipelines)."""
    from mmseg.registry import DATASETS
    for path in sorted((REPO / 'configs/_base_/datasets').glob('*.py')):
        cfg = Config.fromfile(str(path))
        pipelines = {k: v for k, v in cfg.items() if k.endswith('pipeline')}
        assert pipelines, path.name
        for name, steps in pipelines.items():
            flat = [t for step in steps for t in (
                [x for branch in step['transforms'] for x in branch]
                if step['type'] == 'TestTimeAug' else [step])]
            types = [t['type'] for t in flat]
            for i, kind in enumerate(types):
                if kind == 'LoadAnnotations':
                    assert types[i + 1:i + 2] == ['CheckSegLabels'], (path.name, name)
        for loader in ('train_dataloader', 'val_dataloader'):
            dataset = (cfg.get(loader) or {}).get('dataset') or {}
            for part in ([dataset.source] if 'source' in dataset else [dataset]):
                if not part.get('type'):
                    continue
                checks = [t for t in part.get('pipeline') or [] if t['type'] == 'CheckSegLabels']
                classes = DATASETS.get(part['type']).METAINFO['classes']
                assert all(t.num_classes == len(classes) for t in checks), (path.name, loader)


def test_models_expose_the_settings_that_follow_the_class_count():
    def fields(config: Path):
        cfg = toy_cfg(config, REPO, REPO, iters=1)
        return model_class_fields(MODELS.build(cfg.model))
    assert fields(TOY_SOURCE_ONLY) == {k: NUM_CLASSES for k in HEADS}
    assert fields(TOY_ADAPTSEGNET) == {**{k: NUM_CLASSES for k in HEADS},
                                       'model.discriminators.main.in_channels': NUM_CLASSES,
                                       'model.discriminators.aux.in_channels': NUM_CLASSES}
    assert fields(TOY_FADA)['model.discriminators.fine.num_classes'] == NUM_CLASSES
    plain = MODELS.build(toy_cfg(TOY_SOURCE_ONLY, REPO, REPO).model.segmentor)
    assert model_class_fields(plain) == {'model.decode_head.num_classes': NUM_CLASSES,
                                         'model.auxiliary_head.num_classes': NUM_CLASSES}

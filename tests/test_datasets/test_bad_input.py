"""Bad input fails with a message that names the file or config key (docs/bad_input.md).

Each test prints the message it checked; ``pytest -rP`` shows them (the docs table quotes them).
"""
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS, MODELS, TRANSFORMS
from PIL import Image

from conftest import REPO, TOY_ADAPTSEGNET

TOY_DATA_BASE = REPO / 'configs/_base_/datasets/uda_toy-source_to_toy-target.py'
LABEL_SUFFIX = '_gtFine_labelTrainIds.png'


@contextmanager
def raises(exc_type, match: str):
    """``pytest.raises`` that also prints the message, for the docs table."""
    with pytest.raises(exc_type, match=match) as info:
        yield info
    print(f'\nMESSAGE {type(info.value).__name__}: {info.value}')


@pytest.fixture
def toy(toy_root, tmp_path) -> Path:
    """A private copy of the toy domains that a test may damage."""
    return Path(shutil.copytree(toy_root, tmp_path / 'toy'))


def toy_pipelines() -> Config:
    return Config.fromfile(str(TOY_DATA_BASE))


def domain(root: Path, name: str, pipeline=None, **kwargs) -> dict:
    cfg = dict(type='ToyStreetDataset', data_root=str(root / name),
               data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
               pipeline=pipeline)
    if pipeline is None:
        cfg['pipeline'] = toy_pipelines()[f'{name}_pipeline']
    cfg.update(kwargs)
    return cfg


def uda(root: Path, source: dict = None, target: dict = None):
    return DATASETS.build(dict(type='UDADataset', seed=0,
                               source=source or domain(root, 'source'),
                               target=target or domain(root, 'target')))


def files(root: Path, pattern: str) -> list:
    return sorted(root.rglob(pattern))


# ---------------------------------------------------------------- data root and folders
def test_missing_data_root_names_the_domain_and_key(toy):
    source = domain(toy, 'source', data_root=str(toy / 'no_such_dir'))
    with raises(FileNotFoundError, r'source dataset \(ToyStreetDataset\) has no images: image '
                r'folder .*no_such_dir/leftImg8bit/train does not exist\. Check '
                r'train_dataloader\.dataset\.source\.data_root'):
        uda(toy, source=source)


def test_empty_image_folder_names_the_folder_and_suffix(toy):
    for img in files(toy / 'target/leftImg8bit/train', '*.png'):
        img.rename(img.with_suffix('.jpeg'))
    with raises(FileNotFoundError, r"target dataset .* holds no file ending in "
                r"'_leftImg8bit\.png'.*train_dataloader\.dataset\.target\.data_root"):
        uda(toy)


def test_empty_val_image_folder_stops_train_py_before_the_runner_naming_the_key(toy, tmp_path):
    """mmengine builds the validation loader when training starts, before any hook: without
    the up-front check an empty val folder fails with 'need at least one array to
    concatenate'. ``tools/train.py`` names the key instead, and writes no work dir."""
    import subprocess
    import sys
    for img in files(toy / 'target/leftImg8bit/val', '*.png'):
        img.rename(img.with_suffix('.jpeg'))
    work_dir = tmp_path / 'work_dir'
    done = subprocess.run(
        [sys.executable, str(REPO / 'tools/train.py'), str(TOY_ADAPTSEGNET), '--work-dir',
         str(work_dir), '--cfg-options', f'train_dataloader.dataset.source.data_root={toy}/source',
         f'train_dataloader.dataset.target.data_root={toy}/target',
         f'val_dataloader.dataset.data_root={toy}/target'],
        capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    print(f'\nMESSAGE {message}')
    assert message.startswith('FileNotFoundError: val_dataloader.dataset (ToyStreetDataset) has '
                              'no images: image folder '), message
    assert "leftImg8bit/val holds no file ending in '_leftImg8bit.png'" in message, message
    assert not work_dir.exists()


def test_image_check_looks_inside_dataset_wrappers(toy):
    from mmuda.datasets.file_checks import dataset_configs, require_images
    inner = domain(toy, 'target')
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='UDADataset', source=domain(toy, 'source'),
        target=dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', datasets=[inner, dict(inner, data_root=str(toy / 'nope'))]))))))
    keys = [key for key, _ in dataset_configs(cfg.train_dataloader.dataset, 'd')]
    assert keys == ['d.source', 'd.target.dataset.datasets.0', 'd.target.dataset.datasets.1']
    with raises(FileNotFoundError, r'train_dataloader\.dataset\.target\.dataset\.datasets\.1 '
                r'\(ToyStreetDataset\) has no images: image folder .*nope/leftImg8bit/train '
                r'does not exist'):
        require_images(cfg, ('train_dataloader', 'val_dataloader'))
    require_images(cfg, ('val_dataloader',))  # absent loaders are fine


# ---------------------------------------------------------------- source labels
def test_source_image_without_label_fails_at_build_naming_both_files(toy):
    label = files(toy / 'source/gtFine/train', f'*{LABEL_SUFFIX}')[3]
    label.unlink()
    stem = label.name[:-len(LABEL_SUFFIX)]
    with raises(FileNotFoundError, rf'1 of 8 source images \(ToyStreetDataset\) have no label '
                rf'file, e\.g\. .*{stem}_leftImg8bit\.png -> .*{label.name}'):
        uda(toy)


def test_source_without_label_folder_names_the_key(toy):
    source = domain(toy, 'source', data_prefix=dict(img_path='leftImg8bit/train'))
    with raises(ValueError, r'source must be labelled: set '
                r'train_dataloader\.dataset\.source\.data_prefix\.seg_map_path'):
        uda(toy, source=source)


def test_source_pipeline_without_load_annotations_names_the_key(toy):
    pipeline = [t for t in toy_pipelines().source_pipeline
                if t['type'] not in ('LoadAnnotations', 'CheckSegLabels')]
    ds = uda(toy, source=domain(toy, 'source', pipeline))
    with raises(KeyError, r'has no label after its pipeline: '
                r'train_dataloader\.dataset\.source\.pipeline must contain LoadAnnotations'):
        ds[0]


def _write_label(path: Path, values) -> None:
    label = np.array(Image.open(path))
    label.flat[:len(values)] = values
    Image.fromarray(label).save(path)


def test_label_values_outside_the_class_map_name_the_file(toy):
    label = files(toy / 'source/gtFine/train', f'*{LABEL_SUFFIX}')[0]
    _write_label(label, [9, 200, 255, 6])  # 255 (ignore) and 6 (last class) are fine
    ds = uda(toy)  # the shipped toy source pipeline carries the check
    with raises(ValueError, rf'source sample 0 failed: ValueError: .*{label.name}: label values '
                r'9, 200 are outside the class map \(expected 0\.\.6 for 7 classes, or 255 = '
                r'ignore\)'):
        ds[0]


def test_label_check_accepts_classes_and_ignore_and_sees_negative_values():
    check = TRANSFORMS.build(dict(type='CheckSegLabels', num_classes=7))
    ok = np.array([[0, 6, 255]], np.uint8)
    assert check(dict(gt_seg_map=ok, seg_map_path='a.png'))['gt_seg_map'] is ok
    with raises(ValueError, r'b\.png: label values -1 are outside'):
        check(dict(gt_seg_map=np.array([[0, -1, 255]], np.int64), seg_map_path='b.png'))


def test_label_check_without_class_count_outside_uda_dataset_says_how_to_fix():
    check = TRANSFORMS.build(dict(type='CheckSegLabels'))
    with raises(ValueError, r'CheckSegLabels\.num_classes is not set'):
        check(dict(gt_seg_map=np.zeros((2, 2), np.uint8), seg_map_path='a.png'))


def test_label_check_count_is_filled_in_or_checked_against_the_class_list(toy):
    def source_with(num_classes):
        pipeline = toy_pipelines().source_pipeline
        pipeline[2] = dict(type='CheckSegLabels', num_classes=num_classes)
        return domain(toy, 'source', pipeline)
    ds = uda(toy, source=source_with(None))
    assert ds.source.pipeline.transforms[2].num_classes == 7
    with raises(ValueError, r'CheckSegLabels in train_dataloader\.dataset\.source\.pipeline has '
                r'num_classes=19, but train_dataloader\.dataset\.source \(ToyStreetDataset\) has '
                r'7 classes'):
        uda(toy, source=source_with(19))


# ---------------------------------------------------------------- target labels
def test_target_label_files_are_never_read(toy):
    """Target labels on disk, and LoadAnnotations in the target pipeline: stripped, not read.

    The target labels are then deleted: a dataset that still read them would fail.
    """
    pipeline = toy_pipelines().source_pipeline  # a labelled pipeline, used for the target
    ds = uda(toy, target=domain(toy, 'target', pipeline))
    target_types = [type(t).__name__ for t in ds.target.pipeline.transforms]
    assert 'LoadAnnotations' not in target_types and 'CheckSegLabels' not in target_types
    shutil.rmtree(toy / 'target/gtFine')
    for i in range(len(ds)):
        sample = ds[i]['data_samples']['target']
        assert 'gt_sem_seg' not in sample and '/target/' in sample.img_path


# ---------------------------------------------------------------- corrupt files
@pytest.mark.parametrize('damage', ['truncated', 'empty', 'text'])
@pytest.mark.parametrize('role', ['source', 'target'])
def test_corrupt_image_names_the_file(toy, role, damage):
    img = files(toy / f'{role}/leftImg8bit/train', '*.png')[0]
    data = img.read_bytes()
    img.write_bytes(dict(truncated=data[:len(data) // 2], empty=b'', text=b'not an image')[damage])
    ds = uda(toy)
    index = next(i for i in range(len(ds))
                 if getattr(ds, f'{role}_index')(i) == 0)  # the damaged file is sorted first
    with raises(Exception, rf'UDADataset: {role} sample 0 failed: image file .*{img.name} is '
                r'corrupt or not an image'):
        ds[index]


def test_corrupt_source_label_names_the_label_file(toy):
    label = files(toy / 'source/gtFine/train', f'*{LABEL_SUFFIX}')[0]
    label.write_bytes(label.read_bytes()[:60])
    with raises(OSError, rf'source sample 0 failed: label file .*{label.name} is corrupt or not '
                r'an image'):
        uda(toy)[0]


# ---------------------------------------------------------------- config mistakes
def test_unknown_method_type_is_named():
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    cfg.model.type = 'AdaptSegNett'
    with raises(KeyError, 'AdaptSegNett is not in the mmseg::model registry'):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('where,typo,key,message', [
    ('model', 'discriminator', 'discriminators',
     r"UDASegmentor\.__init__\(\) got an unexpected keyword argument 'discriminator'"),
    ('model', 'adv_weight', 'adv_weights',
     r"AdaptSegNet\.__init__\(\) missing 1 required positional argument: 'adv_weights'"),
    ('model.segmentor', 'decode_haed', 'decode_head',
     r"EncoderDecoder\.__init__\(\) got an unexpected keyword argument 'decode_haed'"),
    ('train_dataloader.dataset', 'sourc', 'source',
     r"UDADataset\.__init__\(\) got an unexpected keyword argument 'sourc'"),
    ('train_dataloader.dataset.source', 'data_roots', 'data_root',
     r"BaseSegDataset\.__init__\(\) got an unexpected keyword argument 'data_roots'"),
])
def test_misspelled_config_key_is_named(toy, where, typo, key, message):
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    for part in ('source', 'target'):
        cfg.train_dataloader.dataset[part].data_root = str(toy / part)
    node = cfg
    for name in where.split('.'):
        node = node[name]
    node[typo] = node.pop(key)
    is_model = where.startswith('model')
    with raises(TypeError, message):
        (MODELS if is_model else DATASETS).build(cfg.model if is_model
                                                 else cfg.train_dataloader.dataset)

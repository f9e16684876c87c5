"""The real-size smoke (tools/smoke_real_configs.py) and its fixtures.

The tests marked ``smoke`` write the four datasets at their real image sizes (~55 MB), the
published weights files (~1.6 GB) and train ResNet-101 at real sizes, which takes minutes per
config on a CPU. ``make test`` leaves them out (``-m 'not smoke'``); ``make smoke-ci`` (run by
``.ci/run`` after ``make test``) runs them. The fixture root is shared between the tests of one
session and, with ``MMUDA_SMOKE_ROOT``, between sessions. The unmarked tests (part of
``make test``) check in a second that the smoke covers every real config.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_script
from mmuda.datasets.convert import read_png_header
from mmuda.testing.real_fixtures import prepare_root

TOOL = REPO / 'tools' / 'smoke_real_configs.py'
GTA5 = REPO / ('configs/adaptsegnet/adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_'
               'cityscapes-1024x512.py')


def run_smoke(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(TOOL), '--root', str(root), *args], env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope='session')
def smoke_root(tmp_path_factory) -> Path:
    """Raw trees written and converted, weights written: the tool's own set-up."""
    root = Path(os.environ.get('MMUDA_SMOKE_ROOT') or tmp_path_factory.mktemp('smoke'))
    prepare_root(root, dict(os.environ, PYTHONPATH=str(REPO)))
    return root


@pytest.mark.smoke
def test_fixtures_have_the_original_formats_and_sizes(smoke_root):
    data = smoke_root / 'data'
    gta5 = read_png_header(data / 'gta5/labels/00001.png')
    assert (gta5.width, gta5.height, gta5.bit_depth, gta5.channels) == (1914, 1052, 8, 1)
    with Image.open(data / 'gta5/labels/00001.png') as img:
        assert img.mode == 'P'  # palette PNG, index = labelId
    assert Image.open(data / 'gta5/images/00001.png').size == (1914, 1052)
    synthia = read_png_header(data / 'synthia/GT/LABELS/0000000.png')
    assert (synthia.width, synthia.height, synthia.bit_depth, synthia.channels) == \
        (1280, 760, 16, 3)
    ids = cv2.imread(str(data / 'synthia/GT/LABELS/0000000.png'), cv2.IMREAD_UNCHANGED)
    assert ids[..., 2].max() <= 22 and ids[..., 1].max() > 255  # class in R, instance in G
    city = data / 'cityscapes/gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png'
    assert Image.open(city).size == (2048, 1024)
    rome = next((data / 'NTHU_Datasets/Rome/Images/Test').glob('*.jpg'))
    assert Image.open(rome).size == (2048, 1024)
    # the converters wrote trainIds holding every class of the layout
    train = np.asarray(Image.open(data / 'gta5/labels/00001_labelTrainIds.png'))
    assert set(np.unique(train)) == set(range(19)) | {255}
    assert (data / 'NTHU_Datasets/Rome/class_stats_test.json').is_file()


@pytest.mark.smoke
def test_weights_files_are_recognised_in_their_published_layouts(smoke_root):
    import torch

    from mmuda.utils.published_weights import PUBLISHED_WEIGHTS
    from mmuda.utils.weight_conversion import detect_layout
    for name, entry in PUBLISHED_WEIGHTS.items():
        state = torch.load(smoke_root / 'checkpoints' / name, weights_only=True)
        assert detect_layout(state) == entry.layout, name


@pytest.mark.smoke
def test_a_broken_dataset_config_fails_the_smoke_with_a_clear_message(smoke_root, tmp_path):
    """A wrong ``img_suffix`` (GTA5 ships .png) must stop the smoke, naming folder and suffix."""
    broken = tmp_path / 'broken_img_suffix.py'
    broken.write_text(f"_base_ = ['{GTA5}']\n"
                      "train_dataloader = dict(dataset=dict(source=dict(img_suffix='.jpg')))\n")
    done = run_smoke(smoke_root, '--config', str(broken))
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'failed' in done.stdout
    assert "images holds no file ending in '.jpg'" in done.stdout, done.stdout
    results = json.loads((smoke_root / 'smoke_results.json').read_text())
    assert [r['status'] for r in results] == ['failed']


@pytest.mark.smoke
def test_ci_subset_trains_and_tests_at_real_sizes(smoke_root):
    """The CI subset of the smoke (``--ci``): the configs train 2 iterations, validate 2
    images and their rows' later stages run on what the earlier ones wrote. Earlier runs'
    outputs are removed first, so the runs happen now (the data and weights are reused)."""
    for folder in ('work_dirs', 'results'):
        shutil.rmtree(smoke_root / folder, ignore_errors=True)
    done = run_smoke(smoke_root, '--ci', '--with-cp', '--threads', '2')
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    results = json.loads((smoke_root / 'smoke_results.json').read_text())
    assert results and all(r['status'] == 'passed' for r in results), results
    assert {r['stage'] for r in results} == {'train', 'test'}
    assert all(r['with_cp'] is True and r['threads'] == 2 for r in results), results


REAL_CONFIGS = load_script('tools/smoke_real_configs.py', 'smoke_real_configs').real_configs()
_checked: dict = {}  # leaf dataset config -> findings, shared by configs with the same dataset


def reads_earlier_outputs(dataset: dict) -> bool:
    paths = [dataset.get('data_root', '')] + list(dataset.get('data_prefix', {}).values())
    return any(str(v).startswith('work_dirs/') or '/work_dirs/' in str(v) for v in paths)


def check_leaf(dataset: dict, training: bool) -> list:
    """What is wrong with the first sample of ``dataset`` at the fixture's real sizes."""
    from mmseg.registry import DATASETS
    ds = DATASETS.build(dataset)
    if len(ds) == 0:
        return ['no samples']
    sample = ds[0]['data_samples']
    image = tuple(ds[0]['inputs'].shape[1:])
    if 'gt_sem_seg' not in sample:  # an unlabelled target: its images only
        return [] if training and min(image) > 0 else ['no labels to evaluate against']
    labels = sample.gt_sem_seg.data
    found = set(labels.unique().tolist())
    problems = []
    if training and tuple(labels.shape[1:]) != image:
        problems.append(f'labels {tuple(labels.shape[1:])} != image {image}')
    if not training and tuple(labels.shape[1:]) != tuple(sample.ori_shape):
        # the metric compares the prediction, resized to ori_shape, with these labels
        problems.append(f'labels {tuple(labels.shape[1:])} != ori_shape {sample.ori_shape}')
    valid = found - {255}
    if not valid or max(valid) >= len(ds.metainfo['classes']):
        problems.append(f'label values {sorted(found)} for {len(ds.metainfo["classes"])} classes')
    return problems


@pytest.mark.smoke
@pytest.mark.parametrize('config', REAL_CONFIGS, ids=[c.stem for c in REAL_CONFIGS])
def test_every_real_configs_datasets_load_at_real_size(smoke_root, config, monkeypatch):
    """Every real config's train, val and test datasets on the fixture trees at their real
    sizes: samples are found, images and labels stay aligned through the training pipeline,
    evaluation labels keep the shape the metric compares against, and label values are train
    IDs. A dataset that reads an earlier stage's output (pseudo labels, translated images) is
    left to the full smoke, which writes those outputs first."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    import mmuda  # noqa: F401 (registers the datasets and transforms)
    init_default_scope('mmseg')
    monkeypatch.chdir(smoke_root)  # the configs' data/ paths are relative
    cfg = Config.fromfile(str(config))
    from mmuda.datasets.file_checks import dataset_configs
    leaves = []
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(split):  # the LDR translator and M pre-training have no evaluation
            leaves += dataset_configs(cfg[split].dataset, f'{split}.dataset')
    problems, checked = [], 0
    for where, dataset in leaves:
        if reads_earlier_outputs(dataset):
            continue
        key = (repr(dataset.to_dict() if hasattr(dataset, 'to_dict') else dataset),
               where.startswith('train'))
        if key not in _checked:
            _checked[key] = check_leaf(dataset, training=key[1])
        problems += [f'{where}: {p}' for p in _checked[key]]
        checked += 1
    assert checked, 'every dataset of this config reads earlier outputs: nothing was checked'
    assert not problems, problems


def _wrong_suffix(cfg):
    cfg.train_dataloader.dataset.source.img_suffix = '.jpg'  # GTA5 ships .png
    return 'train_dataloader.dataset.source', True


def _labels_resized_for_evaluation(cfg):
    pipeline = cfg.val_dataloader.dataset.pipeline  # annotations loaded before the Resize
    names = [t['type'] for t in pipeline]
    load = pipeline.pop(names.index('LoadAnnotations'))
    pipeline.insert(1, load)
    return 'val_dataloader.dataset', False


def _raw_label_ids(cfg):
    cfg.val_dataloader.dataset.seg_map_suffix = '_gtFine_labelIds.png'  # not the converted IDs
    cfg.val_dataloader.dataset.pipeline = [  # without the pipeline's own label check
        t for t in cfg.val_dataloader.dataset.pipeline if t['type'] != 'CheckSegLabels']
    return 'val_dataloader.dataset', False


@pytest.mark.smoke
@pytest.mark.parametrize('breaks', [_wrong_suffix, _labels_resized_for_evaluation,
                                    _raw_label_ids])
def test_the_dataset_check_finds_broken_configs(smoke_root, breaks, monkeypatch):
    """The check above is not vacuous: each of these mistakes in a real config is reported
    (or stops the dataset with an error)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    import mmuda  # noqa: F401
    init_default_scope('mmseg')
    monkeypatch.chdir(smoke_root)
    cfg = Config.fromfile(str(GTA5))
    where, training = breaks(cfg)
    dataset = cfg
    for key in where.split('.'):
        dataset = dataset[key]
    assert check_leaf(Config.fromfile(str(GTA5)).val_dataloader.dataset, False) == []
    try:
        problems = check_leaf(dataset, training)
    except Exception as error:  # noqa: BLE001 (an error that names the problem is a finding)
        problems = [str(error)]
    assert problems


# ---------------------------------------------------------------- fast checks (not smoke)
def test_every_real_config_is_in_the_smoke():
    """Each GTA5 / SYNTHIA / Cross-City config runs in a row or alone, and nothing twice."""
    tool = load_script('tools/smoke_real_configs.py', 'smoke_real_configs')
    in_rows = [c for r in tool.real_rows() for c in tool.row_configs(r)]
    alone = [c.stem for c in tool.real_configs() if c.stem not in set(in_rows)]
    shipped = sorted(p.stem for p in (REPO / 'configs').glob('*/*.py')
                     if 'toy' not in p.name and p.parent.name != '_base_')
    assert sorted(set(in_rows) | set(alone)) == shipped
    assert len(alone) == len(set(alone))
    assert set(tool.CI_CONFIGS) <= set(in_rows)  # CI runs whole rows


def test_work_dir_inputs_point_at_what_the_smoke_writes():
    tool = load_script('tools/smoke_real_configs.py', 'smoke_real_configs')
    cfg = {'load_from': 'work_dirs/a/iter_20000.pth', 'x': {'y': 'work_dirs/labels', 'z': 3},
           'data_root': 'data/gta5'}
    assert tool.work_dir_paths(cfg) == [('load_from', 'work_dirs/a/iter_20000.pth'),
                                        ('x.y', 'work_dirs/labels')]
    assert tool.smoke_path('work_dirs/a/iter_20000.pth') == 'work_dirs/a/iter_2.pth'
    assert tool.smoke_path('work_dirs/labels') == 'work_dirs/labels'


def test_table_states_each_stages_settings_and_reads_older_records():
    """Stages run with and without ``--with-cp`` (or other thread counts) can share one table:
    each row says how it ran; a record written before those fields existed shows '-'."""
    tool = load_script('tools/smoke_real_configs.py', 'smoke_real_configs')
    old = tool.Result(**{'unit': 'fada gta5', 'stage': 'train', 'config': 'a',
                         'status': 'passed', 'seconds': 9.0, 's_per_iter': 4.0, 'peak_mib': 10})
    new = tool.Result('ssf-dan gta5', 'train', 'b', 'passed', 8.0, 3.0, 20, '1.0-2.0',
                      with_cp=False, threads=2)
    lines = tool.table([old, new], 'cmd', 'note').splitlines()
    assert '| with-cp | threads |' in lines[4]
    assert lines[6].endswith('| - | - | - |  |')
    assert lines[7].endswith('| 1.0-2.0 | no | 2 |  |')

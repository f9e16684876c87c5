"""Every real-data config starts from the weights its paper uses, and training refuses to start
without them: an absent file, or a frozen-normalisation backbone left random.

"Real" configs are every shipped config but the toy ones (``toy`` in the name), which train a
GroupNorm network from scratch and must keep working without any file.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mmengine.config import Config

from conftest import REPO
from mmuda.utils import PretrainedInitError, check_pretrained_init
from mmuda.utils.pretrained_init_check import build_model, random_frozen_backbones, weights_files
from mmuda.utils.published_weights import PUBLISHED_WEIGHTS

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
REAL = [p for p in CONFIGS if 'toy' not in p.name]
TOY = [p for p in CONFIGS if 'toy' in p.name]
CAFFE = 'DeepLab_resnet_pretrained_init-f81d91e8.pth'
ADVENT = 'DeepLab_resnet_pretrained_imagenet.pth'
TORCHVISION = 'resnet101-5d3b4d8f.pth'
V1C = 'resnet101_v1c-e67eebb6.pth'
MIT_B5 = 'mit_b5_20220624-658746d9.pth'
VGG19 = 'vgg19-dcbb9e9d.pth'
ADAPTSEGNET = REPO / ('configs/adaptsegnet/adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_'
                      'cityscapes-1024x512.py')


def ids(path: Path) -> str:
    return str(path.relative_to(REPO / 'configs'))


def expected_weights(name: str) -> set:
    """The published files a config must name, from its name: the backbone tag, then the
    stage. AdaptSegNet lineage (AdaptSegNet, SSF-DAN, LDR, source-only): the Caffe
    ImageNet+COCO init; ADVENT: its own ImageNet init; FADA (every stage) and the
    multi-adversarial method (its paper: "pretrained on ImageNet"): torchvision; other
    backbones: OpenMMLab's ImageNet weights; LDR adds its VGG19 unless the reconstruction is off;
    CycleGAN trains from scratch."""
    if name.startswith('ldr-translator_'):
        return set()
    if name.startswith('ldr-recon-pretrain_'):
        return {VGG19}
    vgg = {VGG19} if name.startswith(('ldr_', 'ldr-stage0_')) else set()
    if '_dlv2-r101-tv_' in name or '_dlv2-r101-fusion_' in name:
        return {TORCHVISION}
    if '_dlv2-r101_' in name:
        return {ADVENT if name.startswith(('advent_', 'minent_')) else CAFFE} | vgg
    if '_deeplabv3plus-r101-d8_' in name:
        return {V1C}
    if '_segformer-mit-b5_' in name:
        return {MIT_B5}
    raise AssertionError(f'{name}: no backbone tag this test knows; add its expected weights')


def test_the_lists_cover_the_configs():
    assert len(REAL) >= 50 and len(TOY) >= 20 and len(REAL) + len(TOY) == len(CONFIGS)


@pytest.mark.parametrize('path', REAL, ids=ids)
def test_real_config_starts_from_its_papers_weights(path: Path):
    """(a) The config names exactly its paper's published files, and no backbone with frozen
    normalisation lacks a pretrained init (built as the Runner builds it)."""
    cfg = Config.fromfile(str(path))
    named = {osp.basename(p) for _, p in weights_files(cfg.model)}
    assert named & set(PUBLISHED_WEIGHTS) == expected_weights(path.name), path.name
    for key, file in weights_files(cfg.model):
        if osp.basename(file) in PUBLISHED_WEIGHTS:
            assert file == f'checkpoints/{osp.basename(file)}', key
    random = [name for name, _, _ in random_frozen_backbones(build_model(cfg))]
    assert not random, f'{path.name}: frozen backbones without pretrained init: {random}'


def test_the_frozen_backbone_check_can_fail():
    cfg = Config.fromfile(str(ADAPTSEGNET))
    cfg.model.segmentor.backbone.init_cfg = None
    [(name, module, how)] = random_frozen_backbones(build_model(cfg))
    assert name == 'segmentor.backbone' and how == ['BatchNorm with requires_grad=False',
                                                   'norm_eval=True']


@pytest.mark.parametrize('path', [p for p in REAL if expected_weights(p.name)], ids=ids)
def test_absent_weights_refuse_training(path: Path, tmp_path, monkeypatch):
    """Every real config with weights, in a directory without them: one paragraph per file,
    naming the key, the file and where it is published."""
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(path))
    with pytest.raises(PretrainedInitError) as err:
        check_pretrained_init(cfg)
    paragraphs = str(err.value).split('\n\n')
    for name in expected_weights(path.name):
        [text] = [t for t in paragraphs if f"'checkpoints/{name}'" in t]
        assert re.match(r'^model\.[\w.]+(\.init_cfg\.checkpoint|\.pretrained) is ', text)
        assert PUBLISHED_WEIGHTS[name].url in text
        assert 'docs/get_started.md#pretrained-weights' in text and '\n' not in text


def test_frozen_backbone_without_init_needs_the_switch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(ADAPTSEGNET))
    cfg.model.segmentor.backbone.init_cfg = None
    with pytest.raises(PretrainedInitError) as err:
        check_pretrained_init(cfg)
    text = str(err.value)
    assert text.startswith('model.segmentor.backbone (DeepLabV2ResNet) has frozen normalisation')
    assert 'zero_init_residual' in text and 'allow_random_init=True' in text
    cfg.allow_random_init = True
    check_pretrained_init(cfg)  # a warning, no error
    cfg.allow_random_init = False
    cfg.load_from = 'work_dirs/earlier_stage/iter_1.pth'  # the whole model comes from there
    check_pretrained_init(cfg)


def test_present_files_pass(tmp_path, monkeypatch):
    """The check looks at existence (the loader checks the content)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'checkpoints').mkdir()
    (tmp_path / 'checkpoints' / CAFFE).write_bytes(b'')
    check_pretrained_init(Config.fromfile(str(ADAPTSEGNET)))


def test_trainable_bn_stage_without_init_is_allowed(tmp_path, monkeypatch):
    """A stage that trains its BN (FADA's self-distillation student) is not refused for random
    weights; only the absent file is."""
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(REPO / 'configs/fada/fada-sd_dlv2-r101-tv_1xb8-20k_cityscapes-'
                                     'pseudo-512x1024.py'))
    assert cfg.model.backbone.init_cfg.checkpoint == f'checkpoints/{TORCHVISION}'
    cfg.model.backbone.init_cfg = None
    check_pretrained_init(cfg)


@pytest.mark.parametrize('path', TOY, ids=ids)
def test_toy_configs_need_no_downloaded_weights(path: Path, tmp_path, monkeypatch):
    """Toy configs name no published file; a later toy stage names only an earlier stage's
    output (present here as an empty file), and no toy backbone is frozen."""
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(path))
    for _, file in weights_files(cfg.model):
        assert file.startswith('work_dirs/'), file
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_bytes(b'')
    cfg.load_from = None  # a later stage's own start; the check must pass without it
    check_pretrained_init(cfg)


def test_earlier_stage_output_absent_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(REPO / 'configs/mada/mada-proxy-ft_dlv2-r18-toy_1xb4-600_'
                                     'toy-target-proxy.py'))
    with pytest.raises(PretrainedInitError, match=r"^model\.init_cfg\.checkpoint is 'work_dirs/"
                                                  r'.*the output of an earlier stage'):
        check_pretrained_init(cfg)


@pytest.mark.parametrize('config', [
    ADAPTSEGNET,
    REPO / 'configs/fada/fada-sd_dlv2-r101-tv_1xb8-20k_cityscapes-pseudo-512x1024.py',
    REPO / 'configs/ldr/ldr-recon-pretrain_resnet9_1xb1-100k_gta5-1280x720.py',
], ids=ids)
def test_train_tool_exits_before_writing_anything(config: Path, tmp_path):
    """(c) tools/train.py on a real config without its weights: exit status 1 within seconds,
    the paragraph on stderr, no traceback, and no work dir."""
    work_dir = tmp_path / 'work_dir'
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(REPO / 'tools/train.py'), str(config),
                           '--work-dir', str(work_dir)], cwd=tmp_path, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(REPO),
                                              OMP_NUM_THREADS='1'))
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr[-2000:]
    [file] = expected_weights(config.name)
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith('error: model.') and f"'checkpoints/{file}'" in message
    assert PUBLISHED_WEIGHTS[file].url in message and 'Traceback' not in proc.stderr
    assert not work_dir.exists() and list(tmp_path.iterdir()) == []
    # importing torch/mmseg and loading the config take ~3 s here; the bound leaves room for a
    # busy machine, and is far below what building the Runner and its data would take
    assert elapsed < 60


# ---------------------------------------------------------------- the docs
def pretrained_weights_section() -> str:
    text = (REPO / 'docs/get_started.md').read_text()
    start = text.index('\n## Pretrained weights\n')
    end = text.find('\n## ', start + 1)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize('name', sorted(PUBLISHED_WEIGHTS))
def test_docs_table_lists_every_file(name: str):
    """One row per file with its source and, where the name carries it, the SHA-256 prefix."""
    entry = PUBLISHED_WEIGHTS[name]
    [row] = [line for line in pretrained_weights_section().splitlines()
             if line.startswith(f'| `{name}` |')]
    assert entry.url in row and f'`{entry.layout}`' in row
    if entry.sha256_prefix:
        assert entry.sha256_prefix in name and entry.sha256_prefix in row


def test_every_stage_readme_points_at_the_weights():
    for readme in sorted((REPO / 'configs').glob('*/README.md')):
        text = readme.read_text()
        start = text.index('\n## Running the stages')
        section = text[start:text.find('\n## ', start + 1)]
        assert '../../docs/get_started.md#pretrained-weights' in section, readme.parent.name

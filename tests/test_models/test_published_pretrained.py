"""PublishedPretrained: a weights file in the layout its authors published loads through a
config's init exactly as the offline converter converts it; bad files are errors naming keys.

The fake files have the key structure of the real ones (ResNet-101 blocks [3, 4, 23, 3], the
Caffe init's ``Scale.`` wrapper and ``layer5``, torchvision's ``fc``, AdaptSegNet's ``layer5`` /
``layer6``, VGG19's ``features`` and ``classifier``) at a tiny width, except the VGG, whose loss
only accepts the real widths (52 MB). Values are random, so a key landing in the wrong place
shows up as a mismatch; comparisons are exact (``torch.equal``): loading copies tensors.
"""
import copy
import re
from pathlib import Path
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import REPO, load_script
from mmuda.engine.fileio import RefusedCheckpointError
from mmuda.models.losses.perceptual_loss import VGG19_LAYOUT
from mmuda.models.weight_init import PretrainedWeightsError, published_pretrained
from mmuda.utils.weight_conversion import detect_layout

ADAPTSEGNET = ('configs/adaptsegnet/adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_'
               'cityscapes-1024x512.py')
ADVENT = 'configs/advent/advent_dlv2-r101_1xb1-120k_gta5-1280x720_cityscapes-1024x512.py'
FADA_WARMUP = ('configs/fada/fada-warmup_dlv2-r101-tv_1xb8-20k_gta5-1280x720_'
               'cityscapes-1024x512.py')
MADA = 'configs/mada/mada_dlv2-r101-fusion_1xb4-10k_gta5-1280x720_cityscapes-1024x512.py'
DLV3P = ('configs/adaptsegnet/adaptsegnet_deeplabv3plus-r101-d8_1xb2-150k_gta5-1280x720_'
         'cityscapes-1024x512.py')
SEGFORMER = ('configs/adaptsegnet/adaptsegnet_segformer-mit-b5_1xb1-40k_gta5-1280x720_'
             'cityscapes-1024x512.py')
LDR_PRETRAIN = 'configs/ldr/ldr-recon-pretrain_resnet9_1xb1-100k_gta5-1280x720.py'
WIDTH = 4  # stem and base channels: layer3 gives 16 * WIDTH, layer4 32 * WIDTH channels


def segmentor_of(config: str) -> Config:
    cfg = Config.fromfile(str(REPO / config))
    return copy.deepcopy(cfg.model.get('segmentor', cfg.model))


def narrow_backbone(config: str, checkpoint: str) -> dict:
    """The config's backbone, with its own init_cfg pointed at ``checkpoint``, at WIDTH."""
    backbone = segmentor_of(config).backbone
    assert backbone.init_cfg.type == 'PublishedPretrained'
    backbone.update(base_channels=WIDTH, stem_channels=WIDTH)
    backbone.init_cfg.checkpoint = checkpoint
    return backbone.to_dict()


def random_weights(backbone: dict) -> Dict[str, torch.Tensor]:
    """Random values for every key of ``backbone`` except BN counters (old files lack them)."""
    model = MODELS.build(dict(backbone, init_cfg=None))
    gen = torch.Generator().manual_seed(0)
    return {k: torch.randn(v.shape, generator=gen) for k, v in model.state_dict().items()
            if not k.endswith('num_batches_tracked')}


def classifier(layer: str, in_channels: int, num_classes: int) -> Dict[str, torch.Tensor]:
    """DeepLab-v2's ``Classifier_Module`` keys: four dilated 3x3 convs."""
    gen = torch.Generator().manual_seed(1)
    out = {}
    for i in range(4):
        out[f'{layer}.conv2d_list.{i}.weight'] = torch.randn(num_classes, in_channels, 3, 3,
                                                             generator=gen)
        out[f'{layer}.conv2d_list.{i}.bias'] = torch.randn(num_classes, generator=gen)
    return out


def initialise(cfg: dict) -> torch.nn.Module:
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def converted(tool: str, src: Path, tmp_path: Path) -> Dict[str, torch.Tensor]:
    """What the offline converter tools/model_converters/<tool>.py writes for ``src``."""
    dst = tmp_path / f'{tool}_out.pth'
    load_script(f'tools/model_converters/{tool}.py', f'converter_{tool}').main(
        [str(src), str(dst)])
    return torch.load(dst, weights_only=True)['state_dict']


def assert_loaded(model: torch.nn.Module, expected: Dict[str, torch.Tensor], prefix: str):
    """Every key of ``model`` equals the converter's ``prefix + key``, and nothing is left."""
    state = model.state_dict()
    ours = {k: v for k, v in expected.items() if k.startswith(prefix)}
    assert sorted(prefix + k for k in state) == sorted(ours)
    for key, value in state.items():
        assert torch.equal(value, ours[prefix + key]), key


# ---------------------------------------------------------------- each published layout
@pytest.mark.parametrize('config,published', [
    (ADAPTSEGNET, 'DeepLab_resnet_pretrained_init-f81d91e8.pth'),
    (ADVENT, 'DeepLab_resnet_pretrained_imagenet.pth'),
], ids=['adaptsegnet-init', 'advent-init'])
def test_caffe_init_loads_as_the_converter_converts(tmp_path, config, published):
    """``Scale.`` keys, the init's own ``Scale.layer5`` classifier dropped, counters added."""
    assert segmentor_of(config).backbone.init_cfg.checkpoint == f'checkpoints/{published}'
    src = tmp_path / 'caffe_init.pth'
    backbone = narrow_backbone(config, str(src))
    raw = {f'Scale.{k}': v for k, v in random_weights(backbone).items()}
    raw.update({f'Scale.{k}': v for k, v in classifier('layer5', 32 * WIDTH, 21).items()})
    torch.save(raw, src, _use_new_zipfile_serialization=False)  # 2017 files predate the zip
    assert detect_layout(raw) == 'deeplabv2_caffe'
    model = initialise(backbone)
    assert_loaded(model, converted('deeplabv2_caffe', src, tmp_path), 'backbone.')
    assert torch.equal(model.layer3[22].conv2.weight, raw['Scale.layer3.22.conv2.weight'])


@pytest.mark.parametrize('config', [FADA_WARMUP, MADA], ids=['fada', 'mada'])
def test_torchvision_resnet_loads_as_the_converter_converts(tmp_path, config):
    assert segmentor_of(config).backbone.init_cfg.checkpoint == \
        'checkpoints/resnet101-5d3b4d8f.pth'
    src = tmp_path / 'resnet101.pth'
    backbone = narrow_backbone(config, str(src))
    raw = dict(random_weights(backbone), **{'fc.weight': torch.randn(1000, 32 * WIDTH),
                                            'fc.bias': torch.randn(1000)})
    torch.save(raw, src)
    assert detect_layout(raw) == 'torchvision_resnet'
    model = initialise(backbone)
    assert_loaded(model, converted('torchvision_resnet', src, tmp_path), 'backbone.')
    assert torch.equal(model.layer4[2].bn3.running_var, raw['layer4.2.bn3.running_var'])


def test_adaptsegnet_trained_layout_fills_the_backbone(tmp_path):
    """A trained multi-level AdaptSegNet file (``layer5`` on layer3, ``layer6`` on layer4) as a
    backbone init: its ResNet part, as the converter converts it; the classifiers are left out
    (they are the converter's ``decode_head`` / ``auxiliary_head``, not the backbone's)."""
    src = tmp_path / 'GTA2Cityscapes_multi.pth'
    backbone = narrow_backbone(ADAPTSEGNET, str(src))
    raw = dict(random_weights(backbone), **classifier('layer5', 16 * WIDTH, 19),
               **classifier('layer6', 32 * WIDTH, 19))
    torch.save(raw, src)
    assert detect_layout(raw) == 'adaptsegnet'
    expected = converted('adaptsegnet', src, tmp_path)  # prefix 'segmentor.'
    assert {k.split('.')[1] for k in expected} == {'backbone', 'decode_head', 'auxiliary_head'}
    assert_loaded(initialise(backbone), expected, 'segmentor.backbone.')


def fake_torchvision_vgg19(path: Path) -> Dict[str, torch.Tensor]:
    """torchvision's ``vgg19`` keys: ``features.<i>`` at the real widths up to conv5_1 (what
    the loss reads), placeholders for conv5_2-5_4, and a small ``classifier``."""
    gen = torch.Generator().manual_seed(2)
    state, in_c, idx = {}, 3, 0
    for item in VGG19_LAYOUT:
        if item == 'M':
            idx += 1
            continue
        shape = (item, in_c, 3, 3) if idx <= 28 else (1, 1, 1, 1)
        state[f'features.{idx}.weight'] = torch.randn(shape, generator=gen) * 0.01
        state[f'features.{idx}.bias'] = torch.randn(shape[0], generator=gen)
        in_c, idx = item, idx + 2
    state.update({'classifier.0.weight': torch.randn(8, 4), 'classifier.0.bias': torch.zeros(8)})
    torch.save(state, path)
    return state


def test_vgg19_loads_through_the_ldr_config(tmp_path, monkeypatch):
    """The perceptual loss of LDR's config: every conv up to conv5_1 equals the file's."""
    perceptual = Config.fromfile(str(REPO / LDR_PRETRAIN)).model.perceptual
    assert perceptual.pretrained == 'checkpoints/vgg19-dcbb9e9d.pth'
    raw = fake_torchvision_vgg19(tmp_path / 'vgg19.pth')
    assert detect_layout(raw) == 'torchvision_vgg19'
    logged = []
    monkeypatch.setattr('mmuda.models.losses.perceptual_loss.print_log',
                        lambda msg, *a, **k: logged.append(msg))
    vgg = initialise(dict(perceptual.to_dict(), pretrained=str(tmp_path / 'vgg19.pth')))
    convs = [i for i, m in enumerate(vgg.features) if hasattr(m, 'weight')]
    assert convs[-1] == 28  # conv5_1
    for i in convs:
        assert torch.equal(vgg.features[i].weight, raw[f'features.{i}.weight'])
        assert torch.equal(vgg.features[i].bias, raw[f'features.{i}.bias'])
    assert '26 keys loaded, 0 missing, 6 unexpected' in logged[-1]
    assert '2 dropped' in logged[-1]


@pytest.mark.parametrize('config', [DLV3P, SEGFORMER], ids=['resnet101-v1c', 'mit-b5'])
def test_openmmlab_backbone_files_load_by_their_own_names(tmp_path, config):
    """OpenMMLab's ImageNet files are named as the backbone itself (``stem.*`` for V1c, MiT's
    ``layers.*``); an ImageNet ``fc`` is counted as unexpected and ignored."""
    src = tmp_path / 'imagenet.pth'
    backbone = segmentor_of(config).backbone
    if config == SEGFORMER:
        backbone.update(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 2, 4])
    else:
        backbone.update(base_channels=WIDTH, stem_channels=WIDTH)
    backbone.init_cfg.checkpoint = str(src)
    backbone = backbone.to_dict()
    raw = random_weights(backbone)
    if config == DLV3P:
        assert 'stem.0.weight' in raw
        raw.update({'fc.weight': torch.randn(1000, 32 * WIDTH), 'fc.bias': torch.randn(1000)})
    torch.save({'state_dict': raw, 'meta': {}}, src)
    assert detect_layout(raw) == 'mmseg'
    model = initialise(backbone)
    state = model.state_dict()
    for key, value in state.items():
        if not key.endswith('num_batches_tracked'):
            assert torch.equal(value, raw[key]), key


# ---------------------------------------------------------------- logging and errors
def test_log_counts_loaded_missing_unexpected_and_dropped(tmp_path, monkeypatch):
    src = tmp_path / 'resnet101.pth'
    backbone = narrow_backbone(FADA_WARMUP, str(src))
    raw = dict(random_weights(backbone), **{'fc.weight': torch.zeros(2, 2),
                                            'fc.bias': torch.zeros(2)})
    torch.save(raw, src)
    logged = []
    monkeypatch.setattr(published_pretrained, 'print_log', lambda msg, **k: logged.append(msg))
    initialise(backbone)
    own = len(MODELS.build(dict(backbone, init_cfg=None)).state_dict())
    counters = own - len(raw) + 2
    assert logged[0].splitlines()[0] == (
        f'DeepLabV2ResNet <- {src} (torchvision_resnet layout, recognised; the keys under '
        f"'backbone.'): {own} keys loaded, 0 missing, 0 unexpected (ignored)")
    assert 'ImageNet classifier, unused by a segmentor): fc.weight, fc.bias' in logged[0]
    assert f'added {counters} num_batches_tracked counters' in logged[0]


def test_missing_backbone_keys_are_an_error_naming_them(tmp_path):
    src = tmp_path / 'caffe_init.pth'
    backbone = narrow_backbone(ADAPTSEGNET, str(src))
    raw = {f'Scale.{k}': v for k, v in random_weights(backbone).items()
           if not k.startswith('layer2.1.')}
    torch.save(raw, src)
    with pytest.raises(PretrainedWeightsError) as err:
        initialise(backbone)
    text = str(err.value)
    assert f'DeepLabV2ResNet: {src} (deeplabv2_caffe layout' in text
    assert re.search(r'18 of its \d+ keys are not in the file: layer2\.1\.conv1\.weight, '
                     r'layer2\.1\.bn1\.weight', text)
    assert 'docs/get_started.md#pretrained-weights' in text


def test_shape_mismatch_is_an_error_naming_the_key(tmp_path):
    src = tmp_path / 'resnet101.pth'
    backbone = narrow_backbone(FADA_WARMUP, str(src))
    raw = random_weights(backbone)
    raw['layer1.0.conv2.weight'] = torch.zeros(1, 1, 3, 3)
    torch.save(raw, src)
    with pytest.raises(PretrainedWeightsError,
                       match=r'1 of its keys has another shape: layer1\.0\.conv2\.weight '
                             r'\(1, 1, 3, 3\) in '
                             r'the file, \(4, 4, 3, 3\) in the model'):
        initialise(backbone)


def test_weights_of_the_other_resnet_style_are_refused(tmp_path):
    """torchvision weights (stride on the 3x3) have the Caffe model's keys and shapes."""
    src = tmp_path / 'resnet101.pth'
    backbone = narrow_backbone(ADAPTSEGNET, str(src))
    torch.save(dict(random_weights(backbone), **{'fc.weight': torch.zeros(2, 2)}), src)
    with pytest.raises(PretrainedWeightsError, match="style='caffe'.*torchvision_resnet layout"):
        initialise(backbone)


def test_file_that_needs_full_unpickling_is_refused(tmp_path):
    """weights_only loading stays on: a pickled object is not executed."""
    src = tmp_path / 'pickled.pth'
    backbone = narrow_backbone(ADAPTSEGNET, str(src))
    torch.save({'Scale.conv1.weight': torch.zeros(1), 'args': Path('x')}, src)
    with pytest.raises(RefusedCheckpointError, match='pickled.pth'):
        initialise(backbone)


def test_absent_file_names_it(tmp_path):
    backbone = narrow_backbone(ADAPTSEGNET, str(tmp_path / 'absent.pth'))
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        initialise(backbone)

"""Weight converters: converted weights make mmuda's model compute what the reference model does.

The reference models below are written here from the reference codes' description, in plain
PyTorch and with their module names (no mmseg), so that a key that lands in the wrong place, a
stride on the wrong conv or a wrong pool mode shows up as different logits. They are ResNet-50
shaped ([3, 4, 6, 3] bottlenecks, which is what mmseg's depth=50 builds) at a tiny width.
"""
import argparse
import copy
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

from conftest import REPO

sys.path.insert(0, str(REPO / 'tools' / 'model_converters'))
import adaptsegnet  # noqa: E402
import deeplabv2_caffe  # noqa: E402
import torchvision_resnet  # noqa: E402

from mmuda.utils.weight_conversion import ConversionError  # noqa: E402

WIDTH = 4  # stem channels; stage i has WIDTH * 2**i planes, outputs 4x that
BLOCKS = (3, 4, 6, 3)
NUM_CLASSES = 5
DILATIONS = (6, 12, 18, 24)
# 64 is even after the stem conv, so a floor-mode pool gives 16 and the ceil-mode pool 17.
INPUT = (1, 3, 64, 64)


# ---------------------------------------------------------------- reference models (no mmseg)
class RefBottleneck(nn.Module):
    """Bottleneck with the stride on the 1x1 conv (Caffe, DeepLab-v2) or the 3x3 (torchvision)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, dilation: int,
                 downsample: Optional[nn.Module], stride_on_3x3: bool) -> None:
        super().__init__()
        s1, s3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=s3, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class RefClassifier(nn.Module):
    """DeepLab-v2's ``Classifier_Module``: dilated 3x3 convs straight to classes, summed."""

    def __init__(self, inplanes: int, num_classes: int) -> None:
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(inplanes, num_classes, 3, padding=d, dilation=d, bias=True)
            for d in DILATIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d_list[0](x)
        for conv in self.conv2d_list[1:]:
            out = out + conv(x)
        return out


class RefResNet(nn.Module):
    """The stem and four stages; ``layer_dilations`` gives each block's 3x3 dilation."""

    def __init__(self, strides: Sequence[int], layer_dilations: Sequence[Sequence[int]],
                 stride_on_3x3: bool, ceil_mode: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, WIDTH, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=ceil_mode)
        self.inplanes = WIDTH
        for i, (stride, dilations) in enumerate(zip(strides, layer_dilations)):
            self.add_module(f'layer{i + 1}', self._make_layer(WIDTH * 2**i, stride, dilations,
                                                              stride_on_3x3))

    def _make_layer(self, planes: int, stride: int, dilations: Sequence[int],
                    stride_on_3x3: bool) -> nn.Sequential:
        downsample = nn.Sequential(
            nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * 4))
        blocks = []
        for j, dilation in enumerate(dilations):
            blocks.append(RefBottleneck(self.inplanes, planes, stride if j == 0 else 1, dilation,
                                        downsample if j == 0 else None, stride_on_3x3))
            self.inplanes = planes * 4
        return nn.Sequential(*blocks)

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x3 = self.layer3(x)
        return [x3, self.layer4(x3)]


class RefDeepLabV2(RefResNet):
    """DeepLab-v2 as AdaptSegNet builds it: stride on the 1x1 conv, ceil-mode pool, layer3
    dilation 2 and layer4 dilation 4 in every block; ``classifiers`` names each classifier and
    the stage it reads (AdaptSegNet multi-level: layer5 on layer3 and layer6 on layer4)."""

    def __init__(self, classifiers: dict) -> None:
        super().__init__(strides=(1, 2, 1, 1),
                         layer_dilations=[[d] * n for d, n in zip((1, 1, 2, 4), BLOCKS)],
                         stride_on_3x3=False, ceil_mode=True)
        self.stages = dict(classifiers)
        for name, stage in classifiers.items():
            self.add_module(name, RefClassifier(WIDTH * 16 * (2 if stage == 'layer4' else 1),
                                                NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> dict:
        """Logits of every classifier, by the stage it reads."""
        x3, x4 = self.features(x)
        return {stage: getattr(self, name)(x3 if stage == 'layer3' else x4)
                for name, stage in self.stages.items()}


class RefTorchvisionResNet(RefResNet):
    """torchvision's ResNet with ``replace_stride_with_dilation=[False, True, True]`` (FADA):
    stride on the 3x3 conv, the first block of a dilated stage keeps the previous dilation."""

    def __init__(self) -> None:
        super().__init__(strides=(1, 2, 1, 1),
                         layer_dilations=[[1] * 3, [1] * 4, [1] + [2] * 5, [2] + [4] * 2],
                         stride_on_3x3=True, ceil_mode=False)
        self.fc = nn.Linear(WIDTH * 32, 1000)


def randomize(model: nn.Module) -> nn.Module:
    """Random weights and BN statistics, scaled so that activations stay O(1), eval mode."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * (2 / fan_in) ** 0.5
            if m.bias is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.1
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) * 0.5 + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean = torch.randn(n, generator=gen) * 0.1
            m.running_var = torch.rand(n, generator=gen) + 0.5
    return model.eval()


def save(state: dict, path: Path, prefix: str = '', drop_counters: bool = False) -> str:
    """Save ``state`` as the reference files are: a plain state dict under ``prefix``."""
    state = {prefix + k: v for k, v in state.items()
             if not (drop_counters and k.endswith('num_batches_tracked'))}
    torch.save(state, path)
    return str(path)


# ---------------------------------------------------------------- mmuda models
def segmentor_cfg(aux: bool = True, **backbone) -> dict:
    """The DeepLab-v2 config, shrunk to the reference models' depth and width."""
    seg = copy.deepcopy(Config.fromfile(
        str(REPO / 'configs/_base_/models/deeplabv2_r101_multilevel.py')).segmentor)
    # no pretrained init unless a test sets one (the config's file is not loaded here)
    seg.backbone.update(depth=50, base_channels=WIDTH, stem_channels=WIDTH, init_cfg=None,
                        **backbone)
    seg.decode_head.update(in_channels=WIDTH * 32, num_classes=NUM_CLASSES)
    seg.auxiliary_head.update(in_channels=WIDTH * 16, num_classes=NUM_CLASSES)
    if not aux:
        seg.pop('auxiliary_head')
    return seg.to_dict()


def build(cfg: dict) -> nn.Module:
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()  # mmseg's ResNet.train() returns None, so eval() cannot be chained
    return model


def run(tool, src: str, dst: Path, *options: str):
    return tool.main([src, str(dst), *options])


def assert_same(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ref.abs().max() > 0.1  # not a vanishing signal that would match anything
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randn(INPUT, generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------- Caffe DeepLab-v2 init
def test_caffe_init_backbone_via_init_cfg_matches_reference(tmp_path, image):
    """Default: backbone keys only, loaded through the backbone's Pretrained init_cfg."""
    ref = randomize(RefDeepLabV2({'layer5': 'layer4'}))
    src = save(ref.state_dict(), tmp_path / 'init.pth', prefix='Scale.', drop_counters=True)
    report = run(deeplabv2_caffe, src, tmp_path / 'out.pth')
    assert report.prefix == '' and len(report.filled) == 53  # every BN of ResNet-50
    assert sorted(report.dropped) == sorted(f'Scale.layer5.conv2d_list.{i}.{p}'
                                            for i in range(4) for p in ('weight', 'bias'))
    ckpt = torch.load(tmp_path / 'out.pth', weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'} and ckpt['meta']['converter'] == 'deeplabv2_caffe'
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    cfg = segmentor_cfg(aux=False)
    cfg['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=str(tmp_path / 'out.pth'),
                                       prefix='backbone.')
    model = build(cfg)
    with torch.no_grad():
        ours, theirs = model.extract_feat(image), ref.features(image)
    for a, b in zip(ours, theirs):
        assert_same(a, b)


def test_caffe_init_keep_classifier_gives_reference_logits(tmp_path, image):
    ref = randomize(RefDeepLabV2({'layer5': 'layer4'}))
    src = save(ref.state_dict(), tmp_path / 'init.pth', prefix='Scale.', drop_counters=True)
    report = run(deeplabv2_caffe, src, tmp_path / 'out.pth', '--keep-classifier')
    assert report.dropped == {}
    model = build(segmentor_cfg(aux=False))
    load_checkpoint(model, str(tmp_path / 'out.pth'), strict=True)
    with torch.no_grad():
        assert_same(model(image, mode='tensor'), ref(image)['layer4'])


# ---------------------------------------------------------------- trained AdaptSegNet / ADVENT
@pytest.mark.parametrize('classifiers', [
    {'layer5': 'layer3', 'layer6': 'layer4'},  # AdaptSegNet multi-level (ResNetMulti)
    {'layer5': 'layer4'},  # AdaptSegNet single-level
    {'layer6': 'layer4'},  # ADVENT single-level
], ids=['adaptsegnet-multi', 'adaptsegnet-single', 'advent-single'])
def test_adaptsegnet_checkpoint_gives_reference_logits(tmp_path, image, classifiers):
    """The UDA wrapper loads the output as ``load_from`` does; both heads match the reference."""
    ref = randomize(RefDeepLabV2(classifiers))
    src = save(ref.state_dict(), tmp_path / 'trained.pth')
    report = run(adaptsegnet, src, tmp_path / 'out.pth')
    assert report.prefix == 'segmentor.' and report.dropped == {} and report.filled == []
    aux = 'layer3' in classifiers.values()
    uda = MODELS.build(dict(type='UDASegmentor', segmentor=segmentor_cfg(aux=aux))).eval()
    load_checkpoint(uda, str(tmp_path / 'out.pth'), strict=True)
    expected = ref(image)
    with torch.no_grad():
        assert_same(uda(image, mode='tensor'), expected['layer4'])
        if aux:
            feats = uda.segmentor.extract_feat(image)
            assert_same(uda.segmentor.auxiliary_head(feats), expected['layer3'])


def test_adaptsegnet_head_assignment_follows_shapes_not_names(tmp_path):
    """Swapped names (layer5 on layer4, layer6 on layer3) still land in the right heads."""
    ref = randomize(RefDeepLabV2({'layer6': 'layer3', 'layer5': 'layer4'}))
    src = save({f'module.{k}': v for k, v in ref.state_dict().items()}, tmp_path / 'dp.pth')
    report = run(adaptsegnet, src, tmp_path / 'out.pth', '--prefix', '')
    state = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert torch.equal(state['decode_head.branches.3.bias'], ref.layer5.conv2d_list[3].bias)
    assert torch.equal(state['auxiliary_head.branches.0.weight'],
                       ref.layer6.conv2d_list[0].weight)
    assert any('module.' in note for note in report.notes)


def test_adaptsegnet_two_classifiers_on_one_stage_is_an_error(tmp_path):
    ref = RefDeepLabV2({'layer5': 'layer4', 'layer6': 'layer4'})
    src = save(ref.state_dict(), tmp_path / 'bad.pth')
    with pytest.raises(ConversionError, match='same backbone stage'):
        run(adaptsegnet, src, tmp_path / 'out.pth')
    assert not (tmp_path / 'out.pth').exists()


# ---------------------------------------------------------------- torchvision ResNet (FADA)
def test_torchvision_resnet_matches_reference_features(tmp_path, image):
    ref = randomize(RefTorchvisionResNet())
    src = save(ref.state_dict(), tmp_path / 'resnet.pth')
    report = run(torchvision_resnet, src, tmp_path / 'out.pth')
    assert sorted(report.dropped) == ['fc.bias', 'fc.weight'] and report.filled == []
    backbone = dict(type='DeepLabV2ResNet', depth=50, base_channels=WIDTH, stem_channels=WIDTH,
                    out_indices=(2, 3), style='pytorch', contract_dilation=True,
                    ceil_mode_pool=False,
                    init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'out.pth'),
                                  prefix='backbone.'))
    model = build(backbone)
    with torch.no_grad():
        ours, theirs = model(image), ref.features(image)
    for a, b in zip(ours, theirs):
        assert_same(a, b)


# ---------------------------------------------------------------- reporting and errors
def test_report_lists_unmatched_keys_on_both_sides(tmp_path):
    """Unknown source keys, unfilled model keys, extra output keys and shape mismatches."""
    ref = randomize(RefDeepLabV2({'layer5': 'layer3', 'layer6': 'layer4'}))
    state = dict(ref.state_dict(), **{'extra.weight': torch.zeros(1)})
    del state['layer2.0.conv1.weight']
    src = save(state, tmp_path / 'trained.pth')
    cfg = Config(dict(segmentor=segmentor_cfg()))
    cfg.segmentor.decode_head.update(num_classes=NUM_CLASSES + 1, dilations=(6, 12))
    cfg.dump(str(tmp_path / 'cfg.py'))
    report = run(adaptsegnet, src, tmp_path / 'out.pth', '--config', str(tmp_path / 'cfg.py'))
    assert report.dropped == {'extra.weight': 'not a key of the DeepLab-v2 layout'}
    assert report.missing == ['segmentor.backbone.layer2.0.conv1.weight']
    assert report.unexpected == [f'segmentor.decode_head.branches.{i}.{p}'
                                 for i in (2, 3) for p in ('bias', 'weight')]
    assert [k for k, _, _ in report.mismatched] == [f'segmentor.decode_head.branches.{i}.{p}'
                                                    for i in (0, 1) for p in ('bias', 'weight')]
    text = report.format()
    assert 'extra.weight' in text and 'layer2.0.conv1.weight' in text and 'vs' in text


def test_cli_reports_and_writes(tmp_path):
    """The command line, with the UDA model config as --config."""
    ref = RefDeepLabV2({'layer5': 'layer4'})
    src = save(ref.state_dict(), tmp_path / 'init.pth', prefix='Scale.', drop_counters=True)
    cfg = Config(dict(segmentor=segmentor_cfg(aux=False)))
    cfg.dump(str(tmp_path / 'cfg.py'))
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/model_converters/deeplabv2_caffe.py'), src,
         str(tmp_path / 'out' / 'init.pth'), '--config', str(tmp_path / 'cfg.py')],
        cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Scale.layer5.conv2d_list.0.weight' in proc.stdout  # dropped source key
    assert 'model keys not filled by the output: 8' in proc.stdout  # the fresh decode head
    assert "prefix='backbone.'" in proc.stdout
    assert [p.name for p in (tmp_path / 'out').iterdir()] == ['init.pth']


def test_cli_wrong_layout_fails_with_the_file_name(tmp_path):
    src = save(RefTorchvisionResNet().state_dict(), tmp_path / 'resnet101.pth')
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/model_converters/deeplabv2_caffe.py'), src,
         str(tmp_path / 'out.pth')], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert src in proc.stderr and "'Scale.'" in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_refuses_files_that_need_full_unpickling(tmp_path):
    torch.save({'conv1.weight': torch.zeros(1), 'args': argparse.Namespace(lr=1)},
               tmp_path / 'pickled.pth')
    with pytest.raises(ConversionError, match='weights_only=False'):
        run(torchvision_resnet, str(tmp_path / 'pickled.pth'), tmp_path / 'out.pth')


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    src = save(RefTorchvisionResNet().state_dict(), tmp_path / 'resnet.pth')
    dst = tmp_path / 'out' / 'r.pth'
    dst.parent.mkdir()
    dst.write_bytes(b'old')

    def broken_save(obj, f):
        f.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        run(torchvision_resnet, src, dst)
    assert dst.read_bytes() == b'old' and [p.name for p in dst.parent.iterdir()] == ['r.pth']

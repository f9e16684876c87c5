"""Shared fixtures: tiny toy domains on disk and tiny UDA model configs."""
import copy
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterable, Optional

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmuda  # noqa: F401  (registers the modules)
from mmuda.datasets.toy_domains import ToyDomainsSpec, generate_toy_domains

REPO = Path(__file__).resolve().parents[1]
TOY = 'dlv2-r18-toy_1xb4-600_toy-source_toy-target.py'
TOY_SOURCE_ONLY = REPO / 'configs/source_only' / f'source-only_{TOY}'
TOY_ADAPTSEGNET = REPO / 'configs/adaptsegnet' / f'adaptsegnet_{TOY}'
TOY_FADA = REPO / 'configs/fada/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py'
TOY_SSF_DAN = REPO / 'configs/ssf_dan' / f'ssf-dan_{TOY}'
TOY_ADVENT = REPO / 'configs/advent' / f'advent_{TOY}'
TOY_MADA = REPO / 'configs/mada/mada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py'
TOY_LDR_STAGE0 = REPO / 'configs/ldr/ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py'
TOY_LDR_TRANSLATOR = REPO / 'configs/ldr' / ('ldr-translator_cyclegan-toy_1xb4-400_toy-source_'
                                            'toy-target.py')
TOY_LDR_PRETRAIN = REPO / 'configs/ldr/ldr-recon-pretrain_toy_1xb4-600_toy-source.py'
NUM_CLASSES = 7


def pytest_configure(config):
    """``MMUDA_TEST_MKLDNN=0`` runs the suite without oneDNN kernels, as a CPU whose oneDNN
    takes other code paths would round differently (see tests/README.md, issue 18)."""
    config.addinivalue_line('markers', 'smoke: real-size smoke of the real-data configs '
                            '(tools/smoke_real_configs.py; minutes per config): `make smoke-ci`, '
                            'left out of `make test`')
    if os.environ.get('MMUDA_TEST_MKLDNN') == '0':
        torch.backends.mkldnn.enabled = False


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory) -> Path:
    """Toy domains at 32x64 with 8 train and 4 val images per domain."""
    root = tmp_path_factory.mktemp('toy')
    generate_toy_domains(str(root), ToyDomainsSpec(height=32, width=64, num_train=8, num_val=4),
                         progress=False)
    return root


def load_script(path: Path, name: Optional[str] = None) -> ModuleType:
    """Import a script of tools/ (not a package) as a module, for tests of its functions."""
    path = REPO / path  # relative to the repository; an absolute path stays as it is
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record_steps(model: torch.nn.Module, wrappers,
                 names: Optional[Iterable[str]] = None) -> dict:
    """Optimizer name -> the model's top-level children whose parameters that optimizer's
    step changed; filled in as train_step runs. ``names`` defaults to every wrapper of the
    OptimWrapperDict ``wrappers``."""
    moved = {}
    for name in (wrappers.keys() if names is None else names):
        wrapper = wrappers[name]

        def recording_step(_step=wrapper.step, _name=name, **kwargs):
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            _step(**kwargs)
            moved[_name] = {n.split('.')[0] for n, p in model.named_parameters()
                            if not torch.equal(before[n], p)}
        wrapper.step = recording_step
    return moved


def assert_sgd_update(p_new: torch.Tensor, p_old: torch.Tensor, grad: Optional[torch.Tensor],
                      lr: float, summands: Optional['SummandBound'] = None) -> None:
    """``p_new == p_old - lr * grad`` for one SGD step, up to float32 rounding of the gradient.

    The model's step and a hand reference compute ``grad`` by two float32 code paths (other
    batching, other summation order), so an element differs by rounding of its sum:
    n * 2**-24 * sum|terms| (Higham eq. 3.5), which can be large against a small element of
    the same tensor. With the tensor's largest gradient as the size of its terms, measured
    differences reach 9 * 2**-24 * max|grad| (LDR's head with oneDNN off: 5.7e-6 of 10.6,
    issue 18); 1e-5 * max|grad| (~170 float32 ulps of it) bounds that on any CPU, while a wrong
    term or weight moves an update by orders of magnitude more. ``atol=1e-6`` and
    ``rtol=1e-4`` keep the previous floor for tensors with tiny gradients.

    Where the largest gradient is not the size of the summands (a bias whose exact gradient
    is 0 because a normalisation follows it, yet whose per-pixel terms are large), pass
    ``summands``: the number and per-element absolute sum of the terms, and the tolerance
    becomes the two-sided worst case ``2 * n * 2**-24 * sum|terms|`` of Higham's bound, which
    no summation order on any CPU can exceed."""
    expected = p_old if grad is None else p_old - lr * grad
    scale = 0.0 if grad is None else float(grad.abs().max())
    atol = 1e-6 + lr * 1e-5 * scale
    if summands is None:
        torch.testing.assert_close(p_new, expected.detach(), rtol=1e-4, atol=atol)
        return
    bound = atol + 1e-4 * expected.detach().abs() + lr * summands.rounding_bound()
    excess = (p_new - expected).detach().abs() - bound
    assert excess.max() <= 0, (
        f'update off by {float((p_new - expected).abs().max()):.3g}, more than the summation '
        f'bound allows (largest excess {float(excess.max()):.3g})')


class SummandBound:
    """Per output channel: the number of per-pixel terms a conv bias gradient sums, and the sum
    of their absolute values (recorded from the output's gradient by ``track_bias_summands``)."""

    def __init__(self) -> None:
        self.count = 0
        self.abs_sum: Optional[torch.Tensor] = None

    def add(self, output_grad: torch.Tensor) -> None:
        part = output_grad.detach().abs().sum(dim=[d for d in range(output_grad.dim()) if d != 1])
        self.abs_sum = part if self.abs_sum is None else self.abs_sum + part
        self.count += output_grad.numel() // output_grad.shape[1]

    def rounding_bound(self) -> torch.Tensor:
        """Two float32 sums of the same terms differ by at most 2 * n * 2**-24 * sum|terms|."""
        return 2 * self.count * 2.0 ** -24 * self.abs_sum


def track_bias_summands(module: nn.Module) -> Dict[nn.Parameter, SummandBound]:
    """Record, for every conv bias under ``module`` that feeds a normalisation (so its exact
    gradient is 0: the per-pixel terms cancel), the terms of its gradient on the next backward
    passes (forward hooks put a gradient hook on each such conv's output). Other biases are
    left to the default tolerance, which is tighter for them."""
    bounds: Dict[nn.Parameter, SummandBound] = {}

    def hook(conv: nn.Module, _inputs, output: torch.Tensor) -> None:
        if output.requires_grad:
            output.register_hook(bounds[conv.bias].add)

    norms = (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm)
    for seq in module.modules():
        children = list(seq.children()) if isinstance(seq, nn.Sequential) else []
        for conv, after in zip(children, children[1:]):
            if (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.bias is not None
                    and isinstance(after, norms)):
                bounds[conv.bias] = SummandBound()
                conv.register_forward_hook(hook)
    return bounds


def tiny_segmentor(num_classes: int = NUM_CLASSES, aux: bool = True) -> dict:
    """A DeepLab-v2 segmentor small enough for unit tests (ResNet-18, 8 base channels)."""
    seg = copy.deepcopy(Config.fromfile(str(REPO / 'configs/_base_/models/'
                                            'deeplabv2_r18-toy_multilevel.py')).segmentor)
    seg.backbone.update(base_channels=8, stem_channels=8,
                        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    seg.decode_head.update(in_channels=64, num_classes=num_classes)
    seg.auxiliary_head.update(in_channels=32, num_classes=num_classes)
    if not aux:
        seg.pop('auxiliary_head')
    return seg.to_dict()


def toy_cfg(config: Path, root: Path, work_dir: Path, iters: int = 6, **overrides) -> Config:
    """A toy config shrunk for tests: tiny data, tiny model, `iters` iterations, no workers."""
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(work_dir)
    cfg.model.segmentor = tiny_segmentor(aux='auxiliary_head' in cfg.model.segmentor)
    for disc in cfg.model.get('discriminators', {}).values():
        if disc.type == 'FineGrainedDiscriminator':  # sees layer4 of the tiny segmentor
            disc.update(in_channels=64, channels=(8, 8))
        elif disc.type == 'SemanticSeparableDiscriminator':
            disc.update(in_channels=64, channels=(8, 8, 8, 8))
        elif disc.type == 'FCDiscriminator':
            disc.update(in_channels=NUM_CLASSES, channels=(8, 8, 8, 8))
        elif disc.type == 'PatchDiscriminator':  # mada: toy layer3/layer4 widths / 4
            disc.update(in_channels=disc.in_channels // 4, channels=(8, 8, 8))
    cfg.load_from = None  # a later stage's config points at its warm-up's checkpoint
    if 'load_from' not in overrides:  # ... and may continue that checkpoint's run
        cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks', [])
                            if hook['type'] != 'WarmupContinuationHook']
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    train.dataset.source.data_root = str(root / 'source')
    train.dataset.target.data_root = str(root / 'target')
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].update(num_workers=0, persistent_workers=False)
        cfg[name].dataset.data_root = str(root / 'target')
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    for sched in cfg.param_scheduler.values():
        sched[0].end = iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=iters, max_keep_ckpts=10)
    cfg.default_hooks.visualization.draw = False
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.env_cfg.mp_cfg.mp_start_method = 'fork'
    cfg.merge_from_dict(overrides)
    return cfg


def _shrink_run(cfg: Config, work_dir: Path, iters: int) -> None:
    """Test-sized loaders, logging every iteration, a checkpoint at the end, determinism."""
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg.max_iters = iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=iters, max_keep_ckpts=10)
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.env_cfg.mp_cfg.mp_start_method = 'fork'


def toy_ldr_cfg(root: Path, work_dir: Path, iters: int = 6, **overrides) -> Config:
    """LDR's toy stage 0 shrunk for tests: narrow M and D_k built from scratch (no pre-trained
    file), reconstruction at full size (the tiny images at half size are too small for 3 D_k
    scales), the untranslated toy target standing in for the translated one."""
    cfg = toy_cfg(TOY_LDR_STAGE0, root, work_dir, iters=iters, **overrides)
    cfg.model.segmentor = tiny_segmentor(aux=False)
    cfg.model.reconstructor.update(base_channels=4, num_blocks=1, init_cfg=None)
    cfg.model.recon_discriminator.update(discriminator=dict(base_channels=4, num_layers=1),
                                         init_cfg=None)
    cfg.model.recon_scale = 1.0
    cfg.train_dataloader.dataset.target.data_prefix = dict(img_path='leftImg8bit/train',
                                                           seg_map_path='')
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_prefix = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
    return cfg


def toy_translator_cfg(root: Path, work_dir: Path, iters: int = 6) -> Config:
    """LDR's toy CycleGAN translator shrunk for tests (4 base channels, one residual block,
    32x32 crops of the tiny images)."""
    cfg = Config.fromfile(str(TOY_LDR_TRANSLATOR))
    cfg.model.generator.update(base_channels=4, num_blocks=1)
    cfg.model.discriminator.update(base_channels=4)
    _shrink_run(cfg, work_dir, iters)
    dataset = cfg.train_dataloader.dataset
    dataset.source.data_root = str(root / 'source')
    dataset.target.data_root = str(root / 'target')
    for branch in (dataset.source, dataset.target):
        for t in branch.pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = (32, 32)
    cfg.translate_datasets.target_val.data_root = str(root / 'target')
    return cfg


def toy_recon_pretrain_cfg(root: Path, work_dir: Path, iters: int = 6) -> Config:
    """LDR's toy pre-training of M shrunk for tests (narrow M and D_k at the tiny images'
    size: the D_k's coarsest scale needs 8x16)."""
    cfg = Config.fromfile(str(TOY_LDR_PRETRAIN))
    cfg.model.reconstructor.update(base_channels=4, num_blocks=1)
    cfg.model.recon_discriminator.update(discriminator=dict(base_channels=4, num_layers=1))
    _shrink_run(cfg, work_dir, iters)
    cfg.train_dataloader.dataset.data_root = str(root / 'source')
    for t in cfg.train_dataloader.dataset.pipeline:
        if t.type == 'Resize':
            t.scale = (64, 32)
    for schedulers in cfg.param_scheduler.values():
        schedulers[0].end = iters + 1
    return cfg

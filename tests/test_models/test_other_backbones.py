"""AdaptSegNet and ADVENT on mmseg's SegFormer (MiT) and DeepLabV3+ (ResNetV1c): the shipped
GTA5 -> Cityscapes configs with the segmentor narrowed and the data swapped for the toy
domains, trained a few iterations through mmengine's Runner."""
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import MODELS

from conftest import NUM_CLASSES, REPO, TOY_ADAPTSEGNET, toy_cfg

GTA = 'gta5-1280x720_cityscapes-1024x512.py'
SEGFORMER = 'segformer-mit-b5_1xb1-40k_'
DLV3P = 'deeplabv3plus-r101-d8_1xb2-150k_'
CONFIGS = {
    'adaptsegnet-segformer': REPO / f'configs/adaptsegnet/adaptsegnet_{SEGFORMER}{GTA}',
    'adaptsegnet-deeplabv3plus': REPO / f'configs/adaptsegnet/adaptsegnet_{DLV3P}{GTA}',
    'advent-segformer': REPO / f'configs/advent/advent_{SEGFORMER}{GTA}',
    'advent-deeplabv3plus': REPO / 'configs/advent/advent_deeplabv3plus-r101-d8_1xb2-120k_'
                            f'{GTA}',
}
ITERS = 3
# levels with a discriminator: SegFormer has no auxiliary head
LEVELS = dict(segformer={'main'}, deeplabv3plus={'main', 'aux'})


def backbone_of(name: str) -> str:
    return name.split('-', 1)[1]


def narrow(segmentor: Config, backbone: str) -> Config:
    """The config's own segmentor at test widths, random init (no download), 7 classes."""
    seg = segmentor.copy()
    if backbone == 'segformer':
        heads = [1, 2, 2, 4]
        seg.backbone.update(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=heads,
                            init_cfg=None)
        seg.decode_head.update(in_channels=[8 * h for h in heads], channels=16,
                               num_classes=NUM_CLASSES)
    else:
        seg.pretrained = None
        seg.backbone.update(depth=18, stem_channels=8, base_channels=8, init_cfg=None)
        seg.decode_head.update(in_channels=64, channels=16, c1_in_channels=8, c1_channels=8,
                               num_classes=NUM_CLASSES)
        seg.auxiliary_head.update(in_channels=32, channels=8, num_classes=NUM_CLASSES)
    return seg


def shrink_schedule(param_scheduler: Config) -> None:
    """Warm-ups end after one iteration, decays at ITERS."""
    for schedulers in param_scheduler.values():
        for sched in schedulers:
            if sched.type == 'LinearLR':
                sched.end = 1
            else:
                sched.begin, sched.end = min(sched.begin, 1), ITERS


def on_toy_data(config: Path, root: Path, work_dir: Path, iters: int = ITERS) -> Config:
    """A shipped config (model, method, optimisers) with the toy data and a CPU-sized loop."""
    cfg = Config.fromfile(str(config))
    toy = toy_cfg(TOY_ADAPTSEGNET, root, work_dir, iters=iters)
    for key in ('work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator', 'train_cfg', 'default_hooks', 'randomness',
                'env_cfg'):
        cfg[key] = toy[key]
    return cfg


def shrunk_cfg(name: str, root: Path, work_dir: Path) -> Config:
    """The shipped config (model, method, optimisers) on the toy data, CPU-sized."""
    cfg = on_toy_data(CONFIGS[name], root, work_dir)
    cfg.model.segmentor = narrow(cfg.model.segmentor, backbone_of(name))
    for d in cfg.model.discriminators.values():
        d.update(in_channels=NUM_CLASSES, channels=(8, 8, 8, 8))
    shrink_schedule(cfg.param_scheduler)
    return cfg


class _Record(Hook):
    """Keeps the weights after initialisation and every iteration's log dict."""

    def before_train(self, runner) -> None:
        self.init = {k: v.clone() for k, v in runner.model.state_dict().items()}
        self.logs = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.logs.append({k: float(v.detach()) for k, v in outputs.items()})


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(after[k], v) for k, v in before.items()
               if k.startswith(prefix) and v.is_floating_point())


@pytest.mark.parametrize('name', list(CONFIGS))
def test_trains_and_predicts_through_the_runner(name, toy_root, tmp_path):
    cfg = shrunk_cfg(name, toy_root, tmp_path)
    levels = LEVELS[backbone_of(name)]
    assert set(cfg.model.discriminators) == levels
    runner = Runner.from_cfg(cfg)
    record = _Record()
    runner.register_hook(record)
    runner.train()

    assert len(record.logs) == ITERS
    for log in record.logs:
        expected = {f'adv.{lv}.loss_gen' for lv in levels} | {'src.decode.loss_ce'}
        assert expected <= set(log), sorted(log)
        assert all(math.isfinite(v) for v in log.values()), log
    after = runner.model.state_dict()
    for part in ('segmentor.backbone.', 'segmentor.decode_head.',
                 *(f'discriminators.{lv}.' for lv in levels)):
        assert changed(record.init, after, part), f'{part} did not train'
    if 'aux' in levels:
        assert changed(record.init, after, 'segmentor.auxiliary_head.')

    data = next(iter(runner.val_loop.dataloader))
    pred = runner.model.test_step(data)[0].pred_sem_seg.data
    assert pred.shape == (1, 32, 64) and 0 <= pred.min() and pred.max() < NUM_CLASSES
    assert 0 <= runner.message_hub.get_scalar('val/mIoU').current() <= 100


def test_segformer_optimiser_is_mmseg_recipe(toy_root, tmp_path):
    """AdamW with the head at 10x and no decay on norms, the discriminator on Adam."""
    cfg = shrunk_cfg('adaptsegnet-segformer', toy_root, tmp_path)
    runner = Runner.from_cfg(cfg)
    wrappers = runner.build_optim_wrapper(runner.optim_wrapper)
    seg_opt = wrappers['segmentor'].optimizer
    assert type(seg_opt).__name__ == 'AdamW'
    assert type(wrappers['discriminators'].optimizer).__name__ == 'Adam'
    names = {id(p): n for n, p in runner.model.segmentor.named_parameters()}
    for group in seg_opt.param_groups:
        name = names[id(group['params'][0])]
        assert group['lr'] == pytest.approx(6e-5 * (10 if 'head' in name else 1)), name
        if 'norm' in name:
            assert group['weight_decay'] == 0, name


@pytest.mark.parametrize('name,level', [('adaptsegnet-segformer', 'main'),
                                        ('adaptsegnet-deeplabv3plus', 'main'),
                                        ('adaptsegnet-deeplabv3plus', 'aux')])
def test_discriminator_channel_mismatch_is_caught_at_build_time(name, level, toy_root,
                                                                tmp_path):
    cfg = shrunk_cfg(name, toy_root, tmp_path)
    cfg.model.discriminators[level].in_channels = 19  # the 19-class default, 7-class model
    with pytest.raises(ValueError, match=rf'model\.discriminators\.{level}\.in_channels is 19'):
        MODELS.build(cfg.model)


def test_segformer_has_no_aux_level(toy_root, tmp_path):
    """A multi-level discriminator set on SegFormer fails at build time naming the level."""
    cfg = shrunk_cfg('adaptsegnet-segformer', toy_root, tmp_path)
    cfg.model.discriminators.aux = cfg.model.discriminators.main.copy()
    cfg.model.adv_weights.aux = 0.0002
    with pytest.raises(KeyError, match='unknown prediction level .*aux'):
        MODELS.build(cfg.model)

"""WarmupContinuationHook: a second stage that continues its warm-up's training run."""
import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from conftest import REPO, toy_cfg

WARMUP = REPO / 'configs/fada/fada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-target.py'
FADA = REPO / 'configs/fada/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py'
HOOK = dict(type='WarmupContinuationHook', optim_wrappers=['segmentor'])
WARM_ITERS, TOTAL_ITERS = 2, 4
_names = itertools.count()


def source_only(toy_root: Path, work_dir: Path, iters: int, **overrides):
    """The toy warm-up config trained to ``iters`` on a poly schedule over TOTAL_ITERS."""
    cfg = toy_cfg(WARMUP, toy_root, work_dir, iters=iters, **overrides)
    for schedulers in cfg.param_scheduler.values():
        schedulers[0].end = TOTAL_ITERS
    cfg.visualizer.name = f'continuation_{next(_names)}'  # one per Runner in this process
    return cfg


def train(cfg) -> Runner:
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.fixture(scope='module')
def warmup(toy_root, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp('warmup')
    train(source_only(toy_root, work, WARM_ITERS))
    return work / f'iter_{WARM_ITERS}.pth'


@pytest.fixture(scope='module')
def one_stage(toy_root, tmp_path_factory) -> dict:
    """The same source-only schedule trained in one run: the reference for a continuation."""
    work = tmp_path_factory.mktemp('one_stage')
    return train(source_only(toy_root, work, TOTAL_ITERS)).model.state_dict()


def continuation(toy_root, work_dir, warmup, hooks=(HOOK, ), **overrides):
    return source_only(toy_root, work_dir, TOTAL_ITERS, load_from=str(warmup),
                       custom_hooks=list(hooks), **overrides)


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_continued_stage_reproduces_the_one_stage_run(toy_root, tmp_path, warmup, one_stage):
    """Warm-up to 2 + continuation to 4 == one run to 4 (deterministic CPU); load_from alone
    (fresh momentum, lr schedule from zero) does not reproduce it."""
    continued = train(continuation(toy_root, tmp_path / 'cont', warmup))
    assert (tmp_path / 'cont' / f'iter_{TOTAL_ITERS}.pth').is_file()
    assert max_difference(continued.model.state_dict(), one_stage) < 1e-6
    restarted = train(continuation(toy_root, tmp_path / 'restart', warmup, hooks=()))
    assert max_difference(restarted.model.state_dict(), one_stage) > 1e-4


class RecordAtStartHook(Hook):
    """Copies what the stage starts with, after every other before_train."""

    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        seg = runner.optim_wrapper['segmentor']
        self.iter, self.lr = runner.iter, seg.get_lr()['lr'][0]
        self.hub_iter, self.count = runner.message_hub.get_info('iter'), seg._inner_count
        self.momentum = [s['momentum_buffer'].clone() for s in seg.optimizer.state.values()]
        self.disc_state = dict(runner.optim_wrapper['discriminators'].optimizer.state)
        self.last_steps = {k: v[0].last_step for k, v in runner.param_schedulers.items()}


HOOKS.register_module(module=RecordAtStartHook, force=True)


def test_fada_stage_continues_segmentor_and_starts_discriminator_fresh(toy_root, tmp_path,
                                                                       warmup):
    """The toy FADA config: segmentor lr, momentum and iteration come from the warm-up, the
    discriminator's Adam and poly schedule start at zero."""
    cfg = toy_cfg(FADA, toy_root, tmp_path, iters=TOTAL_ITERS, load_from=str(warmup))
    assert [h['type'] for h in cfg.custom_hooks] == ['WarmupContinuationHook']
    cfg.custom_hooks.append(dict(type='RecordAtStartHook'))
    cfg.visualizer.name = f'continuation_{next(_names)}'
    runner = train(cfg)
    start = next(h for h in runner.hooks if isinstance(h, RecordAtStartHook))
    assert start.iter == start.hub_iter == start.count == WARM_ITERS
    # mmengine PolyLR at step 2 of 4: 0.01 * (1 - 2 / (4 - 1))^0.9
    assert start.lr == pytest.approx(0.01 * (1 - WARM_ITERS / (TOTAL_ITERS - 1))**0.9)
    saved = torch.load(warmup, map_location='cpu', weights_only=True)['optimizer']['segmentor']
    assert len(start.momentum) == len(saved['state']) > 0
    for buf, state in zip(start.momentum, saved['state'].values()):
        assert torch.equal(buf, state['momentum_buffer'])
    assert not start.disc_state  # a fresh Adam
    assert start.last_steps == dict(segmentor=WARM_ITERS, discriminators=0)
    assert runner.iter == TOTAL_ITERS and (tmp_path / f'iter_{TOTAL_ITERS}.pth').is_file()
    scalars = next(tmp_path.glob('*/vis_data/scalars.json')).read_text()
    assert '"adv.fine.loss_gen"' in scalars and '"iter": 3' in scalars
    assert '"iter": 1,' not in scalars  # the warm-up's iterations are not trained again


@pytest.mark.parametrize('change,message', [
    (dict(param_scheduler=dict(segmentor=[dict(type='PolyLR', power=0.9, eta_min=0.0,
                                               begin=0, end=3, by_epoch=False)])),
     r'param_scheduler\.segmentor\[0\]\.end is 3 in the config but 4 in .*iter_2\.pth'),
    (dict(optim_wrapper=dict(segmentor=dict(optimizer=dict(lr=0.5)))),
     r'optim_wrapper\.segmentor: the base lr \(initial_lr\) of parameter group 0 is 0\.5 in '
     r'the config but 0\.01 in '),
    (dict(optim_wrapper=dict(segmentor=dict(optimizer=dict(weight_decay=0.1)))),
     r'the weight_decay of parameter group 0 is 0\.1 in the config but 0\.0005'),
    (dict(train_cfg=dict(max_iters=WARM_ITERS)),
     r'train_cfg\.max_iters \(2\) must exceed the iteration of the warm-up checkpoint'),
    (dict(custom_hooks=[dict(HOOK, optim_wrappers=['discriminators'])]),
     r"optimiser wrapper 'discriminators' must be in both .* \(has \['segmentor'\]\)"),
    (dict(load_from=None), r'needs the warm-up checkpoint: set `load_from`'),
])
def test_mismatched_stage_is_refused(toy_root, tmp_path, warmup, change, message):
    cfg = continuation(toy_root, tmp_path, warmup)
    cfg.merge_from_dict(change)
    with pytest.raises((ValueError, KeyError), match=message):
        Runner.from_cfg(cfg).train()


def test_weights_only_checkpoint_is_refused(toy_root, tmp_path, warmup):
    weights = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=torch.load(warmup, weights_only=True)['state_dict']), weights)
    cfg = continuation(toy_root, tmp_path, weights)
    with pytest.raises(KeyError, match=r'weights\.pth has no meta, optimizer, param_schedulers'):
        Runner.from_cfg(cfg).train()


def test_single_optimiser_is_refused():
    from mmuda.engine.hooks import WarmupContinuationHook
    wrapper = OptimWrapper(torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1))
    runner = SimpleNamespace(iter=0, optim_wrapper=wrapper)
    with pytest.raises(TypeError, match='single optimiser: use `resume` instead'):
        WarmupContinuationHook().before_train(runner)
    with pytest.raises(ValueError, match='non-empty list'):
        WarmupContinuationHook(optim_wrappers='segmentor')


def test_resumed_stage_is_left_alone():
    """After --resume the runner is past iteration 0 and holds this stage's own state."""
    from mmuda.engine.hooks import WarmupContinuationHook
    runner = SimpleNamespace(iter=3, cfg=dict(load_from='does-not-exist.pth'))
    WarmupContinuationHook().before_train(runner)  # would fail to load the file otherwise

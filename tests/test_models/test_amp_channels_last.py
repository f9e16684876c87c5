"""AMP (``optim_wrapper.<child>.type='AmpOptimWrapper'``) and ``model.channels_last=True`` go
through the real training step and give the losses of the plain path (AMP within bfloat16
tolerance, channels_last up to float summation order).

mmengine's ``AmpOptimWrapper`` refuses to be built without CUDA (an assert on
``is_cuda_available()`` in its ``__init__``), although everything it does works on CPU:
``optim_context`` enters ``mmengine.runner.amp.autocast``, which on a CPU device is
``torch.autocast('cpu', dtype=torch.bfloat16)``, and its ``GradScaler`` disables itself when
CUDA is absent (bfloat16 needs no loss scaling). The tests therefore patch that one
availability check, and nothing else, for the duration of a test: the wrapper class, the
autocast and mmuda's step are the production ones. Production code never fakes CUDA; on a CPU
machine a config with ``AmpOptimWrapper`` still fails as mmengine intends.
"""
import copy
import json
import math

import pytest
import torch
import torch.nn as nn
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

from conftest import REPO, TOY_ADAPTSEGNET, load_script, toy_cfg
from mmuda.models.alternating_model import AlternatingModel, _full_precision
from test_models.test_adaptsegnet import LR_D, LR_SEG, make_batch, sgd_wrappers
from test_models.test_concat_forward import BUILDERS
from test_models.test_mada import build_mada

METHODS = dict(BUILDERS, mada=build_mada)
CHANNELS_LAST = torch.channels_last


@pytest.fixture
def cpu_amp(monkeypatch):
    """Let mmengine build ``AmpOptimWrapper`` on this CPU-only machine (test-only)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)


def wrappers(model, seg_amp: bool = False, disc_amp: bool = False) -> OptimWrapperDict:
    """SGD per child, as in the method tests; AMP (bfloat16 autocast on CPU) per child."""
    def entry(lr: float, amp: bool) -> dict:
        cfg = dict(optimizer=dict(type='SGD', lr=lr))
        if amp:
            cfg.update(type='AmpOptimWrapper', dtype='bfloat16')
        return cfg
    cfg = dict(segmentor=entry(LR_SEG, seg_amp), discriminators=entry(LR_D, disc_amp))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def record_dtypes(module: nn.Module, log: list) -> None:
    """Append the dtype of ``module``'s output (first tensor) at every call."""
    def hook(_, __, out):
        first = out if isinstance(out, torch.Tensor) else out[0]
        log.append(first.dtype)
    module.register_forward_hook(hook)


def assert_logs_close(got: dict, expected: dict, rtol: float, atol: float,
                      losses_only: bool = False) -> None:
    """Same logged keys, values close. ``losses_only``: compare the loss terms only, not the
    thresholded diagnostics (a discriminator accuracy flips with one cell near 0.5)."""
    assert got.keys() == expected.keys()
    for key in expected:
        if losses_only and 'loss' not in key:
            continue
        torch.testing.assert_close(got[key].float(), expected[key].float(), rtol=rtol,
                                   atol=atol, msg=key)


# ---------------------------------------------------------------------------------- channels_last
def twin(method: str, **kwargs):
    """The plain model and one built with ``kwargs`` holding the same weights."""
    torch.manual_seed(0)
    plain = METHODS[method]()
    other = METHODS[method](**kwargs)
    other.load_state_dict(plain.state_dict())
    return plain, other


@pytest.mark.parametrize('method', list(METHODS))
def test_channels_last_gives_the_same_losses_and_updates(method):
    plain, fast = twin(method, channels_last=True)
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=CHANNELS_LAST) for c in convs)
    seen = []
    fast.segmentor.backbone.register_forward_pre_hook(
        lambda _, args: seen.append(args[0].is_contiguous(memory_format=CHANNELS_LAST)))
    w_plain, w_fast = sgd_wrappers(plain), sgd_wrappers(fast)
    for seed in (0, 1):  # the second step starts from the updated weights
        batch = make_batch(seed)
        log_plain = plain.train_step(copy.deepcopy(batch), w_plain)
        log_fast = fast.train_step(copy.deepcopy(batch), w_fast)
        assert_logs_close(log_fast, log_plain, rtol=1e-4, atol=1e-5)
    assert seen and all(seen)
    for (name, p_fast), p_plain in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p_fast, p_plain, rtol=1e-4, atol=1e-5, msg=name)
    # the optimizer updated the parameters in place: still channels_last
    assert all(c.weight.is_contiguous(memory_format=CHANNELS_LAST) for c in convs)


def test_channels_last_inference_equals_the_plain_model():
    plain, fast = twin('adaptsegnet', channels_last=True)
    plain.eval(), fast.eval()
    data = plain.data_preprocessor(dict(inputs=make_batch()['inputs']['target']))
    with torch.no_grad():
        torch.testing.assert_close(fast(data['inputs']), plain(data['inputs']), rtol=1e-4,
                                   atol=1e-5)


def test_channels_last_survives_init_weights_and_device_moves():
    model = METHODS['adaptsegnet'](channels_last=True)
    model.init_weights()
    model.to('cpu')
    weight = model.segmentor.backbone.conv1.weight
    assert weight.is_contiguous(memory_format=CHANNELS_LAST)


def test_channels_last_is_off_by_default():
    model = METHODS['adaptsegnet']()
    assert not model.channels_last
    assert model.segmentor.backbone.conv1.weight.is_contiguous()


# ---------------------------------------------------------------------------------- AMP
def update_error(before: dict, got: nn.Module, expected: nn.Module, child: str) -> float:
    """Relative error of one child's whole update: |d_got - d_expected| / |d_expected|."""
    names = [n for n in before if n.startswith(child + '.')]
    got_p, exp_p = dict(got.named_parameters()), dict(expected.named_parameters())
    d_got = torch.cat([(got_p[n] - before[n]).flatten() for n in names])
    d_exp = torch.cat([(exp_p[n] - before[n]).flatten() for n in names])
    return ((d_got - d_exp).norm() / d_exp.norm()).item()


@pytest.mark.parametrize('method', list(METHODS))
def test_amp_gives_the_plain_losses_within_bfloat16_tolerance(method, cpu_amp):
    """AMP on both steps: every logged loss within bfloat16 rounding (8 mantissa bits) of
    the float32 step, and each child's update within 15% of the float32 update (measured
    0.7-1.5% for the segmentor, 2-8% for the small discriminators, whose gradients sum few
    terms); float32 master weights."""
    plain, amp = twin(method)
    before = {n: p.detach().clone() for n, p in plain.named_parameters()}
    w_plain, w_amp = sgd_wrappers(plain), wrappers(amp, seg_amp=True, disc_amp=True)
    assert all(isinstance(w, AmpOptimWrapper) for w in w_amp.values())
    dtypes = []
    record_dtypes(amp.segmentor.backbone, dtypes)
    for seed in (0, 1):  # the second step starts from the updated weights
        batch = make_batch(seed)
        log_plain = plain.train_step(copy.deepcopy(batch), w_plain)
        log_amp = amp.train_step(copy.deepcopy(batch), w_amp)
        assert_logs_close(log_amp, log_plain, rtol=5e-2, atol=1e-3, losses_only=True)
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)  # autocast was on
    assert all(p.dtype == torch.float32 for p in amp.parameters())
    for child in w_amp.keys():
        assert update_error(before, amp, plain, child) < 0.15, child


@pytest.mark.parametrize('seg_amp,disc_amp', [(True, False), (False, True)])
def test_amp_on_one_step_only(seg_amp, disc_amp, cpu_amp):
    """AMP is per optimizer: the segmentor step under autocast hands half-precision tensors
    to a float32 discriminator step (cast back first), and the other way round."""
    torch.manual_seed(0)
    plain, amp = twin('fada')  # FADA caches backbone features, half precision under autocast
    w_plain, w_amp = sgd_wrappers(plain), wrappers(amp, seg_amp, disc_amp)
    disc_dtypes = []
    record_dtypes(amp.discriminators['fine'], disc_dtypes)
    batch = make_batch()
    log_plain = plain.train_step(copy.deepcopy(batch), w_plain)
    log_amp = amp.train_step(copy.deepcopy(batch), w_amp)
    assert_logs_close(log_amp, log_plain, rtol=5e-2, atol=1e-3, losses_only=True)
    # calls: generator step (segmentor's context), then source and target in the D step
    expected = [torch.bfloat16 if seg_amp else torch.float32] + \
        [torch.bfloat16 if disc_amp else torch.float32] * 2
    assert disc_dtypes == expected


def test_amp_and_channels_last_together(cpu_amp):
    plain, fast = twin('adaptsegnet', channels_last=True)
    batch = make_batch()
    log_plain = plain.train_step(copy.deepcopy(batch), sgd_wrappers(plain))
    log_fast = fast.train_step(copy.deepcopy(batch), wrappers(fast, True, True))
    assert_logs_close(log_fast, log_plain, rtol=5e-2, atol=1e-3, losses_only=True)


def test_full_precision_casts_only_half_tensors():
    half, single = torch.ones(2, dtype=torch.bfloat16), torch.ones(2)
    labels = torch.ones(2, dtype=torch.long)
    out = _full_precision(dict(a=(half, single, (3, 4)), b=[labels], c=torch.ones(1).half()))
    assert out['a'][0].dtype == torch.float32 and out['a'][1] is single
    assert out['a'][2] == (3, 4) and out['b'][0] is labels
    assert out['c'].dtype == torch.float32


class TwoGenerators(AlternatingModel):
    """Two children stepped after one shared backward (as a translator and a segmentor)."""

    generator_children = ('g1', 'g2')

    def __init__(self) -> None:
        super().__init__()
        self.g1, self.g2 = nn.Linear(2, 1), nn.Linear(2, 1)

    def forward(self, *args, **kwargs):
        raise NotImplementedError


    def generator_losses(self, batch):
        x = torch.ones(1, 2)
        return dict(loss=(self.g1(x) + self.g2(x)).sum()), {}


def test_a_shared_backward_refuses_amp(cpu_amp):
    model = TwoGenerators()
    optim = OptimWrapperDict(
        g1=AmpOptimWrapper(dtype='bfloat16', optimizer=torch.optim.SGD(model.g1.parameters(), 1)),
        g2=OptimWrapper(optimizer=torch.optim.SGD(model.g2.parameters(), 1)))
    with pytest.raises(NotImplementedError, match='AMP loss scalers'):
        model.train_step({}, optim)


# ---------------------------------------------------------------------------------- from config
def test_config_switches_train_and_validate_through_the_runner(toy_root, tmp_path, cpu_amp):
    """``tools/train.py --amp`` (every optim_wrapper entry becomes an AmpOptimWrapper) and
    ``--cfg-options model.channels_last=True`` on the toy AdaptSegNet config: the runner
    trains, validates (mmseg's loop through the UDA wrapper) and keeps the layout."""
    train_tool = load_script(REPO / 'tools/train.py')
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, tmp_path, iters=2)
    cfg.merge_from_dict({'model.channels_last': True})
    train_tool.enable_amp(cfg)
    cfg.visualizer.name = 'amp_channels_last_runner'
    runner = Runner.from_cfg(cfg)
    runner.train()
    wrappers = runner.optim_wrapper
    assert all(isinstance(wrappers[k], AmpOptimWrapper) for k in wrappers.keys())
    assert runner.model.segmentor.backbone.conv1.weight.is_contiguous(
        memory_format=CHANNELS_LAST)
    scalars = next(tmp_path.glob('*/vis_data/scalars.json')).read_text().splitlines()
    assert any('mIoU' in line for line in scalars)
    losses = [v for line in scalars for k, v in json.loads(line).items()
              if 'loss' in k]
    assert losses and all(math.isfinite(v) for v in losses)


# ---------------------------------------------------------------------------------- loss scaling
INIT_SCALE = 2.0 ** 10
NEEDS_CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='float16 autocast with dynamic loss scaling (what tools/train.py --amp selects on a '
           'GPU) needs CUDA: mmengine autocasts on CPU only to bfloat16 and its GradScaler '
           'disables itself without CUDA; the cpu case runs the same step with a stand-in scaler')


def scaled_wrappers(model: nn.Module, device: str) -> OptimWrapperDict:
    """``AmpOptimWrapper`` per child with dynamic loss scaling that grows after every good step.
    On CUDA: float16 and mmengine's own ``GradScaler``, as ``--amp`` builds them. On CPU:
    bfloat16 (mmengine's CPU autocast) and a stand-in for the disabled CUDA scaler,
    ``torch.amp.GradScaler('cpu')``, which scales, unscales, skips non-finite steps and adapts
    the scale exactly as the CUDA one."""
    scale = dict(init_scale=INIT_SCALE, growth_interval=1)
    dtype = 'float16' if device == 'cuda' else 'bfloat16'

    def entry(lr: float) -> dict:
        return dict(type='AmpOptimWrapper', dtype=dtype, loss_scale=scale,
                    optimizer=dict(type='SGD', lr=lr))
    wrappers = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='UDAOptimWrapperConstructor',
        optim_wrapper_cfg=dict(segmentor=entry(LR_SEG), discriminators=entry(LR_D))))(model)
    if device == 'cpu':
        for name in wrappers.keys():
            wrappers[name].loss_scaler = torch.amp.GradScaler('cpu', **scale)
    return wrappers


@pytest.mark.parametrize('device', ['cpu', pytest.param('cuda', marks=NEEDS_CUDA)])
def test_dynamic_loss_scaling_through_the_uda_step(device, cpu_amp):
    """The fp16 path of ``--amp``: each optimizer scales its own step's loss, the update is the
    unscaled one (within the AMP tolerance of the bfloat16 test above), a good step grows the
    scale, and an overflowing gradient skips that optimizer's step and halves its scale while
    the other optimizer steps on."""
    plain, amp = twin('adaptsegnet')
    plain.to(device), amp.to(device)
    before = {n: p.detach().clone() for n, p in plain.named_parameters()}
    w_plain, w_amp = sgd_wrappers(plain), scaled_wrappers(amp, device)
    plain.train_step(make_batch(0), w_plain)
    amp.train_step(make_batch(0), w_amp)
    for child in w_amp.keys():
        assert update_error(before, amp, plain, child) < 0.15, child
        assert w_amp[child].loss_scaler.get_scale() == 2 * INIT_SCALE, child  # grew
    weight = amp.segmentor.decode_head.branches[0].weight
    handle = weight.register_hook(lambda grad: torch.full_like(grad, math.inf))
    snapshot = {n: p.detach().clone() for n, p in amp.named_parameters()}
    amp.train_step(make_batch(1), w_amp)
    handle.remove()
    moved = {n.split('.')[0] for n, p in amp.named_parameters() if not torch.equal(p, snapshot[n])}
    assert moved == {'discriminators'}  # the segmentor's step was skipped, D's was not
    assert w_amp['segmentor'].loss_scaler.get_scale() == INIT_SCALE  # halved
    assert w_amp['discriminators'].loss_scaler.get_scale() == 4 * INIT_SCALE

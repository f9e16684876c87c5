"""Per-term gradient norms (mmuda/models/term_gradients.py, TermGradientNormHook): a hand
computation on a tiny model for two terms, the averaged gradient under two ranks, every
method's generator step, and no extra backward unless asked."""
import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmuda.engine.hooks import TermGradientNormHook
from mmuda.models.alternating_model import AlternatingModel
from mmuda.models.term_gradients import group_names
from test_models.test_adaptsegnet import build_adaptsegnet, make_batch, sgd_wrappers
from test_models.test_advent import build as build_advent
from test_models.test_fada import build_fada
from test_models.test_ldr import build_ldr, pseudo_batch
from test_models.test_ldr import sgd_wrappers as ldr_wrappers
from test_models.test_mada import build_mada
from test_models.test_ssf_dan import build_ssf_dan

LAM, C = 0.3, -0.7  # weights of the second term


class TwoTerms(AlternatingModel):
    """``fit.loss = mean((a(x) - y)^2)`` and ``reg.loss = LAM/2 |a.weight|^2 + C * b.weight``.

    Two groups below the child ``net``: ``net.a`` (reached by both terms) and ``net.b`` (by
    the second only); ``fit.acc`` is logged, not a loss; ``const.loss`` has no gradient.
    """

    generator_children = ('net',)

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.ModuleDict(dict(a=nn.Linear(3, 1), b=nn.Linear(1, 1, bias=False)))
        with torch.no_grad():
            self.net['a'].weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
            self.net['a'].bias.fill_(0.25)
            self.net['b'].weight.fill_(1.5)

    def generator_losses(self, batch: dict):
        a = self.net['a']
        fit = ((a(batch['x'])[:, 0] - batch['y']) ** 2).mean()
        reg = 0.5 * LAM * (a.weight ** 2).sum() + C * self.net['b'].weight.sum()
        return {'fit.loss': fit, 'reg.loss': reg, 'fit.acc': fit.detach() * 0 + 1,
                'const.loss': torch.tensor(2.0)}, {}

    def forward(self, *args, **kwargs):  # not used: training goes through train_step
        raise NotImplementedError


def tiny_data(rank: int = 0) -> dict:
    g = torch.Generator().manual_seed(100 + rank)
    return dict(x=torch.randn(4, 3, generator=g), y=torch.randn(4, generator=g))


def hand_gradients(model: TwoTerms, data: dict) -> dict:
    """d fit / d (w, b) = mean(2 r x), mean(2 r) with r = w.x + b - y; d reg / d w = LAM w,
    d reg / d b.weight = C; in float64 from the float32 inputs."""
    x, y = data['x'].double().numpy(), data['y'].double().numpy()
    w = model.net['a'].weight.detach().double().numpy()[0]
    b = model.net['a'].bias.item()
    r = x @ w + b - y
    return dict(fit=(np.mean(2 * r[:, None] * x, 0), np.mean(2 * r), 0.0),
                reg=(LAM * w, 0.0, C))


def hand_norms(grads: dict) -> dict:
    """The hook's keys from per-term (d w, d bias, d b.weight)."""
    total = tuple(sum(g[i] for g in grads.values()) for i in range(3))
    out = {}
    for term, (dw, db, dbw) in {**{f'{k}.loss': v for k, v in grads.items()},
                                'loss': total}.items():
        a = math.sqrt(float(np.sum(np.square(dw))) + db ** 2)
        out[f'grad_norm/net/{term}'] = math.hypot(a, dbw)
        out[f'grad_norm/net.a/{term}'] = a
        out[f'grad_norm/net.b/{term}'] = abs(dbw)
    for group in ('net', 'net.a', 'net.b'):
        out[f'grad_norm/{group}/const.loss'] = 0.0
    return out


def wrappers_of(model: TwoTerms) -> OptimWrapperDict:
    return OptimWrapperDict(net=OptimWrapper(torch.optim.SGD(model.net.parameters(), lr=0.1)))


def test_two_terms_match_a_hand_computation_and_the_step_is_unchanged():
    model, plain = TwoTerms(), TwoTerms()
    data = tiny_data()
    expected = hand_norms(hand_gradients(model, data))
    model.request_term_gradient_norms(depths=(1, 2))
    log = model.train_step(copy.deepcopy(data), wrappers_of(model))
    plain.train_step(copy.deepcopy(data), wrappers_of(plain))
    norms = model.pop_term_gradient_norms()
    assert norms.keys() == expected.keys()
    # float32 forward/backward of a handful of products vs float64: each op rounds at 6e-8
    # relative, fewer than 20 ops per number, so 1e-5 relative bounds it with a 10x margin
    for key, value in expected.items():
        assert norms[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    assert 'fit.acc' not in ' '.join(norms) and log['loss'] > 0
    # the measurement leaves the step itself bit for bit as without it
    for p, q in zip(model.parameters(), plain.parameters()):
        assert torch.equal(p, q)
    assert model.pop_term_gradient_norms() == {}  # one request, one measurement


def test_group_names_are_modules():
    name = 'segmentor.backbone.layer3.0.conv1.weight'
    assert group_names(name, (1, 2, 3)) == ['segmentor', 'segmentor.backbone',
                                            'segmentor.backbone.layer3']
    assert group_names('net.a.bias', (1, 2, 3)) == ['net', 'net.a']  # never the parameter


def count_gradient_passes(param: torch.Tensor) -> list:
    """Every gradient computed for ``param`` (a backward or an autograd.grad) appends 1."""
    calls = []
    param.register_hook(lambda g: calls.append(1))
    return calls


def fake_runner(model, iteration: int) -> SimpleNamespace:
    scalars = []
    vis = SimpleNamespace(add_scalars=lambda d, step, file_path=None: scalars.append(d))
    return SimpleNamespace(iter=iteration, model=model, visualizer=vis, scalars=scalars)


def test_no_extra_backward_when_off_or_between_measured_iterations(monkeypatch):
    """Off (no hook): one gradient pass per step and the measuring code is never entered.
    With the hook (interval 2): 1 + 2 terms with a gradient passes on iterations 1, 2, 4 and
    exactly one pass on 3 and 5."""
    import mmuda.models.alternating_model as am
    model, data = TwoTerms(), tiny_data()
    wrappers = wrappers_of(model)
    passes = count_gradient_passes(model.net['a'].weight)

    def forbidden(*args, **kwargs):
        raise AssertionError('term gradients computed without a request')
    with monkeypatch.context() as m:
        m.setattr(am, 'term_gradient_norms', forbidden)
        for _ in range(3):
            model.train_step(copy.deepcopy(data), wrappers)
    assert len(passes) == 3

    hook = TermGradientNormHook(interval=2)
    per_iter, logged = [], []
    for it in range(5):
        runner = fake_runner(model, it)
        before = len(passes)
        hook.before_train_iter(runner, it)
        model.train_step(copy.deepcopy(data), wrappers)
        hook.after_train_iter(runner, it)
        per_iter.append(len(passes) - before)
        logged += [d['iter'] for d in runner.scalars]
    assert per_iter == [3, 3, 1, 3, 1]
    assert logged == [1, 2, 4]


def _two_rank_worker(rank: int, store: str, out: str) -> None:
    torch_dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                                  world_size=2)
    try:
        torch.set_num_threads(1)
        model = TwoTerms()
        model.request_term_gradient_norms(depths=(1, 2))
        model.train_step(tiny_data(rank), wrappers_of(model))
        if rank == 0:
            Path(out).write_text(json.dumps(model.pop_term_gradient_norms()))
    finally:
        torch_dist.destroy_process_group()


def test_two_ranks_report_the_norm_of_the_averaged_gradient(tmp_path):
    """Each rank has its own batch; the norms are those of the mean of the two ranks'
    per-term gradients (what the step applies), not of either rank's nor their mean norm."""
    out = tmp_path / 'norms.json'
    mp.start_processes(_two_rank_worker, args=(str(tmp_path / 'store'), str(out)), nprocs=2,
                       start_method='spawn')
    norms = json.loads(out.read_text())
    model = TwoTerms()
    per_rank = [hand_gradients(model, tiny_data(r)) for r in range(2)]
    mean = {k: tuple((np.asarray(per_rank[0][k][i]) + np.asarray(per_rank[1][k][i])) / 2
                     for i in range(3)) for k in per_rank[0]}
    expected = hand_norms(mean)
    assert norms.keys() == expected.keys()
    for key, value in expected.items():  # the error bound of the one-process test
        assert norms[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    rank0 = hand_norms(per_rank[0])['grad_norm/net/fit.loss']
    assert abs(norms['grad_norm/net/fit.loss'] - rank0) > 1e-3 * rank0  # really averaged


# ------------------------------------------------------------------ every method
METHODS = {
    'adaptsegnet': (build_adaptsegnet, make_batch, sgd_wrappers, ('segmentor',)),
    'advent': (lambda: build_advent('ADVENT'), make_batch, sgd_wrappers, ('segmentor',)),
    'minent': (lambda: build_advent('MinEnt'), make_batch, sgd_wrappers, ('segmentor',)),
    'fada': (build_fada, make_batch, sgd_wrappers, ('segmentor',)),
    'ssf_dan': (build_ssf_dan, make_batch, sgd_wrappers, ('segmentor',)),
    'mada': (build_mada, make_batch, sgd_wrappers, ('segmentor',)),
    'ldr': (lambda: build_ldr(tau=0.5), pseudo_batch, ldr_wrappers,
            ('segmentor', 'reconstructor')),
}


def capture_step_gradients(model, wrappers, names) -> dict:
    """Parameter name -> the gradient each named wrapper applies (read in its step)."""
    grads, ids = {}, {id(p): n for n, p in model.named_parameters()}
    for name in names:
        wrapper = wrappers[name]

        def step(_step=wrapper.step, _w=wrapper, **kwargs):
            for group in _w.optimizer.param_groups:
                for p in group['params']:
                    if p.grad is not None:
                        grads[ids[id(p)]] = p.grad.detach().clone()
            _step(**kwargs)
        wrapper.step = step
    return grads


@pytest.mark.parametrize('method', list(METHODS))
def test_every_method_reports_each_generator_term(method):
    """Every loss term of the generator step has a norm per child and per sub-module; the
    norm of their sum is that of the gradient the step applies; sub-module norms partition
    their child's."""
    build, batch_fn, wrappers_fn, children = METHODS[method]
    torch.manual_seed(0)
    model = build()
    wrappers = wrappers_fn(model)
    applied = capture_step_gradients(model, wrappers, children)
    model.request_term_gradient_norms(depths=(1, 2))
    log = model.train_step(batch_fn(), wrappers)
    norms = model.pop_term_gradient_norms()
    terms = [k for k in log if 'loss' in k and k != 'loss' and not k.startswith('disc.')]
    assert len(terms) >= 2
    for child in children:
        for term in [*terms, 'loss']:
            assert f'grad_norm/{child}/{term}' in norms, (child, term)
        total = math.sqrt(sum(float(g.double().pow(2).sum()) for n, g in applied.items()
                              if n.startswith(f'{child}.')))
        # sum of per-term gradients vs one backward of the sum: float32 summation order,
        # ~1e-6 relative per accumulation over at most a few hundred products per weight
        assert norms[f'grad_norm/{child}/loss'] == pytest.approx(total, rel=1e-4), child
        for term in [*terms, 'loss']:
            parts = [v for k, v in norms.items()
                     if k.endswith(f'/{term}') and k.split('/')[1].startswith(f'{child}.')]
            assert parts, (child, term)
            assert math.sqrt(sum(v * v for v in parts)) == pytest.approx(
                norms[f'grad_norm/{child}/{term}'], rel=1e-6)
    assert norms['grad_norm/segmentor/src.decode.loss_ce'] > 0
    if method == 'ldr':  # the reconstruction reaches the segmentor through the label map
        assert norms['grad_norm/segmentor/rec.tgt.loss_vgg'] > 0
        assert norms['grad_norm/reconstructor/src.decode.loss_ce'] == 0


def test_a_loss_scaler_is_applied_and_undone():
    """Under AMP the terms are scaled like the step's loss before their backward (so that
    half-precision gradients do not underflow) and their gradients unscaled: the norms are
    those of the unscaled terms. A power of two scales float32 exactly, so they are equal."""
    seen = []

    class Scaler:
        def is_enabled(self):
            return True

        def get_scale(self):
            return 1024.0

    model, plain = TwoTerms(), TwoTerms()
    wrappers = wrappers_of(model)
    wrappers['net'].loss_scaler = Scaler()
    model.net['b'].weight.register_hook(lambda g: seen.append(float(g)))
    for m, w in ((model, wrappers), (plain, wrappers_of(plain))):
        m.request_term_gradient_norms(depths=(1, 2))
        m.train_step(tiny_data(), w)
    assert seen[0] == float(torch.tensor(C) * 1024)  # the backward ran on the scaled term (float32)
    assert model.pop_term_gradient_norms() == plain.pop_term_gradient_norms()

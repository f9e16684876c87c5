"""The plain PyTorch AdaptSegNet loop (the baseline of ``benchmark_train.py --plain-baseline``)
does the same work as mmuda's ``train_step``: same losses, same parameter updates."""
import copy

import pytest
import torch
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

from conftest import REPO, load_script
from test_models.test_adaptsegnet import build_adaptsegnet, make_batch

PLAIN = load_script(REPO / 'tools/analysis_tools/plain_adaptsegnet.py')
LR, MOMENTUM, DECAY, HEAD_MULT, D_LR = 0.05, 0.9, 5e-4, 10.0, 1e-3


def mmuda_wrappers(model, optimizer: str):
    cfg = dict(
        segmentor=dict(optimizer=dict(type=optimizer, lr=LR, momentum=MOMENTUM,
                                      weight_decay=DECAY),
                       paramwise_cfg=dict(custom_keys=dict(
                           decode_head=dict(lr_mult=HEAD_MULT),
                           auxiliary_head=dict(lr_mult=HEAD_MULT)))),
        discriminators=dict(optimizer=dict(type='Adam', lr=D_LR, betas=(0.9, 0.99))))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def in_float64(model):
    """The model in float64, its preprocessed images too (the preprocessor casts to float32),
    so the two loops differ only by float64 rounding (see the tolerance below)."""
    model.double()
    model.data_preprocessor.register_forward_hook(
        lambda _m, _args, out: dict(out, inputs={k: v.double() for k, v in out['inputs'].items()}))
    return model


@pytest.mark.parametrize('optimizer', ['SGD', 'RepeatedParamSGD'])
def test_plain_loop_does_the_same_work_as_train_step(optimizer):
    torch.manual_seed(0)
    model = in_float64(build_adaptsegnet())
    model.train()
    plain = PLAIN.PlainAdaptSegNet(model, LR, MOMENTUM, DECAY, HEAD_MULT,
                                   repeats=optimizer == 'RepeatedParamSGD', d_lr=D_LR)
    wrappers = mmuda_wrappers(model, optimizer)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    names = dict(zip(['seg.main', 'seg.aux', 'adv.main', 'adv.aux', 'disc.main.src',
                      'disc.main.tgt', 'disc.aux.src', 'disc.aux.tgt'],
                     ['src.decode.loss_ce', 'src.aux.loss_ce', 'adv.main.loss_gen',
                      'adv.aux.loss_gen', 'disc.main.loss_src', 'disc.main.loss_tgt',
                      'disc.aux.loss_src', 'disc.aux.loss_tgt']))
    # Two steps: the second one's losses see the first one's updates of every child, and its
    # Adam update depends on gradient magnitudes (Adam's first step is lr * sign(grad)).
    for seed in (0, 1):
        batch = make_batch(seed)
        logged = model.train_step(copy.deepcopy(batch), wrappers)
        plain_losses = plain.step(copy.deepcopy(batch))
        assert set(plain_losses) == set(names)
        for key, value in plain_losses.items():
            # float64: two summation orders of n terms differ by at most 2 n 2**-53 sum|terms|
            # (Higham eq. 3.5); n < 1e5 here and the terms of these losses are O(1), so 1e-9
            # relative is a margin of > 1e3 on any CPU, while a wrong term or weight is off by
            # far more than 1e-4.
            assert value == pytest.approx(float(logged[names[key]]), rel=1e-9, abs=1e-12), key
    plain_params = dict(plain.named_parameters())
    assert set(plain_params) == set(start)
    for name, p in model.named_parameters():
        ours, theirs = p.detach() - start[name], plain_params[name].detach() - start[name]
        # Same float64 argument per gradient element; an update is lr (times 5.61 at most for
        # RepeatedParamSGD's repeats) times such gradients, or Adam's ratio of their moments.
        # 1e-7 of the tensor's largest update bounds float64 rounding with a margin of > 1e3,
        # while a missing weight decay (5e-4 of lr * p), a wrong lr multiplier or repeat count
        # moves an update by far more.
        scale = float(ours.abs().max())
        torch.testing.assert_close(theirs, ours, rtol=1e-7, atol=1e-7 * scale + 1e-15,
                                   msg=name)


def test_train_step_does_no_work_twice_that_the_plain_loop_does_once():
    """Operator counts of the costly full-resolution operations: mmuda's step upsamples each
    level's logits once per domain (the segmentation loss and the discriminator share the
    source's) and takes no top-k, as the plain loop."""
    from torch.profiler import ProfilerActivity, profile
    torch.manual_seed(0)
    model = build_adaptsegnet()
    model.train()
    plain = PLAIN.PlainAdaptSegNet(model, LR, MOMENTUM, DECAY, HEAD_MULT, d_lr=D_LR)
    wrappers = mmuda_wrappers(model, 'SGD')
    counts = []
    for step in (lambda b: model.train_step(b, wrappers), plain.step):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step(make_batch())
        ops = {e.key: e.count for e in prof.key_averages()}
        counts.append({op: ops.get(op, 0) for op in (
            'aten::upsample_bilinear2d', 'aten::upsample_bilinear2d_backward', 'aten::topk')})
    assert counts[0] == counts[1]
    assert counts[0]['aten::upsample_bilinear2d'] == 4  # 2 levels x 2 domains

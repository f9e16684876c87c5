"""The concatenated source+target forward (UDASegmentor.forward_domains) is an exact fast path:
every method's train_step gives the same losses and updates with it as with two passes."""
import copy

import pytest
import torch
from mmseg.registry import MODELS

from conftest import NUM_CLASSES, tiny_segmentor
from test_models.test_adaptsegnet import build_adaptsegnet, make_batch, sgd_wrappers
from test_models.test_advent import build as build_advent
from test_models.test_fada import build_fada
from test_models.test_ssf_dan import build_ssf_dan

BUILDERS = {
    'adaptsegnet': build_adaptsegnet,
    'fada': build_fada,
    'ssf_dan': build_ssf_dan,
    'advent': lambda **kw: build_advent('ADVENT', **kw),
    'minent': lambda **kw: build_advent('MinEnt', **kw),
}


def count_backbone_passes(model) -> list:
    calls = []
    backbone = model.segmentor.backbone
    forward = backbone.forward
    backbone.forward = lambda x: (calls.append(x.shape[0]), forward(x))[1]
    return calls


@pytest.mark.parametrize('method', list(BUILDERS))
def test_concatenated_forward_equals_two_passes(method):
    torch.manual_seed(0)
    fast = BUILDERS[method]()
    plain = copy.deepcopy(fast)
    plain.concat_forward = False
    batch = make_batch()
    passes_fast, passes_plain = count_backbone_passes(fast), count_backbone_passes(plain)
    log_fast = fast.train_step(copy.deepcopy(batch), sgd_wrappers(fast))
    log_plain = plain.train_step(copy.deepcopy(batch), sgd_wrappers(plain))
    assert passes_fast == [4] and passes_plain == [2, 2]
    assert log_fast.keys() == log_plain.keys()
    for key in log_fast:
        torch.testing.assert_close(log_fast[key], log_plain[key], rtol=1e-4, atol=1e-6,
                                   msg=key)
    for (name, p_fast), p_plain in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p_fast, p_plain, rtol=1e-4, atol=1e-6, msg=name)


def test_batch_statistics_fall_back_to_two_passes():
    """Train-mode BN normalises with the batch's statistics: concatenating the domains would
    change them, so the model takes two passes."""
    seg = tiny_segmentor()
    seg['backbone']['norm_cfg'] = dict(type='BN', requires_grad=True)
    seg['backbone']['norm_eval'] = False
    model = MODELS.build(dict(
        type='AdaptSegNet', segmentor=seg,
        discriminators=dict(main=dict(type='FCDiscriminator', in_channels=NUM_CLASSES,
                                      channels=(8, 8, 8, 8))),
        adv_weights=dict(main=0.001)))
    model.train()
    passes = count_backbone_passes(model)
    model.train_step(make_batch(), sgd_wrappers(model))
    assert passes == [2, 2]


def test_different_sizes_fall_back_to_two_passes():
    model = build_adaptsegnet()
    passes = count_backbone_passes(model)
    src, tgt = torch.randn(2, 3, 32, 64), torch.randn(2, 3, 24, 48)
    out_s, out_t = model.forward_domains(src, tgt)
    assert passes == [2, 2] and out_t['main'].shape[0] == 2

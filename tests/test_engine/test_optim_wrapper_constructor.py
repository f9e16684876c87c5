import pytest
import torch
from mmengine.optim import OptimWrapperDict
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from conftest import NUM_CLASSES, tiny_segmentor


def _model(discriminators=True):
    discs = dict(main=dict(type='FCDiscriminator', in_channels=NUM_CLASSES)) \
        if discriminators else {}
    return MODELS.build(dict(type='AdaptSegNet' if discriminators else 'UDASegmentor',
                             segmentor=tiny_segmentor(), discriminators=discs,
                             **(dict(adv_weights=dict(main=0.001)) if discriminators else {})))


def _build(cfg, model):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


CFG = dict(segmentor=dict(optimizer=dict(type='SGD', lr=0.1)),
           discriminators=dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99))))


def test_one_wrapper_per_child_with_its_own_params():
    model = _model()
    wrappers = _build(CFG, model)
    assert isinstance(wrappers, OptimWrapperDict) and set(wrappers.keys()) == set(CFG)
    seg_ids = {id(p) for g in wrappers['segmentor'].optimizer.param_groups for p in g['params']}
    d_ids = {id(p) for g in wrappers['discriminators'].optimizer.param_groups
             for p in g['params']}
    assert seg_ids == {id(p) for p in model.segmentor.parameters()}
    assert d_ids == {id(p) for p in model.discriminators.parameters()}
    assert isinstance(wrappers['discriminators'].optimizer, torch.optim.Adam)


def test_source_only_skips_discriminator_entry():
    wrappers = _build(CFG, _model(discriminators=False))
    assert set(wrappers.keys()) == {"segmentor"}


def test_errors_name_the_key():
    with pytest.raises(KeyError, match='discriminators'):
        _build(dict(segmentor=CFG['segmentor']), _model())
    with pytest.raises(KeyError, match='generator'):
        _build(dict(CFG, generator=CFG['segmentor']), _model())
    with pytest.raises(TypeError, match='optim_wrapper.segmentor'):
        _build(dict(segmentor=dict(lr=0.1)), _model(discriminators=False))

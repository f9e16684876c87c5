"""Every shipped config loads, wraps an mmseg segmentor, and builds."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import REPO

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


def test_there_are_configs():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_config_builds(path: Path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports['imports'] == ['mmuda'] and cfg.default_scope == 'mmseg'
    if cfg.model.type == 'EncoderDecoder':  # a plain stage (e.g. training on pseudo labels)
        assert cfg.model_wrapper_cfg is None, 'plain segmentors need the default DDP wrapper'
        # SegDataPreProcessor pads a training batch to `size` (or a multiple of
        # `size_divisor`) and refuses to stack one without either
        preprocessor = cfg.model.data_preprocessor
        assert (preprocessor.get('size') is None) != (preprocessor.get('size_divisor') is None), \
            f'{path.name}: model.data_preprocessor needs size=crop_size to train'
        MODELS.build(cfg.model)
        return
    if 'segmentor' not in cfg.model:  # an image-GAN stage (LDR's translator, reconstruction)
        assert cfg.optim_wrapper.constructor == 'UDAOptimWrapperConstructor'
        model = MODELS.build(cfg.model)
        assert set(model.generator_children) <= set(cfg.optim_wrapper), path.name
        assert set(model.discriminator_children) <= set(cfg.optim_wrapper), path.name
        return
    assert cfg.model.segmentor.type == 'EncoderDecoder'
    assert cfg.optim_wrapper.constructor == 'UDAOptimWrapperConstructor'
    model = MODELS.build(cfg.model)
    for name, disc in model.discriminators.items():
        expected = model.head_of(name).out_channels \
            if cfg.model.get('adv_input', 'feature') == 'output' else disc.in_channels
        assert disc.in_channels == expected, f'{path.name}: discriminator {name} channels'

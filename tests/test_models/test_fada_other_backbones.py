"""FADA on mmseg's SegFormer (MiT) and DeepLabV3+: the shipped configs with the segmentor
narrowed, trained a few iterations on the toy domains through mmengine's Runner."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS

from conftest import NUM_CLASSES, REPO
from test_models.test_other_backbones import _Record, changed, narrow, on_toy_data, shrink_schedule

GTA = 'gta5-1280x720_cityscapes-1024x512.py'
CONFIGS = {
    'segformer': REPO / f'configs/fada/fada_segformer-mit-b5_1xb2-40k_{GTA}',
    'deeplabv3plus': REPO / f'configs/fada/fada_deeplabv3plus-r101-d8_1xb2-40k_{GTA}',
}
# width of the last feature map of the narrowed backbones (see narrow())
LAST_FEATURE = dict(segformer=32, deeplabv3plus=64)
ITERS = 3


def shrunk(backbone: str, root, work_dir) -> Config:
    cfg = on_toy_data(CONFIGS[backbone], root, work_dir, ITERS)
    cfg.model.segmentor = narrow(cfg.model.segmentor, backbone)
    cfg.model.discriminators.fine.update(in_channels=LAST_FEATURE[backbone],
                                         num_classes=NUM_CLASSES, channels=(8, 8))
    shrink_schedule(cfg.param_scheduler)
    return cfg


@pytest.mark.parametrize('backbone', list(CONFIGS))
def test_fada_trains_on_other_backbones(backbone, toy_root, tmp_path):
    runner = Runner.from_cfg(shrunk(backbone, toy_root, tmp_path))
    record = _Record()
    runner.register_hook(record)
    runner.train()
    for log in record.logs:
        assert {'src.decode.loss_ce', 'adv.fine.loss_gen', 'disc.fine.loss_src'} <= set(log)
        assert all(math.isfinite(v) for v in log.values()), log
    after = runner.model.state_dict()
    for part in ('segmentor.backbone.', 'segmentor.decode_head.', 'discriminators.fine.'):
        assert changed(record.init, after, part), f'{part} did not train'


def test_missing_feature_level_is_named(toy_root, tmp_path):
    cfg = shrunk('segformer', toy_root, tmp_path)
    cfg.model.feature_index = 4  # MiT has 4 stages: 0..3
    model = MODELS.build(cfg.model)
    with pytest.raises(IndexError, match=r'model\.feature_index is 4.*4 feature map'):
        model.feature(model.forward_heads(torch.randn(1, 3, 32, 64)))

"""The multi-adversarial method on mmseg's SegFormer (MiT) and DeepLabV3+: the shipped configs
with the segmentor narrowed, trained a few iterations on the toy domains, then asked for the
adversarial confidence that proxy generation uses."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import REPO
from test_models.test_other_backbones import _Record, changed, narrow, on_toy_data, shrink_schedule

GTA = 'gta5-1280x720_cityscapes-1024x512.py'
CONFIGS = {
    'segformer': REPO / f'configs/mada/mada_segformer-mit-b5_1xb1-40k_{GTA}',
    'deeplabv3plus': REPO / f'configs/mada/mada_deeplabv3plus-r101-d8_1xb2-150k_{GTA}',
}
# channels of the (high, mid) taps of the narrowed backbones (see narrow())
TAPS = dict(segformer=(32, 16), deeplabv3plus=(64, 32))
ITERS = 3


def shrunk(backbone: str, root, work_dir) -> Config:
    cfg = on_toy_data(CONFIGS[backbone], root, work_dir, ITERS)
    cfg.model.segmentor = narrow(cfg.model.segmentor, backbone)
    for name, channels in zip(('high', 'mid'), TAPS[backbone]):
        cfg.model.discriminators[name].update(in_channels=channels, channels=(8, 8))
    shrink_schedule(cfg.param_scheduler)
    return cfg


@pytest.mark.parametrize('backbone', list(CONFIGS))
def test_mada_trains_on_other_backbones(backbone, toy_root, tmp_path):
    runner = Runner.from_cfg(shrunk(backbone, toy_root, tmp_path))
    record = _Record()
    runner.register_hook(record)
    runner.train()
    for log in record.logs:
        assert {'src.decode.loss_ce', 'adv.high.loss_gen', 'adv.mid.loss_gen'} <= set(log)
        assert all(math.isfinite(v) for v in log.values()), log
    after = runner.model.state_dict()
    for part in ('segmentor.backbone.', 'discriminators.high.', 'discriminators.mid.'):
        assert changed(record.init, after, part), f'{part} did not train'
    model = runner.model
    model.eval()
    conf = model.adversarial_confidence(torch.randn(2, 3, 32, 64))
    assert conf.shape == (2, 1, 32, 64) and 0 <= conf.min() and conf.max() <= 1

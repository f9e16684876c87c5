import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import REPO


def _build(cfg_file: str):
    seg = Config.fromfile(str(REPO / 'configs/_base_/models' / cfg_file)).segmentor
    # Architecture checks: random weights. Loading the configured pretrained file is tested in
    # tests/test_models/test_published_pretrained.py.
    seg.backbone.init_cfg = None
    model = MODELS.build(seg)
    model.init_weights()
    return model


def test_r101_512x1024_gives_65x129_logits():
    """The ceil-mode max-pool of the reference stem: 512x1024 -> 65x129 (mmseg's pool: 64x128)."""
    model = _build('deeplabv2_r101.py').eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 512, 1024), mode='tensor')
    assert tuple(logits.shape) == (1, 19, 65, 129)


def test_r101_multilevel_heads_on_layer3_and_layer4():
    model = _build('deeplabv2_r101_multilevel.py').eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 65, 129))
        aux = model.auxiliary_head(feats)
        main = model.decode_head(feats)
    assert [f.shape[1] for f in feats] == [1024, 2048]
    assert aux.shape == main.shape == (1, 19, 9, 17)
    assert model.auxiliary_head.loss_decode.loss_weight == pytest.approx(0.1)


def test_backbone_batchnorm_fully_frozen():
    model = _build('deeplabv2_r101.py')
    model.train()
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert any(p.requires_grad for p in model.backbone.layer4.parameters())


def test_head_is_sum_of_dilated_branches_with_normal_init():
    head = MODELS.build(dict(type='DeepLabV2Head', in_channels=2048, in_index=0,
                             num_classes=19, dilations=(6, 12, 18, 24)))
    head.init_weights()
    assert [c.dilation[0] for c in head.branches] == [6, 12, 18, 24]
    assert [c.padding[0] for c in head.branches] == [6, 12, 18, 24]
    assert not hasattr(head, 'conv_seg')
    weights = torch.cat([c.weight.flatten() for c in head.branches])
    assert abs(weights.std().item() - 0.01) < 1e-3 and abs(weights.mean().item()) < 1e-3
    x = torch.randn(1, 2048, 9, 9)
    expected = sum(torch.nn.functional.conv2d(x, c.weight, c.bias, padding=d, dilation=d)
                   for c, d in zip(head.branches, (6, 12, 18, 24)))
    torch.testing.assert_close(head([x]), expected)


def test_head_bias_init_zeros_by_default_or_pytorch_default_as_the_reference():
    """'zeros' (mmuda's default) or 'pytorch': the uniform +-1/sqrt(fan_in) bias that the
    reference's Classifier_Module keeps (it only re-draws the weights)."""
    cfg = dict(type='DeepLabV2Head', in_channels=2048, in_index=0, num_classes=19)
    head = MODELS.build(cfg)
    head.init_weights()
    assert all(torch.count_nonzero(c.bias) == 0 for c in head.branches)
    torch.manual_seed(0)
    head = MODELS.build(dict(cfg, bias_init='pytorch'))
    head.init_weights()
    bound = 1 / (9 * 2048) ** 0.5
    biases = torch.cat([c.bias for c in head.branches])
    assert biases.abs().max() <= bound and biases.abs().max() > bound / 2
    assert torch.unique(biases).numel() == biases.numel()  # drawn, not a constant
    with pytest.raises(ValueError, match='bias_init'):
        MODELS.build(dict(cfg, bias_init='ones'))


def test_head_init_cfg_is_applied_after_the_default_initialisation(tmp_path):
    """A head ``init_cfg`` (here ``Pretrained`` from a saved head) is what the head ends up with,
    not replaced by the default N(0, 0.01) draw."""
    cfg = dict(type='DeepLabV2Head', in_channels=8, in_index=0, num_classes=3)
    saved = MODELS.build(cfg)
    for conv in saved.branches:
        torch.nn.init.constant_(conv.weight, 0.5)
        torch.nn.init.constant_(conv.bias, -0.25)
    torch.save({'state_dict': saved.state_dict()}, tmp_path / 'head.pth')
    head = MODELS.build(dict(cfg, init_cfg=dict(type='Pretrained',
                                                checkpoint=str(tmp_path / 'head.pth'))))
    head.init_weights()
    for conv in head.branches:
        assert torch.equal(conv.weight, torch.full_like(conv.weight, 0.5))
        assert torch.equal(conv.bias, torch.full_like(conv.bias, -0.25))


def test_two_branch_reference_variant():
    head = MODELS.build(dict(type='DeepLabV2Head', in_channels=16, in_index=0, num_classes=3,
                             dilations=(6, 12)))
    assert len(head.branches) == 2


def test_heads_get_10x_learning_rate():
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(str(REPO / 'configs/_base_/schedules/adaptsegnet_poly-250k_stop-150k.py'))
    model = _build('deeplabv2_r101_multilevel.py')
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper.segmentor)
    lrs = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs[names[id(p)].split('.')[0]] = group['lr']
    assert lrs['backbone'] == pytest.approx(2.5e-4)
    assert lrs['decode_head'] == pytest.approx(2.5e-3)
    assert lrs['auxiliary_head'] == pytest.approx(2.5e-3)

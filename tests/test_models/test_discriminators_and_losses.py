import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def test_fc_discriminator_architecture_and_output_size():
    disc = MODELS.build(dict(type='FCDiscriminator', in_channels=19))
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (19, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1)
               for c in convs)
    acts = [m for m in disc.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(acts) == 4 and all(a.negative_slope == 0.2 for a in acts)
    assert disc(torch.randn(1, 19, 64, 128)).shape == (1, 1, 2, 4)


def test_fc_discriminator_names_channel_mismatch():
    disc = MODELS.build(dict(type='FCDiscriminator', in_channels=19))
    with pytest.raises(ValueError, match='in_channels'):
        disc(torch.randn(1, 7, 32, 32))


@pytest.mark.parametrize('gan_type', ['vanilla', 'lsgan'])
def test_adversarial_loss_by_hand(gan_type):
    loss = MODELS.build(dict(type='AdversarialLoss', gan_type=gan_type))
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 0.0]]]])
    if gan_type == 'vanilla':
        # source label 0: -log(1 - sigmoid(x)) = softplus(x); target label 1: softplus(-x)
        expected_src = F.softplus(logits).mean()
        expected_tgt = F.softplus(-logits).mean()
    else:
        expected_src = (logits ** 2).mean()
        expected_tgt = ((logits - 1) ** 2).mean()
    torch.testing.assert_close(loss(logits, is_source=True), expected_src)
    torch.testing.assert_close(loss(logits, is_source=False), expected_tgt)


def test_adversarial_loss_rejects_unknown_type():
    with pytest.raises(ValueError, match='gan_type'):
        MODELS.build(dict(type='AdversarialLoss', gan_type='wgan'))

"""The GAN objective shared by the discriminator-based methods."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class AdversarialLoss(nn.Module):
    """Domain classification loss on raw discriminator logits.

    The discriminator is trained to output ``source_label`` on source inputs and
    ``target_label`` on target inputs; the segmentor is trained to make target inputs look like
    source, i.e. it is scored against ``source_label``. AdaptSegNet uses source 0, target 1.

    Args:
        gan_type: ``'vanilla'`` (binary cross-entropy with logits, the paper) or ``'lsgan'``
            (least squares on the raw output).
        source_label: Domain label of source inputs.
        target_label: Domain label of target inputs.
    """

    GAN_TYPES = ('vanilla', 'lsgan')

    def __init__(self, gan_type: str = 'vanilla', source_label: float = 0.0,
                 target_label: float = 1.0) -> None:
        super().__init__()
        if gan_type not in self.GAN_TYPES:
            raise ValueError(f'AdversarialLoss gan_type must be one of {self.GAN_TYPES}, '
                             f'got {gan_type!r}')
        self.gan_type = gan_type
        self.source_label = float(source_label)
        self.target_label = float(target_label)

    def forward(self, logits: torch.Tensor, is_source: bool) -> torch.Tensor:
        """Mean loss of ``logits`` against the label of the given domain."""
        label = self.source_label if is_source else self.target_label
        target = torch.full_like(logits, label)
        if self.gan_type == 'vanilla':
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


@MODELS.register_module()
class GANLoss(AdversarialLoss):
    """:class:`AdversarialLoss` phrased for image GANs: real vs generated instead of domains.

    The discriminators of LDR's translator (CycleGAN) and reconstruction (pix2pixHD-style)
    judge real images against generated ones. ``forward(logits, target_is_real)``.

    Args:
        gan_type: ``'vanilla'`` (BCE with logits, LDR eq. 4) or ``'lsgan'`` (least squares,
            CycleGAN's choice).
        real_label: Label of real inputs.
        fake_label: Label of generated inputs.
    """

    def __init__(self, gan_type: str = 'lsgan', real_label: float = 1.0,
                 fake_label: float = 0.0) -> None:
        super().__init__(gan_type, source_label=real_label, target_label=fake_label)

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        """Mean loss of ``logits`` against the real (or fake) label."""
        return super().forward(logits, is_source=target_is_real)

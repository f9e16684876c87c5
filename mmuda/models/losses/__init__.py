from .adversarial_loss import AdversarialLoss, GANLoss
from .soft_label_cross_entropy import SoftLabelCrossEntropyLoss

__all__ = ['AdversarialLoss', 'GANLoss', 'SoftLabelCrossEntropyLoss']

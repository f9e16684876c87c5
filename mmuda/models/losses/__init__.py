from .adversarial_loss import AdversarialLoss
from .soft_label_cross_entropy import SoftLabelCrossEntropyLoss

__all__ = ['AdversarialLoss', 'SoftLabelCrossEntropyLoss']

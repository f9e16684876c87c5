from .adversarial_loss import AdversarialLoss, GANLoss
from .feature_matching_loss import FeatureMatchingLoss
from .perceptual_loss import VGGPerceptualLoss
from .soft_label_cross_entropy import SoftLabelCrossEntropyLoss

__all__ = ['AdversarialLoss', 'GANLoss', 'FeatureMatchingLoss', 'SoftLabelCrossEntropyLoss',
           'VGGPerceptualLoss']

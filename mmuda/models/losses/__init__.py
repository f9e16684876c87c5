from .adversarial_loss import AdversarialLoss

__all__ = ['AdversarialLoss']

"""Pseudo labels for self-training: three policies, a generator, and their registry."""
from .adversarial_proxy import AdversarialProxyPseudoLabeler
from .argmax import ArgmaxPseudoLabeler
from .base import BasePseudoLabeler
from .class_median import ClassMedianPseudoLabeler
from .generator import PseudoLabelGenerator, generate_pseudo_labels, resolve_dataset_cfg
from .inference import predict_batch
from .registry import PSEUDO_LABELERS, build_pseudo_labeler

__all__ = ['AdversarialProxyPseudoLabeler', 'ArgmaxPseudoLabeler', 'BasePseudoLabeler',
           'ClassMedianPseudoLabeler', 'PSEUDO_LABELERS', 'PseudoLabelGenerator',
           'build_pseudo_labeler', 'generate_pseudo_labels', 'predict_batch',
           'resolve_dataset_cfg']

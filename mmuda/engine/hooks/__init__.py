from .class_count_check_hook import ClassCountCheckHook
from .pseudo_label_hook import PseudoLabelHook
from .segmentor_weights_check_hook import SegmentorWeightsCheckHook
from .term_gradient_norm_hook import TermGradientNormHook
from .uda_visualization_hook import UDAVisualizationHook
from .warmup_continuation_hook import WarmupContinuationHook

__all__ = ['ClassCountCheckHook', 'PseudoLabelHook', 'SegmentorWeightsCheckHook',
           'TermGradientNormHook', 'UDAVisualizationHook', 'WarmupContinuationHook']

from .pseudo_label_hook import PseudoLabelHook
from .term_gradient_norm_hook import TermGradientNormHook
from .uda_visualization_hook import UDAVisualizationHook
from .warmup_continuation_hook import WarmupContinuationHook

__all__ = ['PseudoLabelHook', 'TermGradientNormHook', 'UDAVisualizationHook',
           'WarmupContinuationHook']

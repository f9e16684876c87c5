from .pseudo_label_hook import PseudoLabelHook
from .uda_visualization_hook import UDAVisualizationHook
from .warmup_continuation_hook import WarmupContinuationHook

__all__ = ['PseudoLabelHook', 'UDAVisualizationHook', 'WarmupContinuationHook']

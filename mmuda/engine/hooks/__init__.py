from .pseudo_label_hook import PseudoLabelHook
from .uda_visualization_hook import UDAVisualizationHook

__all__ = ['PseudoLabelHook', 'UDAVisualizationHook']

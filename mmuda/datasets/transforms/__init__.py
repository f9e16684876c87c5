from .check_seg_labels import CheckSegLabels
from .color_jitter import ColorJitter

__all__ = ['CheckSegLabels', 'ColorJitter']

from .check_seg_labels import CheckSegLabels, bind_label_checks, label_checks
from .color_jitter import ColorJitter

__all__ = ['CheckSegLabels', 'ColorJitter', 'bind_label_checks', 'label_checks']

"""Metrics and analysis registered into mmseg."""
from .class_center_distance import (
    CCDAccumulator,
    ClassStats,
    class_center_distance,
    class_stats,
    direct_class_center_distance,
    merge_stats,
)
from .subset_iou_metric import (
    CITYSCAPES_13,
    CITYSCAPES_16,
    SUBSET_PRESETS,
    SubsetIoUMetric,
    confusion_matrix,
    resolve_subsets,
)

__all__ = ['CCDAccumulator', 'CITYSCAPES_13', 'CITYSCAPES_16', 'ClassStats', 'SUBSET_PRESETS',
           'SubsetIoUMetric', 'class_center_distance', 'class_stats', 'confusion_matrix',
           'direct_class_center_distance', 'merge_stats', 'resolve_subsets']

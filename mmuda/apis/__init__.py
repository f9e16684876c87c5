"""Inference on UDA checkpoints and colouring of per-pixel maps."""
from .colorize import (
    colorize,
    colorize_labels,
    colorize_values,
    colormap_lut,
    is_label_map,
    palette_lut,
)
from .inference import (
    IMAGE_SUFFIXES,
    InferenceSummary,
    find_images,
    inference_folder,
    init_uda_model,
)

__all__ = ['IMAGE_SUFFIXES', 'InferenceSummary', 'colorize', 'colorize_labels',
           'colorize_values', 'colormap_lut', 'find_images', 'inference_folder',
           'init_uda_model', 'is_label_map', 'palette_lut']

"""Inference on UDA checkpoints, colouring of per-pixel maps, and dataset translation."""
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
from .translate import (
    init_translator,
    resolve_translation_dataset,
    translate_dataset,
    translate_image,
)

__all__ = ['IMAGE_SUFFIXES', 'InferenceSummary', 'colorize', 'colorize_labels',
           'colorize_values', 'colormap_lut', 'find_images', 'inference_folder',
           'init_translator', 'init_uda_model', 'is_label_map', 'palette_lut',
           'resolve_translation_dataset', 'translate_dataset', 'translate_image']

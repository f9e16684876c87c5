"""Turning the maps of ``visual_maps`` into RGB panels (shared by the hook and the API)."""
from typing import Optional, Sequence, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]
IGNORE_COLOR = (0, 0, 0)


def palette_lut(palette: Optional[Sequence[Sequence[int]]], num_classes: int = 0) -> np.ndarray:
    """A 256-entry RGB lookup table: the dataset palette, then black (ignore index 255 too).

    Without a palette (a model built without ``dataset_meta``) the first ``num_classes``
    entries get fixed pseudo-random colours, so the same class keeps its colour across images.
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    if palette:
        colors = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:255]
        lut[:len(colors)] = colors
    elif num_classes:
        rng = np.random.default_rng(42)
        lut[:min(num_classes, 255)] = rng.integers(0, 256, (min(num_classes, 255), 3))
    return lut


def colormap_lut(cmap: str = 'viridis') -> np.ndarray:
    """256 RGB colours of a matplotlib colour map (matplotlib is a dependency of mmengine)."""
    from matplotlib import colormaps
    if cmap not in colormaps:
        raise ValueError(f'unknown matplotlib colour map {cmap!r}')
    rgba = colormaps[cmap](np.linspace(0.0, 1.0, 256))
    return (rgba[:, :3] * 255).round().astype(np.uint8)


def _numpy(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def is_label_map(x: ArrayLike) -> bool:
    """Integer (or bool) maps are class labels; floating-point maps are values in [0, 1]."""
    dtype = x.dtype
    if isinstance(x, torch.Tensor):
        return not (dtype.is_floating_point or dtype.is_complex)
    return not np.issubdtype(dtype, np.floating)


def colorize_labels(labels: ArrayLike, lut: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 palette colours; indices beyond 255 are black."""
    idx = _numpy(labels).astype(np.int64)
    return lut[np.where((idx >= 0) & (idx < 256), idx, 255)]


def colorize_values(values: ArrayLike, lut: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] (clipped; NaN -> 0) -> (H, W, 3) uint8 colour-map colours."""
    v = np.nan_to_num(_numpy(values).astype(np.float64), nan=0.0)
    return lut[(np.clip(v, 0.0, 1.0) * 255).round().astype(np.int64)]


def colorize(x: ArrayLike, labels_lut: np.ndarray, values_lut: np.ndarray) -> np.ndarray:
    """One (H, W) map as an RGB panel: palette for label maps, colour map for value maps."""
    if is_label_map(x):
        return colorize_labels(x, labels_lut)
    return colorize_values(x, values_lut)

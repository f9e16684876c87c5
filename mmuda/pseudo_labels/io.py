"""Writing pseudo labels: output paths that a dataset can read back, atomic PNG/JSON writes,
and side-by-side visualisations."""
import json
import math
import os
import os.path as osp
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Deque, Optional, Sequence

import numpy as np
from PIL import Image

from ..utils.atomic_write import atomic_write

SUMMARY_NAME = 'pseudo_labels.json'


def write_png(path: str, array: np.ndarray) -> None:
    """Save a uint8 array (H, W) or (H, W, 3) as PNG, atomically."""
    image = Image.fromarray(np.ascontiguousarray(array))
    atomic_write(path, lambda f: image.save(f, format='PNG'))


def write_json(path: str, data: dict) -> None:
    """Save ``data`` as JSON, atomically; NaN (a threshold that does not exist) becomes null."""
    text = json.dumps(to_json_compatible(data), indent=2, allow_nan=False) + '\n'
    atomic_write(path, lambda f: f.write(text.encode()))


def to_json_compatible(value):
    """``value`` as JSON would read it back (tuples as lists, non-finite floats as None)."""
    if isinstance(value, dict):
        return {str(k): to_json_compatible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_compatible(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class BackgroundWriter:
    """Runs file writes on one thread, so that encoding and file-system latency (a rename
    costs milliseconds on some file systems) overlap the next forward pass.

    At most ``max_pending`` writes wait at a time, so memory stays bounded; an error of a
    write is raised in the caller at the next :meth:`submit` or at :meth:`close`, which waits
    for every write (leaving the directory complete or, after an error, without partial files).
    """

    def __init__(self, max_pending: int = 8) -> None:
        self.max_pending = max(1, int(max_pending))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix='pseudo-label-io')
        self._pending: Deque[Future] = deque()

    def submit(self, fn: Callable, *args) -> None:
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> 'BackgroundWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LabelPathMapper:
    """Maps an image path of a dataset to its pseudo-label path under ``out_dir``.

    The image's path relative to the dataset's ``data_prefix['img_path']`` is kept, its
    ``img_suffix`` replaced by the dataset's ``seg_map_suffix``: exactly the name mmseg's
    ``BaseSegDataset`` looks up under ``data_prefix['seg_map_path']``, so a training config
    points ``seg_map_path`` at ``out_dir`` and reads the labels back.
    """

    def __init__(self, dataset, out_dir: str) -> None:
        name = type(dataset).__name__
        prefix = getattr(dataset, 'data_prefix', {}).get('img_path')
        for attr in ('img_suffix', 'seg_map_suffix'):
            if not isinstance(getattr(dataset, attr, None), str):
                raise TypeError(f'pseudo labels need an mmseg BaseSegDataset; {name} has no '
                                f'`{attr}`')
        if not prefix:
            raise ValueError(f'pseudo labels: {name} has no data_prefix.img_path to mirror')
        if getattr(dataset, 'reduce_zero_label', False) or getattr(dataset, 'label_map', None):
            raise ValueError(f'pseudo labels are written in the model\'s class ids; {name} has '
                             'reduce_zero_label or a label_map, which would remap them on loading')
        self.img_prefix = osp.abspath(prefix)
        self.img_suffix = dataset.img_suffix
        self.seg_map_suffix = dataset.seg_map_suffix
        self.out_dir = out_dir

    def relative(self, img_path: str) -> str:
        """The image's path relative to the image prefix, without its suffix."""
        rel = osp.relpath(osp.abspath(img_path), self.img_prefix)
        if rel.startswith(os.pardir) or not rel.endswith(self.img_suffix):
            raise ValueError(f'image {img_path} is not a "*{self.img_suffix}" file under the '
                             f'dataset\'s img_path {self.img_prefix}')
        return rel[:len(rel) - len(self.img_suffix)]

    def label_path(self, img_path: str) -> str:
        return osp.join(self.out_dir, self.relative(img_path) + self.seg_map_suffix)

    def vis_path(self, img_path: str, vis_dir: str) -> str:
        return osp.join(vis_dir, self.relative(img_path) + '.png')


def colorize(label: np.ndarray, palette: Optional[Sequence[Sequence[int]]],
             ignore_index: int) -> np.ndarray:
    """RGB image of a label map: the dataset palette, white where no label is kept."""
    num = int(label[label != ignore_index].max(initial=0)) + 1
    colours = np.zeros((256, 3), dtype=np.uint8)
    if palette is not None:
        colours[:len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    if palette is None or len(palette) < num:
        rng = np.random.default_rng(0)
        start = 0 if palette is None else len(palette)
        colours[start:num] = rng.integers(0, 256, (max(0, num - start), 3))
    colours[ignore_index] = 255
    return colours[label]


def gray(values: np.ndarray) -> np.ndarray:
    """An RGB rendering of a map in [0, 1] (black 0, white 1)."""
    v = (np.clip(values, 0.0, 1.0) * 255).round().astype(np.uint8)
    return np.repeat(v[..., None], 3, axis=2)


def read_rgb(path: str, shape: Sequence[int]) -> np.ndarray:
    """The image as RGB at ``shape`` (H, W), the resolution of the labels."""
    image = Image.open(path).convert('RGB')
    if image.size != (shape[1], shape[0]):
        image = image.resize((shape[1], shape[0]), Image.BILINEAR)
    return np.asarray(image)


def visualization(img_path: str, conf: np.ndarray, label: np.ndarray, palette,
                  ignore_index: int, adv: Optional[np.ndarray] = None) -> np.ndarray:
    """image | confidence (max probability) | [adversarial confidence |] pseudo label."""
    panels = [read_rgb(img_path, label.shape), gray(conf)]
    if adv is not None:
        panels.append(gray(adv))
    panels.append(colorize(label, palette, ignore_index))
    return np.concatenate(panels, axis=1)

"""Source and target panels of the current training batch, written to the visualiser backends."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmuda.apis.colorize import colorize, colorize_labels, colormap_lut, palette_lut

Tensor = torch.Tensor


@HOOKS.register_module()
class UDAVisualizationHook(Hook):
    """Every ``interval`` iterations, draws what the model makes of the current UDA batch.

    mmseg's ``SegVisualizationHook`` only sees validation and test images; adaptation problems
    (a target region the segmentor gets wrong, a discriminator that wins everywhere) show up
    during training, on the target images the model is adapting to. For the first
    ``max_images`` images of each domain the model runs in eval mode without gradients and
    each backend of ``runner.visualizer`` (``LocalVisBackend``: PNGs in
    ``<work_dir>/<timestamp>/vis_data/vis_image/``; ``TensorboardVisBackend``) gets, at
    step = iteration number:

    - ``uda_source``: image | ground truth | prediction, one row per image;
    - ``uda_target``: image | prediction | every other map of the model's ``visual_maps``
      (e.g. ``disc.main``, ``pseudo_label``), in the order the model returns them.

    Label maps (integer dtype) are drawn with the dataset palette, value maps in [0, 1] with
    the colour map ``cmap``; the hook has no method-specific code.

    Args:
        interval: Draw every ``interval`` training iterations.
        max_images: Images per domain (rows of each panel image).
        cmap: matplotlib colour map of value maps.
        channel_order: Channel order of the raw batch images (mmcv loads ``'bgr'``).
    """

    priority = 'LOW'
    DOMAINS = ('source', 'target')

    def __init__(self, interval: int = 1000, max_images: int = 2, cmap: str = 'viridis',
                 channel_order: str = 'bgr') -> None:
        if interval < 1 or max_images < 1:
            raise ValueError('UDAVisualizationHook interval and max_images must be >= 1, got '
                             f'interval={interval}, max_images={max_images}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"UDAVisualizationHook channel_order must be 'bgr' or 'rgb', "
                             f'got {channel_order!r}')
        self.interval = interval
        self.max_images = max_images
        self.values_lut = colormap_lut(cmap)
        self.channel_order = channel_order

    def before_train(self, runner) -> None:
        if not hasattr(self._model(runner), 'visual_maps'):
            raise TypeError('UDAVisualizationHook needs a model with visual_maps() (a '
                            f'UDASegmentor), got {type(self._model(runner)).__name__}')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs=None) -> None:
        if data_batch is None or not self.every_n_train_iters(runner, self.interval):
            return
        if not is_main_process():
            return
        model = self._model(runner)
        lut = self._palette(runner, model)
        panels = self.draw(model, data_batch, lut)
        for domain, image in panels.items():
            runner.visualizer.add_image(f'uda_{domain}', image, step=runner.iter + 1)

    @staticmethod
    def _model(runner) -> nn.Module:
        """The UDA segmentor itself, also behind a model wrapper (``UDADataParallel``)."""
        return getattr(runner.model, 'module', runner.model)

    @staticmethod
    def _palette(runner, model: nn.Module) -> np.ndarray:
        """The dataset palette: visualiser (set by the train loop), train set, model meta."""
        metas = [getattr(runner.visualizer, 'dataset_meta', None),
                 getattr(getattr(runner.train_dataloader, 'dataset', None), 'metainfo', None),
                 getattr(model, 'dataset_meta', None)]
        palette = next((m['palette'] for m in metas if m and m.get('palette')), None)
        return palette_lut(palette, getattr(model, 'num_classes', 0))

    def draw(self, model: nn.Module, data_batch: dict, lut: np.ndarray) -> Dict[str, np.ndarray]:
        """{'source': RGB uint8 grid, 'target': RGB uint8 grid} of the first images."""
        batch = {d: dict(inputs=list(data_batch['inputs'][d])[:self.max_images],
                         data_samples=list(data_batch['data_samples'][d])[:self.max_images])
                 for d in self.DOMAINS}
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                data = model.data_preprocessor(
                    dict(inputs={d: b['inputs'] for d, b in batch.items()},
                         data_samples={d: b['data_samples'] for d, b in batch.items()}), False)
                maps = {d: model.visual_maps(data['inputs'][d]) for d in self.DOMAINS}
        finally:
            model.train(was_training)
        return {d: self._grid(batch[d], maps[d], d, lut) for d in self.DOMAINS}

    def _grid(self, batch: dict, maps: Dict[str, Tensor], domain: str,
              lut: np.ndarray) -> np.ndarray:
        rows = []
        for i, raw in enumerate(batch['inputs']):
            image = self._rgb(raw)
            h, w = image.shape[:2]
            panels = [image]
            if domain == 'source':
                panels.append(colorize_labels(self._gt(batch['data_samples'][i], h, w), lut))
                names: Sequence[str] = ['prediction']
            else:
                names = ['prediction', *(k for k in maps if k != 'prediction')]
            panels += [colorize(maps[k][i][:h, :w], lut, self.values_lut) for k in names]
            rows.append(np.concatenate(panels, axis=1))
        return np.ascontiguousarray(np.concatenate(rows, axis=0))

    def _rgb(self, raw: Tensor) -> np.ndarray:
        """The raw (C, H, W) uint8 batch image (after augmentation) as (H, W, 3) RGB."""
        image = raw.detach().cpu().numpy().transpose(1, 2, 0)
        if self.channel_order == 'bgr':
            image = image[..., ::-1]
        return np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))

    @staticmethod
    def _gt(sample, h: int, w: int) -> np.ndarray:
        """The source label cropped to the image (train_step may have padded it in place)."""
        if 'gt_sem_seg' not in sample:
            return np.full((h, w), 255, dtype=np.int64)
        label: np.ndarray = sample.gt_sem_seg.data[0].cpu().numpy()
        return label[:h, :w]

"""Inference on UDA checkpoints: loading a model, and a whole folder to coloured PNGs."""
import copy
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmseg.registry import DATASETS
from PIL import Image
from tqdm import tqdm

from ..utils.atomic_write import atomic_write, up_to_date
from .colorize import colorize, colorize_labels, colormap_lut, palette_lut

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
PREDICTION = 'prediction'


class InferenceSummary(NamedTuple):
    """What :func:`inference_folder` did: images written and skipped, and where."""
    written: int
    skipped: int
    out_dir: Path


def init_uda_model(config: Union[str, Path, Config], checkpoint: Optional[str] = None,
                   device: str = 'cpu', cfg_options: Optional[dict] = None) -> nn.Module:
    """A model in eval mode from an mmuda config and (optionally) a checkpoint.

    ``mmseg.apis.init_model`` builds the model (it builds UDA configs once mmuda is imported,
    which importing this module does). Added here: the checkpoint is loaded strictly for the
    segmentor (:func:`~mmuda.engine.fileio.load_segmentor_weights`: a checkpoint of another
    architecture is an error naming the missing and unexpected keys, where ``init_model`` only
    warns and predicts with a random head), missing files are reported by name, the caller's
    ``Config`` is not modified, and ``dataset_meta`` (classes, palette) comes from the
    checkpoint or, without one, from the config's test dataset.
    """
    from mmseg.apis import init_model

    from ..engine.fileio import load_segmentor_weights
    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise FileNotFoundError(f'config file not found: {config}')
        config = Config.fromfile(str(config))
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
    model = init_model(config, None, device=device, cfg_options=cfg_options)
    meta = {}
    if checkpoint is not None:
        meta = load_segmentor_weights(model, checkpoint).get('meta') or {}
    model.dataset_meta = meta.get('dataset_meta') or config_dataset_meta(model.cfg)
    return model


def config_dataset_meta(cfg: Config) -> dict:
    """``classes`` and ``palette`` of the config's test (else val) dataset class, if known."""
    for name in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(name) or {}).get('dataset') or {}
        cls = DATASETS.get(dataset.get('type', '')) if isinstance(dataset, dict) else None
        if cls is not None:
            meta = dict(getattr(cls, 'METAINFO', {}))
            meta.update(dataset.get('metainfo') or {})
            return {k: meta[k] for k in ('classes', 'palette') if k in meta}
    return {}


def test_pipeline(cfg: Config) -> Compose:
    """The test pipeline that ``mmseg.apis.inference_model`` uses, without annotations."""
    steps = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    return Compose([copy.deepcopy(t) for t in steps if t['type'] != 'LoadAnnotations'])


def find_images(folder: Union[str, Path],
                suffixes: Sequence[str] = IMAGE_SUFFIXES) -> List[Path]:
    """Every image below ``folder`` (recursively, sorted), by case-insensitive suffix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f'input folder not found: {folder}')
    wanted = {s.lower() for s in suffixes}
    images = sorted(p for p in folder.rglob('*') if p.is_file() and p.suffix.lower() in wanted)
    if not images:
        raise ValueError(f'no images ({", ".join(sorted(wanted))}) found in {folder}')
    return images


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image atomically: a reader never sees a half-written PNG."""
    image = Image.fromarray(rgb)
    atomic_write(path, lambda f: image.save(f, format='PNG'))


def to_original_size(m: torch.Tensor, meta: dict) -> torch.Tensor:
    """A map at the network input size back to the image as loaded, as mmseg's
    ``postprocess_result`` does for logits: remove padding, undo a flip, resize."""
    h, w = m.shape[-2:]
    left, right, top, bottom = meta.get('padding_size', (0, 0, 0, 0))
    m = m[top:h - bottom, left:w - right]
    if meta.get('flip'):
        m = m.flip(-1 if meta.get('flip_direction', 'horizontal') == 'horizontal' else -2)
    ori = tuple(meta.get('ori_shape', m.shape)[:2])
    if tuple(m.shape) == ori:
        return m
    if m.dtype.is_floating_point:
        return F.interpolate(m[None, None], size=ori, mode='bilinear', align_corners=False)[0, 0]
    return F.interpolate(m[None, None].float(), size=ori, mode='nearest')[0, 0].long()


def predict_image(model: nn.Module, pipeline: Compose, path: Path,
                  maps: bool) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """(prediction, extra maps) of one image at its original size.

    The prediction is the model's ``predict`` output, i.e. what ``inference_model`` returns;
    the maps are the model's ``visual_maps`` except its own ``prediction``.
    """
    try:
        data = pipeline(dict(img_path=str(path)))
    except Exception as e:  # noqa: BLE001  (decoding errors come in many types)
        raise RuntimeError(f'{path}: the test pipeline failed: {e}') from e
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        processed = model.data_preprocessor(batch, False)
        sample = model(**processed, mode='predict')[0]
        extra = model.visual_maps(processed['inputs']) if maps else {}
    meta = sample.metainfo
    return (sample.pred_sem_seg.data[0].cpu(),
            {k: to_original_size(v[0].cpu(), meta) for k, v in extra.items() if k != PREDICTION})


def _outputs_exist(out_dir: Path, rel: Path, map_names: Optional[List[str]],
                   source: Path) -> bool:
    """Whether every output of an image exists and is newer than the image; unknown map names
    (``None``) mean no."""
    if map_names is None:
        return False
    return all(up_to_date(out_dir / name / rel, source) for name in [PREDICTION, *map_names])


def inference_folder(model: nn.Module, folder: Union[str, Path], out_dir: Union[str, Path],
                     maps: bool = False, skip_existing: bool = False,
                     suffixes: Sequence[str] = IMAGE_SUFFIXES, cmap: str = 'viridis',
                     progress: bool = True) -> InferenceSummary:
    """Coloured predictions (and, with ``maps``, the model's other visual maps) of every image.

    ``folder/a/b/x.jpg`` gives ``out_dir/prediction/a/b/x.png`` (dataset palette) and, with
    ``maps``, ``out_dir/<map>/a/b/x.png`` for each other map of ``model.visual_maps`` (e.g.
    ``disc.main``: the discriminator's belief that a pixel is target, colour map ``cmap``),
    all at the image's original size and written atomically. ``skip_existing`` leaves images
    whose outputs all exist and are newer than the image untouched, so an interrupted run
    resumes where it stopped.
    """
    if getattr(model, 'cfg', None) is None:
        raise ValueError('inference_folder needs a model from init_uda_model (model.cfg is '
                         'missing, so the test pipeline is unknown)')
    if maps and not hasattr(model, 'visual_maps'):
        raise TypeError(f'maps=True needs a model with visual_maps(), got {type(model).__name__}')
    folder, out_dir = Path(folder), Path(out_dir)
    images = find_images(folder, suffixes)
    pipeline = test_pipeline(model.cfg)
    meta = getattr(model, 'dataset_meta', None) or {}
    labels_lut = palette_lut(meta.get('palette'), getattr(model, 'num_classes', 0))
    values_lut = colormap_lut(cmap)
    map_names: Optional[List[str]] = None if maps else []
    written = skipped = 0
    was_training = model.training
    model.eval()
    try:
        for path in tqdm(images, desc='inference', unit='img', disable=not progress):
            rel = path.relative_to(folder).with_suffix('.png')
            if skip_existing and _outputs_exist(out_dir, rel, map_names, path):
                skipped += 1
                continue
            pred, extra = predict_image(model, pipeline, path, maps)
            map_names = list(extra)  # known once one image has gone through the model
            if skip_existing and _outputs_exist(out_dir, rel, map_names, path):
                skipped += 1
                continue
            save_png(out_dir / PREDICTION / rel, colorize_labels(pred, labels_lut))
            for name, m in extra.items():
                save_png(out_dir / name / rel, colorize(m, labels_lut, values_lut))
            written += 1
    finally:
        model.train(was_training)
    return InferenceSummary(written, skipped, out_dir)

"""A translated copy of a dataset's images, written by a trained :class:`CycleGANTranslator`.

Each image is translated at the resolution it is stored at (the dataset's pipeline is replaced
by one that only loads) and written under ``out_dir`` with the same path relative to the
dataset's ``data_prefix.img_path`` and the same file name. A dataset config then reads the
translated images with ``data_prefix.img_path=out_dir``, and everything keyed by the image
name (label suffixes, pseudo labels) still lines up.

Writes are atomic (temporary file, then rename), so an existing output is complete and a second
run skips it when it is newer than its input image: an interrupted translation resumes where it
stopped, and an image changed since is translated again. Under DDP each rank takes a
disjoint shard (``DefaultSampler(shuffle=False, round_up=False)``). ``translation.json`` says
``"status": "writing"`` while images are written and ``"complete"`` (with the count) at the end.
"""
import copy
import json
import os
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, DefaultSampler, pseudo_collate
from mmengine.dist import all_reduce, barrier, get_rank
from mmengine.runner.checkpoint import _load_checkpoint
from mmseg.registry import DATASETS, MODELS
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..models.translators import CycleGANTranslator
from ..models.translators.cyclegan_translator import DIRECTIONS, INPUT_DOMAIN, OUTPUT_DOMAIN
from ..pseudo_labels.io import BackgroundWriter, write_json
from ..utils.atomic_write import atomic_write, up_to_date

SUMMARY_NAME = 'translation.json'
_TMP_SUFFIX = '.tmp'  # atomic_write's temporary files: '.<name>.<random>.tmp'


# ---------------------------------------------------------------------- model
def init_translator(config: Union[str, Path, Config], checkpoint: str, device: str = 'cpu',
                    direction: Optional[str] = None) -> CycleGANTranslator:
    """A :class:`CycleGANTranslator` from a config and a checkpoint, in eval mode.

    Fails with a clear error when the checkpoint file is missing, when the config's model is
    not a translator, and when the checkpoint lacks the weights of the generator used (e.g. a
    segmentor's checkpoint): ``load_state_dict(strict=False)`` would otherwise translate
    with random weights.
    """
    cfg = Config.fromfile(str(config)) if isinstance(config, (str, Path)) else config
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
    model_cfg = copy.deepcopy(cfg.get('model') or {})
    cls = MODELS.get(model_cfg.get('type', '')) if isinstance(model_cfg, dict) else None
    if not (isinstance(cls, type) and issubclass(cls, CycleGANTranslator)):
        raise TypeError(f'the config\'s model is {model_cfg.get("type")!r}, not an image '
                        'translator (CycleGANTranslator): give the translator\'s training config')
    model = MODELS.build(model_cfg)
    if direction is not None:
        model.direction = direction
    load_translator_weights(model, checkpoint)
    return model.to(device).eval()


def load_translator_weights(model: CycleGANTranslator, checkpoint: str) -> None:
    """Load a checkpoint into ``model``; the generator of its direction must be complete."""
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise TypeError(f'checkpoint {checkpoint} holds no state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    prefix = f'generators.{model.direction}.'
    needed = [prefix + k for k in model.generators[model.direction].state_dict()]
    missing = [k for k in needed if k not in state]
    if missing:
        tops = sorted({k.split('.')[0] for k in state})
        raise KeyError(f'checkpoint {checkpoint} has no weights for {len(missing)} of the '
                       f'{len(needed)} tensors of {prefix}* (e.g. {missing[0]}); its keys start '
                       f'with {tops}: it is not a checkpoint of this CycleGANTranslator config')
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise RuntimeError(f'checkpoint {checkpoint} does not fit the config\'s translator '
                           f'(check model.generator / model.discriminator): {e}') from e


def unwrap(model: nn.Module) -> CycleGANTranslator:
    model = getattr(model, 'module', model)
    if not isinstance(model, CycleGANTranslator):
        raise TypeError(f'translate_dataset needs a CycleGANTranslator, got '
                        f'{type(model).__name__}')
    return model


# ---------------------------------------------------------------------- dataset
def _config_node(cfg: Config, key: str):
    node = cfg
    for part in key.split('.'):
        if not hasattr(node, 'get') or node.get(part) is None:
            raise KeyError(f'--split-key {key!r}: the config has no {part!r} there')
        node = node.get(part)
    return node


def resolve_translation_dataset(cfg: Config, direction: str,
                                split_key: Optional[str] = None) -> dict:
    """The config of the dataset to translate.

    ``split_key`` is a dotted path into the config (e.g. ``translate_datasets.target_val``),
    default ``train_dataloader.dataset``. A ``UDADataset`` there stands for the branch the
    direction translates from: its target for ``t2s``, its source for ``s2t``.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 't2s' or 's2t', got {direction!r}")
    key = split_key or 'train_dataloader.dataset'
    dataset = copy.deepcopy(_config_node(cfg, key))
    if isinstance(dataset, dict) and dataset.get('type') == 'UDADataset':
        dataset = dataset[INPUT_DOMAIN[direction]]
    if not isinstance(dataset, dict) or 'type' not in dataset:
        raise TypeError(f'--split-key {key!r} must name a dataset config (a dict with `type`)')
    return dict(dataset)


def loading_pipeline(pipeline: Optional[List[dict]] = None) -> List[dict]:
    """Load and pack, nothing that changes the image: the dataset's own ``LoadImageFromFile``
    (with its backend settings) if it has one."""
    load = next((dict(copy.deepcopy(t)) for t in pipeline or []
                 if t.get('type') == 'LoadImageFromFile'), dict(type='LoadImageFromFile'))
    return [load, dict(type='PackSegInputs')]


def build_dataset(dataset: Union[dict, object]):
    """The dataset with a loading-only pipeline (full resolution, no augmentation)."""
    if isinstance(dataset, dict):
        cfg = copy.deepcopy(dataset)
        cfg['pipeline'] = loading_pipeline(cfg.get('pipeline'))
        try:
            dataset = DATASETS.build(cfg)
        except (ValueError, FileNotFoundError, OSError) as e:
            where = osp.join(cfg.get('data_root', '') or '',
                             (cfg.get('data_prefix') or {}).get('img_path', ''))
            raise type(e)(f'translate_dataset: cannot build the dataset {cfg.get("type")} with '
                          f'images in {where!r}: {e}') from e
    else:  # a built dataset: a shallow copy with the loading-only pipeline
        dataset = copy.copy(dataset)
        transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
        load = next((t for t in transforms if type(t).__name__ == 'LoadImageFromFile'),
                    dict(type='LoadImageFromFile'))
        dataset.pipeline = Compose([load, dict(type='PackSegInputs')])
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    name = type(dataset).__name__
    prefix = (getattr(dataset, 'data_prefix', None) or {}).get('img_path')
    if not prefix or not hasattr(dataset, 'get_data_info'):
        raise TypeError(f'translate_dataset needs an mmseg dataset with data_prefix.img_path '
                        f'(a BaseSegDataset), got {name}')
    if len(dataset) == 0:
        raise ValueError(f'translate_dataset: {name} has no images (img_path {prefix!r})')
    return dataset


class MirroredPaths:
    """Output path of each image: its path relative to the image folder, under ``out_dir``.

    Refuses an ``out_dir`` equal to or inside the image folder: outputs would overwrite the
    inputs, or be listed as inputs by the next run.
    """

    def __init__(self, img_dir: str, out_dir: str) -> None:
        # names are mapped lexically (image files may be symlinks to other storage); the
        # refusal compares resolved folders, so a symlinked --out-dir cannot slip through
        self.img_dir, self.out_dir = osp.abspath(img_dir), osp.abspath(out_dir)
        real_img, real_out = osp.realpath(img_dir), osp.realpath(out_dir)
        if real_out == real_img or real_out.startswith(real_img + os.sep):
            where = 'is' if real_out == real_img else 'is inside'
            raise ValueError(f'--out-dir {out_dir} {where} the dataset\'s image folder '
                             f'{img_dir}: translated images must go to another folder')

    def __call__(self, img_path: str) -> str:
        rel = osp.relpath(osp.abspath(img_path), self.img_dir)
        if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
            raise ValueError(f'image {img_path} is not under the dataset\'s image folder '
                             f'{self.img_dir}')
        return osp.join(self.out_dir, rel)


def image_format(path: str) -> str:
    """PIL's format name for the file's suffix (the output keeps the input's name)."""
    ext = osp.splitext(path)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None:
        raise ValueError(f'cannot write {path}: no image format for the suffix {ext!r}')
    return fmt


def write_image(path: str, rgb: np.ndarray) -> None:
    """Save a uint8 RGB array (H, W, 3) atomically, in the format its suffix names."""
    fmt = image_format(path)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    options = dict(quality=95) if fmt == 'JPEG' else {}
    atomic_write(path, lambda f: image.save(f, format=fmt, **options))


def remove_stale_temporaries(out_dir: str) -> int:
    """Delete temporary files a killed run left behind (never read: hidden, ``.tmp``)."""
    removed = 0
    if not osp.isdir(out_dir):
        return removed
    for path in Path(out_dir).rglob(f'.*{_TMP_SUFFIX}'):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


# ---------------------------------------------------------------------- the run
def _check_previous_summary(path: str, current: dict) -> None:
    """Refuse to resume a folder that another model or direction started."""
    if not osp.isfile(path):
        return
    with open(path) as f:
        previous = json.load(f)
    for key in ('direction', 'checkpoint', 'input_dir'):
        if key in previous and key in current and previous[key] != current[key]:
            raise ValueError(
                f'{path} was written with {key}={previous[key]!r}, this run has '
                f'{current[key]!r}: existing images would be mixed with new ones. Use another '
                '--out-dir, or delete the folder')


def _rank_indices(dataset, paths: MirroredPaths) -> tuple:
    """This rank's shard, split into indices to translate and the number already done."""
    shard = list(DefaultSampler(dataset, shuffle=False, round_up=False))
    pending = []
    for i in shard:
        source = dataset.get_data_info(i)['img_path']
        if not up_to_date(paths(source), source):  # missing, or the image changed since
            pending.append(i)
    return pending, len(shard) - len(pending)


def translate_dataset(model: nn.Module, dataset: Union[dict, object], out_dir: str,
                      direction: Optional[str] = None, num_workers: int = 0,
                      progress: bool = True, extra: Optional[dict] = None) -> dict:
    """Write the translation of every image of ``dataset`` under ``out_dir``; returns the
    summary written to ``out_dir/translation.json``.

    Collective under DDP (every rank calls it with the same arguments).

    Args:
        model: A trained :class:`CycleGANTranslator` (possibly wrapped).
        dataset: Dataset config (e.g. from :func:`resolve_translation_dataset`) or a built
            mmseg dataset; its pipeline is replaced by a loading-only one.
        out_dir: Root of the translated images.
        direction: ``'t2s'`` or ``'s2t'``; default the model's ``direction``.
        num_workers: Dataloader workers.
        progress: Show a progress bar on rank 0.
        extra: More fields for the summary (the tool adds config and checkpoint).
    """
    model = unwrap(model)
    direction = direction or model.direction
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 't2s' or 's2t', got {direction!r}")
    dataset = build_dataset(dataset)
    img_dir = dataset.data_prefix['img_path']
    paths = MirroredPaths(img_dir, out_dir)
    summary = dict(status='writing', direction=direction, input_dir=osp.abspath(img_dir),
                   dataset=type(dataset).__name__, **(extra or {}))
    summary_path = osp.join(out_dir, SUMMARY_NAME)
    _check_previous_summary(summary_path, summary)
    if get_rank() == 0:
        remove_stale_temporaries(out_dir)
        write_json(summary_path, summary)
    barrier()  # every rank has checked the old summary; no rank writes before the clean-up
    pending, skipped = _rank_indices(dataset, paths)
    was_training = model.training
    model.eval()
    try:
        written = _translate(model, dataset, pending, paths, direction, num_workers, progress)
    finally:
        model.train(was_training)
    counts = torch.tensor([written, skipped], dtype=torch.int64)
    all_reduce(counts, op='sum')
    summary.update(status='complete', count=int(counts.sum()), written=int(counts[0]),
                   skipped=int(counts[1]))
    barrier()  # every rank's images are on disk before the summary says complete
    if get_rank() == 0:
        write_json(summary_path, summary)
    barrier()
    return summary


def _translate(model: CycleGANTranslator, dataset, indices: List[int], paths: MirroredPaths,
               direction: str, num_workers: int, progress: bool) -> int:
    """Translate and write the images at ``indices``; returns how many were written."""
    loader = DataLoader(dataset, batch_size=1, sampler=indices, num_workers=num_workers,
                        collate_fn=pseudo_collate)
    device = next(model.parameters()).device
    bar = tqdm(loader, total=len(indices), desc=f'translate {direction}', unit='img',
               disable=not progress or get_rank() != 0)
    written = 0
    with torch.no_grad(), BackgroundWriter() as writer:
        for data in bar:
            image, sample = data['inputs'][0], data['data_samples'][0]
            rgb = translate_image(model, image.to(device), direction)
            img_path = sample.metainfo['img_path']
            writer.submit(write_image, paths(img_path), rgb)
            written += 1
    return written


def translate_image(model: CycleGANTranslator, image: torch.Tensor,
                    direction: Optional[str] = None) -> np.ndarray:
    """One loaded image (C, H, W, uint8 BGR as ``PackSegInputs`` gives it) translated to a
    uint8 RGB array (H, W, 3) of the same size."""
    direction = direction or model.direction
    inputs = model.preprocess([image], INPUT_DOMAIN[direction])
    rgb = model.to_images(model.translate(inputs, direction), OUTPUT_DOMAIN[direction])[0]
    if rgb.shape[:2] != tuple(image.shape[1:]):
        raise RuntimeError(f'the translation has size {rgb.shape[:2]}, the image '
                           f'{tuple(image.shape[1:])}')
    return rgb


def summary_of(out_dir: str) -> Dict[str, object]:
    """The ``translation.json`` of a folder (empty if there is none)."""
    path = osp.join(out_dir, SUMMARY_NAME)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)

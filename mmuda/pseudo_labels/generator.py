"""Run a model over a target set and write pseudo labels, in bounded memory and under DDP.

Memory does not grow with the dataset: each pass streams the images once, per-image maps live
only for one batch, and dataset-wide statistics are histograms. Each rank takes a disjoint
shard (``DefaultSampler(shuffle=False, round_up=False)``: padding with duplicates would bias
the statistics), histograms are summed over ranks at the end of each statistics pass, and
every rank writes the labels of its own images.
"""
import copy
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.dist import all_reduce, barrier, get_rank
from mmseg.registry import DATASETS
from torch.utils.data import DataLoader
from tqdm import tqdm

from .base import BasePseudoLabeler
from .inference import Prediction, check_adversarial_model, predict_batch, unwrap_model
from .io import (
    SUMMARY_NAME,
    BackgroundWriter,
    LabelPathMapper,
    to_json_compatible,
    visualization,
    write_json,
    write_png,
)
from .registry import PSEUDO_LABELERS, build_pseudo_labeler

Tensor = torch.Tensor
_NO_LABEL_TRANSFORMS = ('LoadAnnotations', 'CheckSegLabels')  # the target has no labels


def _walk(cfg: Config, key: str):
    node = cfg
    for part in key.split('.'):
        if not hasattr(node, 'get') or node.get(part) is None:
            raise KeyError(f'--split-key {key!r}: the config has no {part!r} there')
        node = node.get(part)
    return node


def resolve_dataset_cfg(cfg: Config, split_key: Optional[str] = None,
                        pipeline: Optional[List[dict]] = None) -> dict:
    """The config of the dataset to label, with an inference pipeline.

    ``split_key`` is a dotted path into the config; by default ``train_dataloader.dataset``.
    A ``UDADataset`` there stands for its ``target`` branch. The pipeline defaults to the
    config's ``pseudo_label_pipeline``, else its test pipeline
    (``test_dataloader.dataset.pipeline``), without annotation loading: pseudo labels are
    predicted on unaugmented images, as at test time, and the target has no labels.
    """
    key = split_key or 'train_dataloader.dataset'
    dataset = copy.deepcopy(_walk(cfg, key))
    if dataset.get('type') == 'UDADataset':
        dataset = dataset['target']
    if not isinstance(dataset, dict) or 'type' not in dataset:
        raise TypeError(f'--split-key {key!r} must name a dataset config (a dict with `type`)')
    dataset = dict(dataset)
    dataset['pipeline'] = inference_pipeline(cfg, pipeline)
    return dataset


def inference_pipeline(cfg: Config, pipeline: Optional[List[dict]] = None) -> List[dict]:
    """The given pipeline, else the config's ``pseudo_label_pipeline`` (a config whose
    evaluation size differs from the size its model adapted at, e.g. the multi-adversarial
    stages, labels at the latter), else its test pipeline; without annotation loading."""
    if pipeline is None:
        pipeline = cfg.get('pseudo_label_pipeline')
    if pipeline is None:
        try:
            pipeline = _walk(cfg, 'test_dataloader.dataset.pipeline')
        except KeyError:
            raise KeyError('pseudo labels use the test pipeline (test_dataloader.dataset.'
                           'pipeline) and the config has none; pass a pipeline') from None
    steps = [dict(copy.deepcopy(t)) for t in pipeline]
    if any(t.get('type') == 'TestTimeAug' for t in steps):
        raise ValueError('pseudo labels do not support a TestTimeAug pipeline; give a plain '
                         'test pipeline')
    return [t for t in steps if t.get('type') not in _NO_LABEL_TRANSFORMS]


def _build_dataset(cfg: dict):
    """Build a dataset; mmseg's errors for an empty or missing image folder do not say which
    dataset, so the error is re-raised naming it."""
    try:
        return DATASETS.build(cfg)
    except (ValueError, FileNotFoundError, OSError) as e:
        where = os.path.join(cfg.get('data_root', '') or '',
                             (cfg.get('data_prefix') or {}).get('img_path', ''))
        raise type(e)(f'pseudo labels: cannot build the dataset {cfg.get("type")} with images '
                      f'in {where!r}: {e}') from e


def policy_name(labeler: BasePseudoLabeler) -> str:
    """The registry name of a policy (its class name if it is not registered)."""
    for name, cls in PSEUDO_LABELERS.module_dict.items():
        if cls is type(labeler):
            return name
    return type(labeler).__name__


class PseudoLabelGenerator:
    """Writes one uint8 PNG of pseudo labels per image of ``dataset`` under ``out_dir``.

    Label files mirror the images' paths relative to the dataset's ``img_path`` prefix with the
    dataset's ``seg_map_suffix`` (Cityscapes: ``<out>/<city>/<name>_gtFine_labelTrainIds.png``),
    written atomically; ``pseudo_labels.json`` next to them records the policy, thresholds and
    per-class pixel counts. The dataset is built once and reused by every :meth:`run`.

    Args:
        dataset: Dataset config (with an inference pipeline, see :func:`resolve_dataset_cfg`)
            or a built mmseg dataset.
        policy: ``dict(type='argmax' | 'class_median' | 'adversarial_proxy', **options)`` or a
            built policy; ``num_classes`` defaults to the dataset's number of classes.
        out_dir: Root of the label files.
        batch_size: Images per forward pass (images of different sizes need 1).
        num_workers: Dataloader workers.
        vis: Number of visualisations (image | confidence | label) to write, for the first
            ``vis`` images of the dataset.
        vis_dir: Where they go; default ``<out_dir>/vis``.
        progress: Show a progress bar on rank 0.
    """

    def __init__(self, dataset: Union[dict, object], policy: Union[dict, BasePseudoLabeler],
                 out_dir: str, batch_size: int = 1, num_workers: int = 0, vis: int = 0,
                 vis_dir: Optional[str] = None, progress: bool = True) -> None:
        self.dataset = _build_dataset(dataset) if isinstance(dataset, dict) else dataset
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        if len(self.dataset) == 0:
            prefix = getattr(self.dataset, 'data_prefix', {}).get('img_path')
            raise ValueError(f'pseudo labels: {type(self.dataset).__name__} has no images '
                             f'(img_path {prefix!r})')
        self.classes = tuple(self.dataset.metainfo.get('classes', ()))
        self.palette = self.dataset.metainfo.get('palette')
        self.labeler = build_pseudo_labeler(policy, num_classes=len(self.classes))
        self.out_dir = out_dir
        self.paths = LabelPathMapper(self.dataset, out_dir)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.vis = int(vis)
        self.vis_dir = vis_dir or osp.join(out_dir, 'vis')
        self.progress = progress

    # ------------------------------------------------------------------ the passes
    def run(self, model: nn.Module, extra: Optional[dict] = None,
            reuse_statistics: bool = False) -> dict:
        """Regenerate every label file with ``model``; returns the summary written to JSON.

        Collective: every rank must call it. The model is put in eval mode under
        ``torch.no_grad()`` and given back in the mode it was in. ``reuse_statistics`` skips
        the statistics passes and labels with the policy's current thresholds (restored from a
        checkpoint). While labels are being written the JSON says ``"status": "writing"``, so
        an interrupted generation is recognisable on disk.
        """
        model = unwrap_model(model)
        if self.labeler.needs_adversarial_confidence:
            check_adversarial_model(model)
        if reuse_statistics and not self.labeler.ready:
            raise RuntimeError('reuse_statistics=True but the policy has no statistics yet')
        was_training = model.training
        model.eval()
        try:
            if not reuse_statistics:
                self._statistics(model)
            self._write_summary(dict(status='writing', **(extra or {})))
            counts = torch.zeros(len(self.classes) + 2, dtype=torch.int64)
            with BackgroundWriter() as writer:
                self._pass(model, 'labels',
                           lambda index, pred: self._write(index, pred, counts, writer))
        finally:
            model.train(was_training)
        all_reduce(counts, op='sum')
        summary = self.summary(counts, extra)
        self._write_summary(summary)
        return summary

    def _statistics(self, model: nn.Module) -> None:
        self.labeler.reset()
        for i in range(self.labeler.num_stat_passes):
            self._pass(model, f'statistics {i + 1}/{self.labeler.num_stat_passes}',
                       self._collect)
            self.labeler.end_pass()

    @property
    def summary_path(self) -> str:
        return osp.join(self.out_dir, SUMMARY_NAME)

    def _write_summary(self, summary: dict) -> None:
        """Rank 0 writes the JSON; the barrier orders it before/after every rank's labels."""
        if get_rank() == 0:
            write_json(self.summary_path, summary)
        barrier()

    def _loader(self) -> DataLoader:
        sampler = DefaultSampler(self.dataset, shuffle=False, round_up=False)
        return DataLoader(self.dataset, batch_size=self.batch_size, sampler=sampler,
                          num_workers=self.num_workers, collate_fn=pseudo_collate)

    def _pass(self, model: nn.Module, desc: str,
              fn: Callable[[int, Prediction], None]) -> None:
        loader = self._loader()
        indices = list(loader.sampler)  # this rank's dataset indices, in loading order
        bar = tqdm(loader, desc=f'pseudo labels: {desc}', unit='batch', leave=False,
                   disable=not self.progress or get_rank() != 0)
        position = 0
        with torch.no_grad():
            for data in bar:
                for pred in predict_batch(model, data, self.labeler.needs_adversarial_confidence):
                    self._check_classes(model, pred.probs)
                    fn(indices[position], pred)
                    position += 1

    def _check_classes(self, model: nn.Module, probs: Tensor) -> None:
        if probs.shape[1] != len(self.classes):
            raise ValueError(f'{type(model).__name__} predicts {probs.shape[1]} classes, the '
                             f'dataset {type(self.dataset).__name__} has {len(self.classes)}')

    def _collect(self, index: int, pred: Prediction) -> None:
        self.labeler.collect(pred.probs, pred.adv)

    def _write(self, index: int, pred: Prediction, counts: Tensor,
               writer: BackgroundWriter) -> None:
        label = self.labeler.label(pred.probs, pred.adv)[0]
        ignored = label == self.labeler.ignore_index
        kept = torch.bincount(label[~ignored].reshape(-1), minlength=len(self.classes))
        counts[:-2] += kept.cpu()
        counts[-2] += int(ignored.sum())
        counts[-1] += 1
        label_np = label.cpu().numpy().astype(np.uint8)
        img_path = pred.sample.metainfo['img_path']
        writer.submit(write_png, self.paths.label_path(img_path), label_np)
        if index < self.vis:
            adv = None if pred.adv is None else pred.adv[0].cpu().numpy()
            conf = pred.probs[0].max(dim=0)[0].cpu().numpy()
            writer.submit(self._write_vis, img_path, conf, label_np, adv)

    def _write_vis(self, img_path: str, conf: np.ndarray, label: np.ndarray,
                   adv: Optional[np.ndarray]) -> None:
        image = visualization(img_path, conf, label, self.palette, self.labeler.ignore_index,
                              adv)
        write_png(self.paths.vis_path(img_path, self.vis_dir), image)

    # ------------------------------------------------------------------ reporting
    def summary(self, counts: Tensor, extra: Optional[dict] = None) -> dict:
        """Policy, options, thresholds (per class by name, None where NaN) and pixel counts, as
        the JSON file holds them."""
        kept = counts[:-2].tolist()
        out = dict(status='complete', policy=policy_name(self.labeler),
                   options=self.labeler.options(), thresholds=self.named_thresholds(),
                   num_images=int(counts[-1]),
                   kept_pixels=dict(zip(self.classes, kept)), ignored_pixels=int(counts[-2]),
                   total_pixels=int(sum(kept) + counts[-2]),
                   seg_map_suffix=self.paths.seg_map_suffix)
        out.update(extra or {})
        return to_json_compatible(out)

    def named_thresholds(self) -> Dict[str, object]:
        """The policy's thresholds, per-class tensors keyed by class name."""
        out = {}
        for key, value in self.labeler.thresholds().items():
            if isinstance(value, Tensor):
                out[key] = dict(zip(self.classes, value.tolist()))
            else:
                out[key] = value
        return out


def generate_pseudo_labels(model: nn.Module, dataset: Union[dict, object],
                           policy: Union[dict, BasePseudoLabeler], out_dir: str,
                           **kwargs) -> dict:
    """One-shot :class:`PseudoLabelGenerator` run; returns the summary."""
    return PseudoLabelGenerator(dataset, policy, out_dir, **kwargs).run(model)

"""Class Center Distance (FADA eq. 9) of a UDA checkpoint's features on source and target images.

Takes N random images of the config's source domain (``train_dataloader.dataset.source``) and N of
its target domain, extracts the feature the decode head consumes (or another level), resizes the
labels to the feature size (nearest) and writes per-class CCD on the pooled source+target
features, per-domain CCDs and source-target centre distances to ``--out`` as ``ccd.csv``,
``ccd.md`` and ``ccd.png``. See :mod:`mmuda.evaluation.class_center_distance` for the formula.

Target labels: by default the target's ground truth. CCD is an analysis, like evaluation, not a
training signal, and the paper's 2,000 target images exceed Cityscapes val (500), so they come from
the target train split, whose labels exist on disk. Predicted labels (``--target-labels pred``)
are for targets without annotations; they bias CCD low, because the features are then grouped
by the model's own decision boundaries.
"""
import argparse
import copy
import os.path as osp
import sys
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from tqdm import tqdm

from mmuda.apis import init_uda_model
from mmuda.evaluation.class_center_distance import (
    CCDAccumulator,
    downsample_labels,
    report_rows,
    to_markdown,
    write_report,
)

RANDOM_TRANSFORMS = ('PhotoMetricDistortion',)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='UDA config (train_dataloader.dataset is a UDADataset)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--num-images', type=int, default=2000,
                        help='images drawn at random from each domain (FADA: 2000); all of a '
                             'smaller dataset are used')
    parser.add_argument('--out', required=True, help='directory for ccd.csv, ccd.md, ccd.png')
    parser.add_argument('--feature-level', default='decode',
                        help='"decode": the decode head input (default); "aux": the auxiliary '
                             'head input; an integer: that entry of the backbone (neck) outputs')
    parser.add_argument('--target-labels', choices=['gt', 'pred'], default='gt',
                        help='target labels: ground truth (default) or the decode head argmax')
    parser.add_argument('--target-split', choices=['train', 'val'], default='train',
                        help='target images: train_dataloader.dataset.target (default) or the '
                             'labelled val_dataloader.dataset')
    parser.add_argument('--seed', type=int, default=0, help='seed of the image draw')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, xxx=yyy format')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- data
def analysis_pipeline(pipeline: List[dict], with_labels: bool) -> List[dict]:
    """The domain's pipeline without its random transforms, loading labels when needed.

    Random flips, crops and colour jitter would make the features depend on the draw; random
    resizes are dropped too, so a domain that only resizes randomly is analysed at full size.
    """
    out = [copy.deepcopy(t) for t in pipeline
           if not (t['type'].startswith('Random') or t['type'] in RANDOM_TRANSFORMS)]
    types = [t['type'] for t in out]
    if with_labels and 'LoadAnnotations' not in types:
        out.insert(types.index('LoadImageFromFile') + 1, dict(type='LoadAnnotations'))
    return out


def domain_datasets(cfg: Config, target_split: str, target_gt: bool) -> dict:
    """Dataset configs of the two domains, with deterministic label-loading pipelines."""
    uda = cfg.train_dataloader.dataset
    if 'source' not in uda or 'target' not in uda:
        raise KeyError(f'{cfg.filename}: train_dataloader.dataset must be a UDADataset with '
                       f'`source` and `target`, got type {uda.get("type")!r}')
    target = uda.target if target_split == 'train' else cfg.val_dataloader.dataset
    out = {}
    for name, ds, gt in (('source', uda.source, True), ('target', target, target_gt)):
        ds = copy.deepcopy(ds)
        ds.pipeline = analysis_pipeline(ds.pipeline, gt)
        out[name] = ds
    return out


def draw_indices(length: int, num: int, seed: int) -> np.ndarray:
    """``num`` distinct indices (all of them if the dataset is smaller), sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(length, size=min(num, length), replace=False))


# ---------------------------------------------------------------------- model
def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The mmseg segmentor inside a UDA model (or the model itself)."""
    return getattr(model, 'segmentor', model)


def preprocessor(model: torch.nn.Module, domain: str):
    """The domain's branch of a ``UDADataPreprocessor``, or the model's single preprocessor."""
    pre = model.data_preprocessor
    return getattr(pre, 'branches', {}).get(domain, pre)


def extract(segmentor, inputs: torch.Tensor, level: str) -> Tuple[torch.Tensor, tuple]:
    """(features at ``level``, all backbone/neck outputs) of one preprocessed batch."""
    feats = segmentor.extract_feat(inputs)
    if level in ('decode', 'aux'):
        name = 'decode_head' if level == 'decode' else 'auxiliary_head'
        head = getattr(segmentor, name, None)
        if head is None or isinstance(head, torch.nn.ModuleList):
            raise ValueError(f'--feature-level {level}: the segmentor has no single {name}')
        x = head._transform_inputs(feats)
        if isinstance(x, (list, tuple)):
            raise ValueError(f'--feature-level {level}: {name} consumes several levels '
                             "('multiple_select'); pass an integer level instead")
    else:
        try:
            x = feats[int(level)]
        except (ValueError, IndexError):
            raise ValueError(f'--feature-level {level!r}: expected "decode", "aux" or an index '
                             f'into the {len(feats)} backbone outputs') from None
    return x, feats


def sample_labels(data_samples, size: Tuple[int, int], ignore_index: int) -> torch.Tensor:
    """(N, H, W) ground truth, padded with ``ignore_index`` like the preprocessor pads images."""
    out = []
    for s in data_samples:
        gt = s.gt_sem_seg.data[0].long()
        pad = (0, size[1] - gt.shape[1], 0, size[0] - gt.shape[0])
        out.append(F.pad(gt, pad, value=ignore_index))
    return torch.stack(out)


def predicted_labels(segmentor, levels: tuple, data_samples, size: Tuple[int, int],
                     ignore_index: int) -> torch.Tensor:
    """Decode head argmax, with the region the preprocessor padded set to ``ignore_index``."""
    pred = segmentor.decode_head(levels).argmax(1)
    valid = torch.zeros(len(data_samples), *size, dtype=torch.long)
    for v, s in zip(valid, data_samples):
        h, w = s.img_shape[:2]
        v[:h, :w] = 1
    valid = downsample_labels(valid, pred.shape[-2:]).to(pred.device)
    return torch.where(valid.bool(), pred, torch.full_like(pred, ignore_index))


@torch.no_grad()
def accumulate(model, datasets: dict, indices: dict, args: argparse.Namespace, acc) -> None:
    """Feed every drawn image of both domains through the model into the accumulator."""
    segmentor = unwrap(model)
    total = sum(len(i) for i in indices.values())
    with tqdm(total=total, desc='CCD features', file=sys.stdout) as bar:
        for domain, ds in datasets.items():
            pre = preprocessor(model, domain)
            use_pred = domain == 'target' and args.target_labels == 'pred'
            for i in indices[domain]:
                item = ds[int(i)]
                batch = pre(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]),
                            False)
                feats, levels = extract(segmentor, batch['inputs'], args.feature_level)
                samples, size = batch['data_samples'], batch['inputs'].shape[-2:]
                if use_pred:
                    labels = predicted_labels(segmentor, levels, samples, size, acc.ignore_index)
                else:
                    labels = sample_labels(samples, size, acc.ignore_index)
                acc.update(domain, feats, labels)
                bar.update(1)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    configs = domain_datasets(cfg, args.target_split, args.target_labels == 'gt')
    datasets = {d: DATASETS.build(c) for d, c in configs.items()}
    model = init_uda_model(cfg, args.checkpoint, device=args.device)  # strict for the segmentor
    model.eval()
    num_classes = unwrap(model).decode_head.num_classes
    classes = list(datasets['source'].metainfo['classes'])
    if len(classes) != num_classes:
        raise ValueError(f'{args.config}: the source dataset has {len(classes)} classes, the '
                         f'decode head {num_classes}')
    ignore = int(getattr(unwrap(model).decode_head, 'ignore_index', 255))
    indices = {d: draw_indices(len(ds), args.num_images, args.seed)
               for d, ds in datasets.items()}
    acc = CCDAccumulator(num_classes, ('source', 'target'), ignore_index=ignore)
    accumulate(model, datasets, indices, args, acc)
    summary = acc.summary()
    header = [f'# Class Center Distance (FADA eq. 9): {args.config}', '',
              f'- checkpoint: `{args.checkpoint}`',
              f'- images: {len(indices["source"])} source, {len(indices["target"])} target '
              f'({args.target_split} split, {args.target_labels} labels), seed {args.seed}',
              f'- feature level: {args.feature_level}',
              '- `ccd`: source and target features pooled (the paper); `ccd_<domain>`: one domain;'
              ' `centre_distance`: |mu_source - mu_target|']
    title = f'Class Center Distance: {osp.splitext(osp.basename(args.config))[0]}'
    paths = write_report(args.out, summary, classes, header, title=title)
    print(to_markdown(report_rows(summary, classes)))
    print('written: ' + ', '.join(str(p) for p in paths.values()))


if __name__ == '__main__':
    main()

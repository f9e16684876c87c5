"""The main job of `make demo`: does adaptation beat source-only on the embedded toy domains?

1. writes the toy domains (skipped when already there),
2. trains source-only and AdaptSegNet (multi-level) through tools/train.py into
   ``<work-dir>/seed<S>/<run>`` (skipped when that seed's final checkpoint exists, so an
   interrupted demo resumes where it stopped, and another ``--seed`` trains its own runs),
3. evaluates both checkpoints on target val (``mmuda.apis.init_uda_model``: strict loading),
4. prints per-class IoU and mIoU side by side and saves ``<work-dir>/seed<S>/results.json``
   and a PNG grid (image, ground truth, source-only, adapted), both written atomically.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from mmengine.config import Config
from PIL import Image
from prettytable import PrettyTable
from tqdm import tqdm

from mmuda.utils.atomic_write import atomic_write, atomic_write_text

REPO = Path(__file__).resolve().parents[1]
RUNS = {
    'source-only': 'configs/source_only/source-only_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py',
    'AdaptSegNet': 'configs/adaptsegnet/adaptsegnet_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py',
}


def seed_work_dir(work_dir: str, seed: int) -> Path:
    """Where the runs and results of one seed go: checkpoints of another seed are never
    reused, and each seed's results.json says the seed it was trained with."""
    return Path(work_dir) / f'seed{seed}'


def train(config: str, work_dir: Path, seed: int, data_root: str, iters: int | None) -> Path:
    """Train one config with tools/train.py unless its final checkpoint already exists."""
    cfg = Config.fromfile(REPO / config)
    max_iters = iters or cfg.train_cfg.max_iters
    ckpt = work_dir / f'iter_{max_iters}.pth'
    if ckpt.exists():
        print(f'[demo] {ckpt} exists, skipping training')
        return ckpt
    options = [f'randomness.seed={seed}', 'randomness.deterministic=False',
               f'train_dataloader.dataset.source.data_root={data_root}/source',
               f'train_dataloader.dataset.target.data_root={data_root}/target',
               f'val_dataloader.dataset.data_root={data_root}/target',
               'default_hooks.visualization.draw=False']
    if iters:
        options += [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
                    f'default_hooks.checkpoint.interval={iters}']
        for name in ('segmentor', 'discriminators'):
            options.append(f'param_scheduler.{name}.0.end={iters}')
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(REPO / config),
           '--work-dir', str(work_dir), '--cfg-options', *options]
    print('[demo] ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    return ckpt


def load_label(image: Path) -> np.ndarray:
    """The trainId label of a toy image (Cityscapes naming)."""
    return np.asarray(Image.open(str(image).replace('leftImg8bit', 'gtFine', 1).replace(
        '_leftImg8bit.png', '_gtFine_labelTrainIds.png')))


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    valid = gt < num_classes
    return np.bincount(num_classes * gt[valid].astype(int) + pred[valid],
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def evaluate(config: str, ckpt: Path, data_root: str) -> tuple[np.ndarray, list, list, tuple]:
    """Per-class IoU (%) on target val, the predictions, the image paths and class names."""
    from mmseg.apis import inference_model

    from mmuda.apis import init_uda_model
    model = init_uda_model(str(REPO / config), str(ckpt), device='cpu')
    classes = model.dataset_meta['classes']
    n = len(classes)
    hist = np.zeros((n, n), dtype=np.int64)
    images = sorted((Path(data_root) / 'target/leftImg8bit/val').rglob('*_leftImg8bit.png'))
    preds = []
    for img in tqdm(images, desc=f'eval {ckpt.parent.name}'):
        gt = load_label(img)
        pred = inference_model(model, str(img)).pred_sem_seg.data[0].numpy()
        hist += confusion(pred, gt, n)
        preds.append(pred)
    iou = np.diag(hist) / np.maximum(hist.sum(0) + hist.sum(1) - np.diag(hist), 1)
    return iou * 100, preds, images, classes


def save_grid(path: Path, images: list, gts: list, preds: dict, palette: np.ndarray) -> None:
    rows = []
    for i, img in enumerate(images):
        tiles = [np.asarray(Image.open(img).convert('RGB')), palette[gts[i]]]
        tiles += [palette[p[i]] for p in preds.values()]
        rows.append(np.concatenate(tiles, axis=1))
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    atomic_write(path, lambda f: grid.save(f, format='PNG'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/toy_domains')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the configs\' schedule)')
    args = parser.parse_args()

    from mmuda.datasets.toy_domains import PALETTE, generate_toy_domains
    generate_toy_domains(args.data_root)
    work_dir = seed_work_dir(args.work_dir, args.seed)
    results, preds = {}, {}
    for name, config in RUNS.items():
        ckpt = train(config, work_dir / name, args.seed, args.data_root, args.iters)
        iou, preds[name], images, classes = evaluate(config, ckpt, args.data_root)
        results[name] = dict(zip(classes, iou.round(2).tolist()), mIoU=round(iou.mean(), 2))

    table = PrettyTable(['class', *RUNS])
    for cls in [*classes, 'mIoU']:
        table.add_row([cls, *(f'{results[n][cls]:.2f}' for n in RUNS)])
    print(table)
    gain = results['AdaptSegNet']['mIoU'] - results['source-only']['mIoU']
    verdict = 'beats' if gain > 0 else 'does NOT beat'
    print(f'AdaptSegNet {verdict} source-only on toy target val by {gain:+.2f} mIoU '
          f'(seed {args.seed})')
    atomic_write_text(json.dumps(dict(seed=args.seed, **results), indent=2),
                      work_dir / 'results.json')
    gts = [load_label(p) for p in images[:6]]
    palette = np.zeros((256, 3), np.uint8)
    palette[:len(PALETTE)] = PALETTE
    grid = work_dir / 'demo_grid.png'
    save_grid(grid, images[:6], gts, {k: v[:6] for k, v in preds.items()}, palette)
    print(f'[demo] grid (image | ground truth | source-only | AdaptSegNet): {grid}')


if __name__ == '__main__':
    main()

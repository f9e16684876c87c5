"""Write a translated copy of a dataset's images with a trained CycleGANTranslator (LDR).

    python tools/translate_dataset.py CONFIG CHECKPOINT --out-dir DIR [--split-key KEY] \
        [--direction t2s|s2t] [--num-workers N] [--device cpu|cuda] [--cfg-options k=v ...]
    # several GPUs (or CPU processes, gloo):
    python -m torch.distributed.run --nproc_per_node 2 tools/translate_dataset.py ... \
        --launcher pytorch

Default dataset: the target of the training UDADataset for t2s, its source for s2t; the
translator configs name their target val set ``translate_datasets.target_val`` for
``--split-key``. Each image is translated at its stored resolution and written under DIR with
the same relative path and file name as under the dataset's ``data_prefix.img_path``, so a
dataset config reads the translated images with ``data_prefix.img_path=DIR``. A second run
skips images already written (writes are atomic); ``DIR/translation.json`` is written last.
"""
import argparse
import os

import torch
from mmengine.config import DictAction
from mmengine.dist import get_rank
from mmengine.registry import init_default_scope

from mmuda.apis import init_translator, resolve_translation_dataset, translate_dataset
from mmuda.utils import destroy_distributed, init_tool_distributed, load_cli_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Translate a dataset with a CycleGAN '
                                     'translator (mmuda, LDR)')
    parser.add_argument('config', help='the translator\'s training config')
    parser.add_argument('checkpoint', help='checkpoint file of the translator')
    parser.add_argument('--out-dir', required=True, help='root directory of the translated '
                        'images (mirrors the dataset\'s image folder)')
    parser.add_argument('--split-key', help='dotted config key of the dataset to translate '
                        '(default: the branch of the training UDADataset the direction reads: '
                        'target for t2s, source for s2t), e.g. translate_datasets.target_val')
    parser.add_argument('--direction', choices=['t2s', 's2t'],
                        help='translation direction (default: model.direction of the config)')
    parser.add_argument('--num-workers', type=int, default=2, help='dataloader workers')
    parser.add_argument('--device', default=None, help='default: cuda if available, else cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    args = parse_args()
    cfg = load_cli_config(args.config, args.launcher, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    init_tool_distributed(args.launcher, cfg.get('env_cfg', {}).get('dist_cfg', {}))
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda':
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    try:
        model = init_translator(cfg, args.checkpoint, device, args.direction)
        dataset = resolve_translation_dataset(cfg, model.direction, args.split_key)
    except (FileNotFoundError, TypeError, KeyError, ValueError) as e:
        raise SystemExit(f'translate_dataset: {e.args[0] if e.args else e}') from e
    extra = dict(config=os.path.abspath(args.config),
                 checkpoint=os.path.abspath(args.checkpoint))
    try:
        summary = translate_dataset(model, dataset, args.out_dir, num_workers=args.num_workers,
                                    extra=extra)
    except ValueError as e:  # out-dir inside the image folder, a folder of another run
        raise SystemExit(f'translate_dataset: {e}') from e
    if get_rank() == 0:
        print(f'{summary["count"]} images translated ({summary["direction"]}) in '
              f'{args.out_dir}: {summary["written"]} written, {summary["skipped"]} already '
              'there')
    destroy_distributed()


if __name__ == '__main__':
    main()

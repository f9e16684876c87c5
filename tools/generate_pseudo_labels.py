"""Write pseudo labels of a target set with a trained checkpoint (one uint8 PNG per image).

    python tools/generate_pseudo_labels.py CONFIG CHECKPOINT --out-dir DIR \
        --policy {argmax,class_median,adversarial_proxy} [--p1 0.6 --p2 0.8 | --cap 0.9 |
        --threshold T] [--split-key KEY] [--vis N] [--cfg-options k=v ...]
    # several GPUs (or CPU processes, gloo):
    python -m torch.distributed.run --nproc_per_node 2 tools/generate_pseudo_labels.py ... \
        --launcher pytorch

Labels mirror the images' paths under --out-dir with the dataset's seg_map_suffix, so a
training config reads them with ``data_prefix.seg_map_path=DIR`` (see docs/pseudo_labels.md).
"""
import argparse
import os

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import get_rank
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmuda.engine.fileio import (
    CheckpointLoadError,
    SegmentorWeightsError,
    load_segmentor_weights,
)
from mmuda.pseudo_labels import PseudoLabelGenerator, resolve_dataset_cfg
from mmuda.utils import destroy_distributed, init_tool_distributed, load_cli_config

# option -> the policies it applies to
POLICY_OPTIONS = dict(p1=('adversarial_proxy',), p2=('adversarial_proxy',),
                      cap=('class_median',), threshold=('argmax',),
                      bins=('class_median', 'adversarial_proxy'))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate pseudo labels (mmuda)')
    parser.add_argument('config', help='config file of the model and datasets')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True, help='root directory of the label PNGs')
    parser.add_argument('--policy', required=True, choices=['argmax', 'class_median',
                                                            'adversarial_proxy'])
    parser.add_argument('--p1', type=float, help='adversarial_proxy: proportion of pixels kept '
                        'by the adversarial confidence (default 0.6)')
    parser.add_argument('--p2', type=float, help='adversarial_proxy: proportion kept per '
                        'class among those (default 0.8)')
    parser.add_argument('--cap', type=float, help='class_median: upper bound of the class '
                        'thresholds (default 0.9)')
    parser.add_argument('--threshold', type=float, help='argmax: ignore pixels whose maximum '
                        'probability is below this (default: keep all)')
    parser.add_argument('--bins', type=int, help='histogram bins (default 4096)')
    parser.add_argument('--split-key', help='dotted config key of the dataset to label '
                        '(default: the target of the training UDADataset, or the training '
                        'dataset itself)')
    parser.add_argument('--vis', type=int, default=0, help='write N visualisations to '
                        'OUT_DIR/vis')
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


def policy_cfg(args: argparse.Namespace) -> dict:
    """The policy dict from the command line; an option of another policy is an error."""
    cfg = dict(type=args.policy)
    for option, policies in POLICY_OPTIONS.items():
        value = getattr(args, option)
        if value is None:
            continue
        if args.policy not in policies:
            raise SystemExit(f'--{option} applies to --policy {" or ".join(policies)}, not '
                             f'{args.policy}')
        cfg[option] = value
    return cfg


def build_model(cfg: Config, checkpoint: str, device: str) -> torch.nn.Module:
    """The config's model with the checkpoint's weights, loaded strictly for the segmentor: a
    checkpoint of another architecture is an error, not labels from a random head."""
    if not os.path.isfile(checkpoint):
        raise SystemExit(f'checkpoint {checkpoint} does not exist')
    model = MODELS.build(cfg.model)
    try:
        load_segmentor_weights(model, checkpoint)
    except (CheckpointLoadError, SegmentorWeightsError) as err:
        raise SystemExit(f'generate_pseudo_labels.py: error: {err}') from None
    return model.to(device).eval()


def main() -> None:
    args = parse_args()
    cfg = load_cli_config(args.config, args.launcher, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    policy = policy_cfg(args)
    init_tool_distributed(args.launcher, cfg.get('env_cfg', {}).get('dist_cfg', {}))
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda':
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    model = build_model(cfg, args.checkpoint, device)  # before anything is written
    dataset = resolve_dataset_cfg(cfg, args.split_key)
    generator = PseudoLabelGenerator(dataset, policy, args.out_dir, vis=args.vis,
                                     num_workers=args.num_workers)
    summary = generator.run(model, dict(checkpoint=os.path.abspath(args.checkpoint)))
    if get_rank() == 0:
        kept = sum(summary['kept_pixels'].values()) / max(1, summary['total_pixels'])
        print(f'{summary["num_images"]} pseudo-label maps in {args.out_dir} '
              f'({kept:.1%} of pixels labelled); summary: {generator.summary_path}')
    destroy_distributed()


if __name__ == '__main__':
    main()

"""Train a segmentor (UDA or plain mmseg) from a config: the mmseg ``tools/train.py`` interface."""
import argparse
import logging
import os

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmuda.datasets.file_checks import require_images
from mmuda.utils import (
    destroy_distributed,
    init_cpu_distributed,
    load_cli_config,
    require_pretrained_init,
    resolve_cli_resume,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor (mmuda)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir (a later '
                        'stage with none yet starts from its load_from)')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training for every optimizer')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config) -> None:
    """Switch every optimizer wrapper (one per UDA child, or the single mmseg one) to AMP."""
    optim_wrapper = cfg.optim_wrapper
    if optim_wrapper.get('constructor') == 'UDAOptimWrapperConstructor':
        wrappers = [v for k, v in optim_wrapper.items() if k != 'constructor']
    else:
        wrappers = [optim_wrapper]
    for wrapper in wrappers:
        if wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.', 'current',
                      logging.WARNING)
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')


def main() -> None:
    args = parse_args()
    cfg = load_cli_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    if args.amp:
        enable_amp(cfg)
    resolve_cli_resume(cfg, args.resume, args.cfg_options)
    require_pretrained_init(cfg)  # before the Runner writes anything to the work dir
    require_images(cfg, ('train_dataloader', 'val_dataloader'))
    init_cpu_distributed(args.launcher)  # mmengine's launcher needs CUDA
    runner = Runner.from_cfg(cfg)
    runner.train()
    destroy_distributed()


if __name__ == '__main__':
    main()

"""Coloured predictions of a UDA checkpoint for every image in a folder (sub-folders mirrored).

    python tools/analysis_tools/visualize.py CONFIG CHECKPOINT data/target/leftImg8bit/val \\
        --out-dir work_dirs/vis --maps

writes ``<out-dir>/prediction/<relative path>.png`` in the dataset palette and, with ``--maps``,
``<out-dir>/<map>/<relative path>.png`` for every other map of the model's ``visual_maps``
(AdaptSegNet: ``disc.main``, ``disc.aux``, the discriminator's belief that a pixel comes from
the target domain). See :func:`mmuda.apis.inference_folder`.
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import DictAction

from mmuda.apis import IMAGE_SUFFIXES, inference_folder, init_uda_model


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmuda config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('input_dir', help='folder of images (searched recursively)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--maps', action='store_true',
                        help="also write the model's visual maps (e.g. discriminator belief)")
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--skip-existing', action='store_true',
                        help='leave images whose outputs all exist untouched (resume)')
    parser.add_argument('--suffixes', nargs='+', default=list(IMAGE_SUFFIXES),
                        help='image file suffixes (default: %(default)s)')
    parser.add_argument('--cmap', default='viridis', help='matplotlib colour map of value maps')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, xxx=yyy format')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        model = init_uda_model(args.config, args.checkpoint, device=args.device,
                               cfg_options=args.cfg_options)
        summary = inference_folder(model, args.input_dir, args.out_dir, maps=args.maps,
                                   skip_existing=args.skip_existing, suffixes=args.suffixes,
                                   cmap=args.cmap)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(f'{summary.written} images written, {summary.skipped} skipped (outputs existed) '
          f'-> {summary.out_dir}')


if __name__ == '__main__':
    main()

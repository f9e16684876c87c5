"""Images per second of mmuda's test loop against plain mmseg on the same model and data.

``tools/test.py`` runs mmengine's ``Runner.test()`` on the UDA model, which delegates inference
to its wrapped segmentor. This tool builds two runners in one process from the same config:

* **mmuda**: the config's UDA model (e.g. ``AdaptSegNet``), as ``tools/test.py`` builds it;
* **mmseg**: the wrapped segmentor alone (``cfg.model.segmentor``, e.g. ``EncoderDecoder``),
  given the UDA model's segmentor weights;

and times whole ``Runner.test()`` calls (data loading, preprocessing, inference, ``IoUMetric``,
hooks) in alternation, swapping the order every round so that machine load and cache
warmth hit both alike. The ratio ``mmuda / mmseg`` images/s (median over rounds of the ratio
within a round) should be ~1.0; the metrics of both must be identical (same weights, same
data), which the tool checks.

    python tools/analysis_tools/benchmark_test.py CONFIG [--images 40] [--rounds 3]
        [--checkpoint CKPT] [--cfg-options k=v ...]
"""
import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmuda.engine.fileio import load_segmentor_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_doc import command_line, load_note, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NAMES = ('mmuda', 'mmseg')


def runner_cfgs(cfg: Config, work_dir: str, images: Optional[int],
                workers: Optional[int]) -> Dict[str, Config]:
    """Test configs of the UDA model and of its bare segmentor, identical otherwise.

    Each runner gets its own work dir, experiment name and visualizer name: mmengine keys its
    logger, message hub and visualizer instances by name, and two runners built within one
    second would otherwise share them.
    """
    cfg = copy.deepcopy(cfg)
    loader = cfg.test_dataloader
    if images is not None:
        loader.dataset['indices'] = images
    if workers is not None:
        loader.update(num_workers=workers, persistent_workers=workers > 0)
    cfg.load_from = None
    cfg.default_hooks.visualization['draw'] = False
    cfg.log_level = 'WARNING'  # the per-class IoU tables of every round, not the timing
    plain = copy.deepcopy(cfg)
    plain.model = copy.deepcopy(cfg.model.segmentor)
    out = {}
    for name, c in zip(NAMES, (cfg, plain)):
        c.work_dir = os.path.join(work_dir, name)
        c.experiment_name = f'benchmark_test_{name}'
        c.visualizer['name'] = f'benchmark_test_{name}'
        out[name] = c
    return out


def build_runners(cfg: Config, work_dir: str, images: Optional[int], workers: Optional[int],
                  checkpoint: Optional[str]) -> Dict[str, Runner]:
    """Both runners, the plain segmentor holding the UDA model's segmentor weights."""
    cfgs = runner_cfgs(cfg, work_dir, images, workers)
    runners = {name: Runner.from_cfg(c) for name, c in cfgs.items()}
    uda = runners['mmuda'].model
    if checkpoint:
        load_segmentor_weights(uda, checkpoint)  # strict for the segmentor
    plain = runners['mmseg'].model
    plain.load_state_dict(uda.segmentor.state_dict())
    return runners


def timed_rounds(runners: Dict[str, Runner], rounds: int, warmup: int) -> Dict[str, dict]:
    """Seconds of each timed ``Runner.test()`` and the last metrics, per runner.

    The order alternates (mmuda first in even rounds, mmseg first in odd ones); the first
    ``warmup`` rounds (dataloader workers starting, first-call allocations) are not timed.
    """
    result = {name: dict(seconds=[], metrics=None) for name in runners}
    for r in range(warmup + rounds):
        order = NAMES if r % 2 == 0 else NAMES[::-1]
        for name in order:
            start = time.perf_counter()
            metrics = runners[name].test()
            elapsed = time.perf_counter() - start
            if r >= warmup:
                result[name]['seconds'].append(elapsed)
            result[name]['metrics'] = metrics
    return result


def summarise(config: str, result: Dict[str, dict], images: int) -> dict:
    """Median images/s of both loops, their ratio, and whether their metrics are identical.

    The ratio is the median of the per-round ratios: the two runs of one round are adjacent
    in time and see about the same machine load, so pairing them cancels most of the load
    drift of a shared machine.
    """
    seconds = {name: r['seconds'] for name, r in result.items()}
    rate = {name: images / statistics.median(s) for name, s in seconds.items()}
    paired = [b / a for a, b in zip(seconds['mmuda'], seconds['mmseg'])]
    same = result['mmuda']['metrics'] == result['mmseg']['metrics']
    return dict(config=os.path.relpath(os.path.abspath(config), REPO), images=images,
                rounds=len(paired), mmuda_img_s=rate['mmuda'], mmseg_img_s=rate['mmseg'],
                ratio=statistics.median(paired), ratio_min=min(paired), ratio_max=max(paired),
                seconds=seconds, same_metrics=same, metrics=result['mmuda']['metrics'])


def markdown(rows: List[dict]) -> str:
    lines = ['| config | images | timed rounds | mmuda img/s | mmseg img/s | '
             'ratio (median of rounds) | range | same metrics |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| `{r['config']}` | {r['images']} | {r['rounds']} | "
                     f"{r['mmuda_img_s']:.2f} | {r['mmseg_img_s']:.2f} | "
                     f"**{r['ratio']:.2f}x** | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} | "
                     f"{'yes' if r['same_metrics'] else 'NO'} |")
    return '\n'.join(lines) + '\n'


def benchmark(config: Union[str, Config], images: Optional[int] = None, rounds: int = 3,
              warmup: int = 1, workers: Optional[int] = None, checkpoint: Optional[str] = None,
              cfg_options: Optional[dict] = None, work_dir: Optional[str] = None) -> dict:
    """Build both runners from ``config`` (a path or a loaded ``Config``), time them, and
    return :func:`summarise`'s row."""
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    config = config if isinstance(config, str) else (cfg.filename or 'config')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with tempfile.TemporaryDirectory() as tmp:
        runners = build_runners(cfg, work_dir or tmp, images, workers, checkpoint)
        count = len(runners['mmuda'].test_dataloader.dataset)
        result = timed_rounds(runners, rounds, warmup)
    return summarise(config, result, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--images', type=int, default=None,
                        help='test on the first N images (default: the whole test set)')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds (median)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds first')
    parser.add_argument('--workers', type=int, default=None,
                        help='dataloader workers (default: the config\'s)')
    parser.add_argument('--checkpoint', help='UDA checkpoint (default: untrained weights; '
                        'speed does not depend on them)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (1 is steadier on a shared machine)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--out', help='markdown page to write the table into')
    parser.add_argument('--section', default='eval', help='marked block of --out to replace')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = os.getloadavg()
    row = benchmark(args.config, args.images, args.rounds, args.warmup, args.workers,
                    args.checkpoint, args.cfg_options)
    per_round = [f'{name} seconds per round: ' +
                 ' '.join(f'{t:.2f}' for t in row['seconds'][name]) for name in NAMES]
    text = '\n'.join([f'`{command_line()}` ({torch.get_num_threads()} torch thread(s))', '',
                      markdown([row]).rstrip(), '', load_note(start, os.getloadavg()), '',
                      *[f'* {line}' for line in per_round]])
    print(text)
    if args.out:
        write_section(args.out, args.section, text)
        print(f'written to block "{args.section}" of {args.out}')
    if not row['same_metrics']:
        raise SystemExit('the two loops gave different metrics: they did not run the same '
                         'model on the same data')


if __name__ == '__main__':
    main()

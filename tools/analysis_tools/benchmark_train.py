"""Seconds per training iteration and peak memory of a UDA config, as a ratio to source-only.

The method's ``train_step`` and a source-only ``train_step`` of the same segmentor run in one
process on the same synthetic batch (the config's source and target sizes, random images and
labels, no data loading), so the ratio holds across machines. Peak memory is the maximum
allocated CUDA memory on GPU, and the peak resident set size sampled during the timed
iterations on CPU (the source-only model is measured first, so its peak cannot include the
method's).

    python tools/analysis_tools/benchmark_train.py CONFIG [CONFIG ...] [--iters 10] [--warmup 3]
        [--scale 0.25] [--batch 1]
        [--amp] [--channels-last] [--threads 1] [--profile] [--out PAGE --section NAME]
    python tools/analysis_tools/benchmark_train.py --all   # one toy config per method
                                                          # -> docs/benchmark.md, block "toy"

``--amp`` (GPU only: mmengine's AmpOptimWrapper needs CUDA) and ``--channels-last`` switch both
steps, so the ratio compares like with like.
"""
import argparse
import copy
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_doc import command_line, load_note, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
Size = Tuple[int, int]


def branch_size(pipeline: list, fallback: Optional[Size]) -> Size:
    """(H, W) a branch's pipeline produces: its crop, else a fixed resize."""
    for t in pipeline:
        if t['type'] == 'RandomCrop':
            return tuple(t['crop_size'])
    for t in pipeline:
        if t['type'] == 'Resize' and not t.get('keep_ratio', True):
            w, h = t['scale']
            return h, w
    if fallback is None:
        raise KeyError('cannot tell the training size from the pipeline (no RandomCrop or '
                       'fixed Resize); set `crop_size` in the config')
    return tuple(fallback)


def synthetic_batch(cfg: Config, batch: int, scale: float) -> dict:
    """Random images and labels of the training sizes; target samples get labels too when the
    config's UDADataset carries target pseudo labels (``target_labels='pseudo'``)."""
    from mmseg.structures import SegDataSample
    sets = cfg.train_dataloader.dataset
    num_classes = cfg.model.segmentor.decode_head.num_classes
    labelled = ('source', 'target') if sets.get('target_labels') == 'pseudo' else ('source',)
    out = dict(inputs={}, data_samples={})
    for branch in ('source', 'target'):
        h, w = branch_size(sets[branch].pipeline, cfg.get('crop_size'))
        h, w = max(32, int(h * scale)), max(32, int(w * scale))
        out['inputs'][branch] = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
                                 for _ in range(batch)]
        samples = []
        for _ in range(batch):
            s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
            if branch in labelled:
                s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w)))
            samples.append(s)
        out['data_samples'][branch] = samples
    return out


class PeakMemory:
    """Peak CUDA allocation, or peak RSS sampled every 5 ms from /proc on CPU."""

    def __init__(self, device: str) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> 'PeakMemory':
        if self.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak = self.rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device == 'cuda':
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()


def build(model_cfg: dict, optim_cfg: dict, device: str):
    from mmseg.registry import MODELS
    model = MODELS.build(copy.deepcopy(model_cfg)).to(device)
    model.init_weights()
    model.train()
    return model, build_optim_wrapper(model, copy.deepcopy(optim_cfg))


def peak_memory(model_cfg: dict, optim_cfg: dict, batch: dict, steps: int, device: str) -> int:
    """Peak memory of a few training steps of one model (built and freed alone)."""
    with PeakMemory(device) as mem:
        model, wrapper = build(model_cfg, optim_cfg, device)
        for _ in range(steps):
            model.train_step(copy.deepcopy(batch), wrapper)
    del model, wrapper
    return mem.peak


def interleaved_times(models: list, batch: dict, iters: int, warmup: int,
                      device: str) -> list:
    """Seconds per step of each (model, wrapper), timed in alternation.

    Alternating the models step by step makes the ratio robust to load that changes during
    the run (a shared machine): both see the same conditions on average.
    """
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    for model, wrapper in models:
        for _ in range(warmup):
            model.train_step(copy.deepcopy(batch), wrapper)
    totals = [0.0] * len(models)
    for _ in tqdm(range(iters), desc='timing', leave=False):
        for i, (model, wrapper) in enumerate(models):
            data = copy.deepcopy(batch)
            sync()
            start = time.perf_counter()
            model.train_step(data, wrapper)
            sync()
            totals[i] += time.perf_counter() - start
    return [t / iters for t in totals]


def profile_table(model_cfg: dict, optim_cfg: dict, batch: dict, iters: int, device: str,
                  rows: int = 15, by_shape: bool = False) -> str:
    """torch.profiler's operators of ``iters`` steps, by self time: where a step's time goes.

    ``by_shape`` splits each operator by its input shapes, which tells the layers apart (a
    discriminator's convolutions from the backbone's)."""
    from torch.profiler import ProfilerActivity, profile
    model, wrapper = build(model_cfg, optim_cfg, device)
    model.train_step(copy.deepcopy(batch), wrapper)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    with profile(activities=activities, record_shapes=by_shape) as prof:
        for _ in range(iters):
            model.train_step(copy.deepcopy(batch), wrapper)
    key = 'self_cuda_time_total' if device == 'cuda' else 'self_cpu_time_total'
    return prof.key_averages(group_by_input_shape=by_shape).table(
        sort_by=key, row_limit=rows, max_name_column_width=40, max_shapes_column_width=70)


def apply_switches(cfg: Config, amp: bool, channels_last: bool, device: str) -> List[str]:
    """Turn on AMP (every optimizer) and channels_last in ``cfg``; the names of what is on."""
    on = []
    if amp:
        if device != 'cuda':
            raise SystemExit('--amp needs a GPU: mmengine\'s AmpOptimWrapper refuses to run '
                             'without CUDA')
        for name, entry in cfg.optim_wrapper.items():
            if name != 'constructor':
                entry.update(type='AmpOptimWrapper', loss_scale='dynamic')
        on.append('AMP')
    if channels_last:
        cfg.model.channels_last = True
        on.append('channels_last')
    return on


def source_only_of(cfg: Config) -> Tuple[dict, dict]:
    """The source-only model of the same segmentor and the segmentor's optimizer entry only
    (a method's other children, e.g. discriminators or a translator, have no counterpart)."""
    model = dict(type='UDASegmentor', segmentor=cfg.model.segmentor,
                 channels_last=cfg.model.get('channels_last', False))
    optim = dict(constructor=cfg.optim_wrapper.constructor, segmentor=cfg.optim_wrapper.segmentor)
    return model, optim


def benchmark(config: str, iters: int, warmup: int, scale: float, batch: Optional[int],
              cfg_options: Optional[dict] = None, profile: bool = False, amp: bool = False,
              channels_last: bool = False) -> dict:
    """One table row: the method's and the source-only step's s/iter (timed in alternation),
    their ratio, and the peak memory of each (measured alone, source-only first)."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    switches = apply_switches(cfg, amp, channels_last, device)
    data = synthetic_batch(cfg, batch or cfg.train_dataloader.batch_size, scale)
    source_only, src_optim = source_only_of(cfg)
    so_mem = peak_memory(source_only, src_optim, data, 2, device)
    m_mem = peak_memory(cfg.model, cfg.optim_wrapper, data, 2, device)
    so_time, m_time = interleaved_times(
        [build(source_only, src_optim, device), build(cfg.model, cfg.optim_wrapper, device)],
        data, iters, warmup, device)
    if profile:
        for name, (m, o) in (('source-only', (source_only, src_optim)),
                             (cfg.model.type, (cfg.model, cfg.optim_wrapper))):
            for by_shape in (False, True):
                what = 'operators and input shapes' if by_shape else 'operators'
                print(f'\nprofile of {name} ({min(iters, 5)} steps), by {what}:')
                print(profile_table(m, o, data, min(iters, 5), device, by_shape=by_shape))
    h, w = data['inputs']['source'][0].shape[1:]
    return dict(config=os.path.relpath(os.path.abspath(config), REPO), method=cfg.model.type,
                device=device, options=', '.join(switches) or '-',
                batch=len(data['inputs']['source']), source_size=f'{h}x{w}',
                s_per_iter=m_time, source_only_s_per_iter=so_time,
                time_ratio=m_time / so_time, peak_mem_mb=m_mem / 2 ** 20,
                source_only_peak_mem_mb=so_mem / 2 ** 20, mem_ratio=m_mem / max(so_mem, 1))


def markdown(rows: list, iters: int, warmup: int) -> str:
    """The table of ``rows`` under a line naming how it was measured."""
    lines = [
        f'{iters} timed iterations after {warmup} warm-up per model; synthetic inputs at the '
        'configs\' sizes; method and source-only step of the same segmentor in one process, '
        'timed in alternation.',
        '',
        '| config | method | device | options | batch | source size | s/iter | '
        'source-only s/iter | time ratio | peak MB | source-only peak MB |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        lines.append(f"| `{r['config']}` | {r['method']} | {r['device']} | {r['options']} | "
                     f"{r['batch']} | {r['source_size']} | {r['s_per_iter']:.3f} | "
                     f"{r['source_only_s_per_iter']:.3f} | **{r['time_ratio']:.2f}x** | "
                     f"{r['peak_mem_mb']:.0f} | {r['source_only_peak_mem_mb']:.0f} |")
    return '\n'.join(lines) + '\n'


def is_adaptation(config: Path) -> bool:
    """Whether a config trains a UDA method that wraps a segmentor (not source-only, a warm-up
    stage or a plain segmentor trained on pseudo labels): only those have a source-only step
    of the same segmentor to compare with."""
    model = Config.fromfile(str(config)).model
    return model.type not in ('UDASegmentor', 'EncoderDecoder') and 'segmentor' in model


def method_configs(root: Path = REPO / 'configs') -> Tuple[List[str], List[str]]:
    """One toy config per method (model type), and notes on the toy configs left out.

    Per method the config with the shortest name before the first ``_`` is taken: the
    method's default (``fada_...``) rather than an ablation (``fada-hard_...``).
    """
    chosen, notes = {}, []
    for path in sorted(root.rglob('*toy*.py')):
        if '_base_' in path.parts:
            continue
        try:
            if not is_adaptation(path):
                continue
        except Exception as err:  # a config that does not load is reported, not fatal
            notes.append(f'`{path.relative_to(REPO)}`: does not load ({type(err).__name__})')
            continue
        method = Config.fromfile(str(path)).model.type
        prefix = len(path.name.split('_')[0])
        if method not in chosen or prefix < chosen[method][0]:
            chosen[method] = (prefix, str(path))
    return [c for _, c in sorted(chosen.values(), key=lambda v: v[1])], notes


def run_all(configs: List[str], args: argparse.Namespace) -> Tuple[List[dict], List[str]]:
    """Benchmark every config; one that fails is reported with its error, not fatal."""
    rows, notes = [], []
    for config in configs:
        try:
            rows.append(benchmark(config, args.iters, args.warmup, args.scale, args.batch,
                                  args.cfg_options, args.profile, args.amp,
                                  args.channels_last))
        except Exception as err:
            traceback.print_exc()
            notes.append(f'`{os.path.relpath(config, REPO)}`: failed ({type(err).__name__}: '
                         f'{err})')
    return rows, notes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='*', help='config file(s), one row each (omit with --all)')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--scale', type=float, default=1.0,
                        help='scale the config\'s image sizes (e.g. 0.25 for R101 on CPU)')
    parser.add_argument('--batch', type=int, default=None, help='default: the config\'s')
    parser.add_argument('--all', action='store_true',
                        help='benchmark one toy config per method; writes block "toy" of '
                        'docs/benchmark.md unless --out/--section say otherwise')
    parser.add_argument('--out', default=None, help='markdown page to write the table into')
    parser.add_argument('--section', default=None,
                        help='name of the marked block of --out to replace (see benchmark_doc)')
    parser.add_argument('--amp', action='store_true',
                        help='AmpOptimWrapper for every optimizer of both models (GPU only)')
    parser.add_argument('--channels-last', action='store_true',
                        help='model.channels_last=True for both models')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--profile', action='store_true',
                        help='also print torch.profiler operator tables of both steps')
    args = parser.parse_args()
    if not args.all and not args.config:
        parser.error('give a CONFIG or --all')
    if args.all:
        args.out = args.out or str(REPO / 'docs/benchmark.md')
        args.section = args.section or 'toy'
    if bool(args.out) != bool(args.section):
        parser.error('--out and --section go together')
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    configs, notes = method_configs() if args.all else (args.config, [])
    load_start = os.getloadavg()
    rows, failed = run_all(configs, args)
    text = '\n'.join([
        f'`{command_line()}`', '', markdown(rows, args.iters, args.warmup).rstrip(), '',
        load_note(load_start, os.getloadavg()),
        *(['', 'Not in the table:', *[f'* {n}' for n in notes + failed]] if notes + failed
          else [])])
    print(text)
    if args.out:
        write_section(args.out, args.section, text)
        print(f'written to block "{args.section}" of {args.out}')
    if failed:
        raise SystemExit(f'{len(failed)} config(s) failed')


if __name__ == '__main__':
    main()

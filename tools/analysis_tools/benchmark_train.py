"""Seconds per training iteration and peak memory of a UDA config, as a ratio to source-only.

The method's ``train_step`` and a source-only ``train_step`` of the same segmentor run in one
process on the same synthetic batch (the config's source and target sizes, random images and
labels, no data loading), so the ratio holds across machines. Peak memory is the maximum
allocated CUDA memory on GPU, and the peak resident set size sampled during the timed
iterations on CPU (the source-only model is measured first, so its peak cannot include the
method's).

    python tools/analysis_tools/benchmark_train.py CONFIG [--iters 10] [--warmup 3] [--scale 0.25]
    python tools/analysis_tools/benchmark_train.py --all   # every toy config -> docs/benchmark.md
"""
import argparse
import copy
import os
import threading
import time
from pathlib import Path
from typing import Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from tqdm import tqdm

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
    from mmseg.structures import SegDataSample
    sets = cfg.train_dataloader.dataset
    num_classes = cfg.model.segmentor.decode_head.num_classes
    out = dict(inputs={}, data_samples={})
    for branch in ('source', 'target'):
        h, w = branch_size(sets[branch].pipeline, cfg.get('crop_size'))
        h, w = max(32, int(h * scale)), max(32, int(w * scale))
        out['inputs'][branch] = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
                                 for _ in range(batch)]
        samples = []
        for _ in range(batch):
            s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
            if branch == 'source':
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
                  rows: int = 15) -> str:
    """torch.profiler's operators of ``iters`` steps, by self time: where a step's time goes."""
    from torch.profiler import ProfilerActivity, profile
    model, wrapper = build(model_cfg, optim_cfg, device)
    model.train_step(copy.deepcopy(batch), wrapper)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    with profile(activities=activities) as prof:
        for _ in range(iters):
            model.train_step(copy.deepcopy(batch), wrapper)
    key = 'self_cuda_time_total' if device == 'cuda' else 'self_cpu_time_total'
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def benchmark(config: str, iters: int, warmup: int, scale: float, batch: Optional[int],
              cfg_options: Optional[dict] = None, profile: bool = False) -> dict:
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    data = synthetic_batch(cfg, batch or cfg.train_dataloader.batch_size, scale)
    source_only = dict(type='UDASegmentor', segmentor=cfg.model.segmentor)
    src_optim = {k: v for k, v in cfg.optim_wrapper.items() if k != 'discriminators'}
    so_mem = peak_memory(source_only, src_optim, data, 2, device)
    m_mem = peak_memory(cfg.model, cfg.optim_wrapper, data, 2, device)
    so_time, m_time = interleaved_times(
        [build(source_only, src_optim, device), build(cfg.model, cfg.optim_wrapper, device)],
        data, iters, warmup, device)
    if profile:
        for name, (m, o) in (('source-only', (source_only, src_optim)),
                             (cfg.model.type, (cfg.model, cfg.optim_wrapper))):
            print(f'\nprofile of {name} ({min(iters, 5)} steps):')
            print(profile_table(m, o, data, min(iters, 5), device))
    h, w = data['inputs']['source'][0].shape[1:]
    return dict(config=os.path.relpath(config, REPO), method=cfg.model.type, device=device,
                batch=len(data['inputs']['source']), source_size=f'{h}x{w}',
                s_per_iter=m_time, source_only_s_per_iter=so_time,
                time_ratio=m_time / so_time, peak_mem_mb=m_mem / 2 ** 20,
                source_only_peak_mem_mb=so_mem / 2 ** 20, mem_ratio=m_mem / max(so_mem, 1))


def markdown(rows: list, iters: int, warmup: int) -> str:
    lines = [
        '# Training-step benchmark',
        '',
        'Generated by `python tools/analysis_tools/benchmark_train.py --all` '
        f'({iters} timed iterations after {warmup} warm-up, synthetic inputs at the configs\' '
        'sizes, method and source-only step of the same segmentor in one process, timed in '
        'alternation). Ratios are '
        'the numbers to compare across machines; peak memory on CPU is the process RSS.',
        '',
        '| config | method | device | batch | source size | s/iter | source-only s/iter | '
        'time ratio | peak MB | source-only peak MB |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        lines.append(f"| `{r['config']}` | {r['method']} | {r['device']} | {r['batch']} | "
                     f"{r['source_size']} | {r['s_per_iter']:.3f} | "
                     f"{r['source_only_s_per_iter']:.3f} | **{r['time_ratio']:.2f}x** | "
                     f"{r['peak_mem_mb']:.0f} | {r['source_only_peak_mem_mb']:.0f} |")
    return '\n'.join(lines) + '\n'


def is_adaptation(config: Path) -> bool:
    """Whether a config trains a UDA method (not source-only, a warm-up stage or a plain
    segmentor trained on pseudo labels): only those have a source-only step to compare with."""
    return Config.fromfile(str(config)).model.type not in ('UDASegmentor', 'EncoderDecoder')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?', help='config file (omit with --all)')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--scale', type=float, default=1.0,
                        help='scale the config\'s image sizes (e.g. 0.25 for R101 on CPU)')
    parser.add_argument('--batch', type=int, default=None, help='default: the config\'s')
    parser.add_argument('--all', action='store_true',
                        help='benchmark every adaptation toy config, write docs/benchmark.md')
    parser.add_argument('--out', default=str(REPO / 'docs/benchmark.md'))
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--profile', action='store_true',
                        help='also print torch.profiler operator tables of both steps')
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.all:
        configs = [str(p) for p in sorted((REPO / 'configs').rglob('*toy*.py'))
                   if '_base_' not in p.parts and is_adaptation(p)]
    elif args.config:
        configs = [args.config]
    else:
        parser.error('give a CONFIG or --all')
    rows = [benchmark(c, args.iters, args.warmup, args.scale, args.batch, args.cfg_options,
                      args.profile) for c in configs]
    table = markdown(rows, args.iters, args.warmup)
    print(table)
    if args.all:
        tmp = Path(args.out).with_name(f'.{Path(args.out).name}.tmp')
        tmp.write_text(table)
        os.replace(tmp, args.out)
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()

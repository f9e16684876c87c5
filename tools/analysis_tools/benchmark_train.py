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
    python tools/analysis_tools/benchmark_train.py ADAPTSEGNET_CONFIG --plain-baseline [...]
        # mmuda's step against a plain PyTorch loop of the same modules (plain_adaptsegnet.py)

``--amp`` (GPU only: mmengine's AmpOptimWrapper needs CUDA) and ``--channels-last`` switch both
steps, so the ratio compares like with like.
"""
import argparse
import copy
import os
import resource
import sys
import threading
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_doc import command_line, load_note, write_section  # noqa: E402
from plain_adaptsegnet import PlainAdaptSegNet  # noqa: E402

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
    """Seconds per step of each (model, wrapper), timed in alternation (:func:`alternate`)."""
    steps = [partial(model.train_step, optim_wrapper=wrapper) for model, wrapper in models]
    return [sum(t) / iters for t in alternate(steps, batch, iters, warmup, device)]


def alternate(steps: List[Callable[[dict], object]], batch: dict, iters: int, warmup: int,
              device: str, faults: Optional[List[List[int]]] = None) -> List[List[float]]:
    """Seconds of each timed call of each step function, the functions called in alternation.

    Alternating the steps one by one makes their ratio robust to load that changes during
    the run (a shared machine): both see the same conditions on average; every other round
    runs them in reverse order, so neither always follows the other (whose freed memory the
    next one reuses). Each call gets its own copy of ``batch``, made outside the timed region.
    ``faults``, if given, receives each call's minor page faults (memory the process had to
    get from the kernel afresh: on CPU a cost that grows with a step's peak memory).
    """
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    for step in steps:
        for _ in range(warmup):
            step(copy.deepcopy(batch))
    times: List[List[float]] = [[] for _ in steps]
    if faults is not None:
        faults[:] = [[] for _ in steps]
    for round_ in tqdm(range(iters), desc='timing', leave=False):
        order = range(len(steps)) if round_ % 2 == 0 else reversed(range(len(steps)))
        for i in order:
            data = copy.deepcopy(batch)
            sync()
            minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            steps[i](data)
            sync()
            times[i].append(time.perf_counter() - start)
            if faults is not None:
                faults[i].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - minflt)
    return times


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


# ------------------------------------------------------------------ --plain-baseline
def plain_settings(cfg: Config) -> dict:
    """The plain loop's optimiser settings, read from the config's ``optim_wrapper``, so both
    loops do the same updates (``plain_adaptsegnet`` supports SGD / RepeatedParamSGD with a
    learning-rate multiplier for the heads, and Adam for the discriminators)."""
    seg = cfg.optim_wrapper.segmentor
    opt = seg.optimizer
    if opt.type not in ('SGD', 'RepeatedParamSGD'):
        raise ValueError('--plain-baseline: optim_wrapper.segmentor.optimizer.type must be SGD '
                         f'or RepeatedParamSGD, got {opt.type!r}')
    paramwise = dict(seg.get('paramwise_cfg') or {})
    keys = dict(paramwise.pop('custom_keys', {}))
    mults = {float(keys.pop(h, {}).get('lr_mult', 1.0)) for h in ('decode_head', 'auxiliary_head')}
    if paramwise or keys or len(mults) != 1:
        raise ValueError('--plain-baseline: optim_wrapper.segmentor.paramwise_cfg may only set '
                         'one lr_mult for decode_head and auxiliary_head')
    d_opt = cfg.optim_wrapper.discriminators.optimizer
    if d_opt.type != 'Adam':
        raise ValueError('--plain-baseline: optim_wrapper.discriminators.optimizer.type must be '
                         f'Adam, got {d_opt.type!r}')
    return dict(lr=opt.lr, momentum=opt.get('momentum', 0.0),
                weight_decay=opt.get('weight_decay', 0.0), head_lr_mult=mults.pop(),
                repeats=opt.type == 'RepeatedParamSGD', d_lr=d_opt.lr,
                d_betas=tuple(d_opt.get('betas', (0.9, 0.999))))


def backbone_batches(model, step: Callable[[], object]) -> List[int]:
    """Batch sizes of the backbone passes during ``step()``: one pass of 2N means the
    concatenated source + target forward was taken, two passes of N that it was not."""
    seen: List[int] = []
    handle = model.segmentor.backbone.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].shape[0]))
    try:
        step()
    finally:
        handle.remove()
    return seen


def labelled_profile(step: Callable[[dict], object], batch: dict, iters: int,
                     modules: dict, optimizers: dict) -> str:
    """Inclusive CPU time per step of each named module's forward, each optimiser's step and
    every backward call, from torch.profiler ranges put around them: where a step's time goes
    by module (the operator tables say by which kernels)."""
    from torch.profiler import ProfilerActivity, profile, record_function
    handles, restore, open_ranges = [], [], {}

    def enter(name):
        return lambda *_: open_ranges.setdefault(name, []).append(
            record_function(name).__enter__())

    def leave(name):
        return lambda *_: open_ranges[name].pop().__exit__(None, None, None)

    def wrapped(name, fn):
        def call(*args, **kwargs):
            with record_function(name):
                return fn(*args, **kwargs)
        return call

    for name, module in modules.items():
        handles += [module.register_forward_pre_hook(enter(f'forward: {name}')),
                    module.register_forward_hook(leave(f'forward: {name}'))]
    for name, optim in optimizers.items():
        restore.append((optim, 'step', optim.step))
        optim.step = wrapped(f'optimizer step: {name}', optim.step)
    restore.append((torch.autograd, 'backward', torch.autograd.backward))
    torch.autograd.backward = wrapped('backward (all calls)', torch.autograd.backward)
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(iters):
                step(copy.deepcopy(batch))
    finally:
        for h in handles:
            h.remove()
        for obj, attr, fn in restore:
            setattr(obj, attr, fn)
    rows = [e for e in prof.key_averages()
            if e.key.startswith(('forward: ', 'optimizer step: ', 'backward'))]
    lines = ['| range | calls per step | ms per step |', '|---|---|---|']
    lines += [f'| {e.key} | {e.count / iters:g} | {e.cpu_time_total / 1e3 / iters:.1f} |'
              for e in sorted(rows, key=lambda e: -e.cpu_time_total)]
    return '\n'.join(lines)


def operator_profile(step: Callable[[dict], object], batch: dict, iters: int,
                     rows: int = 25) -> str:
    """torch.profiler's operators of ``iters`` calls of ``step``, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iters):
            step(copy.deepcopy(batch))
    return prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=rows,
                                     max_name_column_width=50)


def benchmark_plain(config: str, iters: int, warmup: int, scale: float, batch: Optional[int],
                    cfg_options: Optional[dict] = None, profile: bool = False) -> dict:
    """mmuda's AdaptSegNet ``train_step`` against the plain PyTorch loop of the same modules
    and weights (``plain_adaptsegnet.PlainAdaptSegNet``), timed in alternation."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.model.type != 'AdaptSegNet':
        raise ValueError(f'--plain-baseline compares AdaptSegNet steps; {config} trains '
                         f'{cfg.model.type}')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    data = synthetic_batch(cfg, batch or cfg.train_dataloader.batch_size, scale)
    model, wrapper = build(cfg.model, cfg.optim_wrapper, device)
    plain = PlainAdaptSegNet(model, **plain_settings(cfg))
    mmuda_step = partial(model.train_step, optim_wrapper=wrapper)
    passes = backbone_batches(model, lambda: mmuda_step(copy.deepcopy(data)))
    plain.step(copy.deepcopy(data))  # its warm-up step, as the one above is mmuda's
    faults: List[List[int]] = []
    times = alternate([mmuda_step, plain.step], data, iters, max(warmup - 1, 0), device, faults)
    if profile:
        n = min(iters, 3)
        optims = dict(segmentor=wrapper['segmentor'].optimizer,
                      discriminators=wrapper['discriminators'].optimizer)
        for name, step, modules, opt in (
                ('mmuda', mmuda_step, dict(preprocessor=model.data_preprocessor,
                                           backbone=model.segmentor.backbone,
                                           decode_head=model.segmentor.decode_head,
                                           auxiliary_head=model.segmentor.auxiliary_head,
                                           **{f'D {k}': d for k, d in
                                              model.discriminators.items()}), optims),
                ('plain', plain.step, dict(backbone=plain.modules['backbone'],
                                           **{f'{k} head': h for k, h in plain.heads.items()},
                                           **{f'D {k}': d for k, d in plain.discs.items()}),
                 dict(segmentor=plain.seg_optim, discriminators=plain.d_optim))):
            print(f'\n{name} step, by module ({n} steps):\n'
                  + labelled_profile(step, data, n, modules, opt))
            print(f'\n{name} step, by operator ({n} steps):\n' + operator_profile(step, data, n))
    ratios = sorted(m / p for m, p in zip(*times))
    src, tgt = (data['inputs'][b][0].shape[1:] for b in ('source', 'target'))
    return dict(config=os.path.relpath(os.path.abspath(config), REPO),
                dilations=tuple(cfg.model.segmentor.decode_head.dilations),
                optimizer=cfg.optim_wrapper.segmentor.optimizer.type,
                concat='on' if len(passes) == 1 else 'off', batch=len(data['inputs']['source']),
                sizes=f'{src[0]}x{src[1]} / {tgt[0]}x{tgt[1]}',
                mmuda_s=sum(times[0]) / iters, plain_s=sum(times[1]) / iters,
                ratio=sum(times[0]) / sum(times[1]), median_ratio=ratios[len(ratios) // 2],
                ratio_range=(ratios[0], ratios[-1]),
                faults=[sum(f) / iters / 1e3 for f in faults])


def markdown_plain(rows: list, iters: int, warmup: int) -> str:
    lines = [
        f'{iters} timed steps of each after {max(warmup, 1)} warm-up; synthetic inputs; mmuda\'s '
        '`train_step` and the plain loop (`tools/analysis_tools/plain_adaptsegnet.py`) on copies '
        'of the same modules and weights, same optimiser settings, in one process, timed in '
        'alternation. "concat forward": whether mmuda ran source and target as one batch (only '
        'when their sizes are equal; the plain loop never does).',
        '',
        '| config | head dilations | segmentor optimiser | concat forward | batch | '
        'source / target size | mmuda s/iter | plain s/iter | mmuda / plain | '
        'median (range) of per-step ratios | page faults per step, mmuda / plain (thousands) |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        lo, hi = r['ratio_range']
        lines.append(
            f"| `{r['config']}` | {', '.join(map(str, r['dilations']))} | {r['optimizer']} | "
            f"{r['concat']} | {r['batch']} | {r['sizes']} | {r['mmuda_s']:.3f} | "
            f"{r['plain_s']:.3f} | **{r['ratio']:.3f}x** | {r['median_ratio']:.3f} "
            f"({lo:.3f}-{hi:.3f}) | {r['faults'][0]:.0f} / {r['faults'][1]:.0f} |")
    return '\n'.join(lines) + '\n'


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
            if args.plain_baseline:
                rows.append(benchmark_plain(config, args.iters, args.warmup, args.scale,
                                            args.batch, args.cfg_options, args.profile))
                continue
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
                        help='also print torch.profiler operator tables of both steps (with '
                        '--plain-baseline: by module and by operator)')
    parser.add_argument('--plain-baseline', action='store_true',
                        help='time an AdaptSegNet config\'s train_step against a plain PyTorch '
                        'loop of the same modules (plain_adaptsegnet.py) instead of source-only')
    args = parser.parse_args()
    if not args.all and not args.config:
        parser.error('give a CONFIG or --all')
    if args.all:
        args.out = args.out or str(REPO / 'docs/benchmark.md')
        args.section = args.section or 'toy'
    if args.plain_baseline and (args.all or args.amp or args.channels_last):
        parser.error('--plain-baseline takes CONFIGs, without --all, --amp, --channels-last')
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
    table = markdown_plain if args.plain_baseline else markdown
    text = '\n'.join([
        f'`{command_line()}`', '', table(rows, args.iters, args.warmup).rstrip(), '',
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

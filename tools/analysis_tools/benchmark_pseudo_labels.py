"""Time and peak memory of pseudo-label generation against plain inference, at two dataset sizes.

Each measurement runs in a fresh process (so peak memory belongs to that run alone) on toy
target images generated into a temporary directory:

* ``inference``: mmseg's ``test_step`` over the images (argmax, nothing written) - the
  reference cost of one model pass;
* ``argmax``: the generator with the argmax policy (one pass, PNGs written);
* ``adversarial_proxy``: the generator with the multi-adversarial policy (two statistics
  passes, one writing pass) and a stand-in adversarial confidence (a sigmoid of the input),
  since the cost of the method's discriminators is not the generator's.

The generator's overhead is the ratio of its time per image and model pass to inference's;
memory is flat when the peak does not grow from the small to the large dataset. Peak memory is
``torch.cuda.max_memory_allocated`` on GPU and the resident set size sampled every 5 ms
(``/proc/self/statm``) on CPU.

    python tools/analysis_tools/benchmark_pseudo_labels.py [--sizes 100 1000] [--size 32 64]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List

import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/source_only/source-only_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py'
MODES = ('inference', 'argmax', 'adversarial_proxy')
PASSES = dict(inference=1, argmax=1, adversarial_proxy=3)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark pseudo-label generation')
    parser.add_argument('--sizes', type=int, nargs='+', default=[100, 1000],
                        help='numbers of images')
    parser.add_argument('--size', type=int, nargs=2, default=[32, 64], metavar=('H', 'W'),
                        help='image size of the generated toy images')
    parser.add_argument('--config', default=str(CONFIG), help='config whose model is used')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--out', default=str(REPO / 'docs/benchmark_pseudo_labels.md'),
                        help='markdown file to write (atomically); "" to only print')
    parser.add_argument('--worker', nargs=3, metavar=('MODE', 'N', 'ROOT'),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------------- one measurement
class PeakMemory:
    """Peak CUDA allocation, or peak RSS sampled every 5 ms on CPU, over a block."""

    def __init__(self) -> None:
        self.cuda = torch.cuda.is_available()
        self.peak = self.start = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> 'PeakMemory':
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = self.rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.rss())


def build_model(config: str, adversarial: bool) -> torch.nn.Module:
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    if adversarial:  # a stand-in adversarial confidence: cheap, in [0, 1], input size
        model.adversarial_confidence = lambda x: torch.sigmoid(x.mean(dim=1, keepdim=True))
    return model.cuda() if torch.cuda.is_available() else model


def dataset_cfg(root: str, n: int) -> dict:
    return dict(type='ToyStreetDataset', data_root=os.path.join(root, 'target'),
                data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
                pipeline=[dict(type='LoadImageFromFile'), dict(type='PackSegInputs')],
                indices=n)


@torch.no_grad()
def plain_inference(model: torch.nn.Module, dataset) -> None:
    """mmseg's test_step on every image, like a test loop without an evaluator."""
    from mmengine.dataset import DefaultSampler, pseudo_collate
    from torch.utils.data import DataLoader
    loader = DataLoader(dataset, batch_size=1, collate_fn=pseudo_collate,
                        sampler=DefaultSampler(dataset, shuffle=False, round_up=False))
    for data in loader:
        for sample in model.test_step(data):
            sample.seg_logits.data.argmax(dim=0)


def worker(mode: str, n: int, root: str, config: str) -> dict:
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    import mmuda  # noqa: F401  (registers the toy dataset)
    from mmuda.pseudo_labels import PseudoLabelGenerator
    init_default_scope('mmseg')
    model = build_model(config, adversarial=mode == 'adversarial_proxy')
    dataset = DATASETS.build(dataset_cfg(root, n))
    warm = DATASETS.build(dataset_cfg(root, 5))

    def run(data, out: str) -> None:
        if mode == 'inference':
            plain_inference(model, data)
        else:
            PseudoLabelGenerator(data, dict(type=mode), out, progress=False).run(model)

    with tempfile.TemporaryDirectory(dir=root) as out:
        run(warm, out)  # warm-up on 5 images: one-time allocations of the same code path
        with PeakMemory() as memory:
            start = time.perf_counter()
            run(dataset, out)
            seconds = time.perf_counter() - start
    return dict(mode=mode, images=n, seconds=seconds, peak=memory.peak, start=memory.start,
                device='cuda' if memory.cuda else 'cpu',
                reference=seconds / n if mode == 'inference' else reference_time(model, root, n))


def reference_time(model: torch.nn.Module, root: str, n: int) -> float:
    """Seconds per image of plain inference in this process, on up to 200 of the images:
    on a shared machine the load changes between processes, not within a few seconds."""
    from mmseg.registry import DATASETS
    dataset = DATASETS.build(dataset_cfg(root, min(n, 200)))
    start = time.perf_counter()
    plain_inference(model, dataset)
    return (time.perf_counter() - start) / len(dataset)


# ---------------------------------------------------------------------- driver
def measure(mode: str, n: int, root: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=f'{REPO}:{os.environ.get("PYTHONPATH", "")}')
    cmd = [sys.executable, __file__, '--worker', mode, str(n), root, '--config', args.config,
           '--threads', str(args.threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'benchmark worker {mode} x {n} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: List[dict], args: argparse.Namespace) -> str:
    mib = 1024 ** 2
    device = results[0]['device']
    memory = 'peak CUDA allocation' if device == 'cuda' else 'peak RSS'
    lines = [
        '# Pseudo-label generation benchmark', '',
        f'`python tools/analysis_tools/benchmark_pseudo_labels.py --sizes '
        f'{" ".join(map(str, args.sizes))} --size {args.size[0]} {args.size[1]}` on {device} '
        f'({args.threads} thread(s)), model of `{Path(args.config).name}`, toy target images '
        f'of {args.size[0]}x{args.size[1]}, batch 1, no dataloader workers. Each row is a fresh '
        'process. "per pass" divides by the number of model passes over the data; the ratio '
        'compares it with plain inference timed in the same process right after (on up to 200 '
        'of the images), which cancels most of the load changes of a shared machine. Memory '
        'growth is the peak minus the value before the run started.', '',
        f'| images | mode | model passes | s / image | s / image / pass | ratio to inference '
        f'(per pass, same process) | {memory} (MiB) | growth during run (MiB) |',
        '|---|---|---|---|---|---|---|---|']
    for r in results:
        passes = PASSES[r['mode']]
        s_img = r['seconds'] / r['images']
        ratio = s_img / passes / r['reference']
        lines.append(f'| {r["images"]} | {r["mode"]} | {passes} | {s_img:.4f} | '
                     f'{s_img / passes:.4f} | {ratio:.2f} | {r["peak"] / mib:.0f} | '
                     f'{(r["peak"] - r["start"]) / mib:.1f} |')
    return '\n'.join(lines + [''] + flatness(results)) + '\n'


def flatness(results: List[dict]) -> List[str]:
    """One line: how much the peak grows from the smallest to the largest dataset."""
    sizes = sorted({r['images'] for r in results})
    if len(sizes) < 2:
        return []
    peak = {(r['mode'], r['images']): r['peak'] for r in results}
    growth = ', '.join(f'{m} {(peak[m, sizes[-1]] - peak[m, sizes[0]]) / 1024 ** 2:+.1f} MiB'
                       for m in MODES)
    return [f'Peak memory from {sizes[0]} to {sizes[-1]} images: {growth}. The growth during '
            'a run is measured after a 5-image warm-up run of the same mode, so one-time '
            'allocations (model, histograms, the label-writing thread) are excluded. Times on '
            'a shared CPU vary by about 20% from run to run.']


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        mode, n, root = args.worker
        print(json.dumps(worker(mode, int(n), root, args.config)))
        return
    from mmuda.datasets.toy_domains import ToyDomainsSpec, generate_toy_domains
    from mmuda.utils.atomic_write import atomic_write
    with tempfile.TemporaryDirectory() as root:
        spec = ToyDomainsSpec(height=args.size[0], width=args.size[1],
                              num_train=max(args.sizes), num_val=1)
        generate_toy_domains(root, spec, progress=False)
        results = []
        for n in sorted(args.sizes):
            for mode in MODES:
                results.append(measure(mode, n, root, args))
                print(f'{mode} x {n}: {results[-1]["seconds"]:.1f} s', file=sys.stderr)
    text = table(results, args)
    print(text)
    if args.out:
        atomic_write(args.out, lambda f: f.write(text.encode()))


if __name__ == '__main__':
    main()

"""Time SSF-DAN's grouped SS-D against the per-class Python loop it replaces (issue #9).

Both run the same weights on the same feature and random one-hot class masks; the script first
checks that their outputs (and input gradients) agree, then times a forward pass and a forward +
backward pass (what a training step does) of each, interleaved, and prints one markdown row per
setting with the median times and the loop / grouped ratio.

    python tools/analysis_tools/benchmark_ssd.py                 # the paper and toy settings
    python tools/analysis_tools/benchmark_ssd.py --classes 19 --in-channels 2048 \\
        --channels 1024 512 256 128 --size 8 16 --reps 10
"""
import argparse
import statistics
import time
from typing import Callable, List, Sequence

import torch
import torch.nn.functional as F

from mmuda.models.discriminators.semantic_separable_discriminator import (
    SemanticSeparableDiscriminator,
    _per_class_loop_forward,
    _per_class_modules,
)

# name -> (classes, feature channels, hidden widths, feature size (h, w))
PRESETS = {
    'paper widths (2048 ch), small map': (19, 2048, (1024, 512, 256, 128), (4, 8)),
    'toy (256 ch, 7 classes), toy map': (7, 256, (64, 32, 16, 8), (16, 32)),
    'toy widths, 19 classes': (19, 256, (64, 32, 16, 8), (16, 32)),
}
HEADER = ('| setting | classes | feature | widths | map | grouped fwd (ms) | loop fwd (ms) | '
          'fwd ratio | grouped fwd+bwd (ms) | loop fwd+bwd (ms) | fwd+bwd ratio |\n'
          '|---|---|---|---|---|---|---|---|---|---|---|')


def random_inputs(classes: int, channels: int, size: Sequence[int], batch: int = 1):
    """A feature that needs a gradient and one-hot masks of random classes per cell."""
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(batch, channels, *size, generator=g).requires_grad_(True)
    labels = torch.randint(0, classes, (batch, *size), generator=g)
    masks = F.one_hot(labels, classes).permute(0, 3, 1, 2).float()
    return feat, masks


def check_equal(grouped: Callable, loop: Callable, feat: torch.Tensor) -> float:
    """Max abs difference of outputs; raises if outputs or input gradients differ."""
    out_g, out_l = grouped(), loop()
    torch.testing.assert_close(out_g, out_l, rtol=1e-4, atol=1e-5)
    grad_g, = torch.autograd.grad(out_g.sum(), feat)
    grad_l, = torch.autograd.grad(out_l.sum(), feat)
    torch.testing.assert_close(grad_g, grad_l, rtol=1e-4, atol=1e-5)
    return (out_g - out_l).abs().max().item()


def median_times(fns: List[Callable], reps: int, warmup: int, backward: bool) -> List[float]:
    """Median seconds of each function, runs interleaved so machine load hits both alike."""
    times: List[List[float]] = [[] for _ in fns]
    for rep in range(warmup + reps):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            if backward:
                fn().sum().backward()
            else:
                with torch.no_grad():
                    fn()
            if rep >= warmup:
                times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def benchmark(name: str, classes: int, channels: int, widths: Sequence[int],
              size: Sequence[int], reps: int, warmup: int) -> str:
    """One markdown row: median times of both implementations and their ratio."""
    torch.manual_seed(0)
    disc = SemanticSeparableDiscriminator(channels, classes, channels=tuple(widths))
    modules = _per_class_modules(disc)
    feat, masks = random_inputs(classes, channels, size)
    grouped = lambda: disc(feat, masks)  # noqa: E731
    loop = lambda: _per_class_loop_forward(modules, feat, masks)  # noqa: E731
    check_equal(grouped, loop, feat)
    fwd = median_times([grouped, loop], reps, warmup, backward=False)
    train = median_times([grouped, loop], reps, warmup, backward=True)
    ms = lambda t: f'{1000 * t:.1f}'  # noqa: E731
    return (f'| {name} | {classes} | {channels} | {"-".join(map(str, widths))} | '
            f'{size[0]}x{size[1]} | {ms(fwd[0])} | {ms(fwd[1])} | {fwd[1] / fwd[0]:.1f}x | '
            f'{ms(train[0])} | {ms(train[1])} | {train[1] / train[0]:.1f}x |')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Grouped SS-D vs a per-class loop')
    parser.add_argument('--classes', type=int, help='number of classes (omit: the presets)')
    parser.add_argument('--in-channels', type=int, default=2048)
    parser.add_argument('--channels', type=int, nargs='+', default=[1024, 512, 256, 128])
    parser.add_argument('--size', type=int, nargs=2, default=[8, 16], metavar=('H', 'W'),
                        help='feature map size')
    parser.add_argument('--reps', type=int, default=5, help='timed repetitions (median)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.classes is None:
        settings = [(name, *cfg) for name, cfg in PRESETS.items()]
    else:
        settings = [('custom', args.classes, args.in_channels, args.channels, args.size)]
    print(HEADER)
    for setting in settings:
        print(benchmark(*setting, reps=args.reps, warmup=args.warmup), flush=True)


if __name__ == '__main__':
    main()

"""Time SSF-DAN's SS-D against the per-class Python loop it replaces (issue #9).

Three implementations run the same weights on the same feature and one-hot class masks (in
random 4x4-cell blocks, like a segmentation's regions): the SS-D as it runs in training
(``sparse=True``: each class module only where it reaches the result, see its docstring), its
dense grouped-convolution path (``sparse=False``, also what non-one-hot masks take), and a
per-class loop of separate modules. The script first checks
that their outputs and input gradients agree, then times a forward pass and a forward +
backward pass (what a training step does) of each, interleaved, and prints one markdown row
per setting with the median times and the loop / SS-D ratios. The equality check runs in
float64 (see :func:`check_equal`), the timing in float32.

    python tools/analysis_tools/benchmark_ssd.py                 # the paper and toy settings
    python tools/analysis_tools/benchmark_ssd.py --classes 19 --in-channels 2048 \\
        --channels 1024 512 256 128 --size 16 32 --reps 3 --threads 1
    ... --out docs/benchmark.md --section ssd                   # write the table there
"""
import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn.functional as F

from mmuda.models.discriminators.semantic_separable_discriminator import (
    SemanticSeparableDiscriminator,
    _per_class_loop_forward,
    _per_class_modules,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_doc import command_line, load_note, write_section  # noqa: E402

# name -> (classes, feature channels, hidden widths, feature size (h, w))
PRESETS = {
    'paper widths (2048 ch), 8x16 map': (19, 2048, (1024, 512, 256, 128), (8, 16)),
    'paper widths (2048 ch), 16x32 map': (19, 2048, (1024, 512, 256, 128), (16, 32)),
    'paper widths, 33x65 map (layer4 of a 256x512 crop)':
        (19, 2048, (1024, 512, 256, 128), (33, 65)),
    'toy (256 ch, 7 classes), toy map': (7, 256, (64, 32, 16, 8), (16, 32)),
    'toy widths, 19 classes': (19, 256, (64, 32, 16, 8), (16, 32)),
}
HEADER = ('| setting | classes | feature | widths | map | SS-D fwd (ms) | dense grouped fwd (ms) | '
          'loop fwd (ms) | **loop / SS-D fwd** | SS-D fwd+bwd (ms) | dense grouped fwd+bwd '
          '(ms) | loop fwd+bwd (ms) | **loop / SS-D fwd+bwd** |\n'
          '|---|---|---|---|---|---|---|---|---|---|---|---|---|')


def build(classes: int, channels: int, widths: Sequence[int]
          ) -> Tuple[SemanticSeparableDiscriminator, SemanticSeparableDiscriminator]:
    """The SS-D as configured for training and a copy of its weights with ``sparse=False``
    (every layer one dense grouped convolution, in the weight layout that option keeps)."""
    torch.manual_seed(0)
    disc = SemanticSeparableDiscriminator(channels, classes, channels=tuple(widths))
    dense = SemanticSeparableDiscriminator(channels, classes, channels=tuple(widths),
                                           sparse=False)
    dense.load_state_dict(disc.state_dict())
    return disc, dense


def random_inputs(classes: int, channels: int, size: Sequence[int], batch: int = 1,
                  block: int = 4):
    """A feature that needs a gradient and one-hot masks of a random class per
    ``block x block`` cells (regions, as a prediction has; the timing does not depend on it)."""
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(batch, channels, *size, generator=g).requires_grad_(True)
    h, w = size
    coarse = torch.randint(0, classes, (batch, -(-h // block), -(-w // block)), generator=g)
    labels = coarse.repeat_interleave(block, 1).repeat_interleave(block, 2)[:, :h, :w]
    masks = F.one_hot(labels, classes).permute(0, 3, 1, 2).float()
    return feat, masks


def implementations(disc: SemanticSeparableDiscriminator,
                    dense: SemanticSeparableDiscriminator, feat: torch.Tensor,
                    masks: torch.Tensor) -> Tuple[List[Callable], torch.nn.Module]:
    """The SS-D as trained, its dense grouped path, and the per-class loop, on one input;
    and the loop's modules (copies of the SS-D's weights)."""
    modules = _per_class_modules(disc).to(feat.dtype)
    return [lambda: disc(feat, masks), lambda: dense(feat, masks),
            lambda: _per_class_loop_forward(modules, feat, masks)], modules


def check_equal(disc: SemanticSeparableDiscriminator, dense: SemanticSeparableDiscriminator,
                feat: torch.Tensor, masks: torch.Tensor) -> None:
    """Raise unless the three implementations give the same output and input gradient.

    Checked in float64, to 1e-9: in float32 a pre-activation within rounding of 0 can fall on
    either side of the LeakyReLU's kink in any two implementations (even two runs of the
    loop in another order), and that cell's input gradient then differs by 0.8 x its weight,
    which says nothing about whether they compute the same function.
    """
    disc, dense = copy.deepcopy(disc).double(), copy.deepcopy(dense).double()
    feat = feat.detach().double().requires_grad_(True)
    outs = [fn() for fn in implementations(disc, dense, feat, masks.double())[0]]
    grads = [torch.autograd.grad(out.sum(), feat)[0] for out in outs]
    for out, grad in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(out, outs[0], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(grad, grads[0], rtol=1e-9, atol=1e-12)


def median_times(fns: List[Callable], reps: int, warmup: int, backward: bool,
                 params: Sequence[torch.Tensor] = ()) -> List[float]:
    """Median seconds of each function, runs interleaved so machine load hits all alike.

    Before each backward run the gradients of ``params`` are set to None, as a training
    step's ``zero_grad`` does: otherwise every run after the first would also add its
    gradients into the previous ones (a pass over each weight that training does not make).
    """
    times: List[List[float]] = [[] for _ in fns]
    for rep in range(warmup + reps):
        for i, fn in enumerate(fns):
            for param in params:
                param.grad = None
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
    """One markdown row: median times of the three implementations and the loop / SS-D
    ratios."""
    disc, dense = build(classes, channels, widths)
    feat, masks = random_inputs(classes, channels, size)
    check_equal(disc, dense, feat, masks)
    fns, modules = implementations(disc, dense, feat, masks)
    fwd = median_times(fns, reps, warmup, backward=False)
    params = [feat, *disc.parameters(), *dense.parameters(), *modules.parameters()]
    train = median_times(fns, reps, warmup, backward=True, params=params)
    ms = lambda t: f'{1000 * t:.0f}'  # noqa: E731
    return (f'| {name} | {classes} | {channels} | {"-".join(map(str, widths))} | '
            f'{size[0]}x{size[1]} | {" | ".join(map(ms, fwd))} | **{fwd[2] / fwd[0]:.1f}x** | '
            f'{" | ".join(map(ms, train))} | **{train[2] / train[0]:.1f}x** |')


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
    parser.add_argument('--out', help='markdown page to write the table into')
    parser.add_argument('--section', default='ssd', help='marked block of --out to replace')
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
    rows, start = [], os.getloadavg()
    for setting in settings:
        rows.append(benchmark(*setting, reps=args.reps, warmup=args.warmup))
        print(rows[-1], flush=True)
    if args.out:
        threads = f'{torch.get_num_threads()} torch thread(s), median of {args.reps} runs'
        write_section(args.out, args.section, '\n'.join([
            f'`{command_line()}` ({threads})', '', HEADER, *rows, '',
            load_note(start, os.getloadavg())]))
        print(f'written to block "{args.section}" of {args.out}')


if __name__ == '__main__':
    main()

"""Tabulate LDR's toy ablation (the paper's Table 3 idea) from the folders of its two sweeps.

``tools/analysis_tools/ldr_toy_seeds.sh WORK_DIR`` trains, per seed, the translator, M, the
source-only model, LDR's stage 0 and stage 1; ``ldr_toy_ablation.sh WORK_DIR`` adds the parts
in between and LDR with the feature-matching term's real side detached (pix2pixHD's choice).
This reads their target-val mIoU (the validation at the end of each training run,
``tools/test.py``'s metrics for "translation only") and builds one table: every rung of the
ladder per seed, mean and standard deviation, and the paired difference of each rung against
the one below it with a two-sided exact sign test. It also reports, per LDR run, the source
cross-entropy at its first and last logged iteration and its largest value, so that a
diverging run shows up in the table and not only in a log, and how hard the reconstruction
terms pull on the segmentor against the cross-entropy (``TermGradientNormHook``'s norms).

    python tools/analysis_tools/ldr_toy_table.py WORK_DIR --seeds 0 1 2 \\
        --out docs/ldr_toy.md --section ldr-toy-ablation

With ``--out`` the table replaces the block between ``<!-- begin SECTION -->`` and
``<!-- end SECTION -->`` of the page (atomically), under the command that produced it.
"""
import argparse
import datetime
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_doc import command_line, write_section  # noqa: E402

# (folder, what it is, how the mIoU is read): the ladder from source-only to full LDR
RUNGS: Tuple[Tuple[str, str, str], ...] = (
    ('source_only', 'source-only, raw target val', 'train'),
    ('translation_only', 'translation only: the source-only model on translated target val',
     'test'),
    ('pl', '+ class-median pseudo labels (no adversarial, no reconstruction)', 'train'),
    ('norecon', '+ output-space adversarial (stage 0 and 1, no reconstruction)', 'train'),
    ('ldr', '+ label-driven reconstruction = LDR (stage 1)', 'train'),
)
STAGE0: Tuple[Tuple[str, str], ...] = (
    ('norecon_stage0', 'stage 0 without reconstruction'),
    ('stage0', 'stage 0 with reconstruction'),
)
# the reconstruction with feature matching against the real pair as a fixed target
# (FeatureMatchingLoss(detach_real=True), pix2pixHD's choice), the same ladder otherwise
DETACHED: Tuple[Tuple[str, str], ...] = (
    ('stage0_fmdetach', 'stage 0 with reconstruction, real-pair features detached'),
    ('ldr_fmdetach', 'LDR (stage 1), real-pair features detached'),
)
# extra paired comparisons: (below, above)
EXTRA_PAIRS: Tuple[Tuple[str, str], ...] = (
    ('norecon_stage0', 'stage0'),
    ('stage0', 'stage0_fmdetach'),
    ('ldr', 'ldr_fmdetach'),
    ('translation_only', 'ldr_fmdetach'),
)
RECON_RUNS = ('stage0', 'ldr', 'stage0_fmdetach', 'ldr_fmdetach')
SOURCE_CE = 'src.decode.loss_ce'
# TermGradientNormHook's scalars: || d term / d segmentor ||, per reconstruction term pair
GRAD = 'grad_norm/segmentor/'
RECON_TERMS = (('feature matching', ('rec.src.loss_fm', 'rec.tgt.loss_fm')),
               ('perceptual', ('rec.src.loss_vgg', 'rec.tgt.loss_vgg')))


def scalar_rows(run_dir: Path) -> List[dict]:
    """Every row of the newest ``vis_data/scalars.json`` of a training run."""
    logs = sorted(run_dir.glob('*/vis_data/scalars.json'))
    if not logs:
        raise FileNotFoundError(f'no {run_dir}/*/vis_data/scalars.json: has the run trained?')
    return [json.loads(line) for line in logs[-1].read_text().splitlines() if line.strip()]


def train_miou(run_dir: Path) -> float:
    rows = [r for r in scalar_rows(run_dir) if 'mIoU' in r]
    if not rows:
        raise RuntimeError(f'no mIoU in {run_dir}: did its validation run?')
    return float(rows[-1]['mIoU'])


def test_miou(run_dir: Path) -> float:
    """mIoU of ``tools/test.py``'s metrics file ``<work_dir>/<timestamp>/<timestamp>.json``."""
    files = sorted(p for p in run_dir.glob('*/*.json') if p.stem == p.parent.name)
    if not files:
        raise FileNotFoundError(f'no tools/test.py metrics in {run_dir}/<timestamp>/*.json')
    return float(json.loads(files[-1].read_text())['mIoU'])


def source_ce(run_dir: Path) -> Optional[Tuple[float, float, float]]:
    """(first, last, largest) logged source cross-entropy of a run, if it logged one."""
    values = [float(r[SOURCE_CE]) for r in scalar_rows(run_dir) if SOURCE_CE in r]
    return (values[0], values[-1], max(values)) if values else None


def gradient_ratios(run_dir: Path) -> Optional[Dict[str, float]]:
    """Per reconstruction term pair, the median over the logged iterations of
    ``(|| grad of its source term || + || grad of its target term ||) / || grad of the source
    CE ||`` into the segmentor: how much harder than the supervision the term pulls. ``None``
    when the run logged no gradient norms."""
    rows = [r for r in scalar_rows(run_dir) if GRAD + SOURCE_CE in r]
    if not rows:
        return None
    return {name: statistics.median(sum(r[GRAD + t] for t in terms) / r[GRAD + SOURCE_CE]
                                    for r in rows)
            for name, terms in RECON_TERMS}


def sign_test(deltas: Sequence[float]) -> float:
    """Two-sided exact binomial p of the signs of paired differences (ties dropped)."""
    wins = sum(d > 0 for d in deltas)
    n = sum(d != 0 for d in deltas)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, n - wins) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def mean_std(values: Sequence[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{statistics.mean(values):.2f} ({std:.2f})'


def collect(work_dir: Path, seeds: Sequence[int]) -> Dict[str, List[Optional[float]]]:
    """mIoU per run and seed; ``None`` for a run that has not been made (yet)."""
    readers = dict(train=train_miou, test=test_miou)
    runs = [(name, how) for name, _, how in RUNGS] + [
        (name, 'train') for name, _ in STAGE0 + DETACHED]
    table = {}
    for name, how in runs:
        table[name] = [read_or_none(readers[how], work_dir / name / f'seed{s}') for s in seeds]
    if all(v is None for values in table.values() for v in values):
        raise FileNotFoundError(f'no run of the LDR toy sweeps under {work_dir}')
    return table


def read_or_none(reader, run_dir: Path) -> Optional[float]:
    """The run's mIoU, ``None`` if its folder does not exist (a run not made); a folder without
    a readable result is an error that names it."""
    return reader(run_dir) if run_dir.exists() else None


def cell(value: Optional[float], fmt: str = '{:.2f}') -> str:
    return 'not run' if value is None else fmt.format(value)


def render(work_dir: Path, seeds: Sequence[int]) -> str:
    table = collect(work_dir, seeds)
    head = f'| run | {" | ".join(f"seed {s}" for s in seeds)} | mean (std) |'
    rule = f'|---|{"---|" * len(seeds)}---|'
    lines = ['Target val mIoU (%):', '', head, rule]
    labels = {name: label for name, label, _ in RUNGS} | dict(STAGE0) | dict(DETACHED)
    for name in [r[0] for r in RUNGS] + [s[0] for s in STAGE0 + DETACHED]:
        values = table[name]
        summary = mean_std(values) if None not in values else 'incomplete'
        lines.append(f'| {labels[name]} | {" | ".join(cell(v) for v in values)} | {summary} |')
    lines += ['', 'Paired differences (same seed): each rung against the one above it, then '
              'stage 0 with and without reconstruction, and the detached variant against '
              'LDR and against translation only:', '',
              f'| step | {" | ".join(f"seed {s}" for s in seeds)} | mean | better on | '
              'sign test p |', f'|---|{"---|" * len(seeds)}---|---|---|']
    pairs = list(zip([r[0] for r in RUNGS], [r[0] for r in RUNGS][1:]))
    pairs.extend(EXTRA_PAIRS)
    for below, above in pairs:
        if None in table[above] or None in table[below]:
            lines.append(f'| {above} - {below} | {" | ".join("" for _ in seeds)} | '
                         'not all runs made | | |')
            continue
        deltas = [a - b for a, b in zip(table[above], table[below])]
        better = sum(d > 0 for d in deltas)
        lines.append(f'| {above} - {below} | {" | ".join(f"{d:+.2f}" for d in deltas)} | '
                     f'{statistics.mean(deltas):+.2f} | {better}/{len(deltas)} | '
                     f'{sign_test(deltas):.2f} |')
    lines += ['', f'Source cross-entropy (`{SOURCE_CE}`) of the runs with reconstruction: '
              'first / last logged value, largest value:', '']
    lines += per_run_table(work_dir, seeds, source_ce,
                           lambda ce: f'{ce[0]:.3f} / {ce[1]:.3f}, max {ce[2]:.3f}')
    lines += ['', 'Gradient norms into the segmentor against the source cross-entropy\'s '
              f'(`{GRAD}*`, `TermGradientNormHook`): median over the logged iterations of '
              '(source term + target term) / source CE:', '']
    lines += per_run_table(work_dir, seeds, gradient_ratios, lambda ratios: ', '.join(
        f'{term} {value:.1f}x' for term, value in ratios.items()))
    return '\n'.join(lines)


def per_run_table(work_dir: Path, seeds: Sequence[int], read: Callable[[Path], Any],
                  show: Callable[[Any], str]) -> List[str]:
    """One row per run with reconstruction, one cell per seed: ``show(read(run_dir))``, or
    'not run or not logged' where the run is missing or ``read`` finds nothing."""
    lines = ['| run | ' + ' | '.join(f'seed {s}' for s in seeds) + ' |',
             f'|---|{"---|" * len(seeds)}']
    for name in RECON_RUNS:
        cells = []
        for s in seeds:
            run_dir = work_dir / name / f'seed{s}'
            value = read(run_dir) if run_dir.exists() else None
            cells.append('not run or not logged' if value is None else show(value))
        lines.append(f'| {name} | {" | ".join(cells)} |')
    return lines


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dir', type=Path, help='WORK_DIR of the two sweeps')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--out', help='markdown page to write the table into')
    parser.add_argument('--section', default='ldr-toy-ablation')
    args = parser.parse_args(argv)
    try:
        text = render(args.work_dir, args.seeds)
    except (FileNotFoundError, RuntimeError, KeyError) as err:
        raise SystemExit(f'ldr_toy_table: {err}')
    print(text)
    if args.out:
        stamp = datetime.date.today().isoformat()
        command = command_line(None if argv is None else [__file__, *argv])
        write_section(args.out, args.section,
                      f'Written on {stamp} by\n\n```shell\n{command}\n```\n\n{text}')


if __name__ == '__main__':
    main()

"""Training curves of an mmuda run, from the ``scalars.json`` that mmengine's LoggerHook writes.

One panel per kind of scalar, so that terms of very different scales do not flatten each other:

- segmentation losses (``src.*``), adversarial losses of the segmentor (``adv.*``),
- discriminator losses (``disc.*.loss_*``), discriminator accuracy (``disc.*.acc``: near 1 the
  discriminator wins, near 0.5 it is fooled),
- a panel per other prefix (``ent.*`` of MinEnt, ...), so a new method's terms need no code here,
- gradient norms of each loss term (``grad_norm/<group>/<term>``, written by
  ``TermGradientNormHook``): one panel per parameter group, log scale, one curve per term,
- validation metrics (``mIoU*``; records that have a ``step`` but no ``iter``).

WORK_DIR_OR_SCALARS_JSON is a run's work dir (every ``<timestamp>/vis_data/scalars.json`` below
it is read in timestamp order, so a resumed run continues its curves; a later value of a key at
the same iteration replaces an earlier one), a timestamp dir, or a ``scalars.json`` file.

    python tools/analysis_tools/plot_curves.py work_dirs/adaptsegnet_toy --out curves.png
    python tools/analysis_tools/plot_curves.py work_dirs/x --out lr.png --keys '*lr'
"""
import argparse
import fnmatch
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from mmuda.utils.atomic_write import atomic_write

# Every prefixed loss term, incl. the D step's total 'disc.loss' (not the segmentor's 'loss'),
# and the per-term gradient norms of TermGradientNormHook.
GRAD_NORM = 'grad_norm/'
DEFAULT_KEYS = ('*.*loss*', 'disc.*.acc', 'mIoU*', GRAD_NORM + '*')
PANELS = ('segmentation loss (src.*)', 'adversarial loss (adv.*)',
          'discriminator loss (disc.*)', 'discriminator accuracy (disc.*.acc)')
VALIDATION = 'validation'
Curves = Dict[str, Dict[int, float]]  # key -> iteration -> value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('path', metavar='WORK_DIR_OR_SCALARS_JSON',
                        help='work dir, timestamp dir or vis_data/scalars.json')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--keys', nargs='+', default=list(DEFAULT_KEYS),
                        help='scalars to plot, as fnmatch patterns (default: %(default)s)')
    parser.add_argument('--smooth', type=int, default=1,
                        help='moving-average window over logged points of training curves')
    parser.add_argument('--title', help='figure title (default: the run directory name)')
    return parser.parse_args(argv)


def scalar_files(path: Path) -> List[Path]:
    """The scalars.json files of a run, oldest first (timestamp dirs sort chronologically)."""
    if not path.exists():
        raise FileNotFoundError(f'{path} does not exist')
    if path.is_file():
        return [path]
    files = sorted(path.glob('vis_data/scalars.json')) + sorted(
        path.glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'no vis_data/scalars.json in {path} or its subdirectories '
                                '(was the run logged with LocalVisBackend?)')
    return files


def read_records(files: Iterable[Path]) -> Tuple[Curves, Curves]:
    """(training curves by ``iter``, validation curves by ``step``) of every numeric value."""
    train: Curves = defaultdict(dict)
    val: Curves = defaultdict(dict)
    for file in files:
        for lineno, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{file}:{lineno}: not a JSON record ({e})') from e
            if 'iter' in rec:
                curves, x = train, rec['iter']
            elif 'step' in rec:
                curves, x = val, rec['step']
            else:
                continue
            for key, value in rec.items():
                if key not in ('iter', 'step', 'epoch') and _is_number(value):
                    curves[key][int(x)] = float(value)
    return dict(train), dict(val)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def select(curves: Curves, patterns: Sequence[str]) -> Curves:
    """The curves some pattern matches; gradient norms only by patterns that name them
    (``grad_norm/...``), so that ``*.*loss*`` means the loss values."""
    def chosen(key: str) -> bool:
        usable = [p for p in patterns if p.startswith(GRAD_NORM) == key.startswith(GRAD_NORM)]
        return any(fnmatch.fnmatchcase(key, p) for p in usable)
    return {k: v for k, v in curves.items() if chosen(k)}


def panel_of(key: str, validation: bool) -> str:
    """Which panel a scalar goes to (see the module docstring)."""
    if validation:
        return VALIDATION
    if key.startswith(GRAD_NORM):
        return grad_norm_panel(key.split('/')[1])
    prefix = key.split('.')[0] if '.' in key else ''
    if prefix == 'disc':
        return PANELS[3] if key.endswith('.acc') else PANELS[2]
    known = dict(src=PANELS[0], adv=PANELS[1])
    return known.get(prefix, f'{prefix}.*' if prefix else 'other')


def grad_norm_panel(group: str) -> str:
    return f'gradient norm w.r.t. {group} (log)'


def is_grad_norm_panel(name: str) -> bool:
    return name.startswith('gradient norm w.r.t. ')


def curve_label(key: str) -> str:
    """A gradient-norm curve is labelled by its term (the panel names the group); ``loss`` is
    the gradient of the sum of the terms."""
    if key.startswith(GRAD_NORM):
        term = key.split('/', 2)[2]
        return 'sum of terms' if term == 'loss' else term
    return key


def group(train: Curves, val: Curves) -> Dict[str, Curves]:
    """Panel title -> its curves: ``PANELS`` in order, other prefixes, validation last."""
    panels: Dict[str, Curves] = defaultdict(dict)
    for curves, validation in ((train, False), (val, True)):
        for key, points in sorted(curves.items()):
            panels[panel_of(key, validation)][key] = points
    extra = sorted(p for p in panels if p not in PANELS and p != VALIDATION)
    order = [p for p in (*PANELS, *extra, VALIDATION) if p in panels]
    return {p: panels[p] for p in order}


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average; the first points average over what exists so far."""
    if window <= 1 or len(y) < 2:
        return y
    csum = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def term_colors(panels: Dict[str, Curves]) -> Dict[str, tuple]:
    """One colour per loss term over every gradient-norm panel, so that a term keeps its colour
    from group to group."""
    import matplotlib.pyplot as plt
    terms = sorted({curve_label(k) for name, curves in panels.items()
                    if is_grad_norm_panel(name) for k in curves})
    cmap = plt.get_cmap('tab10' if len(terms) <= 10 else 'tab20')
    return {term: cmap(i % cmap.N) for i, term in enumerate(terms)}


def plot(panels: Dict[str, Curves], out: Path, title: str, window: int) -> None:
    """One panel per row, shared iteration axis; written to ``out`` atomically."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), sharex=True,
                             squeeze=False)
    colors = term_colors(panels)
    for ax, (name, curves) in zip(axes[:, 0], panels.items()):
        for key, points in curves.items():
            x = np.array(sorted(points))
            y = np.array([points[i] for i in x])
            y = y if name == 'validation' else smooth(y, window)
            style = dict(color='black', linestyle='--') if curve_label(key) == 'sum of terms' \
                else {}
            if is_grad_norm_panel(name):
                style.setdefault('color', colors[curve_label(key)])
                if not np.any(y > 0):  # a term that does not reach this group
                    continue
                y = np.where(y > 0, y, np.nan)  # log scale: a zero is no point, not -inf
            ax.plot(x, y, marker='o' if len(x) < 20 else None, markersize=3,
                    label=curve_label(key), **style)
        if is_grad_norm_panel(name):
            ax.set_yscale('log')
        if name == PANELS[3]:
            ax.axhline(0.5, color='grey', linestyle=':', linewidth=1)
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='best')
    axes[-1, 0].set_xlabel('iteration')
    fig.suptitle(title)
    fig.tight_layout()
    try:
        atomic_write(out, lambda f: fig.savefig(f, format='png', dpi=100))
    finally:
        plt.close(fig)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.smooth < 1:
        sys.exit(f'error: --smooth must be >= 1, got {args.smooth}')
    path = Path(args.path)
    try:
        files = scalar_files(path)
        train, val = read_records(files)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    panels = group(select(train, args.keys), select(val, args.keys))
    if not panels:
        available = ', '.join(sorted({*train, *val}))
        sys.exit(f'error: no scalar in {path} matches --keys {" ".join(args.keys)}; '
                 f'available: {available}')
    run = path.parent.parent.parent if path.is_file() else path
    plot(panels, Path(args.out), args.title or run.resolve().name, args.smooth)
    count = sum(len(c) for c in panels.values())
    print(f'{count} curves in {len(panels)} panel(s) ({", ".join(panels)}) from '
          f'{len(files)} scalars.json -> {args.out}')


if __name__ == '__main__':
    main()

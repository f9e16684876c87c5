"""The toy leaderboard: every method's default toy config beside its same-budget source-only
baseline, with and without the source ColorJitter, over several seeds, in one table.

One command trains every run of ``LEADERBOARD`` once per seed through ``tools/train.py`` (the
``toy_seeds.py`` runner) and rewrites the table between the markers of ``docs/toy_domains.md``::

    OMP_NUM_THREADS=1 python tools/analysis_tools/toy_leaderboard.py --seeds 0 1 2 3 4

* Each run trains into ``WORK_DIR/<config name>/seed<S>`` (``seed<S>-<hash>`` when
  ``--cfg-options`` change every run, e.g. tiny schedules in a test), so no run is reused for
  another config, seed or schedule. A run whose final checkpoint exists is not retrained: an
  interrupted sweep resumes with the same command. ``--dry-run`` prints the commands.
* Its mIoU is the target-val mIoU of the validation at the end of training (``toy_seeds.py``).
* A two-stage method (FADA, the multi-adversarial method) first trains its source-only
  warm-up config and starts from its checkpoint, as the method README's pipeline does.
* Every method is compared with the baseline that shares its model, data, augmentation and
  600-iteration budget (and, if it is trained without the jitter, also with the jittered
  baseline of the same model): paired per-seed differences, their mean, and an exact two-sided
  sign test (binomial, ties dropped; with 5 seeds the smallest possible p is 0.0625).
* The table (and ``WORK_DIR/leaderboard.json``) is written atomically, with the command and
  date above it. LDR is not in the table: its toy pipeline has its own sweep
  (``ldr_toy_seeds.sh``, configs/ldr/README.md).
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import toy_seeds  # noqa: E402

from mmuda.utils.atomic_write import atomic_write_text  # noqa: E402

REPO = toy_seeds.REPO
BEGIN = '<!-- toy-leaderboard:begin (written by tools/analysis_tools/toy_leaderboard.py) -->'
END = '<!-- toy-leaderboard:end -->'


@dataclass(frozen=True)
class Entry:
    """One row: a config, the runs it is compared with, and an optional warm-up stage."""
    name: str
    config: str
    baselines: Tuple[str, ...] = ()
    warmup: Optional[str] = None
    model: str = ''


TOY = '_dlv2-r18-toy_1xb4-{}_toy-source_toy-target.py'
SO_ML = 'configs/source_only/source-only' + TOY.format(600)
SO_ML_J = 'configs/source_only/source-only-jitter' + TOY.format(600)
SO_SL = 'configs/source_only/source-only-singlelevel' + TOY.format(600)
SO_SL_J = 'configs/source_only/source-only-singlelevel-jitter' + TOY.format(600)
LEADERBOARD: Tuple[Entry, ...] = (
    Entry('source-only', SO_ML, model='multi-level'),
    Entry('source-only + jitter', SO_ML_J, ('source-only',), model='multi-level'),
    Entry('source-only 1-level', SO_SL, model='single-level'),
    Entry('source-only 1-level + jitter', SO_SL_J, ('source-only 1-level',),
          model='single-level'),
    Entry('AdaptSegNet', 'configs/adaptsegnet/adaptsegnet' + TOY.format(600),
          ('source-only', 'source-only + jitter'), model='multi-level'),
    Entry('AdaptSegNet + jitter', 'configs/adaptsegnet/adaptsegnet-jitter' + TOY.format(600),
          ('source-only + jitter',), model='multi-level'),
    Entry('ADVENT', 'configs/advent/advent' + TOY.format(600),
          ('source-only', 'source-only + jitter'), model='multi-level'),
    Entry('SSF-DAN', 'configs/ssf_dan/ssf-dan' + TOY.format(600),
          ('source-only 1-level', 'source-only 1-level + jitter'), model='single-level'),
    Entry('FADA + jitter', 'configs/fada/fada' + TOY.format(400),
          ('source-only 1-level + jitter',), warmup='configs/fada/fada-warmup' + TOY.format(200),
          model='single-level, 200 + 400'),
    Entry('multi-adversarial + jitter', 'configs/mada/mada' + TOY.format(400),
          ('source-only 1-level + jitter',), warmup='configs/mada/mada-warmup' + TOY.format(200),
          model='single-level, 200 + 400'),
)


@dataclass
class Sweep:
    """Where the runs go and which options every run gets."""
    work_dir: Path
    data_root: str
    cfg_options: List[str] = field(default_factory=list)

    def run_dir(self, config: str, seed: int) -> Path:
        """``WORK_DIR/<config name>/seed<S>``; common ``--cfg-options`` add their hash."""
        suffix = ''
        if self.cfg_options:
            digest = hashlib.sha1('\n'.join(self.cfg_options).encode()).hexdigest()[:8]
            suffix = f'-{digest}'
        return self.work_dir / Path(config).stem / f'seed{seed}{suffix}'

    def commands(self, entry: Entry, seed: int) -> List[Tuple[List[str], Path]]:
        """The (command, final checkpoint) of the entry's warm-up (if any) and its run."""
        steps = []
        options = list(self.cfg_options)
        if entry.warmup:
            cmd, ckpt = toy_seeds.train_command(entry.warmup, self.run_dir(entry.warmup, seed),
                                                seed, self.data_root, self.cfg_options)
            steps.append((cmd, ckpt))
            options.append(f'load_from={ckpt}')
        steps.append(toy_seeds.train_command(entry.config, self.run_dir(entry.config, seed),
                                             seed, self.data_root, options))
        return steps


def run(cmd: List[str], ckpt: Path) -> None:
    """Train unless the final checkpoint exists (a finished run of an interrupted sweep)."""
    if ckpt.exists():
        print(f'[toy_leaderboard] {ckpt} exists, not retraining', flush=True)
        return
    print('[toy_leaderboard] ' + shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def sign_test(deltas: List[float]) -> Tuple[int, int, float]:
    """Wins, losses and the exact two-sided sign-test p (ties dropped): the probability, if
    a win and a loss were equally likely, of a split at least as uneven as the observed one."""
    wins = sum(d > 0 for d in deltas)
    losses = sum(d < 0 for d in deltas)
    n = wins + losses
    if n == 0:
        return 0, 0, 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n
    return wins, losses, min(1.0, 2 * tail)


def summarise(results: Dict[str, List[float]], seeds: List[int],
              entries: Tuple[Entry, ...]) -> dict:
    """Per-run mean and std, and each method's paired comparison with its baselines."""
    runs = {}
    for e in entries:
        values = results[e.name]
        runs[e.name] = dict(config=e.config, warmup=e.warmup, model=e.model, per_seed=values,
                            mean=statistics.mean(values),
                            std=statistics.stdev(values) if len(values) > 1 else None)
    comparisons = []
    for e in entries:
        for base in e.baselines:
            deltas = [a - b for a, b in zip(results[e.name], results[base])]
            wins, losses, p = sign_test(deltas)
            comparisons.append(dict(run=e.name, baseline=base, deltas=deltas,
                                    mean=statistics.mean(deltas), wins=wins, losses=losses,
                                    p=p))
    return dict(seeds=seeds, runs=runs, comparisons=comparisons)


def _std(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}'


def markdown(summary: dict, command: str, date: str, threads: str) -> str:
    """The leaderboard section of docs/toy_domains.md."""
    seeds = summary['seeds']
    head = ' | '.join(f'seed {s}' for s in seeds)
    lines = [f'Command (run {date}, OMP_NUM_THREADS={threads}):', '',
             f'    {command}', '',
             f'Target val mIoU (100 images), seeds {", ".join(map(str, seeds))}:', '',
             f'| run | model | config | {head} | mean | std |',
             f'|---|---|---|{"---|" * len(seeds)}---|---|']
    for name, r in summary['runs'].items():
        config = Path(r['config']).name
        if r['warmup']:
            config = f'{Path(r["warmup"]).name} then {config}'
        values = ' | '.join(f'{v:.2f}' for v in r['per_seed'])
        lines.append(f'| {name} | {r["model"]} | `{config}` | {values} | {r["mean"]:.2f} | '
                     f'{_std(r["std"])} |')
    lines += ['', 'Paired differences (run minus baseline, same seed), exact two-sided sign '
              'test:', '',
              f'| run | baseline | {head} | mean | wins / losses | sign test p |',
              f'|---|---|{"---|" * len(seeds)}---|---|---|']
    for c in summary['comparisons']:
        deltas = ' | '.join(f'{d:+.2f}' for d in c['deltas'])
        lines.append(f'| {c["run"]} | {c["baseline"]} | {deltas} | {c["mean"]:+.2f} | '
                     f'{c["wins"]} / {c["losses"]} | {c["p"]:.3g} |')
    return '\n'.join(lines)


def replace_section(doc: Path, section: str) -> None:
    """Put ``section`` between the markers of ``doc`` (atomically; the markers must exist)."""
    text = doc.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f'{doc}: expected one line {BEGIN!r} followed by one line {END!r} '
                         'around the leaderboard')
    before, rest = text.split(BEGIN)
    after = rest.split(END)[1]
    atomic_write_text(f'{before}{BEGIN}\n{section}\n{END}{after}', doc)


def select(names: Optional[List[str]]) -> Tuple[Entry, ...]:
    """The entries named by ``--only`` (with the baselines they are compared with)."""
    if not names:
        return LEADERBOARD
    known = {e.name: e for e in LEADERBOARD}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f'--only: unknown run(s) {unknown}; the runs are {list(known)}')
    wanted = set(names) | {b for n in names for b in known[n].baselines}
    return tuple(e for e in LEADERBOARD if e.name in wanted)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument('--work-dir', default='work_dirs/toy_leaderboard')
    parser.add_argument('--data-root', default='data/toy_domains')
    parser.add_argument('--docs', default=str(REPO / 'docs/toy_domains.md'),
                        help='the file whose leaderboard section is rewritten')
    parser.add_argument('--only', nargs='+', metavar='RUN',
                        help='train and tabulate only these runs and their baselines')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='added to every run (their hash is added to the run folders)')
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    args = parser.parse_args(argv)

    entries = select(args.only)
    # absolute: the trainings run in the repository, this command may not
    sweep = Sweep(Path(args.work_dir).resolve(), str(Path(args.data_root).resolve()),
                  list(args.cfg_options))
    if not args.dry_run:
        from mmuda.datasets.toy_domains import generate_toy_domains
        generate_toy_domains(sweep.data_root)
    results: Dict[str, List[float]] = {e.name: [] for e in entries}
    for seed in args.seeds:
        for entry in entries:
            steps = sweep.commands(entry, seed)
            for step, (cmd, ckpt) in enumerate(steps):
                if args.dry_run:
                    stage = ', warm-up' if step < len(steps) - 1 else ''
                    state = 'done' if ckpt.exists() else 'to train'
                    print(f'# {entry.name}{stage}, seed {seed} ({state})\n{shlex.join(cmd)}')
                else:
                    run(cmd, ckpt)
            if not args.dry_run:
                results[entry.name].append(toy_seeds.final_miou(steps[-1][1].parent))
    if args.dry_run:
        return
    summary = summarise(results, args.seeds, entries)
    command = shlex.join(['python', 'tools/analysis_tools/toy_leaderboard.py',
                          *(sys.argv[1:] if argv is None else argv)])
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    section = markdown(summary, command, date, os.environ.get('OMP_NUM_THREADS', 'unset'))
    print(section)
    atomic_write_text(json.dumps(dict(summary, command=command, date=date), indent=2),
                      sweep.work_dir / 'leaderboard.json')
    replace_section(Path(args.docs), section)
    print(f'[toy_leaderboard] wrote {args.docs} and {sweep.work_dir / "leaderboard.json"}')


if __name__ == '__main__':
    main()

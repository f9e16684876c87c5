"""Train configs over several seeds on the toy domains and tabulate target-val mIoU.

Each ``--run NAME=CONFIG`` is trained once per seed through ``tools/train.py`` into
``WORK_DIR/NAME/seed{S}``; runs go in the order given, so a later run can start from an earlier
one's checkpoint (a two-stage method's warm-up). ``--options NAME=KEY=VALUE`` adds a
``--cfg-options`` entry to one run; ``{seed}`` and ``{work_dir}`` in a value are filled in, e.g.::

    python tools/analysis_tools/toy_seeds.py --seeds 0 1 2 \\
        --run warmup=configs/fada/fada-warmup_...py --run fada=configs/fada/fada_...py \\
        --options 'fada=load_from={work_dir}/warmup/seed{seed}/iter_200.pth'

``--exec NAME=COMMAND`` puts a command (a translation, pseudo labels) between the runs, in the
same order as the ``--run`` entries. It runs without a shell: COMMAND is split into arguments
as a shell splits words (quotes group), then ``{seed}`` and ``{work_dir}`` are filled into each
argument, so a path with spaces or shell characters stays one argument and is never
interpreted; a leading ``python`` is the interpreter running this script. Shell operators
(``&&``, ``|``, ``;``, redirections) are refused: give one ``--exec`` per command
(``tools/analysis_tools/ldr_toy_seeds.sh`` runs LDR's whole pipeline this way).

A run whose final checkpoint exists is not retrained, and a command that finished is not run
again (an interrupted sweep resumes). The mIoU of the validation at the end of training is read
from the run's ``vis_data/scalars.json`` (runs without a validation loop, e.g. a translator, are
left out of the table); the table (per seed, mean and standard deviation) is printed and written
to ``WORK_DIR/results.json`` (``--results`` names another file).
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import List

from mmengine.config import Config, DictAction

from mmuda.utils.atomic_write import atomic_write_text

REPO = Path(__file__).resolve().parents[2]


def parse_pairs(items: list, what: str) -> list:
    pairs = []
    for item in items:
        name, sep, value = item.partition('=')
        if not sep or not name or not value:
            raise SystemExit(f'{what} expects NAME=VALUE, got {item!r}')
        pairs.append((name, value))
    return pairs


def final_miou(run_dir: Path) -> float:
    """The last mIoU logged by the newest training log in ``run_dir``."""
    logs = sorted(run_dir.glob('*/vis_data/scalars.json'))
    for log in reversed(logs):
        rows = [json.loads(line) for line in log.read_text().splitlines() if 'mIoU' in line]
        if rows:
            return float(rows[-1]['mIoU'])
    raise RuntimeError(f'no mIoU in {run_dir}/*/vis_data/scalars.json: did validation run?')


def merged_config(config: str, options: list) -> Config:
    """The config as tools/train.py builds it from ``config`` and ``--cfg-options options``."""
    cfg = Config.fromfile(str(REPO / config))
    parsed = argparse.Namespace()
    DictAction(option_strings=[], dest='options')(None, parsed, list(options))
    cfg.merge_from_dict(parsed.options or {})
    return cfg


def train_command(config: str, run_dir: Path, seed: int, data_root: str,
                  options: list) -> tuple:
    """The tools/train.py command of one run and the final checkpoint it writes (its
    ``max_iters`` after ``options``, so a shortened schedule names its own checkpoint)."""
    cfg = Config.fromfile(str(REPO / config))
    opts = [f'randomness.seed={seed}', 'randomness.deterministic=False']
    if (cfg.get('default_hooks') or {}).get('visualization'):
        opts.append('default_hooks.visualization.draw=False')
    # point the toy datasets at --data-root; an empty data_root (a folder a previous step wrote,
    # e.g. translated images) is left alone
    dataset = cfg.train_dataloader.dataset
    for key, part in (('source', 'source'), ('target', 'target')):
        if dataset.get(key, {}).get('data_root'):
            opts.append(f'train_dataloader.dataset.{key}.data_root={data_root}/{part}')
    if (cfg.get('val_dataloader') or {}).get('dataset', {}).get('data_root'):
        opts.append(f'val_dataloader.dataset.data_root={data_root}/target')
    opts += list(options)
    max_iters = merged_config(config, opts).train_cfg.max_iters
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(REPO / config),
           '--work-dir', str(run_dir), '--cfg-options', *opts]
    return cmd, run_dir / f'iter_{max_iters}.pth'


def train(config: str, run_dir: Path, seed: int, data_root: str, options: list) -> None:
    """Train one run unless its final checkpoint exists (an interrupted sweep resumes)."""
    cmd, ckpt = train_command(config, run_dir, seed, data_root, options)
    if ckpt.exists():
        print(f'[toy_seeds] {ckpt} exists, not retraining', flush=True)
        return
    print('[toy_seeds] ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def has_validation(config: str) -> bool:
    cfg = Config.fromfile(str(REPO / config))
    return bool(cfg.get('val_cfg')) and bool(cfg.get('val_dataloader'))


SHELL_OPERATORS = ('&&', '||', '|', ';', '&', '>', '>>', '<', '2>', '2>&1')


def command_argv(command: str, seed: int, work_dir: Path) -> List[str]:
    """The argument list of an ``--exec`` command (see the module doc): no shell involved."""
    argv = shlex.split(command)
    operators = [a for a in argv if a in SHELL_OPERATORS]
    if not argv or operators:
        raise SystemExit(f'--exec runs one command without a shell, got {command!r}'
                         + (f' with {" ".join(operators)}: give one --exec per command'
                            if operators else ''))
    argv = [a.format(seed=seed, work_dir=work_dir) for a in argv]
    if argv[0] in ('python', 'python3'):
        argv[0] = sys.executable
    return argv


def execute(argv: List[str], done: Path) -> None:
    """Run a command once (``done`` marks that it finished), without a shell."""
    if done.exists():
        print(f'[toy_seeds] {done} exists, not running again: {shlex.join(argv)}', flush=True)
        return
    print(f'[toy_seeds] {shlex.join(argv)}', flush=True)
    subprocess.run(argv, check=True, cwd=REPO)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.touch()


class Step(argparse.Action):
    """--run and --exec append to one ordered list of (kind, NAME=VALUE)."""

    def __call__(self, parser, namespace, value, option_string=None):
        steps = getattr(namespace, 'steps', None) or []
        steps.append((self.dest, value))
        namespace.steps = steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--run', action=Step, metavar='NAME=CONFIG')
    parser.add_argument('--exec', action=Step, metavar='NAME=COMMAND')
    parser.add_argument('--options', action='append', default=[], metavar='NAME=KEY=VALUE')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/toy_seeds')
    parser.add_argument('--data-root', default='data/toy_domains')
    parser.add_argument('--results', default='results.json',
                        help='file name of the table in WORK_DIR (default: %(default)s)')
    args = parser.parse_args()

    steps = getattr(args, 'steps', None) or []
    if not any(kind == 'run' for kind, _ in steps):
        parser.error('at least one --run NAME=CONFIG is required')

    from mmuda.datasets.toy_domains import generate_toy_domains
    generate_toy_domains(args.data_root)
    steps = [(kind, *pair) for kind, pair in zip(
        [k for k, _ in steps], parse_pairs([v for _, v in steps], '--run/--exec'))]
    runs = [(name, config) for kind, name, config in steps if kind == 'run']
    extra = {n: [] for n, _ in runs}
    for name, option in parse_pairs(args.options, '--options'):
        if name not in extra:
            raise SystemExit(f'--options names run {name!r}, but the runs are {list(extra)}')
        extra[name].append(option)
    names = [n for n, config in runs if has_validation(config)]
    work_dir = Path(args.work_dir)
    results = {}
    for seed in args.seeds:
        for kind, name, value in steps:
            run_dir = work_dir / name / f'seed{seed}'
            if kind == 'exec':
                execute(command_argv(value, seed, work_dir), run_dir / '.done')
                continue
            options = [o.format(seed=seed, work_dir=work_dir) for o in extra[name]]
            train(value, run_dir, seed, args.data_root, options)
            if name in names:
                results.setdefault(name, {})[seed] = final_miou(run_dir)

    print(f'| run | {" | ".join(f"seed {s}" for s in args.seeds)} | mean | std |')
    print(f'|---|{"---|" * len(args.seeds)}---|---|')
    summary = {}
    for name in names:
        values = [results[name][s] for s in args.seeds]
        mean = statistics.mean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        summary[name] = dict(config=dict(runs)[name], per_seed=values, mean=mean, std=std)
        print(f'| {name} | {" | ".join(f"{v:.2f}" for v in values)} | {mean:.2f} | {std:.2f} |')
    atomic_write_text(json.dumps(dict(seeds=args.seeds, runs=summary), indent=2),
                      work_dir / args.results)


if __name__ == '__main__':
    main()

"""Real-size smoke: every GTA5 / SYNTHIA / Cross-City config trains 2 iterations on CPU.

    python tools/smoke_real_configs.py [--root work_dirs/smoke] [--only SUBSTRING ...] [--ci]
        [--with-cp] [--threads N] [--list] [--out docs/benchmark.md --section smoke]

What a user has after following docs/dataset_prepare.md and docs/get_started.md is rebuilt in
``ROOT`` (the working directory of every command): the four raw trees at their real image
sizes, converted by ``tools/dataset_converters/*.py`` as the docs say, and every published
weights file under ``checkpoints/`` in its original layout (``mmuda/testing/real_fixtures.py``).
Then:

* every paper row of ``tools/reproduce.py`` (``mmuda/reproduce/rows.py``) runs stage by stage
  with the row's own commands, so the chains are exercised: checkpoints through ``load_from``,
  pseudo / proxy labels through ``tools/generate_pseudo_labels.py``, translated images through
  ``tools/translate_dataset.py``, and the final (multi-scale) test through ``tools/test.py``;
* every other real config (ablations, other backbones) trains alone through ``tools/train.py``;
  paths it reads under ``work_dirs/`` point at what the rows wrote.

Every training run gets ``--cfg-options`` for the schedule only (:data:`SMOKE_OPTIONS`: 2
iterations, validation and checkpoint at iteration 2, a log line per iteration, one image per
branch per iteration); image sizes, crops and models are the configs'. ``--with-cp`` adds
activation checkpointing to backbones that support it (less memory, more time; the peak
memory then is not what the config needs without it). Validation runs on the 2 fixture val
images at the real evaluation size.

A stage already finished in ``ROOT`` is skipped (as ``tools/reproduce.py`` does), so an
interrupted smoke continues where it stopped. Exit status 0 when every selected config passed.
The table (seconds per iteration and peak resident memory of each training process, CPU) goes
to stdout, ``ROOT/smoke_results.json`` and, with ``--out``, to a section of a markdown page.
"""
import argparse
import inspect
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmuda.reproduce import (  # noqa: E402
    FINISHED,
    PlannedStage,
    RunOptions,
    all_rows,
    build_command,
    plan_row,
    state,
)
from mmuda.reproduce.plan import load_config  # noqa: E402
from mmuda.reproduce.stages import TRAIN, Row  # noqa: E402

sys.path.insert(0, str(REPO / 'tools' / 'analysis_tools'))
from benchmark_doc import command_line, load_note, write_section  # noqa: E402

from mmuda.utils.atomic_write import atomic_write_text  # noqa: E402

ITERS = 2
SMOKE_OPTIONS: Tuple[Tuple[str, str], ...] = (
    ('train_cfg.max_iters', str(ITERS)),
    ('train_cfg.val_interval', str(ITERS)),
    ('default_hooks.checkpoint.interval', str(ITERS)),
    ('default_hooks.logger.interval', '1'),
    # one source (+ one target) image per iteration: the recipes' batches of 4-16 images at
    # these sizes need 4-16x the memory of a CPU smoke
    ('train_dataloader.batch_size', '1'),
)
# One config per method and benchmark, for CI (the whole smoke takes hours on 2 CPU cores).
CI_CONFIGS = (
    'adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512',
)
REAL_CONFIG_DIRS = ('adaptsegnet', 'advent', 'fada', 'ldr', 'mada', 'source_only', 'ssf_dan')


@dataclass
class Result:
    """One smoke command and what it did."""
    unit: str                  # row key or 'config'
    stage: str
    config: str
    status: str                # passed, failed, skipped (finished before), not run
    seconds: Optional[float] = None
    s_per_iter: Optional[float] = None
    peak_mib: Optional[float] = None
    load: str = ''                # 1-min load average at start and end (2 CPUs here)
    note: str = ''
    # how the stage ran (records from before these fields existed leave them unknown)
    with_cp: Optional[bool] = None
    threads: Optional[int] = None


# ---------------------------------------------------------------- what runs
def real_configs() -> List[Path]:
    return sorted(p for d in REAL_CONFIG_DIRS for p in (REPO / 'configs' / d).glob('*.py')
                  if 'toy' not in p.name)


def real_rows() -> List[Row]:
    return [row for row in all_rows().values() if row.benchmark != 'toy']


def row_configs(row: Row) -> List[str]:
    return [Path(s.config).stem for s in row.stages if s.config]


def selected(names: Sequence[str], only: Sequence[str]) -> bool:
    return not only or any(o in n for o in only for n in names)


def checkpointing_options(cfg, stage: str = '') -> List[str]:
    """``[STAGE:]model[.segmentor].backbone.with_cp=True`` where the backbone takes it."""
    from mmseg.registry import MODELS
    model = cfg.model
    prefix = 'model.segmentor' if 'segmentor' in model else 'model'
    backbone = (model.get('segmentor') or model).get('backbone')
    if not backbone:
        return []
    cls = MODELS.get(backbone['type'])
    takes = any('with_cp' in inspect.signature(c.__init__).parameters for c in cls.__mro__
                if '__init__' in vars(c))
    return [f'{stage + ":" if stage else ""}{prefix}.backbone.with_cp=True'] if takes else []


# ---------------------------------------------------------------- running one command
def run_measured(argv: List[str], log: Path, env: Dict[str, str]) -> Tuple[int, float, float]:
    """Run ``argv`` (output to ``log``); return exit status, seconds and peak RSS in MiB of
    the process (``wait4``: the child's own maximum resident set, which on Linux includes
    its reaped children's maxima, e.g. data loader workers)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, 'wb') as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.time() - start, usage.ru_maxrss / 1024.0


def seconds_per_iter(work_dir: str, since: float) -> Optional[float]:
    """mmengine's ``time`` of the last logged training iteration (the first includes warm-up)
    from the newest ``vis_data/scalars.json`` of ``work_dir`` written after ``since``."""
    files = [p for p in Path(work_dir).glob('*/vis_data/scalars.json')
             if p.stat().st_mtime >= since]
    if not files:
        return None
    entries = [json.loads(line) for line in max(files).read_text().splitlines() if line.strip()]
    times = [e['time'] for e in entries if 'iter' in e and 'time' in e]  # not the val lines
    return times[-1] if times else None


def failure_note(log: Path) -> str:
    """The last error line of a log (a traceback's final line), for the table."""
    lines = [ln.strip() for ln in log.read_text(errors='replace').splitlines() if ln.strip()]
    for line in reversed(lines):
        if 'Error' in line or 'error:' in line:
            return line[:300]
    return lines[-1][:300] if lines else ''


class Smoke:
    def __init__(self, root: Path, with_cp: bool, env: Dict[str, str], logs: Path,
                 table_only: bool = False) -> None:
        self.root, self.with_cp, self.env, self.logs = root, with_cp, env, logs
        self.table_only = table_only
        self.results: List[Result] = []

    def run_row(self, row: Row) -> None:
        opts = RunOptions(root='work_dirs', cfg_options=self.row_options(row))
        stages = plan_row(row, opts)
        failed = None
        for planned in stages:
            config = Path(planned.config).stem if planned.config else '-'
            if failed:
                self.record(Result(row.key, planned.name, config, 'not run',
                                   note=f'stage {failed!r} failed'))
                continue
            if state(planned)[0] == FINISHED:
                self.record(self.earlier(row.key, planned.name, config, 'earlier run'), save=False)
                continue
            if self.table_only:
                self.record(Result(row.key, planned.name, config, 'not run'))
                continue
            command = build_command(planned, opts, row.key)
            result = self.run(row.key, planned.name, config, command.argv, planned)
            if result.status != 'passed':
                failed = planned.name

    def row_options(self, row: Row) -> List[str]:
        options = [f'{k}={v}' for k, v in SMOKE_OPTIONS
                   if k != 'train_dataloader.batch_size']
        # batch only for training stages (a test or labelling stage has its own loaders)
        for stage in row.stages:
            if stage.kind == TRAIN:
                options.append(f'{stage.name}:train_dataloader.batch_size=1')
                if self.with_cp:
                    cfg = load_config(REPO / stage.config, [], stage.name)
                    options += checkpointing_options(cfg, stage.name)
        return options

    def run_config(self, config: Path, produced: Dict[str, str]) -> None:
        """A config no row runs: tools/train.py alone, its ``work_dirs/`` inputs pointed at
        what the rows wrote (``produced``: config value -> smoke path)."""
        from mmengine.config import Config
        cfg = Config.fromfile(str(config))
        options = [f'{k}={v}' for k, v in SMOKE_OPTIONS]
        missing = []
        for key, value in work_dir_paths(cfg.to_dict()):
            path = produced.get(value, smoke_path(value))
            if not osp.exists(path):
                missing.append(f'{key}={value}')
            options.append(f'{key}={path}')
        if self.with_cp:
            options += checkpointing_options(cfg)
        work_dir = osp.join('work_dirs', config.stem)
        final = osp.join(work_dir, f'iter_{ITERS}.pth')
        if osp.isfile(final):
            self.record(self.earlier('config', 'train', config.stem, 'earlier run'), save=False)
            return
        if self.table_only:
            self.record(Result('config', 'train', config.stem, 'not run'))
            return
        if missing:
            self.record(Result('config', 'train', config.stem, 'not run',
                               note='reads outputs no smoke stage writes: ' + ', '.join(missing)))
            return
        argv = [sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
                '--work-dir', work_dir, '--cfg-options', *options]
        self.run('config', 'train', config.stem, argv, None, work_dir)

    def run(self, unit: str, stage: str, config: str, argv: List[str],
            planned: Optional[PlannedStage], work_dir: str = None) -> Result:
        name = f'{unit.replace(" ", "_")}.{stage}.{config}'
        log = self.logs / f'{name}.log'
        print(f'[smoke] {unit} / {stage}: {config}', flush=True)
        start, load = time.time(), os.getloadavg()[0]
        code, seconds, peak = run_measured(argv, log, self.env)
        kind = planned.stage.kind if planned else TRAIN
        work_dir = work_dir or (planned.work_dir if planned else None)
        result = Result(unit, stage, config, 'passed' if code == 0 else 'failed',
                        seconds=round(seconds, 1), peak_mib=round(peak),
                        load=f'{load:.1f}-{os.getloadavg()[0]:.1f}',
                        with_cp=self.with_cp, threads=int(self.env['OMP_NUM_THREADS']))
        if kind == TRAIN and work_dir:
            result.s_per_iter = seconds_per_iter(work_dir, start)
            if code == 0 and not osp.isfile(osp.join(work_dir, f'iter_{ITERS}.pth')):
                result.status, result.note = 'failed', f'no iter_{ITERS}.pth written'
        if planned and code == 0 and state(planned)[0] != FINISHED:
            result.status, result.note = 'failed', f'did not write {planned.output}'
        if code != 0:
            result.note = failure_note(log) + f' (log: {log})'
        self.record(result)
        return result

    def record_file(self, unit: str, stage: str, config: str) -> Path:
        return self.root / 'results' / f'{unit.replace(" ", "_")}.{stage}.{config}.json'

    def earlier(self, unit: str, stage: str, config: str, note: str) -> Result:
        """A stage finished by an earlier smoke run: its recorded measurement, if any."""
        path = self.record_file(unit, stage, config)
        if path.is_file():
            result = Result(**json.loads(path.read_text()))
            result.note = (result.note + '; ' if result.note else '') + note
            return result
        return Result(unit, stage, config, 'skipped', note=note)

    def record(self, result: Result, save: bool = True) -> None:
        if save and result.status in ('passed', 'failed'):
            path = self.record_file(result.unit, result.stage, result.config)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(json.dumps(asdict(result)), path)
        self.results.append(result)
        print(f'[smoke]   {result.status}'
              + (f' in {result.seconds:.0f} s, peak {result.peak_mib:.0f} MiB'
                 if result.seconds is not None else '')
              + (f': {result.note}' if result.note else ''), flush=True)


def work_dir_paths(node, prefix: str = '') -> List[Tuple[str, str]]:
    """``(dotted key, value)`` of every string under ``work_dirs/`` in a config dict."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += work_dir_paths(value, f'{prefix}{key}.' if prefix or key else key)
    elif isinstance(node, str) and node.startswith('work_dirs/'):
        found.append((prefix.rstrip('.'), node))
    return found


def smoke_path(path: str) -> str:
    """A config's ``work_dirs/<run>/iter_<N>.pth`` as the smoke writes it (``iter_2``)."""
    head, name = osp.split(path)
    if name.startswith('iter_') and name.endswith('.pth'):
        return osp.join(head, f'iter_{ITERS}.pth')
    return path


# ---------------------------------------------------------------- the table
def flag(value: Optional[bool]) -> str:
    return '-' if value is None else ('yes' if value else 'no')


def table(results: Sequence[Result], command: str, note: str) -> str:
    lines = [f'`{command}`', '', note, '',
             '| row / config | stage | config | status | s/iter (CPU) | peak RSS MiB | '
             'seconds | load | with-cp | threads | note |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in results:
        lines.append(f'| {r.unit} | {r.stage} | `{r.config}` | {r.status} | '
                     f'{"-" if r.s_per_iter is None else f"{r.s_per_iter:.1f}"} | '
                     f'{"-" if r.peak_mib is None else f"{r.peak_mib:.0f}"} | '
                     f'{"-" if r.seconds is None else f"{r.seconds:.0f}"} | {r.load or "-"} | '
                     f'{flag(r.with_cp)} | {"-" if r.threads is None else r.threads} | '
                     f'{r.note.replace("|", "/")} |')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default='work_dirs/smoke',
                        help='working directory: data/, checkpoints/, work_dirs/, logs/')
    parser.add_argument('--only', nargs='+', default=[],
                        help='run the rows / configs whose config names contain one of these')
    parser.add_argument('--ci', action='store_true', help='only the CI subset (CI_CONFIGS)')
    parser.add_argument('--config', nargs='+', default=[], metavar='FILE',
                        help='run these config files alone instead (e.g. an edited copy of a '
                        'real config; its work_dirs/ inputs must exist in ROOT)')
    parser.add_argument('--with-cp', action='store_true',
                        help='activation checkpointing in backbones that support it')
    parser.add_argument('--threads', type=int, default=1, help='OMP_NUM_THREADS of each run')
    parser.add_argument('--list', action='store_true', help='print what would run')
    parser.add_argument('--table-only', action='store_true',
                        help='run nothing: the table of what earlier runs in ROOT measured')
    parser.add_argument('--out', help='markdown page to write the table into')
    parser.add_argument('--section', default='smoke', help='section name in --out')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    only = list(args.only) + (list(CI_CONFIGS) if args.ci else [])
    rows = [r for r in real_rows() if selected(row_configs(r), only)]
    in_rows = {c for r in real_rows() for c in row_configs(r)}
    alone = [c for c in real_configs() if c.stem not in in_rows and selected([c.stem], only)]
    if args.config:
        rows, alone = [], [Path(c).resolve() for c in args.config]
    if args.list:
        for row in rows:
            print(f'row {row.key}: {" -> ".join(s.name for s in row.stages)}')
        for config in alone:
            print(f'config {config}')
        return 0
    command = command_line([sys.argv[0]] + list(argv if argv is not None else sys.argv[1:]))
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]),
        OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if not args.table_only:
        from mmuda.testing.real_fixtures import prepare_root
        prepare_root(root, env)
    os.chdir(root)  # the configs' data/, checkpoints/ and work_dirs/ are relative
    smoke = Smoke(root, args.with_cp, env, root / 'logs', args.table_only)
    load_start = os.getloadavg()
    for row in rows:
        smoke.run_row(row)
    for config in alone:
        smoke.run_config(config, {})
    load_stop = os.getloadavg()
    results = smoke.results
    atomic_write_text(json.dumps([asdict(r) for r in results], indent=1),
                      root / 'smoke_results.json')
    collected = ('Collected with --table-only from what the same command without it measured '
                 'in earlier runs (per stage; "not run": not reached in the time available). '
                 if args.table_only else '')
    note = collected + ('CPU only, one run at a time; each stage\'s threads and activation '
            'checkpointing (--with-cp: backbone activations recomputed in the backward pass, '
            'less memory, more time) are in its columns; batch 1 (+1 target); s/iter = '
            'mmengine\'s time of iteration 2; peak RSS = the process\'s maximum resident set '
            '(wait4). '
            + ('' if args.table_only else load_note(load_start, load_stop)))
    text = table(results, command, note)
    print(text)
    if args.out:
        write_section(str(REPO / args.out) if not osp.isabs(args.out) else args.out,
                      args.section, text)
    bad = [r for r in results if r.status in ('failed', 'not run')]
    if args.table_only:
        return 0
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())

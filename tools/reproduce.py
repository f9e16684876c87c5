"""Reproduce one row of a paper's results table with one command: every stage in order.

    python tools/reproduce.py METHOD BENCHMARK [--dry-run] [--gpus N]
        [--launcher slurm --partition P [--job-name J]] [--work-dir-root DIR] [--seed S]
        [--cfg-options [STAGE:]KEY=VALUE ...]
    python tools/reproduce.py --list

e.g. ``python tools/reproduce.py fada gta5`` runs FADA's warm-up, adaptation, pseudo labels,
self-distillation and multi-scale test; ``python tools/reproduce.py ldr toy`` LDR's whole toy
pipeline. Each stage is one command of an existing tool (``tools/train.py``, ``tools/test.py``,
``tools/generate_pseudo_labels.py``, ``tools/translate_dataset.py``), printed before it runs so
that it can be run by hand; the stages of every row are declared in ``mmuda/reproduce/rows.py``
and the run-book is ``docs/reproduce.md``.

Resuming: run the same command again. A finished stage (final checkpoint, the completion JSON
of a label or image folder, a metrics JSON newer than the checkpoint it evaluated) is skipped;
an interrupted training stage resumes from its latest checkpoint (``--resume``). The run ends
with a table of our mIoU (from the metrics mmengine wrote) beside the paper's (from
``configs/*/metafile.yaml``), also written to ``WORK_DIR_ROOT/reproduce/METHOD_BENCHMARK.json``.
Each stage's output is also kept in ``WORK_DIR_ROOT/reproduce/METHOD_BENCHMARK/STAGE.log``.

``--cfg-options KEY=VALUE`` goes to every stage that runs a config, ``STAGE:KEY=VALUE`` to one
stage (a test or labelling stage also gets the options of the training stage it reads). Exit
status: 0 done, 1 a stage failed, 2 the row cannot run (unknown row, missing config or weights,
stale outputs).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's mmuda, as tools/dist_train.sh sets PYTHONPATH

from mmuda.reproduce import (  # noqa: E402
    FINISHED,
    INTERRUPTED,
    NEW,
    PlanError,
    PlannedStage,
    Row,
    RunOptions,
    all_rows,
    build_command,
    find_row,
    plan_row,
    stage_metrics,
    stale_inputs,
    state,
)
from mmuda.reproduce.commands import Command  # noqa: E402
from mmuda.reproduce.rows import UnknownRow  # noqa: E402
from mmuda.reproduce.stages import TEST, TRAIN  # noqa: E402

PREFIX = '[reproduce]'


class RowError(RuntimeError):
    """The row stops: the message names the stage, the file and what to do."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('method', nargs='?', help='e.g. fada, ldr, adaptsegnet, ssf-dan')
    parser.add_argument('benchmark', nargs='?',
                        help='gta5, synthia, crosscity-{rome,rio,tokyo,taipei} or toy')
    parser.add_argument('--list', action='store_true', help='list the rows and their stages')
    parser.add_argument('--dry-run', action='store_true',
                        help='print every stage\'s command (and its state on disk); run nothing')
    parser.add_argument('--gpus', type=int, default=1,
                        help='GPUs per stage (tools/dist_train.sh; each GPU loads batch / N '
                        'images, so the recipe\'s batch is kept)')
    parser.add_argument('--launcher', choices=['none', 'slurm'], default='none',
                        help='slurm: tools/slurm_train.sh / slurm_test.sh and srun')
    parser.add_argument('--partition', help='slurm partition (with --launcher slurm)')
    parser.add_argument('--job-name', help='slurm job name prefix (default mmuda-METHOD-'
                        'BENCHMARK; the stage name is appended)')
    parser.add_argument('--gpus-per-node', type=int, help='slurm (default min(--gpus, 8))')
    parser.add_argument('--work-dir-root', help='where every stage writes (default work_dirs, '
                        'or work_dirs/seed<S> with --seed): the configs\' own paths')
    parser.add_argument('--seed', type=int, help='randomness.seed of every training stage')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='[STAGE:]KEY=VALUE',
                        help='config overrides: KEY=VALUE for every stage, STAGE:KEY=VALUE '
                        'for one')
    args = parser.parse_args(argv)
    if not args.list and not (args.method and args.benchmark):
        parser.error('METHOD and BENCHMARK are required (or --list)')
    if args.gpus < 1:
        parser.error('--gpus must be at least 1')
    if args.launcher == 'slurm' and not args.partition:
        parser.error('--launcher slurm needs --partition')
    return args


def run_options(args: argparse.Namespace) -> RunOptions:
    root = args.work_dir_root or ('work_dirs' if args.seed is None
                                  else f'work_dirs/seed{args.seed}')
    return RunOptions(root=root, seed=args.seed, gpus=args.gpus, launcher=args.launcher,
                      partition=args.partition, job_name=args.job_name,
                      gpus_per_node=args.gpus_per_node, cfg_options=args.cfg_options)


def say(message: str) -> None:
    print(f'{PREFIX} {message}', flush=True)


def list_rows() -> None:
    for row in all_rows().values():
        print(f'{row.method} {row.benchmark}: {" -> ".join(s.name for s in row.stages)}'
              f'  ({row.source})')


# ---------------------------------------------------------------- running one row
class RowRunner:
    """Runs (or, with ``dry_run``, prints) the planned stages of one row in order."""

    def __init__(self, row: Row, stages: List[PlannedStage], opts: RunOptions,
                 dry_run: bool) -> None:
        self.row, self.stages, self.opts, self.dry_run = row, stages, opts, dry_run
        name = f'{row.method}_{row.benchmark}'
        self.log_dir = osp.join(opts.root, 'reproduce', name)
        self.results_file = osp.join(opts.root, 'reproduce', f'{name}.json')

    def run(self) -> int:
        total = len(self.stages)
        say(f'{self.row.key}: {total} stages under {self.opts.root}'
            + (' (dry run: nothing is run)' if self.dry_run else ''))
        self.preflight()
        for planned in self.stages:
            self.run_stage(planned, f'[{planned.index + 1}/{total}] {planned.name}')
        self.report()
        return 0

    def preflight(self) -> None:
        """Weights files the training stages name that no earlier stage writes (the
        published pretrained weights) must exist before anything runs, rather than after
        days of earlier stages."""
        from mmuda.utils.pretrained_init_check import missing_file_message, weights_files
        produced = {p.output for p in self.stages}
        missing = {}  # (key, path) -> stages
        for planned in self.stages:
            if planned.stage.kind != TRAIN or state(planned)[0] == FINISHED:
                continue
            for key, path in weights_files(planned.cfg.model):
                if '://' in path or osp.isfile(osp.expanduser(path)) or path in produced:
                    continue
                missing.setdefault((key, path), []).append(planned.name)
        problems = [f'stage{"s" if len(names) > 1 else ""} {", ".join(names)}: '
                    f'{missing_file_message(key, path)}' for (key, path), names in missing.items()]
        if not problems:
            return
        text = '\n'.join(problems)
        if self.dry_run:
            say(f'note: these stages would refuse to start:\n{text}')
        else:
            raise RowError(f'missing weights, nothing was run:\n{text}', status=2)

    def run_stage(self, planned: PlannedStage, title: str) -> None:
        status, found = state(planned)
        resume_from = found if status == INTERRUPTED else None
        command = build_command(planned, self.opts, self.row.key, resume_from)
        record = osp.join(self.log_dir, f'{planned.name}.options.json')
        if status == FINISHED:
            say(f'{title}: finished ({found}), skipped')
            self.check_fresh(planned, found)
        elif status == INTERRUPTED:
            say(f'{title}: interrupted, resumes from {found}')
        else:
            say(f'{title}: {planned.stage.what}')
        if status != NEW:
            compare_record(planned, record)
        print(command.shown(), flush=True)
        if self.dry_run or status == FINISHED:
            return
        self.check_inputs(planned)
        write_results(record, options_record(planned))
        log = osp.join(self.log_dir, f'{planned.name}.log')
        start = time.time()
        code = run_logged(command, log)
        if code != 0:
            how = f'killed by signal {-code}' if code < 0 else f'exit status {code}'
            raise RowError(f'stage {planned.name!r} failed ({how}); its output: {log}'
                           + mmengine_log_note(planned, start))
        if state(planned)[0] != FINISHED:
            raise RowError(f'stage {planned.name!r} ended without writing {planned.output} '
                           f'(what the next stages read); its output: {log}'
                           + mmengine_log_note(planned, start))
        say(f'{title}: done in {time.time() - start:.0f} s')

    def check_fresh(self, planned: PlannedStage, done: str) -> None:
        stale = stale_inputs(planned, done)
        if stale:
            listed = ', '.join(f'{path} (stage {producer!r})' for path, producer in stale)
            raise RowError(f'stage {planned.name!r}: its output {done} is older than its '
                           f'input {listed}, which was written again since. Delete '
                           f'{planned.work_dir or planned.output} to redo the stage from the '
                           'new input, or restore the input.', status=2)

    def check_inputs(self, planned: PlannedStage) -> None:
        for path, producer in planned.inputs:
            if not osp.exists(path):
                raise RowError(f'stage {planned.name!r} needs {path}, written by stage '
                               f'{producer!r}, which is missing: rerun to redo {producer!r}',
                               status=2)

    # ------------------------------------------------------------ the final table
    def report(self) -> None:
        lines = ['| stage | config | metric | ours | paper |', '|---|---|---|---|---|']
        results = []
        for planned in self.stages:
            if planned.stage.kind not in (TRAIN, TEST):
                continue
            metrics, source = stage_metrics(planned)
            if planned.stage.kind == TRAIN and not metrics and not planned.paper \
                    and not has_validation(planned):
                continue  # a translator or M's pre-training: nothing to compare
            config = Path(planned.config).stem + (' --tta' if '--tta' in planned.stage.args
                                                  else '')
            for shown, key, value in planned.paper or [('mIoU', 'mIoU', None)]:
                ours = metrics.get(key)
                paper = '-' if value is None else f'{value:g}'
                lines.append(f'| {planned.name} | {config} | {shown} | {fmt(ours)} | {paper} |')
                results.append(dict(stage=planned.name, config=planned.config, metric=shown,
                                    ours=ours, paper=value, metrics_file=source))
        say(f'{self.row.key}: ours beside the paper ({self.row.source}); '
            'paper numbers from configs/*/metafile.yaml')
        print('\n'.join(lines), flush=True)
        if not self.dry_run:
            write_results(self.results_file, dict(row=self.row.key, root=self.opts.root,
                                                  stages=results))
            say(f'results: {self.results_file}')


def options_record(planned: PlannedStage) -> dict:
    """What a stage was run with (kept beside its log), to notice a rerun with other ones."""
    return dict(config=Path(planned.config).name if planned.config else None,
                args=list(planned.stage.args), options=dict(planned.options))


def compare_record(planned: PlannedStage, record: str) -> None:
    """Say so when a finished or interrupted stage ran with other options than now: its
    output is reused, and the user should know that it does not reflect the new ones."""
    if not osp.isfile(record):
        return
    with open(record) as f:
        before, now = json.load(f), options_record(planned)
    if before == now:
        return
    old, new = before.get('options', {}), now['options']
    changed = [f'{k}: {old.get(k, "(unset)")} -> {new.get(k, "(unset)")}'
               for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if before.get('config') != now['config'] or before.get('args') != now['args']:
        changed.insert(0, f'config/arguments: {before.get("config")} {before.get("args")} -> '
                       f'{now["config"]} {now["args"]}')
    where = planned.work_dir or planned.output
    say(f'note: stage {planned.name!r} was started with other options than now '
        f'({"; ".join(changed)}); what it wrote is reused as it is. To redo it with the new '
        f'ones, delete {where} (or use another --work-dir-root).')


def has_validation(planned: PlannedStage) -> bool:
    return bool(planned.cfg.get('val_cfg')) and bool(planned.cfg.get('val_dataloader'))


def fmt(value) -> str:
    return '-' if value is None else f'{value:.2f}'


def mmengine_log_note(planned: PlannedStage, since: float) -> str:
    """'; mmengine's log: <file>' for the newest run log of a training / test stage."""
    if not planned.work_dir:
        return ''
    logs = [p for p in Path(planned.work_dir).glob('*/*.log') if p.stat().st_mtime >= since]
    return f"; mmengine's log: {max(logs)}" if logs else ''


def write_results(path: str, data: dict) -> None:
    from mmuda.pseudo_labels.io import write_json
    write_json(path, data)


def run_logged(command: Command, log_path: str) -> int:
    """Run a command, its output to the terminal and appended to ``log_path``."""
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1', **command.env)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    with open(log_path, 'ab') as log:
        log.write(f'\n$ {command.shown()}\n'.encode())
        proc = subprocess.Popen(command.argv, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        try:
            for chunk in iter(lambda: proc.stdout.read1(1 << 16), b''):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                log.write(chunk)
        finally:
            code = proc.wait()
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.list:
        list_rows()
        return 0
    try:
        row = find_row(args.method, args.benchmark)
        opts = run_options(args)
        stages = plan_row(row, opts)
        return RowRunner(row, stages, opts, args.dry_run).run()
    except (UnknownRow, PlanError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except RowError as e:
        print(f'{PREFIX} error: {e}', file=sys.stderr)
        if e.status == 1:
            print(f'{PREFIX} after fixing the cause, rerun the same command: finished stages '
                  'are skipped, an interrupted training stage resumes.', file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print(f'\n{PREFIX} interrupted: rerun the same command to continue (finished stages '
              'are skipped, an interrupted training stage resumes).', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())

"""The command line of a planned stage: the tool's own arguments, launched locally, on several
GPUs (``tools/dist_train.sh`` / ``dist_test.sh`` / ``torch.distributed.run``) or under slurm
(``tools/slurm_train.sh`` / ``slurm_test.sh`` / ``srun``)."""
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .plan import REPO, TOOLS, PlannedStage, RunOptions, python_executable, shown_path
from .stages import TEST, TOY_DATA, TRAIN

SCRIPTS = {('pytorch', TRAIN): 'tools/dist_train.sh', ('pytorch', TEST): 'tools/dist_test.sh',
           ('slurm', TRAIN): 'tools/slurm_train.sh', ('slurm', TEST): 'tools/slurm_test.sh'}


@dataclass
class Command:
    argv: List[str]
    env: Dict[str, str] = field(default_factory=dict)  # set for this command only

    def shown(self) -> str:
        """The command as a user would type it in a shell."""
        env = ' '.join(f'{k}={shlex.quote(v)}' for k, v in self.env.items())
        return f'{env} {shlex.join(self.argv)}'.strip()


def tool_arguments(planned: PlannedStage, resume_from: Optional[str] = None) -> List[str]:
    """The tool's arguments after its script, without a launcher, ``--cfg-options`` last.

    ``resume_from``: an interrupted training stage's latest checkpoint. It is passed as
    ``--cfg-options load_from=CKPT --resume``, which ``tools/train.py`` resumes (mmengine's
    meaning), so the command says which file the stage continues from.
    """
    kind, options = planned.stage.kind, list(planned.options)
    if kind == TOY_DATA:
        return ['--out', planned.output]
    if kind == TRAIN:
        args = [planned.config, '--work-dir', planned.work_dir]
        if resume_from:
            args.append('--resume')
            options = [(k, v) for k, v in options if k != 'load_from']
            options.append(('load_from', resume_from))
    elif kind == TEST:
        args = [planned.config, planned.checkpoint, '--work-dir', planned.work_dir]
    else:
        args = [planned.config, planned.checkpoint, '--out-dir', planned.output]
    args += list(planned.stage.args)
    if options:
        args += ['--cfg-options', *[f'{k}={v}' for k, v in options]]
    return args


def split_cfg_options(args: List[str]) -> tuple:
    """(arguments before ``--cfg-options``, ``--cfg-options`` and its values)."""
    if '--cfg-options' in args:
        i = args.index('--cfg-options')
        return args[:i], args[i:]
    return args, []


def job_name(planned: PlannedStage, opts: RunOptions, row_key: str) -> str:
    prefix = opts.job_name or 'mmuda-' + row_key.replace(' ', '-')
    return f'{prefix}-{planned.name}'


def build_command(planned: PlannedStage, opts: RunOptions, row_key: str,
                  resume_from: Optional[str] = None) -> Command:
    """The full command of a stage for the launcher and number of GPUs in ``opts``."""
    kind = planned.stage.kind
    script = shown_path(REPO / TOOLS[kind])
    args = tool_arguments(planned, resume_from)
    python = python_executable()
    if kind == TOY_DATA or (opts.launcher == 'none' and opts.gpus <= 1):
        return Command([python, script, *args])
    launcher = 'slurm' if opts.launcher == 'slurm' else 'pytorch'
    gpus = str(opts.gpus)
    if (launcher, kind) in SCRIPTS:  # the repository's own launch scripts
        wrapper = shown_path(REPO / SCRIPTS[(launcher, kind)])
        head = 2 if kind == TEST else 1  # CONFIG [CHECKPOINT]
        if launcher == 'pytorch':
            return Command(['bash', wrapper, *args[:head], gpus, *args[head:]])
        return Command(['bash', wrapper, opts.partition, job_name(planned, opts, row_key),
                        *args], env=slurm_env(opts))
    before, cfg_options = split_cfg_options(args)
    if launcher == 'pytorch':
        return Command([python, '-m', 'torch.distributed.run', f'--nproc_per_node={gpus}',
                        script, *before, '--launcher', 'pytorch', *cfg_options])
    env = slurm_env(opts)
    return Command(['srun', '-p', opts.partition, f'--job-name={job_name(planned, opts, row_key)}',
                    f'--gres=gpu:{env["GPUS_PER_NODE"]}', f'--ntasks={gpus}',
                    f'--ntasks-per-node={env["GPUS_PER_NODE"]}', '--kill-on-bad-exit=1',
                    python, '-u', script, *before, '--launcher', 'slurm', *cfg_options])


def slurm_env(opts: RunOptions) -> Dict[str, str]:
    """What tools/slurm_train.sh reads: GPUs in all and per node (at most 8 per node unless
    --gpus-per-node says otherwise)."""
    per_node = opts.gpus_per_node or min(opts.gpus, 8)
    return {'GPUS': str(opts.gpus), 'GPUS_PER_NODE': str(per_node)}

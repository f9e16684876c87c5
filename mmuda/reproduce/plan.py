"""Turn a row (:mod:`.stages`) into the exact command line of each stage.

Every path a stage reads from an earlier one is passed explicitly with ``--cfg-options`` (the
configs' own defaults point at the same files under ``work_dirs/``, so a stage run by hand from
a method README reads the same thing). A training stage's output is its final checkpoint,
``<work dir>/iter_<train_cfg.max_iters>.pth`` of the config as the options leave it.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from .stages import PSEUDO_LABELS, ROOT, TEST, TOY_DATA, TRAIN, TRANSLATE, Row, Stage

REPO = Path(__file__).resolve().parents[2]
TOOLS = {TRAIN: 'tools/train.py', TEST: 'tools/test.py',
         PSEUDO_LABELS: 'tools/generate_pseudo_labels.py',
         TRANSLATE: 'tools/translate_dataset.py', TOY_DATA: 'tools/generate_toy_domains.py'}
Option = Tuple[str, str]  # (config key, value as typed on a command line)


class PlanError(ValueError):
    """A row cannot be planned: a missing config, a malformed option, an impossible split."""


@dataclass
class RunOptions:
    """What ``tools/reproduce.py`` was asked for, besides the row."""
    root: str = 'work_dirs'
    seed: Optional[int] = None
    gpus: int = 1
    launcher: str = 'none'           # 'none' (local, or torch.distributed.run for gpus > 1)
    partition: Optional[str] = None  # slurm
    job_name: Optional[str] = None   # slurm: prefix of every stage's job name
    gpus_per_node: Optional[int] = None
    cfg_options: Sequence[str] = ()  # 'KEY=VALUE' (every stage) or 'STAGE:KEY=VALUE'


@dataclass
class PlannedStage:
    """A stage with everything resolved: its paths, options, output and paper numbers."""
    stage: Stage
    index: int
    config: Optional[str]            # as passed on the command line
    work_dir: Optional[str]          # training and test stages
    output: str                      # checkpoint (train), folder (tools), work dir (test)
    options: List[Option] = field(default_factory=list)  # its --cfg-options
    # what a tool reading this stage's checkpoint gets too (all but seed and batch split)
    inheritable: List[Option] = field(default_factory=list)
    inputs: List[Tuple[str, str]] = field(default_factory=list)  # (path, producing stage)
    checkpoint: Optional[str] = None  # the checkpoint a test / tool stage reads
    max_iters: Optional[int] = None
    cfg: Optional[Config] = None     # the effective config (train and test stages)
    paper: List[Tuple[str, str, float]] = field(default_factory=list)  # (shown, our key, value)

    @property
    def name(self) -> str:
        return self.stage.name


# ---------------------------------------------------------------- paths and options
def shown_path(path: Path) -> str:
    """A repository file as a command line names it: relative to the working directory when
    it lies below it (``configs/...`` when run from the repository), else absolute."""
    rel = osp.relpath(path)
    return str(path) if rel.startswith(os.pardir) else rel


def python_executable() -> str:
    """``python`` when that is the interpreter running us (what a user would type)."""
    found = shutil.which('python')
    if found and osp.realpath(found) == osp.realpath(sys.executable):
        return 'python'
    return sys.executable


def parse_options(items: Sequence[str], what: str) -> dict:
    """``KEY=VALUE`` strings parsed as the tools' ``--cfg-options`` (mmengine DictAction)."""
    if not items:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--o', nargs='+', action=DictAction)
    try:
        return parser.parse_args(['--o', *items]).o
    except (SystemExit, ValueError) as e:
        raise PlanError(f'{what}: cannot parse {list(items)} as KEY=VALUE') from e


def split_user_options(items: Sequence[str], row: Row) -> Tuple[List[Option],
                                                                Dict[str, List[Option]]]:
    """``--cfg-options`` of the runner: ``KEY=VALUE`` for every stage that runs a config,
    ``STAGE:KEY=VALUE`` for one stage."""
    names = [s.name for s in row.stages]
    common, per_stage = [], {name: [] for name in names}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise PlanError(f'--cfg-options expects KEY=VALUE or STAGE:KEY=VALUE, got {item!r}')
        stage, colon, key = key.rpartition(':')
        if not colon:
            common.append((key, value))
        elif stage not in per_stage:
            raise PlanError(f'--cfg-options {item!r} names stage {stage!r}; the stages of '
                            f'{row.key} are: {", ".join(names)}')
        else:
            per_stage[stage].append((key, value))
    return common, per_stage


def config_value(cfg: Config, key: str):
    """The value of a dotted key in a config; KeyError names the first missing part."""
    node = cfg.to_dict() if isinstance(cfg, Config) else cfg
    for i, part in enumerate(key.split('.')):
        if not isinstance(node, dict) or part not in node:
            raise KeyError('.'.join(key.split('.')[:i + 1]))
        node = node[part]
    return node


def starts_from(key: str) -> bool:
    """Whether a config key names weights a training run starts from (``load_from``, an
    ``init_cfg`` checkpoint): a tool that loads the trained checkpoint does not need them."""
    return key == 'load_from' or key.endswith('init_cfg.checkpoint')


def load_config(path: Path, options: List[Option], where: str) -> Config:
    if not path.is_file():
        raise PlanError(f'{where}: config {shown_path(path)} does not exist')
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(parse_options([f'{k}={v}' for k, v in options], where))
    return cfg


# ---------------------------------------------------------------- paper numbers
_METAFILES: Dict[str, Dict[str, dict]] = {}


def paper_metrics(config: Path) -> List[Tuple[str, str, float]]:
    """``(shown name, our metric key, value)`` of each ``'<metric> (paper)'`` key that the
    config's metafile entry holds. ``mIoU(ms+flip)`` is our ``mIoU`` of a ``--tta`` test."""
    import yaml
    folder = str(config.parent)
    if folder not in _METAFILES:
        meta = config.parent / 'metafile.yaml'
        models = yaml.safe_load(meta.read_text()).get('Models', []) if meta.is_file() else []
        _METAFILES[folder] = {m['Name']: m for m in models}
    entry = _METAFILES[folder].get(config.stem, {})
    found = []
    for result in entry.get('Results') or []:
        for key, value in (result.get('Metrics') or {}).items():
            if key.endswith(' (paper)'):
                shown = key[:-len(' (paper)')]
                found.append((shown, shown.replace('(ms+flip)', ''), float(value)))
    return found


# ---------------------------------------------------------------- the plan
class Planner:
    """Resolves the stages of one row for one set of :class:`RunOptions`."""

    def __init__(self, row: Row, opts: RunOptions) -> None:
        self.row, self.opts = row, opts
        self.root = osp.normpath(opts.root)
        self.common, self.per_stage = split_user_options(opts.cfg_options, row)
        self.planned: Dict[str, PlannedStage] = {}

    def plan(self) -> List[PlannedStage]:
        for index, stage in enumerate(self.row.stages):
            resolve = {TRAIN: self._train, TEST: self._test, PSEUDO_LABELS: self._tool,
                       TRANSLATE: self._tool, TOY_DATA: self._toy_data}[stage.kind]
            self.planned[stage.name] = resolve(stage, index)
        return list(self.planned.values())

    def where(self, stage: Stage) -> str:
        return f'{self.row.key}, stage {stage.name!r}'

    def _reads(self, stage: Stage) -> Tuple[List[Option], List[Tuple[str, str]]]:
        options, inputs = [], []
        for key, producer in stage.reads:
            path = self.planned[producer].output
            options.append((key, path))
            if (path, producer) not in inputs:
                inputs.append((path, producer))
        return options, inputs

    def _train(self, stage: Stage, index: int) -> PlannedStage:
        path = REPO / stage.config
        reads, inputs = self._reads(stage)
        user = self.common + self.per_stage[stage.name]
        cfg = load_config(path, reads + user, self.where(stage))
        train_only = self._seed() + self._batch_split(stage, cfg, user)
        cfg.merge_from_dict(parse_options([f'{k}={v}' for k, v in train_only], stage.name))
        max_iters = self._max_iters(stage, cfg)
        work_dir = osp.join(self.root, path.stem)
        return PlannedStage(stage, index, shown_path(path), work_dir,
                            osp.join(work_dir, f'iter_{max_iters}.pth'),
                            options=reads + train_only + user,
                            inheritable=[(k, v) for k, v in reads if not starts_from(k)] + user,
                            inputs=inputs, max_iters=max_iters, cfg=cfg,
                            paper=paper_metrics(path))

    def _inherited(self, stage: Stage) -> Tuple[List[Option], List[Tuple[str, str]]]:
        """The options and inputs of the training stage whose checkpoint ``stage`` reads:
        the tool must build that stage's model and datasets. Seed, batch split and the
        weights that stage started from are left out (the tool loads its checkpoint)."""
        trained = self.planned[stage.of]
        data = {v for k, v in trained.inheritable}
        inputs = [(path, producer) for path, producer in trained.inputs if path in data]
        return list(trained.inheritable), inputs + [(trained.output, trained.name)]

    def _test(self, stage: Stage, index: int) -> PlannedStage:
        trained = self.planned[stage.of]
        path = REPO / (stage.config or self.row.stage(stage.of).config)
        inherited, inputs = self._inherited(stage)
        reads, more = self._reads(stage)
        options = inherited + reads + self.per_stage[stage.name]
        cfg = load_config(path, options, self.where(stage))
        work_dir = osp.join(self.root, path.stem, 'test')
        return PlannedStage(stage, index, shown_path(path), work_dir, work_dir,
                            options=options, inputs=inputs + more, checkpoint=trained.output,
                            cfg=cfg, paper=paper_metrics(path))

    def _tool(self, stage: Stage, index: int) -> PlannedStage:
        trained = self.planned[stage.of]
        inherited, inputs = self._inherited(stage)
        out = osp.normpath(stage.out.replace(ROOT, self.root))
        return PlannedStage(stage, index, trained.config, None, out,
                            options=inherited + self.per_stage[stage.name], inputs=inputs,
                            checkpoint=trained.output)

    def _toy_data(self, stage: Stage, index: int) -> PlannedStage:
        if self.per_stage[stage.name]:
            raise PlanError(f'{self.where(stage)} runs no config: it takes no --cfg-options')
        return PlannedStage(stage, index, None, None, osp.normpath(stage.out))

    def _seed(self) -> List[Option]:
        return [] if self.opts.seed is None else [('randomness.seed', str(self.opts.seed))]

    def _batch_split(self, stage: Stage, cfg: Config, user: List[Option]) -> List[Option]:
        """On N GPUs each rank loads batch / N images, so the recipe's batch stays the same
        (the configs state the batch of one GPU: ``1xb8``). A batch N does not divide is an
        error rather than a silent change of the recipe; a batch the user sets is kept."""
        key = 'train_dataloader.batch_size'
        if self.opts.gpus <= 1 or any(k == key for k, _ in user):
            return []
        return self._split(stage, cfg)

    def _split(self, stage: Stage, cfg: Config) -> List[Option]:
        batch, gpus = int(cfg.train_dataloader.batch_size), self.opts.gpus
        if batch % gpus:
            raise PlanError(
                f'{self.where(stage)}: {shown_path(REPO / stage.config)} trains a batch of '
                f'{batch} per iteration, which {gpus} GPUs cannot share equally; use a --gpus '
                f'that divides {batch}, or set the per-GPU batch yourself with --cfg-options '
                f'{stage.name}:train_dataloader.batch_size=B (the recipe\'s batch then changes '
                f'to B x {gpus})')
        return [('train_dataloader.batch_size', str(batch // gpus))]

    def _max_iters(self, stage: Stage, cfg: Config) -> int:
        train_cfg = cfg.get('train_cfg') or {}
        if train_cfg.get('type', 'IterBasedTrainLoop') != 'IterBasedTrainLoop' or \
                'max_iters' not in train_cfg:
            raise PlanError(f'{self.where(stage)}: the runner knows iteration-based training '
                            f'only (train_cfg.max_iters), got train_cfg={dict(train_cfg)}')
        return int(train_cfg['max_iters'])


def plan_row(row: Row, opts: RunOptions) -> List[PlannedStage]:
    """Every stage of ``row`` resolved for ``opts`` (see :class:`Planner`)."""
    return Planner(row, opts).plan()

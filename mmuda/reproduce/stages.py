"""A paper row as data: its stages in order, each naming the tool it runs, the config it runs
with, the outputs of earlier stages it reads (and under which config key), and what it writes.

A stage is one command of an existing tool (``tools/train.py``, ``tools/test.py``,
``tools/generate_pseudo_labels.py``, ``tools/translate_dataset.py``,
``tools/generate_toy_domains.py``); :mod:`mmuda.reproduce.plan` turns a row into those commands
and ``tools/reproduce.py`` runs them. Nothing here trains or evaluates.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

TRAIN = 'train'                  # tools/train.py CONFIG; output: its final checkpoint
TEST = 'test'                    # tools/test.py CONFIG CHECKPOINT; output: a metrics JSON
PSEUDO_LABELS = 'pseudo_labels'  # tools/generate_pseudo_labels.py; output: a label folder
TRANSLATE = 'translate'          # tools/translate_dataset.py; output: an image folder
TOY_DATA = 'toy_data'            # tools/generate_toy_domains.py; output: data/toy_domains
KINDS = (TRAIN, TEST, PSEUDO_LABELS, TRANSLATE, TOY_DATA)
# The tools that take a trained stage's config and checkpoint.
READS_CHECKPOINT = (TEST, PSEUDO_LABELS, TRANSLATE)
# Where an output folder lives: '{root}/...' is under --work-dir-root, anything else is
# relative to the working directory (the toy data, as the toy configs read it).
ROOT = '{root}'


@dataclass(frozen=True)
class Stage:
    """One command of a row.

    Args:
        name: Short name, unique in the row (``warmup``, ``pseudo``); ``--cfg-options
            NAME:KEY=VALUE`` addresses it.
        kind: One of :data:`KINDS`.
        what: One line for the progress output and the run-book.
        config: Config file, relative to the repository. Tools that read a checkpoint default
            to the config of the stage that wrote it (``of``).
        reads: ``(config key, stage name)`` pairs: the config key is set to that stage's output
            (its final checkpoint, or its folder) with ``--cfg-options``. The configs' own
            values point at the same paths under ``work_dirs/`` (tests check that).
        of: For test / pseudo-label / translation stages: the training stage whose final
            checkpoint the tool reads, and whose ``--cfg-options`` (model and data) the tool
            gets too, so that it builds the model and datasets that stage trained.
        out: Output folder of a tool stage (``{root}/...`` or relative to the working dir).
        args: Further arguments of the tool (``--policy argmax``, ``--tta``).
    """
    name: str
    kind: str
    what: str
    config: Optional[str] = None
    reads: Tuple[Tuple[str, str], ...] = ()
    of: Optional[str] = None
    out: Optional[str] = None
    args: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'stage {self.name!r}: kind must be one of {KINDS}, got '
                             f'{self.kind!r}')
        if self.kind in READS_CHECKPOINT and not self.of:
            raise ValueError(f'stage {self.name!r} ({self.kind}) needs `of`: the training '
                             'stage whose checkpoint it reads')
        if self.kind in (TRAIN, TEST) and not (self.config or self.of):
            raise ValueError(f'stage {self.name!r} ({self.kind}) needs a config')
        if self.kind in (PSEUDO_LABELS, TRANSLATE, TOY_DATA) and not self.out:
            raise ValueError(f'stage {self.name!r} ({self.kind}) needs an output folder `out`')


@dataclass(frozen=True)
class Row:
    """One row of a paper's results table: a method on a benchmark, as an ordered list of
    stages whose last one is the evaluation the paper reports."""
    method: str
    benchmark: str
    stages: Tuple[Stage, ...]
    source: str = ''  # where the paper's number is (table), for the run-book

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        where = f'row {self.method} {self.benchmark}'
        if len(set(names)) != len(names):
            raise ValueError(f'{where}: stage names repeat: {names}')
        if not self.stages or self.stages[-1].kind != TEST:
            raise ValueError(f'{where}: the last stage must be the evaluation (kind {TEST!r})')
        for index, stage in enumerate(self.stages):
            earlier = {s.name: s for s in self.stages[:index]}
            needed = [n for _, n in stage.reads] + ([stage.of] if stage.of else [])
            for name in needed:
                if name not in earlier:
                    raise ValueError(f'{where}: stage {stage.name!r} reads {name!r}, which is '
                                     f'not an earlier stage ({list(earlier)})')
            if stage.of and earlier[stage.of].kind != TRAIN:
                raise ValueError(f'{where}: stage {stage.name!r} reads the checkpoint of '
                                 f'{stage.of!r}, which is not a training stage')

    @property
    def key(self) -> str:
        return f'{self.method} {self.benchmark}'

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f'row {self.key} has no stage {name!r} (stages: '
                       f'{[s.name for s in self.stages]})')

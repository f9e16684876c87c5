"""One command per paper row (``tools/reproduce.py``): the rows as data and their commands.

:mod:`.stages` defines a row, :mod:`.rows` declares every row, :mod:`.plan` resolves a row's
paths and options, :mod:`.commands` builds each stage's command line, :mod:`.state` reads what
a stage left on disk. The training, evaluation and labelling are the existing tools'.
"""
from .commands import Command, build_command, tool_arguments
from .plan import PlanError, PlannedStage, RunOptions, plan_row
from .rows import all_rows, find_row
from .stages import Row, Stage
from .state import FINISHED, INTERRUPTED, NEW, stage_metrics, stale_inputs, state

__all__ = ['Command', 'FINISHED', 'INTERRUPTED', 'NEW', 'PlanError', 'PlannedStage', 'Row',
           'RunOptions', 'Stage', 'all_rows', 'build_command', 'find_row', 'plan_row',
           'stage_metrics', 'stale_inputs', 'state', 'tool_arguments']

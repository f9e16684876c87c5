"""What a planned stage has left on disk: finished, interrupted or not started, and its metrics.

A stage is finished when the output its tool writes last exists:

* training: the final checkpoint ``iter_<max_iters>.pth``, named by the work dir's
  ``last_checkpoint`` (mmengine writes that file after the checkpoint, so a checkpoint cut
  short by a kill is never taken for a finished one);
* pseudo labels / translation: ``pseudo_labels.json`` / ``translation.json`` with
  ``"status": "complete"`` (the tools write it after the last file);
* toy data: both domains' ``meta.json`` (written last by the generator);
* test: a metrics JSON that mmengine wrote after the checkpoint it evaluates.

A training stage with a checkpoint that is not the final one was interrupted and resumes from
it (``--resume``).
"""
import json
import os.path as osp
from glob import glob
from typing import Dict, List, Optional, Tuple

from .plan import PlannedStage
from .stages import PSEUDO_LABELS, TEST, TOY_DATA, TRAIN, TRANSLATE

FINISHED, INTERRUPTED, NEW = 'finished', 'interrupted', 'new'
MARKERS = {PSEUDO_LABELS: 'pseudo_labels.json', TRANSLATE: 'translation.json'}


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``last_checkpoint`` names (in ``work_dir``), if it exists."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        path = osp.join(work_dir, osp.basename(f.read().strip()))
    return path if osp.isfile(path) else None


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def marker(planned: PlannedStage) -> Optional[str]:
    """The file whose presence means the stage finished (None: not finished)."""
    kind = planned.stage.kind
    if kind == TRAIN:
        latest = latest_checkpoint(planned.work_dir)
        final = osp.basename(planned.output)
        return latest if latest and osp.basename(latest) == final else None
    if kind in MARKERS:
        path = osp.join(planned.output, MARKERS[kind])
        return path if (read_json(path) or {}).get('status') == 'complete' else None
    if kind == TOY_DATA:
        metas = [osp.join(planned.output, d, 'meta.json') for d in ('source', 'target')]
        return metas[-1] if all(osp.isfile(m) for m in metas) else None
    if kind == TEST:
        return test_metrics_file(planned)
    raise ValueError(kind)


def state(planned: PlannedStage) -> Tuple[str, Optional[str]]:
    """(FINISHED, marker) / (INTERRUPTED, checkpoint to resume) / (NEW, None)."""
    done = marker(planned)
    if done:
        return FINISHED, done
    if planned.stage.kind == TRAIN:
        latest = latest_checkpoint(planned.work_dir)
        if latest:
            return INTERRUPTED, latest
    return NEW, None


def stale_inputs(planned: PlannedStage, done: str) -> List[Tuple[str, str]]:
    """Inputs written after the stage's output (path, producing stage): the output was made
    from an earlier version of them, and reusing it would mix two runs."""
    stamp = osp.getmtime(done)
    return [(path, producer) for path, producer in planned.inputs
            if osp.exists(path) and osp.getmtime(input_marker(path)) > stamp]


def input_marker(path: str) -> str:
    """The file whose time says when an input was written (a folder: its completion JSON)."""
    if osp.isdir(path):
        for name in MARKERS.values():
            if osp.isfile(osp.join(path, name)):
                return osp.join(path, name)
    return path


# ---------------------------------------------------------------- metrics
def test_metrics_file(planned: PlannedStage) -> Optional[str]:
    """The newest metrics JSON of a test stage (``<work dir>/<stamp>/<stamp>.json``, as
    mmengine's LoggerHook writes it) that is newer than the checkpoint it evaluated."""
    if not osp.isfile(planned.checkpoint or ''):
        return None
    after = osp.getmtime(planned.checkpoint)
    found = [p for p in glob(osp.join(planned.work_dir, '*', '*.json'))
             if osp.basename(osp.dirname(p)) == osp.splitext(osp.basename(p))[0]
             and osp.getmtime(p) >= after and read_json(p)]
    return max(found) if found else None  # timestamps sort by name


def train_metrics(planned: PlannedStage) -> Tuple[Dict[str, float], Optional[str]]:
    """The validation metrics logged at the final iteration (``vis_data/scalars.json`` of the
    newest run in the work dir that validated at ``max_iters``) and that file."""
    for path in sorted(glob(osp.join(planned.work_dir, '*', 'vis_data', 'scalars.json')),
                       reverse=True):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        for row in reversed(rows):
            if row.get('step') == planned.max_iters and 'aAcc' in row:
                return row, path
    return {}, None


def stage_metrics(planned: PlannedStage) -> Tuple[Dict[str, float], Optional[str]]:
    """(metrics, file) of a finished training or test stage; ({}, None) for the tools."""
    if planned.stage.kind == TRAIN:
        return train_metrics(planned)
    if planned.stage.kind == TEST:
        path = test_metrics_file(planned)
        return (read_json(path) or {}, path) if path else ({}, None)
    return {}, None

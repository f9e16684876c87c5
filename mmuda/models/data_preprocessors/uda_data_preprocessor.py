"""One ``SegDataPreProcessor`` per domain branch."""
import copy
from typing import Optional

from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

BRANCHES = ('source', 'target')


@MODELS.register_module()
class UDADataPreprocessor(BaseDataPreprocessor):
    """Normalise, pad and batch the source and target branches of a UDA batch separately.

    A training batch from :class:`UDADataset` is ``{'inputs': {'source': [...], 'target': [...]},
    'data_samples': {...}}``; each branch goes through its own ``SegDataPreProcessor`` because
    the domains may differ in crop size (GTA5 1280x720 vs Cityscapes 1024x512) and, for some
    methods, in normalisation. A plain mmseg batch (validation, test, inference) is target-domain
    data and goes through the target branch, so mmseg's loops work unchanged.

    Args:
        common: Settings of both branches, usually the wrapped segmentor's own
            ``data_preprocessor``; the UDA segmentor fills it in when left ``None``.
        source: Overrides of ``common`` for the source branch (e.g. ``size``).
        target: Overrides of ``common`` for the target branch.

    When a branch sets neither ``size`` nor ``size_divisor``, it gets ``size_divisor=1``: the
    pipeline's crops are stacked as they are (they must then be of equal size in a batch).
    """

    def __init__(self, common: Optional[dict] = None, source: Optional[dict] = None,
                 target: Optional[dict] = None) -> None:
        super().__init__()
        common = dict(type='SegDataPreProcessor', **(common or {}))
        self.branches = {}
        for name, override in zip(BRANCHES, (source, target)):
            cfg = copy.deepcopy(common)
            cfg.update(override or {})
            if cfg.get('size') is None and cfg.get('size_divisor') is None:
                cfg['size_divisor'] = 1  # mmseg needs one of them; 1 = crops already equal
            self.add_module(name, MODELS.build(cfg))
            self.branches[name] = getattr(self, name)

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if not isinstance(inputs, dict):
            return self.target(data, training)
        missing = [b for b in BRANCHES if b not in inputs]
        if missing:
            raise KeyError(f'a UDA batch needs inputs for {BRANCHES}, missing {missing}; '
                           'use UDADataset as the training dataset')
        samples = data.get('data_samples') or {}
        out = {name: self.branches[name](
            dict(inputs=inputs[name], data_samples=samples.get(name)), training)
            for name in BRANCHES}
        return dict(inputs={k: v['inputs'] for k, v in out.items()},
                    data_samples={k: v['data_samples'] for k, v in out.items()})


def uda_preprocessor_cfg(cfg: Optional[dict], default_common: Optional[dict]) -> dict:
    """A ``UDADataPreprocessor`` config from what a model config gives.

    A plain ``SegDataPreProcessor`` config (what mmengine's Runner injects from a top-level
    ``data_preprocessor``) is taken as the settings common to both branches; without
    ``common``, the model's default (e.g. its segmentor's own preprocessor) is used.
    """
    cfg = copy.deepcopy(dict(cfg or {}))
    if cfg.get('type', 'UDADataPreprocessor') != 'UDADataPreprocessor':
        cfg = dict(common=cfg)
    cfg['type'] = 'UDADataPreprocessor'
    common = cfg.get('common')
    if common is None:
        common = copy.deepcopy(dict(default_common or {}))
    cfg['common'] = {k: v for k, v in common.items() if k != 'type'}
    return cfg

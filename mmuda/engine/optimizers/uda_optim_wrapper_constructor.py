"""One optimizer wrapper per top-level child of a UDA segmentor."""
from typing import Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class UDAOptimWrapperConstructor:
    """Build an ``OptimWrapperDict`` keyed by the names of the model's direct children.

    ``optim_wrapper = dict(constructor='UDAOptimWrapperConstructor', segmentor=dict(...),
    discriminators=dict(...))``: each value is an ordinary mmengine optim-wrapper config (with
    its own ``optimizer`` and ``paramwise_cfg``) and is built by mmengine's default constructor
    on that child. A child with trainable parameters but no entry is an error: it would
    silently never train. An entry whose child has nothing to train is skipped, so source-only
    configs share the schedule of the adversarial methods.

    An optimizer whose update depends on the module tree and not only on the parameters
    defines ``bind_module(module)``; it is called once, right after the optimizer is built,
    with the child it optimises. ``RepeatedParamSGD`` takes its per-parameter repeat counts
    from it. This keeps the switch a one-key change:
    ``--cfg-options optim_wrapper.segmentor.optimizer.type=SGD`` needs no other edit.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg is not None:
            raise ValueError('UDAOptimWrapperConstructor: put `paramwise_cfg` inside each '
                             'child entry of `optim_wrapper` (e.g. optim_wrapper.segmentor)')
        self.cfgs = {name: dict(cfg) for name, cfg in optim_wrapper_cfg.items()}
        for name, cfg in self.cfgs.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise TypeError(f'optim_wrapper.{name} must be an optim-wrapper config with an '
                                f'`optimizer`, got {cfg!r}')

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = getattr(model, 'module', model)  # unwrapped by the runner already, but be safe
        children = dict(model.named_children())
        unknown = sorted(set(self.cfgs) - set(children))
        if unknown:
            raise KeyError(f'optim_wrapper has entries {unknown} that are not children of '
                           f'{type(model).__name__}; its children are {sorted(children)}')
        untrained = sorted(name for name, child in children.items()
                           if name not in self.cfgs and name != 'data_preprocessor'
                           and any(p.requires_grad for p in child.parameters()))
        if untrained:
            raise KeyError(f'optim_wrapper has no entry for {untrained} of '
                           f'{type(model).__name__}, whose parameters would never be updated')
        wrappers = {}
        for name, cfg in self.cfgs.items():
            if not any(p.requires_grad for p in children[name].parameters()):
                continue  # e.g. the (empty) discriminators of a source-only model
            cfg = dict(cfg)
            paramwise = cfg.pop('paramwise_cfg', None)
            cfg.setdefault('type', 'OptimWrapper')
            wrapper = DefaultOptimWrapperConstructor(cfg, paramwise)(children[name])
            bind_module = getattr(wrapper.optimizer, 'bind_module', None)
            if callable(bind_module):
                bind_module(children[name])
            wrappers[name] = wrapper
        return OptimWrapperDict(**wrappers)

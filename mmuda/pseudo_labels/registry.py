"""The registry of pseudo-label policies (``argmax``, ``class_median``, ``adversarial_proxy``).

A registry of its own rather than one of mmseg's: a policy is not a model, dataset or hook,
and is built by the generator, the command-line tool and the hook from a small dict.
"""
import copy
from typing import Union

from mmengine.registry import Registry

PSEUDO_LABELERS = Registry('pseudo labeler', scope='mmuda')


def build_pseudo_labeler(cfg: Union[dict, object], num_classes: int):
    """Build a policy from ``dict(type=<name>, **options)`` for ``num_classes`` classes.

    An already built policy is returned unchanged (after checking its number of classes).
    Looked up by name directly, so it works whatever mmengine's default scope is.
    """
    if not isinstance(cfg, dict):
        if getattr(cfg, 'num_classes', num_classes) != num_classes:
            raise ValueError(f'pseudo-label policy {type(cfg).__name__} was built for '
                             f'{cfg.num_classes} classes, the dataset has {num_classes}')
        return cfg
    cfg = copy.deepcopy(dict(cfg))
    name = cfg.pop('type', None)
    policy = PSEUDO_LABELERS.get(name) if isinstance(name, str) else None
    if policy is None:
        raise KeyError(f'unknown pseudo-label policy type={name!r}: expected one of '
                       f'{sorted(PSEUDO_LABELERS.module_dict)}')
    cfg.setdefault('num_classes', num_classes)
    return policy(**cfg)

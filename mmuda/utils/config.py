"""Config loading shared by the command-line tools: mmseg's behaviour, with one-line errors.

A missing config file, a config that fails to parse, an unknown method (``model.type``) or a
``--cfg-options`` key that names nothing in the config would otherwise end a tool in a 20-frame
traceback (or, for a misspelled option, in a silently ignored setting). :func:`load_cli_config`
answers each with one line naming the file or key, and exits.
"""
import difflib
import inspect
import os
import os.path as osp
import sys
from typing import Any, Iterable, List, Optional

from mmengine.config import Config

# Hooks every run of tools/train.py and tools/test.py gets (configs inherit them from
# configs/_base_/default_runtime.py too, unless they replace custom_hooks).
CHECK_HOOKS = ('ClassCountCheckHook', 'SegmentorWeightsCheckHook')
_MISSING = object()


class ConfigError(ValueError):
    """A config, or an option given on the command line, that cannot be used (one line)."""


def read_config(path: str) -> Config:
    """``Config.fromfile`` whose failures are one :class:`ConfigError` line naming the file."""
    if not osp.exists(path):
        raise ConfigError(f'config file {path} does not exist')
    if not osp.isfile(path):
        raise ConfigError(f'config {path} is not a file')
    if not os.access(path, os.R_OK):
        raise ConfigError(f'config file {path} is not readable (permission denied)')
    try:
        return Config.fromfile(path)
    except Exception as err:  # a config is code: it can fail in any way
        first = (str(err).strip().splitlines() or [''])[0]
        raise ConfigError(f'cannot read config {path}: {type(err).__name__}: {first}') from err


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f' (did you mean {close[0]!r}?)' if close else ''


def check_model_type(cfg: Config, path: str) -> None:
    """The method (``model.type``) must be registered in mmseg's model registry."""
    from mmseg.registry import MODELS
    model_type = (cfg.get('model') or {}).get('type')
    if not isinstance(model_type, str) or MODELS.get(model_type) is not None:
        return
    names = set(MODELS.module_dict) | set(getattr(MODELS.parent, 'module_dict', {}))
    raise ConfigError(f'model.type {model_type!r} in {path} is not a registered model'
                      f'{_suggest(model_type, names)}; is the module that registers it imported '
                      "(custom_imports=dict(imports=['mmuda']))?")


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, (list, tuple)) and part.lstrip('-').isdigit() and \
            -len(node) <= int(part) < len(node):
        return node[int(part)]
    return _MISSING


def _keys(node: Any) -> List[str]:
    if isinstance(node, dict):
        return [str(k) for k in node]
    return [str(i) for i in range(len(node))] if isinstance(node, (list, tuple)) else []


def _classes_named(type_name: Any) -> list:
    """Every class registered as ``type_name`` in any of mmseg's registries."""
    if inspect.isclass(type_name):
        return [type_name]
    if not isinstance(type_name, str):
        return []
    import mmseg.registry as registries
    from mmengine.registry import Registry
    found = []
    for registry in vars(registries).values():
        if isinstance(registry, Registry):
            obj = registry.get(type_name)
            if inspect.isclass(obj):
                found.append(obj)
    return found


def _accepted_arguments(classes: list) -> Optional[set]:
    """The keyword arguments the classes take, or ``None`` when that is open-ended.

    A class whose ``__init__`` takes ``**kwargs`` is assumed to hand them to its base class (the
    convention of mmseg and mmuda), so its bases' arguments count too; where the chain ends in
    a ``**kwargs`` that goes nowhere known, anything is accepted.
    """
    names = set()
    for cls in classes:
        for klass in cls.__mro__:
            if '__init__' not in vars(klass) or klass is object:
                continue
            params = inspect.signature(klass.__init__).parameters.values()
            names |= {p.name for p in params if p.name != 'self' and p.kind in
                      (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        else:
            return None
    return names


def check_cfg_options(cfg: Config, options: dict, path: str) -> None:
    """Refuse a ``--cfg-options`` key that names nothing mmengine would use.

    Refused: a new top-level key that is no ``Runner`` argument (``load_form``); a new key in
    a dict with a ``type`` whose class takes no such argument (``train_cfg.max_iter``,
    ``model.decode_head.num_classes`` where the head is ``model.segmentor.decode_head``); a
    list index out of range. Keys below a dict without ``type`` (``data_prefix``,
    ``randomness``) cannot be checked and pass, as do arguments of a class that takes
    ``**kwargs`` it does not hand to its base.
    """
    from mmengine.runner import Runner
    runner_args = set(inspect.signature(Runner.__init__).parameters) | {'runner_type'}
    for key in options:
        parts = key.split('.')
        node: Any = cfg._cfg_dict
        for depth, part in enumerate(parts):
            child = _child(node, part)
            if child is not _MISSING and (child is not None or depth == len(parts) - 1):
                node = child
                continue
            if child is None:
                break  # e.g. init_cfg=None: the option creates the dict
            where = '.'.join(parts[:depth])
            if depth == 0:
                if part in runner_args:
                    break  # a Runner argument the config leaves at mmengine's default
                raise ConfigError(f'--cfg-options {key}: the config in {path} has no key '
                                  f'{part!r} and the Runner takes no such argument'
                                  f'{_suggest(part, _keys(node))}')
            if isinstance(node, (list, tuple)):
                raise ConfigError(f'--cfg-options {key}: {where} in {path} has {len(node)} '
                                  f'items, no item {part}')
            classes = _classes_named(node.get('type')) if isinstance(node, dict) else []
            accepted = _accepted_arguments(classes) if classes else None
            if accepted is not None and part not in accepted:
                raise ConfigError(f'--cfg-options {key}: {where} ({classes[0].__name__}) takes '
                                  f'no argument {part!r}{_suggest(part, accepted)}')
            break  # an argument the class takes, or a dict mmuda cannot check


def add_check_hooks(cfg: Config) -> None:
    """Append the :data:`CHECK_HOOKS` a config does not already have to ``custom_hooks``."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {h.get('type') if isinstance(h, dict) else type(h).__name__ for h in hooks}
    cfg.custom_hooks = hooks + [dict(type=t) for t in CHECK_HOOKS if t not in present]


def prepare_cli_config(path: str, launcher: str = 'none', cfg_options: Optional[dict] = None,
                       work_dir: Optional[str] = None) -> Config:
    """:func:`load_cli_config` raising :class:`ConfigError` instead of exiting."""
    cfg = read_config(path)
    cfg.launcher = launcher
    if cfg_options:
        check_cfg_options(cfg, cfg_options, path)
        cfg.merge_from_dict(cfg_options)
    check_model_type(cfg, path)
    add_check_hooks(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def load_cli_config(path: str, launcher: str = 'none', cfg_options: Optional[dict] = None,
                    work_dir: Optional[str] = None) -> Config:
    """Load a config as mmseg's tools do: ``--cfg-options`` merged, ``work_dir`` defaulting to
    ``./work_dirs/<config name>``, the :data:`CHECK_HOOKS` added. A config that cannot be used
    (:class:`ConfigError`) ends the tool with one line, ``<tool>: error: <reason>``."""
    try:
        return prepare_cli_config(path, launcher, cfg_options, work_dir)
    except ConfigError as err:
        raise SystemExit(f'{osp.basename(sys.argv[0])}: error: {err}') from None


def resolve_cli_resume(cfg: Config, resume: bool, cfg_options: Optional[dict] = None) -> None:
    """Make ``--resume`` mean "the latest checkpoint in the work_dir", as its help says.

    mmengine resumes from ``load_from`` whenever it is set; a second stage's config (FADA,
    MADA) sets it to the warm-up checkpoint, so ``--resume`` would restart that stage from its
    warm-up, or fail on the optimisers the warm-up lacks. So with a checkpoint in the work_dir,
    resume from it; without one, start the stage as configured (from ``load_from``). mmengine's
    meaning stays where it is asked for: ``--cfg-options load_from=X --resume`` resumes from X,
    and a config's own ``resume=True`` is left alone.
    """
    if not resume:
        cfg.resume = cfg.get('resume', False)
        return
    cfg.resume = True
    if not cfg.get('load_from') or 'load_from' in (cfg_options or {}):
        return  # mmengine: auto-resume from the work_dir, or resume from the given file
    from mmengine.runner import find_latest_checkpoint
    work_dir = cfg.get('work_dir')
    latest = find_latest_checkpoint(work_dir) if work_dir and osp.isdir(work_dir) else None
    if latest is None:
        cfg.resume = False  # nothing of this stage yet: start it from load_from
    else:
        cfg.load_from = latest

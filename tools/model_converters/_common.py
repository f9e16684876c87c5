"""What every converter CLI does around its key mapping: load safely, write atomically, report.

Loading: ``torch.load(..., weights_only=True)``. The reference files are plain state dicts; a file
that needs ``weights_only=False`` could run arbitrary code when unpickled, so it is refused with
a message instead of being loaded.

Output: an mmengine-style checkpoint ``{'state_dict': ..., 'meta': ...}`` written to a temporary
file next to DST and moved into place with ``os.replace``, so an interrupted run never leaves a
truncated DST behind.

Prefix: the converters produce the names of an mmseg ``EncoderDecoder`` (``backbone.conv1.weight``,
``decode_head.branches.0.weight``); ``--prefix`` is prepended to every key:

* ``--prefix ''``: what ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``
  on the backbone needs (in UDA and plain configs alike), and ``load_from`` of a plain mmseg
  config;
* ``--prefix segmentor.``: what ``load_from`` (and ``tools/test.py CONFIG DST``,
  ``mmseg.apis.init_model``) of an mmuda UDA config needs, the segmentor being the wrapper's
  ``segmentor`` child.

Report: source keys that were not converted (with the reason) and, with ``--config``, the keys of
the config's segmentor (built from ``segmentor``, else ``model.segmentor``, else ``model``) that
the output leaves unfilled, output keys the model does not have, and shape mismatches.
"""
import argparse
import hashlib
import os.path as osp
import pickle
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

import mmuda
from mmuda.utils.atomic_write import atomic_write
from mmuda.utils.weight_conversion import Conversion, ConversionError, StateDict

Converter = Callable[[StateDict], Conversion]
MAX_LISTED = 20


@dataclass
class Report:
    """Everything a conversion run found; printed by :meth:`format`, returned for callers."""

    dst: str
    prefix: str
    num_keys: int
    dropped: Dict[str, str]
    filled: List[str]
    notes: List[str]
    missing: Optional[List[str]] = None
    unexpected: Optional[List[str]] = None
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    def format(self) -> str:
        lines = [f'wrote {self.num_keys} keys to {self.dst} (prefix {self.prefix!r})',
                 *[f'  {note}' for note in self.notes]]
        if self.filled:
            lines.append(f'added {len(self.filled)} num_batches_tracked counters (value 0) '
                         'that the source lacks')
        lines += _listing('source keys not converted', [f'{k}: {why}' for k, why in
                                                        self.dropped.items()])
        if self.missing is not None:
            lines += _listing('model keys not filled by the output', self.missing)
            lines += _listing('output keys the model does not have', self.unexpected)
            lines += _listing('shape mismatches (output vs model)',
                              [f'{k}: {a} vs {b}' for k, a, b in self.mismatched])
        lines.append(consumer_hint(self.prefix, self.dst))
        return '\n'.join(lines)


def _listing(title: str, items: Sequence[str]) -> List[str]:
    if not items:
        return [f'{title}: none']
    shown = [f'  {item}' for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        shown.append(f'  ... and {len(items) - MAX_LISTED} more')
    return [f'{title}: {len(items)}', *shown]


def consumer_hint(prefix: str, dst: str) -> str:
    """Which config key consumes a file written with ``prefix``."""
    if prefix == '':
        return (f"use it as backbone init_cfg=dict(type='Pretrained', checkpoint='{dst}', "
                "prefix='backbone.') or as load_from of a plain mmseg config")
    if prefix == 'segmentor.':
        return f"use it as load_from='{dst}' of an mmuda UDA config (or tools/test.py)"
    return f'keys start with {prefix!r}: load it where the model has that prefix'


def build_parser(description: str, default_prefix: str) -> argparse.ArgumentParser:
    """The arguments every converter shares; a tool adds its own options."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='source checkpoint (a plain state dict)')
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--prefix', default=default_prefix,
                        help="prepended to every key: '' for backbone init_cfg "
                             "(prefix='backbone.'), 'segmentor.' for load_from of a UDA config "
                             f'(default: {default_prefix!r})')
    parser.add_argument('--config', help='report the keys of this config\'s segmentor that the '
                                         'output does not fill (and shape mismatches)')
    return parser


def load_state_dict(path: str) -> StateDict:
    """A plain ``{name: tensor}`` from ``path``, refusing anything that needs full unpickling."""
    if not osp.isfile(path):
        raise ConversionError(f'{path}: no such file')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise ConversionError(
            f'{path}: not a plain state dict; loading it needs torch.load(weights_only=False), '
            'which can run arbitrary code, so it is refused. If you trust the file, re-save '
            'only its tensors as a dict and convert that.\n'
            f'torch said: {str(err).splitlines()[0]}') from err
    for wrapper in ('state_dict', 'model'):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not obj:
        raise ConversionError(f'{path}: expected a non-empty dict of tensors, got '
                              f'{type(obj).__name__}')
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise ConversionError(f'{path}: expected a dict of name -> tensor; {bad[:3]} are not')
    return dict(obj)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def save_atomically(checkpoint: dict, dst: str) -> None:
    """``torch.save`` through :func:`mmuda.utils.atomic_write.atomic_write` (temporary file in
    DST's directory with the umask's permissions, fsync, ``os.replace``)."""
    atomic_write(dst, lambda f: torch.save(checkpoint, f))


def segmentor_cfg(config: str) -> dict:
    """The segmentor part of a config: ``segmentor``, else ``model.segmentor``, else ``model``."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if 'segmentor' in cfg:
        return cfg.segmentor
    if 'model' in cfg:
        return cfg.model.get('segmentor', cfg.model)
    raise ConversionError(f'{config}: expected a `segmentor` or `model` entry')


def target_shapes(config: str, prefix: str) -> Dict[str, tuple]:
    """Key -> shape of the config's segmentor, every key under ``prefix``."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(segmentor_cfg(config))
    return {prefix + k: tuple(v.shape) for k, v in model.state_dict().items()}


def compare(report: Report, output: Mapping[str, torch.Tensor],
            target: Mapping[str, tuple]) -> None:
    """Fill the target-side lists of ``report``."""
    report.missing = sorted(set(target) - set(output))
    report.unexpected = sorted(set(output) - set(target))
    report.mismatched = [(k, tuple(output[k].shape), target[k])
                         for k in sorted(set(output) & set(target))
                         if tuple(output[k].shape) != target[k]]


def convert_file(args: argparse.Namespace, name: str, convert: Converter) -> Report:
    """Load SRC, convert, write DST with meta, and return (and print) the report."""
    state = load_state_dict(args.src)  # its errors name the file already
    try:
        conversion = convert(state)
    except ConversionError as err:
        raise ConversionError(f'{args.src}: {err}') from err
    output = {args.prefix + k: v for k, v in conversion.state_dict.items()}
    meta = dict(converter=name, mmuda_version=mmuda.__version__, prefix=args.prefix,
                source=osp.basename(args.src), source_sha256=sha256(args.src),
                dropped_source_keys=sorted(conversion.dropped), notes=list(conversion.notes),
                filled_keys=[args.prefix + k for k in conversion.filled])
    report = Report(dst=args.dst, prefix=args.prefix, num_keys=len(output),
                    dropped=dict(conversion.dropped), filled=list(conversion.filled),
                    notes=list(conversion.notes))
    if args.config:
        compare(report, output, target_shapes(args.config, args.prefix))
    save_atomically(dict(state_dict=output, meta=meta), args.dst)
    print(report.format())
    return report


def run_cli(main: Callable[[Optional[Sequence[str]]], Report]) -> None:
    """Run a converter's ``main`` as a command: a conversion error exits 1 with its message."""
    try:
        main(None)
    except ConversionError as err:
        sys.exit(f'error: {err}')

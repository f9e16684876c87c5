"""Fail early, with one readable message, on an unsupported torch/mmcv/mmengine/mmseg mix.

Without this check a wrong mmcv surfaces as an assertion deep inside ``import mmseg`` or as a
missing ``mmcv._ext`` symbol at the first deformable op, which users rarely map to its cause.
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

# package -> (lowest supported, first unsupported, why)
SUPPORTED = {
    'torch': ('2.6.0', None, 'mmuda loads every checkpoint with weights_only=True and an '
              'allow-list of (object, pickled name) pairs, which torch.serialization.'
              'add_safe_globals accepts from torch 2.6'),
    'mmcv': ('2.0.0rc4', '2.2.0', 'mmseg 1.2.x asserts 2.0.0rc4 <= mmcv < 2.2.0'),
    'mmengine': ('0.10.0', '1.0.0', 'mmuda is tested with mmengine 0.10.7'),
    'mmsegmentation': ('1.2.0', '1.3.0', 'mmuda is written against mmseg 1.2.x'),
}

INSTALL_HINT = ('Run `make install` from the mmuda repository (it builds mmcv 2.1.0 with its ops '
                'and installs mmengine 0.10.7 and mmsegmentation 1.2.2).')


def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def check_versions() -> None:
    """Raise ``ImportError`` listing every missing or out-of-range dependency."""
    problems = []
    for package, (low, high, why) in SUPPORTED.items():
        found = _installed(package)
        if package == 'mmcv' and found is None and _installed('mmcv-lite'):
            problems.append('mmcv-lite is installed, but mmseg imports mmcv.ops: '
                            'install the full mmcv 2.1.0 with its ops')
            continue
        if found is None:
            problems.append(f'{package} is not installed ({why})')
            continue
        v = Version(found.split('+')[0])
        if v < Version(low) or (high is not None and v >= Version(high)):
            bound = f'>={low}' + (f',<{high}' if high else '')
            problems.append(f'{package} {found} is unsupported, need {bound} ({why})')
    if not problems:
        try:
            import_module('mmcv.ops')
        except Exception as exc:  # noqa: BLE001 - any failure means the ops are unusable
            problems.append(f'mmcv {_installed("mmcv")}: `import mmcv.ops` failed ({exc}); '
                            'mmcv must be built with its ops (MMCV_WITH_OPS=1)')
    if problems:
        raise ImportError('mmuda cannot run with the installed packages:\n  - ' +
                          '\n  - '.join(problems) + '\n' + INSTALL_HINT)

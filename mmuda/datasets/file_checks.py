"""Diagnoses of a dataset's files, so that data errors name the file or config key at fault.

mmengine and mmcv fail on bad data with messages that lose the context: an empty image folder
gives ``need at least one array to concatenate``, a truncated label ``image file is truncated``
without a path, a missing source label only surfaces when the sampler first draws it. These
helpers find the culprit; :class:`UDADataset` calls them at build time and when a sample fails.
"""
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine import fileio
from mmengine.fileio import LocalBackend, get_file_backend
from mmseg.registry import DATASETS


def is_local(path: str, backend_args: Optional[dict] = None) -> bool:
    """Whether ``path`` is read from the local file system (cheap to stat)."""
    return isinstance(get_file_backend(path, backend_args=backend_args), LocalBackend)


def image_folder_problem(cfg: dict) -> Optional[str]:
    """Why the dataset of ``cfg`` lists no image, or None if its image folder looks fine.

    The dataset is built with ``lazy_init=True`` (no file listing) to read the folder and suffix
    it resolved from ``data_root``, ``data_prefix`` and its own defaults.
    """
    try:
        dataset = DATASETS.build({**cfg, 'lazy_init': True})
    except Exception:
        return None
    img_dir = getattr(dataset, 'data_prefix', {}).get('img_path')
    ann_file = getattr(dataset, 'ann_file', '')
    backend_args = getattr(dataset, 'backend_args', None)
    if not img_dir or (ann_file and osp.isfile(ann_file)) or not is_local(img_dir, backend_args):
        return None
    if not osp.isdir(img_dir):
        return f'image folder {img_dir} does not exist'
    suffix = getattr(dataset, 'img_suffix', '')
    listing = fileio.list_dir_or_file(img_dir, list_dir=False, suffix=suffix, recursive=True)
    if next(iter(listing), None) is None:
        return f'image folder {img_dir} holds no file ending in {suffix!r}'
    return None


def missing_label_files(dataset) -> List[dict]:
    """Data infos of ``dataset`` whose ``seg_map_path`` is not a file (local datasets only)."""
    backend_args = getattr(dataset, 'backend_args', None)
    missing = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        path = info.get('seg_map_path')
        if path is not None and is_local(path, backend_args) and not osp.isfile(path):
            missing.append(info)
    return missing


def unreadable_file(info: dict, keys=('img_path', 'seg_map_path')) -> Optional[str]:
    """The first file of a data info that is missing or does not decode as an image."""
    from PIL import Image
    names = dict(img_path='image', seg_map_path='label')
    for key in keys:
        path = info.get(key)
        if path is None or not is_local(path):
            continue
        if not osp.isfile(path):
            return f'{names.get(key, key)} file {path} does not exist'
        try:
            with Image.open(path) as img:
                img.load()
        except Exception as err:  # PIL raises several types for truncated or foreign data
            why = str(err).replace(f" '{path}'", '')  # PIL repeats the path
            return f'{names.get(key, key)} file {path} is corrupt or not an image ({why})'
    return None


def dataset_configs(node, key: str) -> Iterator[Tuple[str, dict]]:
    """Each plain dataset config under ``node`` with its config key, looking inside the
    wrappers: a UDA pair's ``source`` / ``target``, ``dataset`` (e.g. ``RepeatDataset``) and
    ``datasets`` (``ConcatDataset``)."""
    if not isinstance(node, dict):
        return
    if 'source' in node and 'target' in node:
        yield from dataset_configs(node['source'], f'{key}.source')
        yield from dataset_configs(node['target'], f'{key}.target')
    elif isinstance(node.get('dataset'), dict):
        yield from dataset_configs(node['dataset'], f'{key}.dataset')
    elif isinstance(node.get('datasets'), (list, tuple)):
        for index, child in enumerate(node['datasets']):
            yield from dataset_configs(child, f'{key}.datasets.{index}')
    else:
        yield key, node


def require_images(cfg, loaders: Sequence[str]) -> None:
    """Refuse a run whose datasets list no image, naming the config key and folder.

    mmengine builds the validation dataloader when training starts, before any hook, and an
    empty image folder then fails with ``need at least one array to concatenate``; checking
    every dataset of ``loaders`` up front (a directory stat and one listing entry each) turns
    a misplaced dataset or a wrong ``img_suffix`` into an error that says where to look.
    """
    for loader in loaders:
        if not cfg.get(loader):
            continue
        for key, dataset in dataset_configs(cfg[loader].get('dataset'), f'{loader}.dataset'):
            problem = image_folder_problem(dataset)
            if problem:
                raise FileNotFoundError(
                    f'{key} ({dataset.get("type")}) has no images: {problem}. Check {key}.'
                    f'data_root ({dataset.get("data_root")!r}), data_prefix.img_path and '
                    'img_suffix')

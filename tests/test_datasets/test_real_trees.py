"""Tiny raw trees in the exact layout and encoding of the real datasets, for the converter and
dataset tests (imported by the other ``test_real_*``/``test_converters_*`` modules), and checks
that the fixtures really are encoded like the originals."""
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from typing import Dict, Sequence

import cv2
import numpy as np
from PIL import Image

from mmuda.datasets.convert import read_png_header

REPO = Path(__file__).resolve().parents[2]
H, W = 16, 32  # fixture image size (height, width)


@lru_cache()
def load_tool(name: str):
    """Import ``tools/dataset_converters/<name>.py`` (the tools are scripts, not a package)."""
    path = REPO / 'tools' / 'dataset_converters' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'mmuda_test_converter_{name}', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rgb(path: Path, h: int = H, w: int = W, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _palette_png(ids: np.ndarray, path: Path) -> None:
    """8-bit palette PNG, as GTA5 ships its labels (the index is the labelId)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(ids.astype(np.uint8), mode='P')
    img.putpalette(list(np.random.default_rng(1).integers(0, 255, 768, dtype=np.uint8)))
    img.save(path)


def _grey_png(ids: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids.astype(np.uint8), mode='L').save(path)


def _synthia_png(ids: np.ndarray, path: Path) -> None:
    """16-bit 3-channel PNG: class id in R, an instance id in G (OpenCV writes BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = np.zeros(ids.shape + (3, ), np.uint16)
    bgr[..., 2] = ids
    bgr[..., 1] = 1000 + np.arange(ids.size).reshape(ids.shape)  # instance ids above 255
    assert cv2.imwrite(str(path), bgr)


def labelid_map(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """Cityscapes labelIds: road (7) top, car (26) bottom-left, person (24) and void (0)."""
    ids = np.full((h, w), 7, np.uint8)
    ids[h // 2:, :w // 2] = 26
    ids[h // 2:, w // 2:] = 24 if seed % 2 == 0 else 11  # person or building
    ids[0, :4] = 0
    return ids


def labelid_to_train(ids: np.ndarray) -> np.ndarray:
    lut = {7: 0, 26: 13, 24: 11, 11: 2, 0: 255, 12: 3, 21: 8}
    return np.vectorize(lut.__getitem__, otypes=[np.uint8])(ids)


def write_gta5(root: Path, n: int = 3, label_size: Dict[int, tuple] = None) -> Path:
    """``images/0000k.png`` + ``labels/0000k.png``; ``label_size`` gives labels another size."""
    for k in range(1, n + 1):
        _rgb(root / 'images' / f'{k:05d}.png', seed=k)
        h, w = (label_size or {}).get(k, (H, W))
        _palette_png(labelid_map(k, h, w), root / 'labels' / f'{k:05d}.png')
    return root


def synthia_map(seed: int = 0) -> np.ndarray:
    """SYNTHIA ids: road (3) top, car (8) bottom-left, wall (21) / lane marking (22), void (0)."""
    ids = np.full((H, W), 3, np.uint16)
    ids[H // 2:, :W // 2] = 8
    ids[H // 2:, W // 2:] = 21 if seed % 2 == 0 else 22
    ids[0, :4] = 0
    return ids


def synthia_to_train(ids: np.ndarray) -> np.ndarray:
    lut = {3: 0, 8: 13, 21: 3, 22: 255, 0: 255}
    return np.vectorize(lut.__getitem__, otypes=[np.uint8])(ids)


def write_synthia(root: Path, n: int = 3) -> Path:
    for k in range(n):
        _rgb(root / 'RGB' / f'{k:07d}.png', seed=k)
        _synthia_png(synthia_map(k), root / 'GT' / 'LABELS' / f'{k:07d}.png')
    return root


def crosscity_map() -> np.ndarray:
    """labelIds with wall (12), which Cross-City does not annotate: it must become 255."""
    ids = labelid_map(0)
    ids[1, :] = 12
    ids[2, :] = 21  # vegetation
    return ids


def crosscity_to_train(ids: np.ndarray) -> np.ndarray:
    train = labelid_to_train(ids)
    train[ids == 12] = 255
    return train


def write_crosscity(root: Path, cities: Sequence[str] = ('Rome', ), n_train: int = 2,
                    n_test: int = 2) -> Path:
    for city in cities:
        for k in range(n_train):
            _rgb(root / city / 'Images' / 'Train' / f'{city}_train_{k}.jpg', seed=k)
        for k in range(n_test):
            _rgb(root / city / 'Images' / 'Test' / f'{city}_{k}.jpg', seed=k)
            _grey_png(crosscity_map(), root / city / 'Labels' / 'Test' / f'{city}_{k}_eval.png')
    return root


CITYSCAPES_NAMES = {'train': ['aachen_000000_000019', 'aachen_000001_000019'],
                    'val': ['frankfurt_000000_000294']}


def write_cityscapes(root: Path) -> Path:
    for split, names in CITYSCAPES_NAMES.items():
        for k, name in enumerate(names):
            city = name.split('_')[0]
            _rgb(root / 'leftImg8bit' / split / city / f'{name}_leftImg8bit.png', seed=k)
            _grey_png(labelid_map(k), root / 'gtFine' / split / city /
                      f'{name}_gtFine_labelIds.png')
    return root


def converted_files(root: Path) -> list:
    """Everything a converter may have written under ``root``."""
    return sorted(p for p in root.rglob('*')
                  if 'TrainIds' in p.name or p.suffix in ('.json', '.tmp') or p.is_symlink())


# ------------------------------------------------------------------ the fixtures are faithful
def test_gta5_fixture_is_a_palette_labelid_png(tmp_path):
    root = write_gta5(tmp_path, n=1)
    label = root / 'labels' / '00001.png'
    assert Image.open(label).mode == 'P'
    assert np.array_equal(np.asarray(Image.open(label)), labelid_map(1))


def test_synthia_fixture_is_16bit_3channel_and_pil_misreads_it(tmp_path):
    root = write_synthia(tmp_path, n=1)
    label = root / 'GT' / 'LABELS' / '0000000.png'
    header = read_png_header(label)
    assert (header.bit_depth, header.channels, header.size) == (16, 3, (H, W))
    raw = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and np.array_equal(raw[..., 2], synthia_map(0))
    # what PIL makes of it is not the class id: the reason the converter uses OpenCV
    assert not np.array_equal(np.asarray(Image.open(label))[..., 0], synthia_map(0))

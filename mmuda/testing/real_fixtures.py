"""Tiny copies of the real benchmarks and weights files, in their original formats and sizes.

The real-size smoke (``tools/smoke_real_configs.py``) trains every GTA5 / SYNTHIA / Cross-City
config for two iterations; it needs what a user has after downloading: raw dataset trees as
their authors release them, and the published pretrained weights under ``checkpoints/``.
This module writes both, with few images and random weights but everything else real:

* **GTA5**: ``images/NNNNN.png`` RGB 1914x1052, ``labels/NNNNN.png`` 8-bit palette PNGs whose
  index is the Cityscapes labelId (the release's encoding; palette = Cityscapes colours).
* **SYNTHIA-RAND-CITYSCAPES**: ``RGB/NNNNNNN.png`` 1280x760, ``GT/LABELS/NNNNNNN.png`` 16-bit
  3-channel PNGs, class id in the first (R) channel, instance ids (above 255) in the second.
* **Cityscapes**: ``leftImg8bit/{train,val}/<city>/<city>_NNNNNN_NNNNNN_leftImg8bit.png``
  2048x1024, ``gtFine/.../*_gtFine_labelIds.png`` 8-bit grey labelIds.
* **Cross-City (NTHU)**: ``<City>/Images/{Train,Test}/<name>.jpg`` 2048x1024,
  ``<City>/Labels/Test/<name>_eval.png`` 8-bit labelIds of the 13 annotated classes.

Then :func:`convert_trees` runs the project's converters on them exactly as
``docs/dataset_prepare.md`` tells a user (``python tools/dataset_converters/<name>.py ROOT``).
Labels are a street-like layout (sky, building, road, sidewalk, vegetation, car, person,
pole, ... and void) so every class subset of every metric has pixels; images are each class's
colour plus noise, so a network has something learnable and PNGs stay small.

Weights (:func:`write_published_weights`): every file of
:data:`mmuda.utils.published_weights.PUBLISHED_WEIGHTS`, with the key names, shapes and
wrappers of the published file (the Caffe init's ``Scale.`` prefix and ``layer5`` classifier,
torchvision's ``fc``, OpenMMLab's module names, VGG19's ``features``/``classifier``), holding
He-initialised convolutions whose batch-norm statistics are measured on fixture images
(so frozen batch norm behaves as with trained weights) rather than trained values.
"""
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np
import torch
from PIL import Image

from mmuda.datasets.crosscity import CITIES
from mmuda.datasets.label_maps import LABEL_ID_TO_TRAIN_ID, PALETTE, SYNTHIA_ID_TO_TRAIN_ID
from mmuda.utils.atomic_write import atomic_write

REPO = Path(__file__).resolve().parents[2]

# (width, height) of each release
GTA5_SIZE = (1914, 1052)
SYNTHIA_SIZE = (1280, 760)
CITYSCAPES_SIZE = (2048, 1024)
CROSSCITY_SIZE = (2048, 1024)


@dataclass(frozen=True)
class FixtureSpec:
    """How many images each split gets (a handful: the smoke trains 2 iterations and
    validates 2 images)."""
    gta5: int = 3
    synthia: int = 3
    cityscapes_train: int = 3
    cityscapes_val: int = 2
    crosscity_train: int = 2
    crosscity_test: int = 2
    cities: Tuple[str, ...] = CITIES


# ---------------------------------------------------------------- the scene layout
# Bands and boxes of Cityscapes trainIds: (trainId, top, bottom, left, right) as fractions.
# Later entries paint over earlier ones; -1 is void (labelId 0).
_LAYOUT: Tuple[Tuple[int, float, float, float, float], ...] = (
    (10, 0.00, 0.30, 0.00, 1.00),   # sky
    (2, 0.15, 0.55, 0.00, 0.45),    # building
    (8, 0.20, 0.55, 0.45, 0.80),    # vegetation
    (3, 0.35, 0.55, 0.80, 0.90),    # wall
    (4, 0.40, 0.55, 0.90, 1.00),    # fence
    (9, 0.50, 0.58, 0.45, 1.00),    # terrain
    (1, 0.55, 0.65, 0.00, 1.00),    # sidewalk
    (0, 0.65, 1.00, 0.00, 1.00),    # road
    (5, 0.20, 0.65, 0.42, 0.44),    # pole
    (6, 0.25, 0.30, 0.40, 0.46),    # traffic light
    (7, 0.30, 0.34, 0.60, 0.66),    # traffic sign
    (13, 0.62, 0.80, 0.10, 0.30),   # car
    (14, 0.58, 0.78, 0.55, 0.70),   # truck
    (15, 0.55, 0.76, 0.72, 0.86),   # bus
    (16, 0.60, 0.70, 0.86, 0.98),   # train
    (11, 0.50, 0.75, 0.33, 0.37),   # person
    (12, 0.55, 0.72, 0.38, 0.41),   # rider
    (17, 0.66, 0.76, 0.46, 0.50),   # motorcycle
    (18, 0.66, 0.76, 0.50, 0.54),   # bicycle
    (-1, 0.95, 1.00, 0.00, 0.20),   # void (ego vehicle)
)


def train_id_layout(height: int, width: int, seed: int) -> np.ndarray:
    """An ``(H, W)`` int16 map of trainIds (-1 = void): :data:`_LAYOUT` shifted per ``seed``
    so that images differ."""
    rng = np.random.default_rng(seed)
    shift = rng.uniform(-0.04, 0.04, size=2)
    out = np.full((height, width), -1, np.int16)
    for train_id, top, bottom, left, right in _LAYOUT:
        t, b = (np.clip([top + shift[0], bottom + shift[0]], 0, 1) * height).astype(int)
        left_, right_ = (np.clip([left + shift[1], right + shift[1]], 0, 1) * width).astype(int)
        out[t:max(b, t + 1), left_:max(right_, left_ + 1)] = train_id
    return out


def image_of(train_ids: np.ndarray, seed: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: each class's Cityscapes colour (void grey) plus noise."""
    colours = np.array(list(PALETTE) + [[90, 90, 90]], np.int16)  # index -1 -> last row
    rgb = colours[train_ids]
    noise = np.random.default_rng(seed).integers(-12, 13, size=rgb.shape, dtype=np.int16)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def _inverse(mapping: Dict[int, int]) -> Dict[int, int]:
    """trainId -> raw id (the first raw id of each trainId)."""
    out: Dict[int, int] = {}
    for raw, train in sorted(mapping.items()):
        out.setdefault(train, raw)
    return out


def raw_ids(train_ids: np.ndarray, mapping: Dict[int, int], void: int,
            keep: Sequence[int] = ()) -> np.ndarray:
    """trainIds -> a dataset's raw ids; void, and trainIds outside ``keep`` (if given) or
    without a raw id, become ``void``."""
    inverse = _inverse(mapping)
    out = np.full(train_ids.shape, void, np.int32)
    for train, raw in inverse.items():
        if not keep or train in keep:
            out[train_ids == train] = raw
    return out


# ---------------------------------------------------------------- file writers
def _save_png(path: Path, save: Callable[[str], None]) -> None:
    """Write an image atomically through a temporary ``.png`` (encoders pick the format from
    the name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.stem}.partial{path.suffix}')
    save(str(tmp))
    tmp.replace(path)


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    _save_png(path, lambda p: Image.fromarray(rgb).save(p, quality=95)
              if path.suffix == '.jpg' else Image.fromarray(rgb).save(p, compress_level=1))


def write_palette_label(path: Path, ids: np.ndarray) -> None:
    """8-bit palette PNG whose index is the labelId (GTA5's release), Cityscapes colours."""
    palette = np.zeros((256, 3), np.uint8)
    for raw, train in LABEL_ID_TO_TRAIN_ID.items():
        palette[raw] = PALETTE[train]
    img = Image.fromarray(ids.astype(np.uint8), mode='P')
    img.putpalette(palette.reshape(-1).tolist())
    _save_png(path, lambda p: img.save(p))


def write_grey_label(path: Path, ids: np.ndarray) -> None:
    _save_png(path, lambda p: Image.fromarray(ids.astype(np.uint8), mode='L').save(p))


def write_synthia_label(path: Path, ids: np.ndarray) -> None:
    """16-bit 3-channel PNG: class id in R, instance id in G (OpenCV writes BGR)."""
    bgr = np.zeros(ids.shape + (3,), np.uint16)
    bgr[..., 2] = ids
    bgr[..., 1] = np.where(ids > 0, 1000 + ids, 0)  # instance ids above 255, as released

    def save(p: str) -> None:
        if not cv2.imwrite(p, bgr):
            raise OSError(f'OpenCV could not write {p}')
    _save_png(path, save)


# ---------------------------------------------------------------- the four trees
def write_gta5(root: Path, count: int, seed: int = 0) -> None:
    width, height = GTA5_SIZE
    for k in range(1, count + 1):
        train_ids = train_id_layout(height, width, seed + k)
        write_rgb(root / 'images' / f'{k:05d}.png', image_of(train_ids, seed + k))
        write_palette_label(root / 'labels' / f'{k:05d}.png',
                            raw_ids(train_ids, LABEL_ID_TO_TRAIN_ID, void=0))


def write_synthia(root: Path, count: int, seed: int = 100) -> None:
    width, height = SYNTHIA_SIZE
    for k in range(count):
        train_ids = train_id_layout(height, width, seed + k)
        write_rgb(root / 'RGB' / f'{k:07d}.png', image_of(train_ids, seed + k))
        write_synthia_label(root / 'GT' / 'LABELS' / f'{k:07d}.png',
                            raw_ids(train_ids, SYNTHIA_ID_TO_TRAIN_ID, void=0))


def write_cityscapes(root: Path, num_train: int, num_val: int, seed: int = 200) -> None:
    width, height = CITYSCAPES_SIZE
    for split, count, city in (('train', num_train, 'aachen'), ('val', num_val, 'frankfurt')):
        for k in range(count):
            name = f'{city}_{k:06d}_000019'
            train_ids = train_id_layout(height, width, seed + k + (0 if split == 'train' else 50))
            write_rgb(root / 'leftImg8bit' / split / city / f'{name}_leftImg8bit.png',
                      image_of(train_ids, seed + k))
            write_grey_label(root / 'gtFine' / split / city / f'{name}_gtFine_labelIds.png',
                             raw_ids(train_ids, LABEL_ID_TO_TRAIN_ID, void=0))


def write_crosscity(root: Path, num_train: int, num_test: int, cities: Sequence[str],
                    seed: int = 300) -> None:
    from mmuda.datasets.label_maps import CROSSCITY_13
    width, height = CROSSCITY_SIZE
    for c, city in enumerate(cities):
        for split, count in (('Train', num_train), ('Test', num_test)):
            for k in range(count):
                s = seed + 10 * c + k + (0 if split == 'Train' else 5)
                name = f'pano_{c:02d}{k:03d}_{split.lower()}'
                train_ids = train_id_layout(height, width, s)
                write_rgb(root / city / 'Images' / split / f'{name}.jpg', image_of(train_ids, s))
                if split == 'Test':
                    write_grey_label(root / city / 'Labels' / 'Test' / f'{name}_eval.png',
                                     raw_ids(train_ids, LABEL_ID_TO_TRAIN_ID, void=0,
                                             keep=CROSSCITY_13))


# Where each tree lives under a data root (the configs' data_root values) and its converter.
TREES = {'gta5': 'gta5', 'synthia': 'synthia', 'cityscapes': 'cityscapes',
         'crosscity': 'NTHU_Datasets'}


def write_raw_trees(data_root: Path, spec: FixtureSpec = FixtureSpec()) -> Dict[str, Path]:
    """Write the four raw trees under ``data_root`` (``data/`` of a working directory);
    return ``{converter name: tree root}``."""
    roots = {name: data_root / folder for name, folder in TREES.items()}
    write_gta5(roots['gta5'], spec.gta5)
    write_synthia(roots['synthia'], spec.synthia)
    write_cityscapes(roots['cityscapes'], spec.cityscapes_train, spec.cityscapes_val)
    write_crosscity(roots['crosscity'], spec.crosscity_train, spec.crosscity_test, spec.cities)
    return roots


def converter_commands(roots: Dict[str, Path], cwd: Path) -> List[List[str]]:
    """``python tools/dataset_converters/<name>.py ROOT`` for each tree, as
    docs/dataset_prepare.md shows them (roots relative to ``cwd`` when below it)."""
    commands = []
    for name, root in roots.items():
        shown = root.relative_to(cwd) if root.is_relative_to(cwd) else root
        commands.append([sys.executable, str(REPO / 'tools' / 'dataset_converters' / f'{name}.py'),
                         str(shown)])
    return commands


def convert_trees(roots: Dict[str, Path], cwd: Path, env: Dict[str, str] = None) -> None:
    """Run the converters as a user does; a failing one raises with its output."""
    for command in converter_commands(roots, cwd):
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f'{" ".join(command)} failed ({done.returncode}):\n'
                               f'{done.stdout}\n{done.stderr}')


# ---------------------------------------------------------------- published weights
# Input normalisation of the configs that load each ResNet file: the Caffe DeepLab lineage
# subtracts a BGR mean and divides by nothing; torchvision / OpenMMLab files expect ImageNet
# mean and std. (mean, std) per channel.
CAFFE_NORM = ((104.00698793, 116.66876762, 122.67891434), (1.0, 1.0, 1.0))
IMAGENET_NORM = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
LAST_BN_GAMMA = 0.2  # of each residual block: trained ResNets have small ones; keeps depth tame


def _he_init(state: Dict[str, torch.Tensor], gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """He-normal convolutions / linear layers, identity batch norms (the last of each residual
    block scaled to :data:`LAST_BN_GAMMA`), zero biases."""
    out = {}
    for key, value in state.items():
        value = value.detach().clone()
        if key.endswith('num_batches_tracked'):
            continue  # the published files predate these counters
        if key.endswith('running_var'):
            value.fill_(1.0)
        elif key.endswith(('running_mean', 'bias')):
            value.zero_()
        elif value.ndim >= 2:
            value.normal_(0.0, (2.0 / value[0].numel()) ** 0.5, generator=gen)
        else:  # norm weights
            value.fill_(LAST_BN_GAMMA if re.search(r'\.bn3\.weight$', key) else 1.0)
        out[key] = value
    return out


def _calibrated_resnet(module: torch.nn.Module, norm: Tuple[tuple, tuple],
                       gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """``module`` He-initialised, with batch-norm running statistics measured on fixture
    images normalised as the configs do: a trained file's statistics match its weights, so a
    backbone with frozen (eval-mode) batch norm, as FADA's, neither explodes nor vanishes."""
    state = _he_init(module.state_dict(), gen)
    module.load_state_dict(state, strict=False)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: the exact statistics of the batch
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in norm)
    images = [image_of(train_id_layout(256, 512, seed), seed) for seed in (0, 1)]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    module.train()
    with torch.no_grad():
        module((batch - mean) / std)
    return {k: v for k, v in module.state_dict().items()
            if not k.endswith('num_batches_tracked')}


def _resnet101(style: str, norm: Tuple[tuple, tuple], gen: torch.Generator,
               v1c: bool = False) -> Dict[str, torch.Tensor]:
    from mmseg.models.backbones import ResNet, ResNetV1c
    return _calibrated_resnet((ResNetV1c if v1c else ResNet)(depth=101, style=style), norm, gen)


def _classifier(layer: str, in_channels: int, num_classes: int,
                gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """DeepLab-v2's ``Classifier_Module``: four dilated 3x3 convolutions, N(0, 0.01)."""
    out = {}
    for i in range(4):
        out[f'{layer}.conv2d_list.{i}.weight'] = torch.empty(
            num_classes, in_channels, 3, 3).normal_(0, 0.01, generator=gen)
        out[f'{layer}.conv2d_list.{i}.bias'] = torch.zeros(num_classes)
    return out


def _fc(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    return {'fc.weight': torch.empty(1000, 2048).normal_(0, 0.01, generator=gen),
            'fc.bias': torch.zeros(1000)}


def deeplabv2_caffe_init(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """``DeepLab_resnet_pretrained_init-f81d91e8.pth``'s keys: a Caffe-style ResNet-101 and
    a 21-class (VOC) ``layer5`` classifier, all under ``Scale.``."""
    state = dict(_resnet101('caffe', CAFFE_NORM, gen), **_classifier('layer5', 2048, 21, gen))
    return {f'Scale.{k}': v for k, v in state.items()}


def torchvision_resnet101(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """torchvision's ``resnet101`` keys: the ResNet (mmseg's names are torchvision's) + ``fc``."""
    return dict(_resnet101('pytorch', IMAGENET_NORM, gen), **_fc(gen))


def resnet101_v1c(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """OpenMMLab's ``resnet101_v1c``: mmseg's ``ResNetV1c`` names, with its ImageNet ``fc``."""
    return dict(_resnet101('pytorch', IMAGENET_NORM, gen, v1c=True), **_fc(gen))


def mit_b5(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """OpenMMLab's ``mit_b5``: mmseg's ``MixVisionTransformer`` names at the B5 sizes, with
    the module's own initialisation (truncated normal linear layers, unit LayerNorms)."""
    from mmseg.models.backbones import MixVisionTransformer
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=gen)))
    model = MixVisionTransformer(in_channels=3, embed_dims=64, num_stages=4,
                                 num_layers=[3, 6, 40, 3], num_heads=[1, 2, 5, 8],
                                 patch_sizes=[7, 3, 3, 3], sr_ratios=[8, 4, 2, 1],
                                 out_indices=(0, 1, 2, 3), mlp_ratio=4, qkv_bias=True)
    model.init_weights()
    return model.state_dict()


def torchvision_vgg19(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """torchvision's ``vgg19`` keys: ``features.<i>`` convolutions and the ``classifier``."""
    from mmuda.models.losses.perceptual_loss import VGG19_LAYOUT
    state, index, in_c = {}, 0, 3
    for item in VGG19_LAYOUT:
        if item == 'M':
            index += 1
            continue
        state[f'features.{index}.weight'] = torch.empty(item, in_c, 3, 3)
        state[f'features.{index}.bias'] = torch.empty(item)
        index, in_c = index + 2, item  # conv, relu
    for i, (n_in, n_out) in zip((0, 3, 6), ((512 * 7 * 7, 4096), (4096, 4096), (4096, 1000))):
        state[f'classifier.{i}.weight'] = torch.empty(n_out, n_in)
        state[f'classifier.{i}.bias'] = torch.empty(n_out)
    return _he_init(state, gen)


WEIGHT_BUILDERS: Dict[str, Callable[[torch.Generator], Dict[str, torch.Tensor]]] = {
    'DeepLab_resnet_pretrained_init-f81d91e8.pth': deeplabv2_caffe_init,
    'DeepLab_resnet_pretrained_imagenet.pth': deeplabv2_caffe_init,
    'resnet101-5d3b4d8f.pth': torchvision_resnet101,
    'resnet101_v1c-e67eebb6.pth': resnet101_v1c,
    'mit_b5_20220624-658746d9.pth': mit_b5,
    'vgg19-dcbb9e9d.pth': torchvision_vgg19,
}


def write_published_weights(checkpoints: Path, names: Sequence[str] = tuple(WEIGHT_BUILDERS),
                            seed: int = 0) -> List[Path]:
    """Write each named file (default: every published file) under ``checkpoints``; an
    existing file is kept. The file names carry the real hash prefixes, which these files do
    not match: they are stand-ins for the smoke, never to be published."""
    written = []
    for name in names:
        path = checkpoints / name
        if not path.is_file():
            state = WEIGHT_BUILDERS[name](torch.Generator().manual_seed(seed))
            checkpoints.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f, s=state: torch.save(s, f))
        written.append(path)
    return written


def prepare_root(root: Path, env: Dict[str, str] = None) -> None:
    """What a user has after docs/dataset_prepare.md and the weights section of
    docs/get_started.md, under ``root`` (the working directory the configs' relative
    ``data/`` and ``checkpoints/`` paths resolve against): raw trees converted by the project's
    converters, and every published weights file. Each part is skipped when already done."""
    marker = root / 'data' / '.smoke_fixtures_converted'
    if not marker.is_file():
        convert_trees(write_raw_trees(root / 'data'), root, env)
        marker.write_text('\n'.join(TREES.values()) + '\n')
    write_published_weights(root / 'checkpoints')

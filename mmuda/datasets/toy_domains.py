"""Deterministic generator of the embedded toy domains: a synthetic source and a "real" target.

Both domains render the same kind of street scene (sky, buildings, trees, a road converging to
a vanishing point, sidewalks, cars, pedestrians) from one layout sampler:

* ``source`` ("synthetic"): flat colours per object, clean edges, daylight.
* ``target`` ("real"): other material colours, per-class textures (asphalt grain, facade
  windows, foliage), a dusk lighting and colour cast, vignetting, defocus blur and sensor noise,
  and mildly different layout statistics (lower horizon, wider road, more cars).

The appearance gap is large and the layout gap mild on purpose: that is the regime of GTA5 ->
Cityscapes in which output-space alignment is expected to help (see docs/toy_domains.md).
Files are written in the Cityscapes layout (``leftImg8bit/<split>/toy/*_leftImg8bit.png``,
``gtFine/<split>/toy/*_gtFine_labelTrainIds.png``) so the real datasets' code paths are used.
"""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..utils.atomic_write import atomic_write, atomic_write_text

CLASSES = ('road', 'sidewalk', 'building', 'vegetation', 'sky', 'car', 'person')
PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [107, 142, 35], [70, 130, 180],
           [0, 0, 142], [220, 20, 60]]
ROAD, SIDEWALK, BUILDING, VEGETATION, SKY, CAR, PERSON = range(len(CLASSES))
GENERATOR_VERSION = 1


@dataclass
class DomainStyle:
    """Everything that differs between the two toy domains."""
    horizon: float                 # mean horizon height as a fraction of the image height
    road_half_width: float         # half width of the road at the bottom, fraction of width
    cars: Tuple[int, int]          # min/max number of cars
    colours: Dict[int, Tuple[int, int, int]]  # base RGB of each stuff class
    texture: float = 0.0           # amplitude of per-class texture
    gain: float = 1.0              # global exposure
    tint: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignette: float = 0.0
    blur: float = 0.0              # Gaussian blur radius in pixels
    noise: float = 0.0             # std of sensor noise (0-255 scale)


SOURCE_STYLE = DomainStyle(
    horizon=0.42, road_half_width=0.36, cars=(1, 3),
    colours={ROAD: (110, 110, 115), SIDEWALK: (200, 170, 190), BUILDING: (150, 120, 100),
             VEGETATION: (60, 160, 60), SKY: (120, 180, 250)})

TARGET_STYLE = DomainStyle(
    horizon=0.46, road_half_width=0.42, cars=(2, 4),
    colours={ROAD: (80, 78, 72), SIDEWALK: (150, 150, 140), BUILDING: (120, 110, 115),
             VEGETATION: (85, 105, 50), SKY: (190, 190, 200)},
    texture=28.0, gain=0.75, tint=(1.12, 0.95, 0.78), vignette=0.35, blur=1.0, noise=8.0)

STYLES = dict(source=SOURCE_STYLE, target=TARGET_STYLE)


@dataclass
class ToyDomainsSpec:
    """Size and split sizes of the generated domains."""
    height: int = 128
    width: int = 256
    num_train: int = 300
    num_val: int = 100
    seed: int = 0
    version: int = GENERATOR_VERSION
    styles: dict = field(default_factory=lambda: {k: asdict(v) for k, v in STYLES.items()})


def _perspective(y: float, horizon: float, height: int) -> float:
    """Scale of an object standing at row ``y`` (0 at the horizon, 1 at the bottom)."""
    return max(0.05, (y - horizon) / max(1.0, height - horizon))


def _jitter(rng: np.random.Generator, rgb, amount: int) -> Tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


def render_scene(rng: np.random.Generator, style: DomainStyle, height: int,
                 width: int) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: ``(image HxWx3 uint8, label HxW uint8 in trainIds of CLASSES)``."""
    label = Image.new('L', (width, height), SKY)
    image = Image.new('RGB', (width, height), _jitter(rng, style.colours[SKY], 10))
    ld, im = ImageDraw.Draw(label), ImageDraw.Draw(image)

    def fill(shape: str, xy, cls: int, rgb) -> None:
        getattr(ld, shape)(xy, fill=cls)
        getattr(im, shape)(xy, fill=rgb)

    hz = height * (style.horizon + rng.uniform(-0.04, 0.04))
    vx = width * (0.5 + rng.uniform(-0.08, 0.08))
    # ground: vegetation verge everywhere below the horizon, then sidewalk and road trapezoids
    fill('rectangle', [0, hz, width, height], VEGETATION,
         _jitter(rng, style.colours[VEGETATION], 10))
    half = width * (style.road_half_width + rng.uniform(-0.04, 0.04))
    walk = half + width * rng.uniform(0.10, 0.18)
    fill('polygon', [(vx - 3, hz), (vx + 3, hz), (width / 2 + walk, height),
                     (width / 2 - walk, height)], SIDEWALK,
         _jitter(rng, style.colours[SIDEWALK], 10))
    fill('polygon', [(vx - 1, hz), (vx + 1, hz), (width / 2 + half, height),
                     (width / 2 - half, height)], ROAD, _jitter(rng, style.colours[ROAD], 8))
    # skyline: buildings and trees on both sides of the vanishing point
    for side in (-1, 1):
        x = vx + side * rng.uniform(4, 16)
        while 0 <= x <= width:
            w = rng.uniform(0.06, 0.16) * width
            x2 = x + side * w
            if rng.random() < 0.7:
                top = hz - rng.uniform(0.12, 0.38) * height
                fill('rectangle', [min(x, x2), top, max(x, x2), hz + 2], BUILDING,
                     _jitter(rng, style.colours[BUILDING], 20))
            else:
                r = w / 2
                cx, cy = (x + x2) / 2, hz - rng.uniform(0.3, 0.9) * r
                fill('rectangle', [cx - r * 0.15, cy, cx + r * 0.15, hz + 2], VEGETATION,
                     _jitter(rng, style.colours[VEGETATION], 12))
                fill('ellipse', [cx - r, cy - r, cx + r, cy + r], VEGETATION,
                     _jitter(rng, style.colours[VEGETATION], 15))
            x = x2
    # pedestrians on the sidewalks, then cars on the road, far to near
    objects = [('person', hz + rng.uniform(0.1, 1.0) * (height - hz))
               for _ in range(rng.integers(1, 4))]
    objects += [('car', hz + rng.uniform(0.15, 0.9) * (height - hz))
                for _ in range(rng.integers(style.cars[0], style.cars[1] + 1))]
    for kind, y in sorted(objects, key=lambda o: o[1]):
        s = _perspective(y, hz, height)
        road_half = abs(half) * s + 1
        if kind == 'car':
            w, h = 0.28 * width * s + 4, 0.16 * height * s + 3
            cx = vx + (width / 2 - vx) * s + rng.uniform(-0.6, 0.6) * (road_half - w / 2)
            rgb = tuple(int(c) for c in rng.integers(20, 235, 3))
            fill('rectangle', [cx - w / 2, y - h, cx + w / 2, y], CAR, rgb)
            fill('rectangle', [cx - w / 3, y - 1.5 * h, cx + w / 3, y - h], CAR, rgb)
        else:
            h, w = 0.45 * height * s + 4, 0.05 * width * s + 2
            walk_mid = road_half + (walk - half) * s / 2
            cx = vx + (width / 2 - vx) * s + rng.choice([-1, 1]) * walk_mid
            rgb = tuple(int(c) for c in rng.integers(20, 235, 3))
            fill('rectangle', [cx - w / 2, y - h * 0.8, cx + w / 2, y], PERSON, rgb)
            fill('ellipse', [cx - w / 2, y - h, cx + w / 2, y - h * 0.75], PERSON,
                 _jitter(rng, (200, 160, 130), 30))
    return np.asarray(image), np.asarray(label)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, scale: int) -> np.ndarray:
    """Noise in [-1, 1] with features of about ``scale`` pixels (bilinear upsampled grid)."""
    small = rng.uniform(-1, 1, (height // scale + 2, width // scale + 2)).astype(np.float32)
    up = Image.fromarray(small).resize((width + 2 * scale, height + 2 * scale), Image.BILINEAR)
    return np.asarray(up)[scale:scale + height, scale:scale + width]


def apply_appearance(rng: np.random.Generator, image: np.ndarray, label: np.ndarray,
                     style: DomainStyle) -> np.ndarray:
    """Textures, lighting, colour cast, vignetting, blur and sensor noise of a domain."""
    h, w = label.shape
    img = image.astype(np.float32)
    if style.texture:
        grain = rng.normal(0, 1, (h, w)).astype(np.float32)
        blotch = _smooth_noise(rng, h, w, 6)
        rows, cols = np.mgrid[0:h, 0:w]
        windows = (((rows // 3) % 3 == 0) | ((cols // 4) % 4 == 0)).astype(np.float32) * 2 - 1
        per_class = {ROAD: 0.6 * grain + 0.4 * blotch, SIDEWALK: 0.5 * blotch + 0.3 * grain,
                     BUILDING: 0.8 * windows + 0.2 * grain, VEGETATION: 0.7 * grain + 0.6 * blotch,
                     SKY: 0.5 * _smooth_noise(rng, h, w, 24)}
        for cls, pattern in per_class.items():
            mask = label == cls
            img[mask] += style.texture * pattern[mask, None]
    if style.gain != 1.0 or style.tint != (1.0, 1.0, 1.0):
        img = img * style.gain * np.asarray(style.tint, np.float32)
    if style.vignette:
        yy, xx = np.mgrid[-1:1:h * 1j, -1:1:w * 1j]
        img *= (1 - style.vignette * (xx ** 2 + yy ** 2) / 2)[..., None]
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if style.blur:
        out = out.filter(ImageFilter.GaussianBlur(style.blur))
    img = np.asarray(out).astype(np.float32)
    if style.noise:
        img += rng.normal(0, style.noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _save_png(array: np.ndarray, path: Path) -> None:
    """Write atomically: a killed run never leaves a truncated PNG behind."""
    image = Image.fromarray(array)
    atomic_write(path, lambda f: image.save(f, format='PNG'))


def generate_toy_domains(root: str, spec: ToyDomainsSpec = ToyDomainsSpec(),
                         progress: bool = True) -> Dict[str, Path]:
    """Write both domains under ``root`` and return ``{'source': path, 'target': path}``.

    Idempotent: a domain whose ``meta.json`` matches ``spec`` is left alone; ``meta.json`` is
    written last, so an interrupted run is redone rather than trusted.
    """
    from tqdm import tqdm

    meta = asdict(spec)
    paths = {}
    for d_idx, (domain, style) in enumerate(STYLES.items()):
        out = Path(root) / domain
        paths[domain] = out
        meta_file = out / 'meta.json'
        if meta_file.exists() and json.loads(meta_file.read_text()) == json.loads(json.dumps(meta)):
            continue
        jobs = [('train', i) for i in range(spec.num_train)] + \
               [('val', i) for i in range(spec.num_val)]
        for split, i in tqdm(jobs, desc=f'toy {domain}', disable=not progress):
            rng = np.random.default_rng((spec.seed, d_idx, 0 if split == 'train' else 1, i))
            image, label = render_scene(rng, style, spec.height, spec.width)
            image = apply_appearance(rng, image, label, style)
            name = f'toy_{i:06d}_000019'
            _save_png(image, out / 'leftImg8bit' / split / 'toy' / f'{name}_leftImg8bit.png')
            _save_png(label, out / 'gtFine' / split / 'toy' / f'{name}_gtFine_labelTrainIds.png')
        atomic_write_text(json.dumps(meta, indent=2), meta_file)
    return paths

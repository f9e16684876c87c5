"""Raw labels -> 8-bit trainId PNGs, with whole-tree validation and class statistics.

A dataset converter (``tools/dataset_converters/*.py``) only describes its raw tree: which
files pair up (:class:`Sample`) and how a raw label is encoded (:class:`LabelFormat`), collected
in a :class:`RawTree`. :func:`convert_tree` does the rest in three phases, so that a broken tree
never leaves a half-converted one behind:

1. check every pair from file headers only (PNG IHDR, image size): cheap;
2. decode every raw label, check its values against the label map and count the classes.
   Any problem found in 1 or 2 raises one :class:`RawTreeError` listing all of them, naming
   the files, before anything is written;
3. write each trainId PNG atomically (:func:`mmuda.utils.atomic_write.atomic_write`); an
   output that already holds exactly the conversion of its current raw label is kept, so a
   killed run is simply re-run, while an output whose raw label changed since (or that was
   edited) is written again; then the class-statistics JSON, atomically too.

Raw labels are decoded twice (phases 2 and 3): the price of validating the whole tree before
writing anything, without keeping the converted labels in memory.
"""
import argparse
import json
import multiprocessing
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from ..utils.atomic_write import TEMPORARY_SUFFIX, atomic_write, atomic_write_text, temporary_target
from .label_maps import CLASSES, IGNORE_INDEX, lookup_table

STATS_FORMAT = 'mmuda-class-stats'
STATS_VERSION = 1
MAX_LISTED_PROBLEMS = 200
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # IHDR colour type -> channels after decoding


# ---------------------------------------------------------------------------------- formats
@dataclass(frozen=True)
class PngHeader:
    """Size and encoding of a PNG, read from its IHDR chunk without decoding the pixels."""
    width: int
    height: int
    bit_depth: int
    channels: int

    @property
    def size(self) -> Tuple[int, int]:
        return self.height, self.width


def read_png_header(path: Path) -> PngHeader:
    """Raise ``ValueError`` if ``path`` does not start like a PNG.

    PIL silently converts 16-bit colour PNGs to 8 bits, so the header is the only reliable way
    to tell a SYNTHIA label as distributed from one that somebody re-saved.
    """
    with open(path, 'rb') as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b'IHDR' \
            or head[25] not in _PNG_CHANNELS:
        raise ValueError('not a PNG file')
    width, height = struct.unpack('>II', head[16:24])
    return PngHeader(width, height, bit_depth=head[24], channels=_PNG_CHANNELS[head[25]])


def image_size(path: Path) -> Tuple[int, int]:
    """``(height, width)`` of any image PIL can open, from its header only."""
    with Image.open(path) as img:
        return img.height, img.width


@dataclass(frozen=True)
class LabelFormat:
    """How a dataset encodes its raw labels.

    Args:
        description: What a valid label is, quoted in error messages.
        id_to_train_id: Raw class id -> trainId; other defined ids become 255.
        num_ids: Raw ids ``0..num_ids-1`` are defined; any other value is an error (a label
            from another dataset, or a colour image saved as a label).
        extra_ids: Further defined raw ids (all ignored).
        bit_depth: 8 or 16.
        channels: 1 (grey or palette: the value is the id) or 3.
        class_channel: For 3-channel labels, the channel holding the id, in RGB order.
    """
    description: str
    id_to_train_id: Mapping[int, int]
    num_ids: int
    extra_ids: Tuple[int, ...] = ()
    bit_depth: int = 8
    channels: int = 1
    class_channel: int = 0

    def lookup_table(self) -> np.ndarray:
        return lookup_table(self.id_to_train_id, 2 ** self.bit_depth)

    def known_ids(self) -> np.ndarray:
        known = np.zeros(2 ** self.bit_depth, dtype=bool)
        known[:self.num_ids] = True
        known[list(self.extra_ids)] = True
        return known

    def header_problem(self, header: PngHeader) -> Optional[str]:
        if (header.bit_depth, header.channels) == (self.bit_depth, self.channels):
            return None
        return f'{header.bit_depth}-bit {header.channels}-channel PNG, ' \
               f'expected {self.description}'

    def read_ids(self, path: Path) -> np.ndarray:
        """The raw class ids of a label as an ``(H, W)`` array."""
        if self.channels == 1:
            # PIL, because OpenCV expands palette PNGs (GTA5's) to colours
            with Image.open(path) as img:
                return np.asarray(img)
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None or array.ndim != 3:
            raise ValueError('OpenCV cannot decode it')
        return array[..., 2 - self.class_channel]  # OpenCV stores BGR


# ---------------------------------------------------------------------------------- trees
@dataclass(frozen=True)
class Sample:
    """One raw label, its image and the trainId PNG it becomes."""
    image: Path
    label: Path
    output: Path
    stats_file: Path  # the statistics JSON that counts this label

    @property
    def stats_key(self) -> str:
        """The output's path relative to its statistics file, the key of the JSON."""
        return self.output.relative_to(self.stats_file.parent).as_posix()


@dataclass
class RawTree:
    """What a dataset converter found under its raw root.

    Args:
        dataset: Name used in messages and in the statistics JSON.
        root: The raw root.
        label_format: Encoding of the raw labels.
        samples: Every (image, raw label) pair.
        problems: Folder and pairing problems already found.
        resize_mismatched_labels: Resize a label whose size differs from its image's (nearest
            neighbour) instead of refusing it. Only for GTA5, whose distribution has a few such
            labels; anywhere else a size mismatch means a wrong file.
        image_dirs: Image folders (relative to ``root``) linked into an ``--out-dir`` so that
            it is a complete data root for the configs.
    """
    dataset: str
    root: Path
    label_format: LabelFormat
    samples: List[Sample] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    resize_mismatched_labels: bool = False
    image_dirs: Sequence[str] = ()

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


class RawTreeError(ValueError):
    """The raw tree is incomplete or malformed; ``problems`` lists every finding."""

    def __init__(self, tree: RawTree, problems: List[str]) -> None:
        self.problems = problems
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(listed)
        lines = [f'{tree.dataset} raw tree at {tree.root} is not valid; nothing was written. '
                 f'{len(problems)} problem(s):'] + [f'  {p}' for p in listed]
        if more:
            lines.append(f'  ... and {more} more')
        super().__init__('\n'.join(lines))


def missing_dirs(root: Path, dirs: Iterable[str], what: str = '') -> List[str]:
    """A problem for each folder of ``dirs`` (relative to ``root``) that does not exist."""
    hint = f' ({what})' if what else ''
    return [f'missing folder: {d}/{hint}' for d in dirs if not (root / d).is_dir()]


def list_files(folder: Path, suffix: str, exclude: Sequence[str] = (),
               recursive: bool = False) -> Dict[str, Path]:
    """``{name without suffix: path}`` of the files of ``folder`` ending in ``suffix``.

    Names are relative to ``folder`` (so ``city/x`` when recursive). Hidden files (the
    temporary files of an interrupted run) and names ending in one of ``exclude`` (converted
    outputs lying next to the raw files) are skipped.
    """
    pattern = f'**/*{suffix}' if recursive else f'*{suffix}'
    found = {}
    for path in folder.glob(pattern):
        if path.name.startswith('.') or path.name.endswith(tuple(exclude)) or not path.is_file():
            continue
        found[path.relative_to(folder).as_posix()[:-len(suffix)]] = path
    return found


def pair_files(tree: RawTree, images: Dict[str, Path], labels: Dict[str, Path],
               output_of: Callable[[str, Path], Path], stats_file: Path) -> None:
    """Add a :class:`Sample` to ``tree`` for each name in both dicts, a problem for the rest."""
    for name in sorted(images.keys() | labels.keys()):
        if name not in labels:
            tree.problems.append(f'image without label: {tree.rel(images[name])}')
        elif name not in images:
            tree.problems.append(f'label without image: {tree.rel(labels[name])}')
        else:
            tree.samples.append(Sample(images[name], labels[name],
                                       output_of(name, labels[name]), stats_file))


# ---------------------------------------------------------------------------------- phases
@dataclass(frozen=True)
class _Job:
    sample: Sample
    name: str                      # the raw label relative to the raw root, for messages
    label_format: LabelFormat
    size: Tuple[int, int]          # (height, width) of the image, hence of the output
    resize: bool                   # the raw label has another size (GTA5 quirk)


def _check_headers(tree: RawTree) -> Tuple[List[_Job], List[str], List[str]]:
    """Phase 1: jobs, problems, and a note for each label that will be resized."""
    jobs, problems, resized = [], [], []
    fmt = tree.label_format
    for s in tree.samples:
        try:
            size = image_size(s.image)
        except (OSError, SyntaxError, ValueError) as e:  # PIL raises SyntaxError on broken PNGs
            problems.append(f'unreadable image: {tree.rel(s.image)} ({e})')
            continue
        try:
            header = read_png_header(s.label)
        except (OSError, ValueError) as e:
            problems.append(f'unreadable label: {tree.rel(s.label)} ({e})')
            continue
        bad_format = fmt.header_problem(header)
        if bad_format:
            problems.append(f'malformed label: {tree.rel(s.label)} is a {bad_format}')
            continue
        resize = header.size != size
        if resize and not tree.resize_mismatched_labels:
            problems.append(
                f'label size differs from its image: {tree.rel(s.label)} is '
                f'{header.width}x{header.height}, {tree.rel(s.image)} is {size[1]}x{size[0]}')
            continue
        if resize:
            resized.append(f'{tree.rel(s.label)} {header.width}x{header.height} -> '
                           f'{size[1]}x{size[0]}')
        jobs.append(_Job(s, tree.rel(s.label), fmt, size, resize))
    return jobs, problems, resized


def _train_ids(job: _Job) -> Tuple[np.ndarray, np.ndarray]:
    """Decode a raw label: ``(trainIds (H, W) uint8, sorted raw values outside the map)``."""
    ids = job.label_format.read_ids(job.sample.label)
    if job.resize:
        ids = cv2.resize(np.ascontiguousarray(ids), job.size[::-1],
                         interpolation=cv2.INTER_NEAREST)
    unknown = ~job.label_format.known_ids()[ids]
    bad_values = np.unique(ids[unknown]) if unknown.any() else np.empty(0, ids.dtype)
    return job.label_format.lookup_table()[ids], bad_values


def _scan(job: _Job) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """Phase 2 worker: ``(pixels per trainId and ignore count, problem)``."""
    try:
        train_ids, bad_values = _train_ids(job)
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises SyntaxError on broken PNGs
        return None, f'unreadable label: {job.name} ({e})'
    if bad_values.size:
        shown = ', '.join(str(v) for v in bad_values[:10]) + (' ...' if bad_values.size > 10
                                                              else '')
        return None, f'values outside the label map: {job.name} has {shown} ' \
                     f'(expected {job.label_format.description})'
    counts = np.bincount(train_ids.ravel(), minlength=IGNORE_INDEX + 1)
    return np.append(counts[:len(CLASSES)], counts[IGNORE_INDEX]), None


def _holds(path: Path, train_ids: np.ndarray) -> bool:
    """Whether ``path`` is an 8-bit single-channel PNG with exactly ``train_ids``' pixels."""
    try:
        header = read_png_header(path)
        if header.size != train_ids.shape or (header.bit_depth, header.channels) != (8, 1):
            return False
        return np.array_equal(np.asarray(Image.open(path)), train_ids)
    except (OSError, SyntaxError, ValueError):  # missing or unreadable: write it
        return False


def _remove_stale_temp_files(outputs: Iterable[Path]) -> None:
    """Delete the temporary files a killed run left next to ``outputs``."""
    names: Dict[Path, set] = {}
    for out in outputs:
        names.setdefault(out.parent, set()).add(out.name)
    for folder, outs in names.items():
        for tmp in folder.glob(f'.*{TEMPORARY_SUFFIX}') if folder.is_dir() else ():
            if temporary_target(tmp.name) in outs:
                tmp.unlink(missing_ok=True)


def _write(job: _Job) -> bool:
    """Phase 3 worker: write the label unless the output already holds it; whether it wrote."""
    train_ids = _train_ids(job)[0]
    if _holds(job.sample.output, train_ids):
        return False
    save_png_atomic(train_ids, job.sample.output)
    return True


def save_png_atomic(array: np.ndarray, path: Path) -> None:
    """Write a PNG so that ``path`` is either absent or complete, even if the run is killed."""
    image = Image.fromarray(array)
    atomic_write(path, lambda f: image.save(f, format='PNG'))


def dump_json_atomic(obj: dict, path: Path) -> None:
    """Write ``obj`` so that ``path`` is either absent or complete."""
    atomic_write_text(_readable_json(obj), path)


def _readable_json(obj: dict) -> str:
    """One line per top-level key, and per entry of a dict or list of lists: greppable and
    diffable, without one line per pixel count."""
    def entries(value) -> str:
        if isinstance(value, dict):
            inner = [f'  {json.dumps(k)}: {json.dumps(v)}' for k, v in value.items()]
            return '{\n' + ',\n'.join(inner) + '\n }' if inner else '{}'
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return '[\n' + ',\n'.join(f'  {json.dumps(v)}' for v in value) + '\n ]'
        return json.dumps(value)
    return '{\n' + ',\n'.join(f' {json.dumps(k)}: {entries(v)}' for k, v in obj.items()) \
        + '\n}\n'


def _map(fn: Callable, jobs: Sequence, nproc: int, desc: str, progress: bool) -> List:
    """``[fn(j) for j in jobs]`` in ``nproc`` processes, in order, with a progress bar."""
    from tqdm import tqdm
    bar = dict(total=len(jobs), desc=desc, disable=not progress or not jobs, unit='label')
    if nproc <= 1 or len(jobs) <= 1:
        return [fn(j) for j in tqdm(jobs, **bar)]
    with multiprocessing.Pool(nproc) as pool:
        return list(tqdm(pool.imap(fn, jobs, chunksize=8), **bar))


# ---------------------------------------------------------------------------------- stats
def class_stats(dataset: str, counts: Dict[str, np.ndarray]) -> dict:
    """The statistics JSON of the labels ``{key: [pixels per trainId..., ignored]}``.

    ``images_per_class[c]`` lists the labels with at least one pixel of trainId ``c``: what a
    class-balanced sampler draws from (:class:`mmuda.datasets.ClassBalancedSampler`).
    """
    keys = sorted(counts)
    table = np.array([counts[k] for k in keys], dtype=np.int64).reshape(len(keys),
                                                                         len(CLASSES) + 1)
    return dict(
        format=STATS_FORMAT, version=STATS_VERSION, dataset=dataset, classes=list(CLASSES),
        ignore_index=IGNORE_INDEX, num_images=len(keys),
        pixels=table[:, :-1].sum(0).tolist(), ignored_pixels=int(table[:, -1].sum()),
        images={k: row[:-1].tolist() for k, row in zip(keys, table)},
        images_per_class=[[k for k, row in zip(keys, table) if row[c] > 0]
                          for c in range(len(CLASSES))])


def load_class_stats(path: str) -> dict:
    """Read a statistics JSON written by a converter; refuse anything else by name."""
    with open(path) as f:
        stats = json.load(f)
    if not isinstance(stats, dict) or stats.get('format') != STATS_FORMAT:
        raise ValueError(f'{path} is not a class-statistics file written by '
                         'tools/dataset_converters (no "format": "mmuda-class-stats")')
    if stats.get('version') != STATS_VERSION:
        raise ValueError(f'{path} has class-statistics version {stats.get("version")}, '
                         f'expected {STATS_VERSION}: re-run the dataset converter')
    return stats


# ---------------------------------------------------------------------------------- driver
@dataclass
class ConversionSummary:
    """What :func:`convert_tree` did."""
    dataset: str
    labels: int
    written: int
    skipped: int
    resized: List[str]
    stats_files: List[Path]

    def __str__(self) -> str:
        lines = [f'{self.dataset}: {self.labels} labels, {self.written} written, '
                 f'{self.skipped} already up to date (kept)']
        if self.resized:
            lines.append(f'{len(self.resized)} label(s) differ in size from their image and '
                         'were resized to it (nearest neighbour):')
            lines += [f'  {r}' for r in self.resized]
        lines += [f'class statistics: {p}' for p in self.stats_files]
        return '\n'.join(lines)


def link_image_dirs(tree: RawTree, out_dir: Path) -> None:
    """Symlink the raw image folders into ``out_dir`` so it is a complete data root."""
    if out_dir.resolve() == tree.root.resolve():
        return
    for rel in tree.image_dirs:
        link = out_dir / rel
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((tree.root / rel).resolve(), target_is_directory=True)


def convert_tree(tree: RawTree, out_dir: Path, nproc: int = 1,
                 progress: bool = True) -> ConversionSummary:
    """Validate ``tree`` as a whole, then write its trainId labels and class statistics."""
    jobs, problems, resized = _check_headers(tree)
    # values are checked even when the structure is already known to be broken: the error
    # then lists everything to fix at once
    scanned = _map(_scan, jobs, nproc, f'{tree.dataset}: check', progress)
    problems = tree.problems + problems + [p for _, p in scanned if p]
    if not problems and not jobs:
        problems = ['no labelled images found']
    if problems:
        raise RawTreeError(tree, problems)

    _remove_stale_temp_files(j.sample.output for j in jobs)
    written = sum(_map(_write, jobs, nproc, f'{tree.dataset}: write', progress))
    by_file: Dict[Path, Dict[str, np.ndarray]] = {}
    for job, (counts, _) in zip(jobs, scanned):
        by_file.setdefault(job.sample.stats_file, {})[job.sample.stats_key] = counts
    for path, counts in by_file.items():
        dump_json_atomic(class_stats(tree.dataset, counts), path)
    link_image_dirs(tree, out_dir)
    return ConversionSummary(tree.dataset, len(jobs), written, len(jobs) - written,
                             resized, sorted(by_file))


def converter_parser(description: str) -> argparse.ArgumentParser:
    """The command line shared by the dataset converters."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('raw_root', type=Path, help='root of the dataset as downloaded')
    parser.add_argument('--out-dir', type=Path, default=None,
                        help='where to write the trainId labels and class statistics '
                             '(default: next to the raw labels); the image folders are '
                             'symlinked into it so it is a complete data root')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser


def run_converter(build_tree: Callable[[Path, Path], RawTree], args: argparse.Namespace) -> int:
    """Build the tree of ``args.raw_root``, convert it, print the summary or every problem."""
    out_dir = args.out_dir or args.raw_root
    try:
        summary = convert_tree(build_tree(args.raw_root, out_dir), out_dir, args.nproc)
    except RawTreeError as e:
        print(e, flush=True)
        return 1
    print(summary)
    return 0

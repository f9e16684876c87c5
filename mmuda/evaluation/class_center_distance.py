r"""Class Center Distance (CCD), FADA (Wang et al., ECCV 2020) eq. 9.

For class :math:`i` with feature set :math:`S_i` and centre :math:`\mu_i = \frac{1}{|S_i|}
\sum_{x \in S_i} x`, over the :math:`K` classes:

.. math::

    CCD(i) = \frac{1}{K-1} \sum_{j=1, j \neq i}^{K}
             \frac{\frac{1}{|S_i|} \sum_{x \in S_i} \lVert x - \mu_i \rVert^2}
                  {\lVert \mu_i - \mu_j \rVert^2}

i.e. the mean squared distance of class :math:`i`'s features to their centre (intra-class
compactness), divided by the squared distance to every other class centre, averaged over the
other classes. Low is better: compact classes far apart. The paper computes it on the *joint*
feature distribution of both domains (its Fig. 4: 2,000 source plus 2,000 target images), so
:math:`S_i` pools source and target features; a large domain gap within a class shows up as a
large intra-class term. Per-domain CCDs and the distance between a class's source and target
centres are reported alongside as diagnostics.

Classes without any feature have no centre: they get NaN and are left out of the others' sums,
so :math:`K` is the number of classes present. The statistics are streamed (count, centre and
sum of squared deviations per class, merged with Chan et al.'s parallel update), so the N images
never need to be in memory together.
"""
import csv
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from mmuda.utils.atomic_write import atomic_write, atomic_write_text

Tensor = torch.Tensor


@dataclass
class ClassStats:
    """Per-class sufficient statistics of a feature set, in float64.

    ``count`` (K,) features per class; ``mean`` (K, D) class centres :math:`\\mu_i` (zero where
    the count is 0); ``m2`` (K,) :math:`\\sum_{x \\in S_i} \\lVert x - \\mu_i \\rVert^2`.
    """

    count: Tensor
    mean: Tensor
    m2: Tensor

    @classmethod
    def empty(cls, num_classes: int, dim: int) -> 'ClassStats':
        zeros = dict(dtype=torch.float64)
        return cls(torch.zeros(num_classes, **zeros), torch.zeros(num_classes, dim, **zeros),
                   torch.zeros(num_classes, **zeros))

    @property
    def present(self) -> Tensor:
        """Classes with at least one feature."""
        return self.count > 0

    @property
    def intra(self) -> Tensor:
        """Mean squared distance to the class centre (the numerator of eq. 9); NaN if absent."""
        return torch.where(self.present, self.m2 / self.count.clamp(min=1),
                           torch.full_like(self.m2, math.nan))


def downsample_labels(labels: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest-neighbour resize of (N, H, W) label maps to the feature size (h, w).

    Nearest keeps label ids and ``ignore_index`` intact (no blending of class ids).
    """
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels.long()
    out = F.interpolate(labels[:, None].float(), size=tuple(size), mode='nearest')
    return out[:, 0].long()


def flatten(features: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
    """(N, C, h, w) features and (N, H, W) labels -> (M, C) and (M,) at the feature size."""
    if features.dim() != 4 or labels.dim() != 3 or features.shape[0] != labels.shape[0]:
        raise ValueError(f'expected features (N, C, h, w) and labels (N, H, W), got '
                         f'{tuple(features.shape)} and {tuple(labels.shape)}')
    labels = downsample_labels(labels, features.shape[-2:])
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]), labels.reshape(-1)


def _valid(features: Tensor, labels: Tensor, num_classes: int,
           ignore_index: int) -> Tuple[Tensor, Tensor]:
    """Features and labels of the pixels with a class id in ``[0, num_classes)``."""
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise ValueError(f'expected features (M, D) and labels (M,), got '
                         f'{tuple(features.shape)} and {tuple(labels.shape)}')
    labels = labels.long()
    keep = (labels != ignore_index) & (labels >= 0) & (labels < num_classes)
    return features[keep].to(torch.float64), labels[keep]


def class_stats(features: Tensor, labels: Tensor, num_classes: int,
                ignore_index: int = 255) -> ClassStats:
    """:class:`ClassStats` of (M, D) features with (M,) labels; ``ignore_index`` is skipped."""
    x, y = _valid(features, labels, num_classes, ignore_index)
    stats = ClassStats.empty(num_classes, features.shape[1])
    stats.count = torch.bincount(y, minlength=num_classes).to(torch.float64)
    sums = stats.mean.index_add(0, y, x)
    stats.mean = sums / stats.count.clamp(min=1)[:, None]
    dev = (x - stats.mean[y]).pow(2).sum(1)
    stats.m2 = stats.m2.index_add(0, y, dev)
    return stats


def merge_stats(a: ClassStats, b: ClassStats) -> ClassStats:
    """Statistics of the union of two feature sets (Chan et al.'s pairwise update).

    ``M2 = M2_a + M2_b + |mu_b - mu_a|^2 n_a n_b / n`` avoids the cancellation of the one-pass
    ``E|x|^2 - |mu|^2`` form, which loses all precision on large-norm deep features.
    """
    n = a.count + b.count
    safe_n = n.clamp(min=1)
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.count / safe_n)[:, None]
    m2 = a.m2 + b.m2 + delta.pow(2).sum(1) * a.count * b.count / safe_n
    return ClassStats(n, mean, m2)


def class_center_distance(stats: ClassStats) -> Tensor:
    """CCD(i) of eq. 9 for every class from its statistics; NaN for classes without features.

    ``inf`` where two present classes share a centre (zero inter-class distance).
    """
    present = stats.present
    k = int(present.sum())
    ccd = torch.full_like(stats.m2, math.nan)
    if k < 2:
        return ccd
    mu = stats.mean[present]
    inter = (mu[:, None, :] - mu[None, :, :]).pow(2).sum(-1)  # |mu_i - mu_j|^2
    ratio = stats.intra[present][:, None] / inter
    ratio.fill_diagonal_(0.0)  # j != i
    ccd[present] = ratio.sum(1) / (k - 1)
    return ccd


def direct_class_center_distance(features: Tensor, labels: Tensor, num_classes: int,
                                 ignore_index: int = 255) -> Tensor:
    """Eq. 9 computed literally on (M, D) features held in memory: centres, then distances.

    The reference the streamed statistics are checked against; fine for small feature sets.
    """
    x, y = _valid(features, labels, num_classes, ignore_index)
    ids = [c for c in range(num_classes) if bool((y == c).any())]
    ccd = torch.full((num_classes,), math.nan, dtype=torch.float64)
    centres = {c: x[y == c].mean(0) for c in ids}
    for i in ids:
        intra = (x[y == i] - centres[i]).pow(2).sum(1).mean()
        terms = [intra / (centres[i] - centres[j]).pow(2).sum() for j in ids if j != i]
        if terms:
            ccd[i] = torch.stack(terms).sum() / (len(ids) - 1)
    return ccd


class CCDAccumulator:
    """Streams (features, labels) batches of several domains into per-class statistics.

    Args:
        num_classes: Number of classes K (label ids ``0..K-1``).
        domains: Names of the domains fed to :meth:`update`.
        ignore_index: Label id skipped everywhere.
    """

    def __init__(self, num_classes: int, domains: Sequence[str] = ('source', 'target'),
                 ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.domains = tuple(domains)
        self.ignore_index = ignore_index
        self._stats: Dict[str, Optional[ClassStats]] = {d: None for d in self.domains}

    def update(self, domain: str, features: Tensor, labels: Tensor) -> None:
        """Add (N, C, h, w) features and (N, H, W) labels; labels are resized to (h, w)."""
        if domain not in self._stats:
            raise KeyError(f'unknown domain {domain!r}; expected one of {self.domains}')
        x, y = flatten(features.detach().cpu(), labels.detach().cpu())
        new = class_stats(x, y, self.num_classes, self.ignore_index)
        old = self._stats[domain]
        self._stats[domain] = new if old is None else merge_stats(old, new)

    def stats(self, domain: Optional[str] = None) -> ClassStats:
        """Statistics of one domain, or of all domains pooled (``None``, eq. 9's joint set)."""
        names = self.domains if domain is None else (domain,)
        parts = [self._stats[d] for d in names if self._stats[d] is not None]
        if not parts:
            raise RuntimeError(f'no features were added for {names}')
        out = parts[0]
        for part in parts[1:]:
            out = merge_stats(out, part)
        return out

    def summary(self) -> Dict[str, np.ndarray]:
        """Per-class arrays: ``ccd`` (joint), ``ccd_<domain>``, ``count_<domain>`` and, for two
        domains, ``centre_distance`` (Euclidean distance between the domains' class centres)."""
        out = {f'count_{d}': self.stats(d).count.numpy().astype(np.int64) for d in self.domains}
        out['ccd'] = class_center_distance(self.stats()).numpy()
        for d in self.domains:
            out[f'ccd_{d}'] = class_center_distance(self.stats(d)).numpy()
        if len(self.domains) == 2:
            a, b = (self.stats(d) for d in self.domains)
            dist = (a.mean - b.mean).pow(2).sum(1).sqrt()
            both = a.present & b.present
            out['centre_distance'] = torch.where(both, dist, math.nan).numpy()
        return out


# ---------------------------------------------------------------------- report
def nanmean(values: np.ndarray) -> float:
    """Mean over the classes that have a value (NaN, without a warning, if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return float(np.nanmean(values))


def report_rows(summary: Dict[str, np.ndarray], classes: Sequence[str]) -> List[dict]:
    """One row per class plus a final ``mean`` row (nan-mean over the classes present)."""
    keys = list(summary)
    rows = [dict(id=i, name=name, **{k: summary[k][i].item() for k in keys})
            for i, name in enumerate(classes)]
    mean = dict(id='', name='mean')
    for k in keys:
        mean[k] = '' if k.startswith('count_') else nanmean(summary[k])
    return rows + [mean]


def _fmt(value) -> str:
    if isinstance(value, float):
        return 'nan' if math.isnan(value) else f'{value:.4g}'
    return str(value)


def to_csv(rows: List[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator='\n')
    writer.writeheader()
    writer.writerows({k: _fmt(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def to_markdown(rows: List[dict], header: Iterable[str] = ()) -> str:
    cols = list(rows[0])
    lines = [*header, '', '| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    lines += ['| ' + ' | '.join(_fmt(row[c]) for c in cols) + ' |' for row in rows]
    return '\n'.join(lines) + '\n'




def plot_ccd(path: Path, summary: Dict[str, np.ndarray], classes: Sequence[str],
             title: str = 'Class Center Distance') -> None:
    """Bar chart of the joint CCD per class with the mean as a dashed line (FADA Fig. 4)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    ccd = summary['ccd']
    mean = nanmean(ccd)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(classes) + 2), 4))
    ax.bar(range(len(classes)), np.nan_to_num(ccd, nan=0.0, posinf=0.0), color='tab:blue')
    ax.axhline(mean, color='tab:red', linestyle='--', label=f'mean {mean:.3g}')
    ax.set_xticks(range(len(classes)), list(classes), rotation=60, ha='right')
    ax.set_ylabel('CCD (eq. 9, lower is better)')
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=100))
    finally:
        plt.close(fig)


def write_report(out_dir: str, summary: Dict[str, np.ndarray], classes: Sequence[str],
                 header: Sequence[str] = (),
                 title: str = 'Class Center Distance') -> Dict[str, Path]:
    """Write ``ccd.csv``, ``ccd.md`` and ``ccd.png`` into ``out_dir``, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = report_rows(summary, classes)
    paths = dict(csv=out / 'ccd.csv', md=out / 'ccd.md', png=out / 'ccd.png')
    atomic_write_text(to_csv(rows), paths['csv'])
    atomic_write_text(to_markdown(rows, header), paths['md'])
    plot_ccd(paths['png'], summary, classes, title)
    return paths

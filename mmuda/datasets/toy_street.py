"""The embedded toy domains' dataset (see :mod:`mmuda.datasets.toy_domains`)."""
from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from .toy_domains import CLASSES, PALETTE


@DATASETS.register_module()
class ToyStreetDataset(CityscapesDataset):
    """Street-like toy scenes in the Cityscapes folder layout and file suffixes."""

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

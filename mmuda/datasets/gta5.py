"""GTA5 (Richter et al., 2016): 24,966 synthetic frames labelled with Cityscapes' 19 classes."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .label_maps import CLASSES, PALETTE


@DATASETS.register_module()
class GTA5Dataset(BaseSegDataset):
    """``images/XXXXX.png`` with ``labels/XXXXX_labelTrainIds.png``.

    The raw GTA5 labels are Cityscapes labelIds; ``tools/dataset_converters/gta5.py`` writes the
    trainId PNGs this class reads (see docs/dataset_prepare.md). Classes and palette are
    Cityscapes', so a GTA5 source pairs with a Cityscapes target in :class:`UDADataset`.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

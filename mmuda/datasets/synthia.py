"""SYNTHIA-RAND-CITYSCAPES (Ros et al., 2016): 9,400 synthetic 1280x760 frames."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .label_maps import CLASSES, PALETTE


@DATASETS.register_module()
class SynthiaDataset(BaseSegDataset):
    """``RGB/XXXXXXX.png`` with ``GT/LABELS/XXXXXXX_labelTrainIds.png``.

    The raw labels are 16-bit PNGs with SYNTHIA's own class ids;
    ``tools/dataset_converters/synthia.py`` writes the 8-bit trainId PNGs this class reads.
    Labels are in Cityscapes' 19 trainIds (terrain, truck and train never occur), so the model
    keeps 19 outputs and the 16- and 13-class protocols are subsets chosen at evaluation.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

"""NTHU Cross-City (Chen et al., 2017): street views of Rome, Rio, Tokyo and Taipei."""
from typing import Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .label_maps import CLASSES, PALETTE

CITIES = ('Rome', 'Rio', 'Tokyo', 'Taipei')
SPLITS = ('train', 'test')


def crosscity_prefix(city: Optional[str], split: str) -> dict:
    """``data_prefix`` of a split, relative to the NTHU root (or to a city folder if no city).

    Only the test split is labelled: the train split has no ``seg_map_path``.
    """
    if split not in SPLITS:
        raise ValueError(f'CrossCityDataset: split must be one of {SPLITS}, got {split!r}')
    base = ''
    if city is not None:
        names = {c.lower(): c for c in CITIES}
        if city.lower() not in names:
            raise ValueError(f'CrossCityDataset: city must be one of {CITIES}, got {city!r}')
        base = names[city.lower()] + '/'
    if split == 'train':
        return dict(img_path=f'{base}Images/Train')
    return dict(img_path=f'{base}Images/Test', seg_map_path=f'{base}Labels/Test')


@DATASETS.register_module()
class CrossCityDataset(BaseSegDataset):
    """One city of Cross-City: 3,200 unlabelled train and 100 labelled test images.

    ``<root>/<City>/Images/{Train,Test}/<name>.jpg``; the test labels
    ``<root>/<City>/Labels/Test/<name>_eval.png`` are Cityscapes labelIds, converted by
    ``tools/dataset_converters/crosscity.py`` into ``<name>_labelTrainIds.png``. Labels use
    Cityscapes' 19 trainIds restricted to the 13 annotated classes
    (:data:`mmuda.datasets.label_maps.CROSSCITY_13`), so a Cityscapes-trained model is
    evaluated on that subset.

    Args:
        city: ``'Rome'``, ``'Rio'``, ``'Tokyo'`` or ``'Taipei'`` (any case) when ``data_root``
            is the NTHU root; ``None`` when ``data_root`` is already a city folder.
        split: ``'train'`` (unlabelled) or ``'test'``.
        data_prefix: Overrides the folders derived from ``city`` and ``split``.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, city: Optional[str] = None, split: str = 'test',
                 data_prefix: Optional[dict] = None, img_suffix: str = '.jpg',
                 seg_map_suffix: str = '_labelTrainIds.png', **kwargs) -> None:
        self.city = city
        self.split = split
        prefix = crosscity_prefix(city, split)
        super().__init__(data_prefix=data_prefix or prefix, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, **kwargs)

"""Label spaces of the UDA benchmarks, all expressed in Cityscapes' 19 trainIds.

Every mmuda dataset stores labels as 8-bit Cityscapes trainIds (255 = ignore), so a model has
19 outputs whatever the source, and the SYNTHIA (16/13 classes) and Cross-City (13 classes)
protocols are class *subsets* chosen at evaluation time from one confusion matrix, instead of
re-indexed label spaces that have to be rescaled by hand.
"""
from typing import Dict, Mapping, Tuple

import numpy as np
from mmseg.datasets import CityscapesDataset

IGNORE_INDEX = 255

#: The 19 Cityscapes classes and palette, indexed by trainId.
CLASSES: Tuple[str, ...] = tuple(CityscapesDataset.METAINFO['classes'])
PALETTE = CityscapesDataset.METAINFO['palette']

#: Cityscapes labelIds (also GTA5's and Cross-City's raw labels) -> trainIds.
LABEL_ID_TO_TRAIN_ID: Dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
#: labelIds 0-33 are defined; 255 is the uint8 encoding of -1 (license plate), also ignored.
NUM_LABEL_IDS = 34
LABEL_ID_EXTRA_IGNORED = (255, )

#: SYNTHIA-RAND-CITYSCAPES class ids (first channel of GT/LABELS) -> trainIds. Terrain (16),
#: truck (18) and train (20) are defined but never occur; 0 void, 13 parking slot, 14 road work
#: and 22 lane marking are ignored.
SYNTHIA_ID_TO_TRAIN_ID: Dict[int, int] = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9, 1: 10, 10: 11, 17: 12,
    8: 13, 18: 14, 19: 15, 20: 16, 12: 17, 11: 18}
NUM_SYNTHIA_IDS = 23

#: Class subsets as trainIds. SYNTHIA papers report mIoU over 16 classes and mIoU* over 13 (the
#: 16 without wall, fence and pole); Cross-City annotates the same 13 classes.
CITYSCAPES_19: Tuple[int, ...] = tuple(range(len(CLASSES)))
SYNTHIA_13: Tuple[int, ...] = (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
SYNTHIA_16: Tuple[int, ...] = tuple(sorted(SYNTHIA_13 + (3, 4, 5)))
CROSSCITY_13: Tuple[int, ...] = SYNTHIA_13

#: Cross-City labels are Cityscapes labelIds, but only the 13 annotated classes are kept: any
#: other labelId in a Cross-City label is ignored, as in the benchmark's evaluation.
CROSSCITY_LABEL_ID_TO_TRAIN_ID: Dict[int, int] = {
    k: v for k, v in LABEL_ID_TO_TRAIN_ID.items() if v in CROSSCITY_13}


def lookup_table(mapping: Mapping[int, int], size: int = 256) -> np.ndarray:
    """``size`` uint8 entries: ``table[raw_id]`` is the trainId, 255 for unmapped ids."""
    table = np.full(size, IGNORE_INDEX, dtype=np.uint8)
    for raw, train in mapping.items():
        table[raw] = train
    return table

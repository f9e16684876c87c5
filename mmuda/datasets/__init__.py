from .gta5 import GTA5Dataset
from .toy_street import ToyStreetDataset
from .uda_dataset import UDADataset

__all__ = ['UDADataset', 'ToyStreetDataset', 'GTA5Dataset']

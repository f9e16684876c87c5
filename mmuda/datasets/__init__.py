from .toy_street import ToyStreetDataset
from .uda_dataset import UDADataset

__all__ = ['UDADataset', 'ToyStreetDataset']

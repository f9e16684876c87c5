from .crosscity import CrossCityDataset
from .gta5 import GTA5Dataset
from .samplers import ClassBalancedSampler
from .synthia import SynthiaDataset
from .toy_street import ToyStreetDataset
from .transforms import CheckSegLabels  # noqa: F401  (registers the transform)
from .transforms.color_jitter import ColorJitter
from .uda_dataset import UDADataset

__all__ = ['UDADataset', 'ToyStreetDataset', 'GTA5Dataset', 'SynthiaDataset', 'CrossCityDataset',
           'ClassBalancedSampler', 'ColorJitter']

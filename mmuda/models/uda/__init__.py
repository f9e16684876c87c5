from .adaptsegnet import AdaptSegNet
from .advent import ADVENT, MinEnt
from .fada import FADA
from .uda_segmentor import UDASegmentor

__all__ = ['UDASegmentor', 'AdaptSegNet', 'FADA', 'ADVENT', 'MinEnt']

from .adaptsegnet import AdaptSegNet
from .uda_segmentor import UDASegmentor

__all__ = ['UDASegmentor', 'AdaptSegNet']

from .adaptsegnet import AdaptSegNet
from .advent import ADVENT, MinEnt
from .fada import FADA
from .ldr import LDR
from .mada import MultiAdversarial
from .ssf_dan import SSFDAN
from .uda_segmentor import UDASegmentor

__all__ = ['UDASegmentor', 'AdaptSegNet', 'FADA', 'ADVENT', 'MinEnt', 'SSFDAN', 'MultiAdversarial',
           'LDR']

from .uda_data_parallel import UDADataParallel

__all__ = ['UDADataParallel']

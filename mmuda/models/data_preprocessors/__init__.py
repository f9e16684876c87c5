from .uda_data_preprocessor import UDADataPreprocessor, uda_preprocessor_cfg

__all__ = ['UDADataPreprocessor', 'uda_preprocessor_cfg']

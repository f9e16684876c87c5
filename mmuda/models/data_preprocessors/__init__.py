from .uda_data_preprocessor import UDADataPreprocessor

__all__ = ['UDADataPreprocessor']

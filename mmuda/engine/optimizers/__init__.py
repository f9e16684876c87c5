from .repeated_param_sgd import RepeatedParamSGD, walk_occurrences
from .uda_optim_wrapper_constructor import UDAOptimWrapperConstructor

__all__ = ['RepeatedParamSGD', 'UDAOptimWrapperConstructor', 'walk_occurrences']

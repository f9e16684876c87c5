"""Tensor helpers shared by UDA methods (no registered modules)."""
from .boltzmann import boltzmann_softmax
from .class_aware_reweighting import class_aware_weights, weight_map
from .class_masks import mode_downsample, one_hot_masks
from .progressive_confidence import RHO_SCHEDULES, rho_at, top_rho_keep

__all__ = ['boltzmann_softmax', 'class_aware_weights', 'weight_map', 'mode_downsample',
           'one_hot_masks', 'RHO_SCHEDULES', 'rho_at', 'top_rho_keep']

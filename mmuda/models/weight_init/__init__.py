"""Weight initialisers (registered into mmseg's ``WEIGHT_INITIALIZERS``)."""
from .published_pretrained import PretrainedWeightsError, PublishedPretrained, read_state_dict

__all__ = ['PretrainedWeightsError', 'PublishedPretrained', 'read_state_dict']

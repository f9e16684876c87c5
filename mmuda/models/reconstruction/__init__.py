"""LDR's label-driven reconstruction (paper 001, section 3.4) and the pre-training of M."""
from .image_space import to_unit_rgb
from .label_reconstruction import (
    reconstruction_discriminator_losses,
    reconstruction_generator_losses,
)
from .pretrainer import LabelReconstructionPretrainer, one_hot_labels

__all__ = ['to_unit_rgb', 'reconstruction_generator_losses',
           'reconstruction_discriminator_losses', 'LabelReconstructionPretrainer',
           'one_hot_labels']

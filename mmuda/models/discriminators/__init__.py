from .fc_discriminator import FCDiscriminator
from .fine_grained_discriminator import FineGrainedDiscriminator

__all__ = ['FCDiscriminator', 'FineGrainedDiscriminator']

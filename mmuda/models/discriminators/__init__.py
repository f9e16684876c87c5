from .fc_discriminator import FCDiscriminator
from .fine_grained_discriminator import FineGrainedDiscriminator
from .patch_discriminator import PatchDiscriminator
from .semantic_separable_discriminator import SemanticSeparableDiscriminator

__all__ = ['FCDiscriminator', 'FineGrainedDiscriminator', 'PatchDiscriminator',
           'SemanticSeparableDiscriminator']

from .fc_discriminator import FCDiscriminator
from .fine_grained_discriminator import FineGrainedDiscriminator
from .patch_discriminator import PatchDiscriminator
from .patchgan_discriminator import MultiScaleDiscriminator, PatchGANDiscriminator
from .semantic_separable_discriminator import SemanticSeparableDiscriminator

__all__ = ['FCDiscriminator', 'FineGrainedDiscriminator', 'MultiScaleDiscriminator',
           'PatchDiscriminator', 'PatchGANDiscriminator',
           'SemanticSeparableDiscriminator']

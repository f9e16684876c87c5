"""Image-to-image translators between the domains (LDR's target-to-source CycleGAN)."""
from .cyclegan_translator import CycleGANTranslator
from .image_pool import ImagePool

__all__ = ['CycleGANTranslator', 'ImagePool']

"""Image generators: the CycleGAN translator and the label-to-image reconstruction network."""
from .resnet_generator import ResnetGenerator, norm_layer

__all__ = ['ResnetGenerator', 'norm_layer']

from .fusion_decoder import FusionDecoder

__all__ = ['FusionDecoder']

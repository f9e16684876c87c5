from . import backbones, data_preprocessors, decode_heads, discriminators, losses, uda  # noqa: F401

from . import (backbones, data_preprocessors, decode_heads,  # noqa: F401
               discriminators, losses, uda)

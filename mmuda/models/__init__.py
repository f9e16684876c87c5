from . import (  # noqa: F401
    backbones,
    data_preprocessors,
    decode_heads,
    discriminators,
    generators,
    losses,
    necks,
    reconstruction,
    translators,
    uda,
    utils,
    weight_init,
)

"""mmuda: unsupervised domain adaptation for semantic segmentation on MMSegmentation 1.x.

Importing the package (configs do it through ``custom_imports``) checks the installed
torch/mmcv/mmengine/mmseg combination, makes checkpoints that mmengine saved loadable under
torch's ``weights_only`` default, and registers every mmuda module into mmseg's registries.
"""
from .utils import check_versions, register_checkpoint_safe_globals
from .version import __version__

check_versions()
register_checkpoint_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registration)

__all__ = ['__version__']

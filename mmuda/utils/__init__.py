from .checkpoint import register_checkpoint_safe_globals
from .config import load_cli_config, resolve_cli_resume
from .dist import all_reduce_gradients, all_reduce_mean_
from .launcher import destroy_distributed, init_cpu_distributed, init_tool_distributed
from .pretrained_init_check import (
    PretrainedInitError,
    check_pretrained_init,
    require_pretrained_init,
)
from .version_check import check_versions

__all__ = ['all_reduce_gradients', 'all_reduce_mean_', 'check_versions', 'destroy_distributed',
           'init_cpu_distributed', 'init_tool_distributed', 'load_cli_config',
           'PretrainedInitError', 'check_pretrained_init', 'register_checkpoint_safe_globals',
           'require_pretrained_init', 'resolve_cli_resume']

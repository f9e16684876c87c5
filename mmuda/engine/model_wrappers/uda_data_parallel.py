"""The distributed wrapper of UDA segmentors (``model_wrapper_cfg`` in every mmuda config)."""
import torch
import torch.nn as nn
from mmengine.dist import broadcast, get_world_size
from mmengine.registry import MODEL_WRAPPERS


# Registered in mmengine's root registry: Runner.wrap_model resolves the type there and does
# not search mmseg's child registry.
@MODEL_WRAPPERS.register_module()
class UDADataParallel(nn.Module):
    """Data parallelism for models whose ``train_step`` runs several optimisers.

    mmengine's default ``MMDistributedDataParallel`` trains through ``forward(mode='loss')`` and
    one optimiser, and its separate variant needs every gradient-producing forward to pass
    through a child's wrapper. A UDA segmentor instead averages gradients itself between
    backward and step (:func:`mmuda.utils.all_reduce_gradients`), so this wrapper only has to
    start every rank from rank 0's weights and buffers, then delegate the steps. The samplers
    (``InfiniteSampler``/``DefaultSampler``) already give each rank its own share of the data,
    so ``batch_size`` in a config is per GPU.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        if get_world_size() > 1:
            with torch.no_grad():
                for tensor in module.state_dict().values():
                    broadcast(tensor, src=0)

    def train_step(self, data, optim_wrapper) -> dict:
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data) -> list:
        return self.module.val_step(data)

    def test_step(self, data) -> list:
        return self.module.test_step(data)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

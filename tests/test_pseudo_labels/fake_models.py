"""A test-only model with an adversarial confidence map (the real method does not exist yet)."""
import torch
from mmseg.registry import MODELS

from mmuda.models.uda import UDASegmentor


@MODELS.register_module()
class FakeAdversarialSegmentor(UDASegmentor):
    """A UDASegmentor whose adversarial confidence is a fixed function of the input image."""

    def adversarial_confidence(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(2 * inputs.mean(dim=1, keepdim=True))

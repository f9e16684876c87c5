"""FADA's domain encodings: the class knowledge ``a`` that fills one half of D's 2K targets."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
ENCODINGS = ('soft', 'hard', 'binary')


def class_knowledge(logits: Tensor, encoding: str, temperature: float = 1.8,
                    confidence: float = 0.9) -> Tuple[Tensor, Optional[Tensor]]:
    """The per-pixel class knowledge ``a`` (N, K or 1, H, W) and the valid-pixel mask.

    * ``soft`` (paper eq. 8, the default): ``softmax(logits / T)``, entries above
      ``confidence`` clipped to it and not renormalised ("confidence clipping").
    * ``hard`` (eq. 7): one-hot argmax where the top probability reaches ``confidence``;
      other pixels are invalid (ignored by the loss).
    * ``binary`` (the domain-label baseline): a single channel of ones; D has two outputs.

    Probabilities are ``softmax(logits / T)`` in both class encodings because the segmentation
    loss is trained on ``logits / T`` (FADA's reference code), which makes that the model's
    calibrated probability. The result is detached: it is a target, not a path for gradients.
    """
    logits = logits.detach()
    if encoding == 'binary':
        return logits.new_ones((logits.shape[0], 1, *logits.shape[2:])), None
    prob = F.softmax(logits / temperature, dim=1)
    if encoding == 'soft':
        return prob.clamp(max=confidence), None
    if encoding == 'hard':
        top, label = prob.max(dim=1, keepdim=True)
        onehot = torch.zeros_like(prob).scatter_(1, label, 1.0)
        valid = top >= confidence
        return onehot * valid, valid
    raise ValueError(f'domain encoding must be one of {ENCODINGS}, got {encoding!r}')


def domain_targets(knowledge: Tensor, is_source: bool) -> Tensor:
    """``[a | 0]`` for the source domain, ``[0 | a]`` for the target (D's 2K channels)."""
    zeros = torch.zeros_like(knowledge)
    return torch.cat([knowledge, zeros] if is_source else [zeros, knowledge], dim=1)

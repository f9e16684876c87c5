"""LDR's Boltzmann label approximation (paper 001, eq. 3)."""
import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def boltzmann_softmax(logits: Tensor, tau: float, dim: int = 1) -> Tensor:
    """Softmax of ``logits / tau`` over the class dimension: a differentiable one-hot label map.

    Eq. 3: the arg-max one-hot map of a prediction cannot be back-propagated, so LDR feeds its
    reconstruction network the Boltzmann distribution at a low temperature instead (tau = 0.001
    in the paper, Table 5): nearly one-hot wherever one class clearly wins, still
    differentiable everywhere. ``F.softmax`` subtracts the per-pixel maximum before the
    exponential, so ``logits / tau`` of order 1e4 neither overflows nor gives NaN gradients,
    also where two classes tie.

    Args:
        logits: Class scores, (N, C, H, W) for ``dim=1``.
        tau: Temperature, > 0. tau -> 0 approaches the one-hot arg-max, tau = 1 is the softmax.
        dim: The class dimension.
    """
    if not tau > 0:
        raise ValueError(f'boltzmann_softmax: the temperature tau must be > 0, got {tau!r}')
    if not logits.is_floating_point():
        raise TypeError(f'boltzmann_softmax expects floating-point logits, got {logits.dtype}')
    return F.softmax(logits / tau, dim=dim)

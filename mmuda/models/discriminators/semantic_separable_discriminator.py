"""SSF-DAN's Semantic-wise Separable Discriminator (SS-D, paper 003, section 3.3)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from mmuda.models.utils import mode_downsample

Tensor = torch.Tensor


class _PerClassLinear(torch.autograd.Function):
    """``rows[block c] @ weight[c].T`` for consecutive row blocks, one block per class.

    The same as C calls of ``F.linear`` on slices of the weight, but the backward writes every
    class's weight gradient straight into one (C, out, in) tensor: with per-class slices,
    autograd would stack C separate gradients afterwards, an extra pass over a 360 MB
    gradient at the paper's widths.
    """

    @staticmethod
    def forward(ctx, rows: Tensor, weight: Tensor, counts: List[int]) -> Tensor:
        ctx.counts = counts
        ctx.save_for_backward(rows, weight)
        out = rows.new_empty(rows.shape[0], weight.shape[1])
        for w, r, o in zip(weight, rows.split(counts), out.split(counts)):
            torch.mm(r, w.t(), out=o)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        rows, weight = ctx.saved_tensors
        grad_rows = grad_weight = None
        blocks = list(zip(weight, rows.split(ctx.counts), grad.split(ctx.counts)))
        if ctx.needs_input_grad[0]:
            grad_rows = torch.empty_like(rows)
            for (w, _, g), o in zip(blocks, grad_rows.split(ctx.counts)):
                torch.mm(g, w, out=o)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
            for (_, r, g), o in zip(blocks, grad_weight):
                torch.mm(g.t(), r, out=o)  # zeros for a class without rows
        return grad_rows, grad_weight, None


def per_class_linear(rows: Tensor, weight: Tensor, counts: List[int]) -> Tensor:
    """:class:`_PerClassLinear` with ``F.linear``'s dtype rules: the autocast dtype under
    autocast, else the promoted type of both operands."""
    device = rows.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
    else:
        dtype = torch.promote_types(rows.dtype, weight.dtype)
    with torch.autocast(device, enabled=False):
        return _PerClassLinear.apply(rows.to(dtype), weight.to(dtype), counts)


def _class_blocks(counts: List[int], num_classes: int,
                  device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
    """Indices that lay out ``cat([per-class rows (C), per-cell rows (sum counts)])`` as one
    block per class (its own row, then its cells'), and the positions of the class rows and of
    the cell rows in that layout."""
    order, heads, body = [], [], []
    start = 0
    for k, count in enumerate(counts):
        heads.append(len(order))
        order.append(k)
        body.extend(range(len(order), len(order) + count))
        order.extend(range(num_classes + start, num_classes + start + count))
        start += count
    return tuple(torch.tensor(v, dtype=torch.long, device=device) for v in (order, heads, body))


@MODELS.register_module()
class SemanticSeparableDiscriminator(BaseModule):
    """One independent convolutional discriminator per class, run as grouped convolutions.

    For every class c, the feature map masked by that class's one-hot mask (``F^c = F * M^c``)
    goes through its own module ``D^c``: convolutions with ``kernel_sizes`` (1, 3, 3, 3, 3) and
    widths ``in_channels -> channels -> 1`` (2048 -> 1024 -> 512 -> 256 -> 128 -> 1 in the
    paper), LeakyReLU(0.2) after all but the last. The class outputs are summed into one
    channel (eqs. 4-5).

    The C modules are stored as grouped convolutions (``groups=C``): one call per layer runs all
    classes, instead of C calls per layer in a Python loop.

    The first two layers run sparsely, with the same results (up to float summation order),
    when the first layer is 1x1 and the masks are one-hot or empty per cell (as
    :func:`mode_downsample` makes them). Class c's first layer sees ``F * M^c``, which is zero
    outside class c's cells, so its output there is the constant ``a_c = leaky(b_c)``.
    Writing that output as ``a_c + M^c * d_c`` (``d_c = leaky(W_c F + b_c) - a_c``), the second
    layer, being linear, splits into (i) the convolution of the constant ``a_c`` map, one tiny
    kernel per class, and (ii) the contributions of each cell's ``d`` through its own class's
    weights only, scattered to the output cells it reaches. Every cell belongs to at most one
    class, so these two layers (about 80% of the arithmetic at the paper's widths) cost one
    class module instead of C. The remaining layers are grouped convolutions. Other masks or
    first-layer kernels take the dense path, where a 1x1 first layer still runs as one dense
    convolution of the unmasked feature (``W_c (F * M^c) + b_c = (W_c F) * M^c + b_c``).

    The second layer's weight is kept in ``channels_last`` layout, in which each class's
    ``(channels[1] * k * k, channels[0])`` matrix of step (ii) is a view and not a 350 MB
    copy per call at the paper's widths; any layout gives the same numbers.

    Args:
        in_channels: Channels of the feature (layer4 of DeepLab-v2: 2048).
        num_classes: Number of classes C, one module each.
        channels: Hidden widths of each class module.
        kernel_sizes: Kernel of each of the ``len(channels) + 1`` layers (padding ``k // 2``).
        strides: Stride of each layer. The paper does not give one; its eq. 4 scores every
            feature cell (h, w), so the default is 1 throughout.
        negative_slope: Slope of the LeakyReLU.
        mask_outputs: Multiply each class output by its own mask (resampled to the output size
            by mode) before the sum, so that each output cell is scored by the discriminator of
            its class only. ``False`` sums the raw outputs of all C modules everywhere.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 channels: Sequence[int] = (1024, 512, 256, 128),
                 kernel_sizes: Sequence[int] = (1, 3, 3, 3, 3),
                 strides: Sequence[int] = (1, 1, 1, 1, 1), negative_slope: float = 0.2,
                 mask_outputs: bool = True, init_cfg=None) -> None:
        super().__init__(init_cfg)
        depth = len(channels) + 1
        for key, value in (('kernel_sizes', kernel_sizes), ('strides', strides)):
            if len(value) != depth:
                raise ValueError(f'SemanticSeparableDiscriminator {key} needs one entry per '
                                 f'layer ({depth} = len(channels) + 1), got {tuple(value)}')
        if num_classes < 1:
            raise ValueError(f'SemanticSeparableDiscriminator num_classes must be >= 1, '
                             f'got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.negative_slope = negative_slope
        self.mask_outputs = mask_outputs
        widths = [in_channels, *channels, 1]
        self.convs = nn.ModuleList(
            nn.Conv2d(num_classes * c_in, num_classes * c_out, k, stride=s, padding=k // 2,
                      groups=num_classes)
            for c_in, c_out, k, s in zip(widths[:-1], widths[1:], kernel_sizes, strides))
        if self._sparse_layout():
            second = self.convs[1].weight
            second.data = second.data.contiguous(memory_format=torch.channels_last)

    def _sparse_layout(self) -> bool:
        """Whether the layers allow the sparse first two layers (1x1 first layer, >= 2)."""
        return len(self.convs) >= 2 and self.convs[0].kernel_size == (1, 1)

    def _check_inputs(self, x: Tensor, masks: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects features with {self.in_channels} '
                             f'channels (its `in_channels`), got shape {tuple(x.shape)}; set '
                             'in_channels to the width of the feature the head consumes')
        expected = (x.shape[0], self.num_classes, *x.shape[2:])
        if tuple(masks.shape) != expected:
            raise ValueError(f'{type(self).__name__} expects class masks of shape {expected} '
                             f'(batch, num_classes, feature size), got {tuple(masks.shape)}')

    def _first_layer(self, x: Tensor, masks: Tensor) -> Tensor:
        """All classes' first layer on their masked feature, shape (N, C * channels[0], h, w)."""
        conv = self.convs[0]
        c = self.num_classes
        if conv.kernel_size == (1, 1):
            step = conv.stride
            x, masks = x[..., ::step[0], ::step[1]], masks[..., ::step[0], ::step[1]]
            out = F.conv2d(x, conv.weight).unflatten(1, (c, -1))
            out = out * masks.unsqueeze(2) + conv.bias.view(1, c, -1, 1, 1)
            return out.flatten(1, 2)
        stacked = (x.unsqueeze(1) * masks.unsqueeze(2)).flatten(1, 2)
        return conv(stacked)

    @staticmethod
    def _one_hot(masks: Tensor) -> bool:
        """Each cell in at most one class, with weight exactly 1 (the sparse path's premise)."""
        return bool(((masks == 0) | (masks == 1)).all() and (masks.sum(1) <= 1).all())

    def _sparse_first_layers(self, x: Tensor, masks: Tensor) -> Tensor:
        """Output of the second layer, (N, C * channels[1], h', w'), computed sparsely (see the
        class docstring): constant part by one convolution of a ones map, per-cell part by one
        matrix product per class over that class's cells, scattered with ``index_add``."""
        first, second = self.convs[0], self.convs[1]
        step = first.stride
        x, masks = x[..., ::step[0], ::step[1]], masks[..., ::step[0], ::step[1]]
        n, channels, h, w = x.shape
        c, slope = self.num_classes, self.negative_slope
        c0, c1 = first.out_channels // c, second.out_channels // c
        kh, kw = second.kernel_size
        cells, labels = self._cells_by_class(masks)
        counts = torch.bincount(labels, minlength=c).tolist()
        rows = x.permute(0, 2, 3, 1).reshape(-1, channels)[cells]
        bias = first.bias.view(c, c0)
        background = F.leaky_relu(bias, slope)  # a_c: the first layer off class c's cells
        hidden = per_class_linear(rows, first.weight.reshape(c, c0, channels), counts)
        deviation = F.leaky_relu(hidden + bias[labels], slope) - background[labels]
        # one block per class: its background row (-> the constant part's kernel), then the
        # deviations of its cells (-> their contributions)
        order, heads, body = _class_blocks(counts, c, cells.device)
        stacked = torch.cat([background.to(deviation.dtype), deviation])[order]
        out = per_class_linear(stacked, second.weight.permute(0, 2, 3, 1).reshape(c, -1, c0),
                               [k + 1 for k in counts])
        constant = F.conv2d(x.new_ones(1, 1, h, w), out[heads].reshape(c * c1, 1, kh, kw),
                            second.bias, second.stride, second.padding)
        return constant + self._scatter(out[body], cells, labels, (n, h, w),
                                        constant.shape[-2:])

    @staticmethod
    def _cells_by_class(masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Flat indices (over N x h x w) of the cells that belong to a class, sorted by class,
        and their classes."""
        cells = (masks.sum(1) > 0).flatten().nonzero().squeeze(1)
        labels, order = masks.argmax(1).flatten()[cells].sort(stable=True)
        return cells[order], labels

    def _scatter(self, parts: Tensor, cells: Tensor, labels: Tensor, size: Sequence[int],
                 out_size: Sequence[int]) -> Tensor:
        """Sum each cell's second-layer contributions ``parts`` (m, c1 * kh * kw) into the
        output cells its kernel reaches (stride and zero padding as the convolution's), in
        the channels of its own class: (N, C * c1, h', w')."""
        second, c = self.convs[1], self.num_classes
        (n, h, w), (ho, wo) = size, out_size
        (kh, kw), (sh, sw), (ph, pw) = second.kernel_size, second.stride, second.padding
        c1 = second.out_channels // c
        # input cell (y, x) reaches output (oy, ox) through kernel tap (i, j) iff
        # oy * sh + i - ph == y, i.e. oy = (y + ph - i) / sh when that is a whole in-range number
        ty = (cells // w % h)[:, None] + ph - torch.arange(kh, device=cells.device)
        tx = (cells % w)[:, None] + pw - torch.arange(kw, device=cells.device)
        ok_y = (ty >= 0) & (ty % sh == 0) & (ty // sh < ho)
        ok_x = (tx >= 0) & (tx % sw == 0) & (tx // sw < wo)
        plane = (cells // (h * w) * c + labels) * ho * wo  # (image, class) plane of each cell
        target = plane[:, None, None] + (ty // sh * wo)[:, :, None] + (tx // sw)[:, None, :]
        valid = ok_y[:, :, None] & ok_x[:, None, :]
        values = parts.view(-1, c1, kh, kw).permute(0, 2, 3, 1)[valid]
        out = values.new_zeros(n * c * ho * wo, c1).index_add(0, target[valid], values)
        return out.view(n, c, ho, wo, c1).permute(0, 1, 4, 2, 3).reshape(n, c * c1, ho, wo)

    def forward_classes(self, x: Tensor, masks: Tensor) -> Tensor:
        """Every class module on its separated feature: (N, C, h', w') raw logits ``D^c(F^c)``.

        Args:
            x: (N, in_channels, h, w) feature.
            masks: (N, C, h, w) one-hot (or all-zero) class masks at the feature size.
        """
        self._check_inputs(x, masks)
        if self._sparse_layout() and self._one_hot(masks):
            out, rest = self._sparse_first_layers(x, masks), self.convs[2:]
        else:
            out, rest = self._first_layer(x, masks), self.convs[1:]
        for conv in rest:
            out = conv(F.leaky_relu(out, self.negative_slope))
        return out

    def forward(self, x: Tensor, masks: Tensor) -> Tensor:
        """One-channel domain logits (N, 1, h', w'): the class outputs summed (eqs. 4-5)."""
        out = self.forward_classes(x, masks)
        if self.mask_outputs:
            out = out * mode_downsample(masks, out.shape[-2:])
        return out.sum(1, keepdim=True)


def _per_class_modules(disc: SemanticSeparableDiscriminator) -> nn.ModuleList:
    """Verification and benchmarking only: the C class modules as separate ``nn.Sequential``
    copies of ``disc``'s grouped weights, the straightforward implementation that the grouped
    one must equal (see tests/test_models/test_ssf_dan.py, tools/analysis_tools/benchmark_ssd.py).
    """
    modules = []
    for c in range(disc.num_classes):
        layers: List[nn.Module] = []
        for i, grouped in enumerate(disc.convs):
            c_out = grouped.out_channels // disc.num_classes
            conv = nn.Conv2d(grouped.in_channels // disc.num_classes, c_out,
                             grouped.kernel_size, grouped.stride, grouped.padding)
            with torch.no_grad():
                conv.weight.copy_(grouped.weight[c * c_out:(c + 1) * c_out])
                conv.bias.copy_(grouped.bias[c * c_out:(c + 1) * c_out])
            if i:
                layers.append(nn.LeakyReLU(disc.negative_slope))
            layers.append(conv)
        modules.append(nn.Sequential(*layers))
    return nn.ModuleList(modules).to(disc.convs[0].weight.device)


def _per_class_loop_forward(modules: nn.ModuleList, x: Tensor, masks: Tensor,
                            mask_outputs: bool = True) -> Tensor:
    """Verification and benchmarking only: eqs. 4-5 as a Python loop over classes."""
    out = 0
    for c, module in enumerate(modules):
        logits = module(x * masks[:, c:c + 1])
        if mask_outputs:
            logits = logits * mode_downsample(masks, logits.shape[-2:])[:, c:c + 1]
        out = out + logits
    return out

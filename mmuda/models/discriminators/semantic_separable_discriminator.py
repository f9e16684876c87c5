"""SSF-DAN's Semantic-wise Separable Discriminator (SS-D, paper 003, section 3.3)."""
from typing import List, NamedTuple, Sequence, Tuple

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


class _Cells(NamedTuple):
    """A set of cells of a layer's (C, N, H, W) grid (class, image, y, x), as rows grouped by
    class: row r is grid cell ``flat[r]`` (ascending, so class-major, then image, y, x)."""
    flat: Tensor
    counts: List[int]  # rows of each class
    lookup: Tensor  # (C * N * H * W,) the row of each grid cell, -1 outside the set
    grid: Tuple[int, int, int, int]

    @classmethod
    def where(cls, needed: Tensor) -> '_Cells':
        """The cells of a boolean (C, N, H, W) map."""
        flat = needed.flatten().nonzero().squeeze(1)
        lookup = torch.full((needed.numel(),), -1, dtype=torch.long, device=needed.device)
        lookup[flat] = torch.arange(flat.numel(), device=needed.device)
        return cls(flat, needed.flatten(1).sum(1).tolist(), lookup, tuple(needed.shape))

    def coords(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Class, image, y and x of every row."""
        _, n, h, w = self.grid
        return (self.flat // (n * h * w), self.flat // (h * w) % n, self.flat // w % h,
                self.flat % w)

    def classes(self) -> Tensor:
        return self.coords()[0]


def _out_size(conv: nn.Conv2d, size: Sequence[int]) -> Tuple[int, int]:
    """Output size of a convolution (dilation 1) on an input of ``size``."""
    return tuple((s + 2 * p - k) // st + 1 for s, p, k, st in
                 zip(size, conv.padding, conv.kernel_size, conv.stride))


def _taps(cells: _Cells, conv: nn.Conv2d, size: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """For every row of ``cells`` (output cells of ``conv``) and every kernel tap (i, j), in
    the order of a (kh, kw) kernel: the input grid cell it reads, an index into the
    (C, N, *size) grid of the same class and image, and whether that cell is inside the map
    (outside, the convolution reads its zero padding). Shapes (m, kh * kw)."""
    c, n, oy, ox = cells.coords()
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    h, w = size
    y = (oy * sh - ph)[:, None] + torch.arange(kh, device=oy.device)
    x = (ox * sw - pw)[:, None] + torch.arange(kw, device=ox.device)
    inside = ((y >= 0) & (y < h))[:, :, None] & ((x >= 0) & (x < w))[:, None, :]
    grid = (((c * cells.grid[1] + n) * h)[:, None] + y)[:, :, None] * w + x[:, None, :]
    return grid.flatten(1), inside.flatten(1)


@MODELS.register_module()
class SemanticSeparableDiscriminator(BaseModule):
    """One independent convolutional discriminator per class, run as grouped convolutions.

    For every class c, the feature map masked by that class's one-hot mask (``F^c = F * M^c``)
    goes through its own module ``D^c``: convolutions with ``kernel_sizes`` (1, 3, 3, 3, 3) and
    widths ``in_channels -> channels -> 1`` (2048 -> 1024 -> 512 -> 256 -> 128 -> 1 in the
    paper), LeakyReLU(0.2) after all but the last. The class outputs are summed into one
    channel (eqs. 4-5).

    The C modules are stored as grouped convolutions (``groups=C``). Run densely, one call per
    layer computes every class module on every cell, C times the arithmetic of one module.
    With ``sparse=True`` (the default) and one-hot masks (each cell in at most one class, with
    weight 1, as :func:`mode_downsample` makes them) and a 1x1 first layer, each class module
    computes only what can reach the result, with the same results up to float summation order:

    * **Layers 1-2.** Class c's first layer sees ``F * M^c``, which is zero outside class c's
      cells, so its output there is the constant ``a_c = leaky(b_c)``. Writing that output as
      ``a_c + M^c * d_c`` (``d_c = leaky(W_c F + b_c) - a_c``), the second layer, being
      linear, splits into (i) the convolution of the constant ``a_c`` map (at each output cell
      the sum of the kernel taps that fall inside the map: one tiny product per class), and
      (ii) the contributions of each cell's ``d`` through its own class's weights only,
      scattered to the output cells it reaches. Every cell belongs to at most one class, so
      these two layers (about 80% of the dense arithmetic at the paper's widths) cost one
      class module instead of C.
    * **Layers 3 and later** (with ``mask_outputs``). Class c's output is used only on the
      cells of its (resampled) mask; the last layer computes it there only, each earlier layer
      only on the receptive field of the next layer's cells (the 3x3 neighbourhood for the
      fourth layer, 5x5 for the third, clipped to the map; strides and padding as the layers
      have them), and the second layer only on the third layer's receptive field. Each layer
      gathers its input patches at those cells (zero where a tap falls on the map's zero
      padding; a cell outside class c's mask carries whatever class c's module computes
      there, e.g. the constant response above) and makes one matrix product per class. The
      cost follows the area of the class regions and their borders instead of C times the map.

    Without ``mask_outputs`` every class output is needed everywhere and layers 3+ run as
    dense grouped convolutions; other masks or first-layer kernels take the dense path for all
    layers, where a 1x1 first layer still runs as one dense convolution of the unmasked
    feature (``W_c (F * M^c) + b_c = (W_c F) * M^c + b_c``).

    With ``sparse``, the 4-D weights of layers 2 and later are kept in ``channels_last``
    layout, in which each class's ``(c_out, k * k * c_in)`` matrix of the per-class products
    is a view and not a copy per call (350 MB for the second layer at the paper's widths); any
    layout gives the same numbers.

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
        sparse: Compute each class module only where it can reach the result (above), when the
            masks are one-hot. ``True`` by default because on CPU it is several times faster
            at the paper's widths (docs/benchmark.md, section "SS-D against a per-class loop").
            ``False`` runs every layer as one dense grouped convolution: C times the
            arithmetic, in fewer and larger kernels, which a GPU may run faster (not measured).
    """

    def __init__(self, in_channels: int, num_classes: int,
                 channels: Sequence[int] = (1024, 512, 256, 128),
                 kernel_sizes: Sequence[int] = (1, 3, 3, 3, 3),
                 strides: Sequence[int] = (1, 1, 1, 1, 1), negative_slope: float = 0.2,
                 mask_outputs: bool = True, sparse: bool = True, init_cfg=None) -> None:
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
        self.sparse = sparse
        widths = [in_channels, *channels, 1]
        self.convs = nn.ModuleList(
            nn.Conv2d(num_classes * c_in, num_classes * c_out, k, stride=s, padding=k // 2,
                      groups=num_classes)
            for c_in, c_out, k, s in zip(widths[:-1], widths[1:], kernel_sizes, strides))
        if sparse and self._sparse_layout():
            for conv in self.convs[1:]:
                conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)

    def _sparse_layout(self) -> bool:
        """Whether the layers allow the sparse first two layers (1x1 first layer, >= 2)."""
        return len(self.convs) >= 2 and self.convs[0].kernel_size == (1, 1)

    def _runs_sparse(self, masks: Tensor) -> bool:
        return self.sparse and self._sparse_layout() and self._one_hot(masks)

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

    def _layer_sizes(self, masks: Tensor) -> List[Tuple[int, int]]:
        """Output size of every layer (the first layer's 1x1 kernel subsamples by its stride)."""
        sizes = [tuple(masks[..., ::self.convs[0].stride[0], ::self.convs[0].stride[1]]
                       .shape[-2:])]
        for conv in self.convs[1:]:
            sizes.append(_out_size(conv, sizes[-1]))
        return sizes

    def _sparse_first_layers(self, x: Tensor, masks: Tensor, out_cells: _Cells) -> Tensor:
        """Output of the second layer at the cells ``out_cells`` of its (C, N, h', w') grid,
        (m, channels[1]) rows, computed sparsely (see the class docstring): the constant part
        by one product per class of the taps inside the map with the class's background
        kernel, the per-cell part by one matrix product per class over that class's cells,
        scattered with ``index_add``."""
        first, second = self.convs[0], self.convs[1]
        step = first.stride
        x, masks = x[..., ::step[0], ::step[1]], masks[..., ::step[0], ::step[1]]
        n, channels, h, w = x.shape
        c, slope = self.num_classes, self.negative_slope
        c0, c1 = first.out_channels // c, second.out_channels // c
        kh, kw = second.kernel_size
        cells, labels = self._cells_by_class(masks)
        counts = torch.bincount(labels, minlength=c).tolist()
        rows = x.permute(0, 2, 3, 1).reshape(-1, channels).index_select(0, cells)
        bias = first.bias.view(c, c0)
        background = F.leaky_relu(bias, slope)  # a_c: the first layer off class c's cells
        hidden = per_class_linear(rows, first.weight.reshape(c, c0, channels), counts)
        deviation = (F.leaky_relu(hidden + bias.index_select(0, labels), slope)
                     - background.index_select(0, labels))
        # one block per class: its background row (-> the constant part's kernel), then the
        # deviations of its cells (-> their contributions)
        order, heads, body = _class_blocks(counts, c, cells.device)
        stacked = torch.cat([background.to(deviation.dtype), deviation]).index_select(0, order)
        out = per_class_linear(stacked, second.weight.permute(0, 2, 3, 1).reshape(c, -1, c0),
                               [k + 1 for k in counts])
        # the constant a_c map seen through the kernel: the taps inside the map, summed
        _, inside = _taps(out_cells, second, (h, w))
        constant = per_class_linear(inside.to(out.dtype),
                                    out.index_select(0, heads).view(c, c1, kh * kw),
                                    out_cells.counts)
        own_bias = second.bias.view(c, c1).index_select(0, out_cells.classes()).to(out.dtype)
        return constant + own_bias + self._scatter(out.index_select(0, body), cells, labels,
                                                   (n, h, w), out_cells)

    @staticmethod
    def _cells_by_class(masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Flat indices (over N x h x w) of the cells that belong to a class, sorted by class,
        and their classes."""
        cells = (masks.sum(1) > 0).flatten().nonzero().squeeze(1)
        labels, order = masks.argmax(1).flatten()[cells].sort(stable=True)
        return cells[order], labels

    def _scatter(self, parts: Tensor, cells: Tensor, labels: Tensor, size: Sequence[int],
                 out_cells: _Cells) -> Tensor:
        """Sum each cell's second-layer contributions ``parts`` (m, c1 * kh * kw) into the
        rows of ``out_cells`` its kernel reaches (stride and zero padding as the
        convolution's) in its own class's grid; contributions to other cells are dropped."""
        second = self.convs[1]
        (n, h, w), (_, _, ho, wo) = size, out_cells.grid
        (kh, kw), (sh, sw), (ph, pw) = second.kernel_size, second.stride, second.padding
        c1 = second.out_channels // self.num_classes
        # input cell (y, x) reaches output (oy, ox) through kernel tap (i, j) iff
        # oy * sh + i - ph == y, i.e. oy = (y + ph - i) / sh when that is a whole in-range number
        ty = (cells // w % h)[:, None] + ph - torch.arange(kh, device=cells.device)
        tx = (cells % w)[:, None] + pw - torch.arange(kw, device=cells.device)
        ok_y = (ty >= 0) & (ty % sh == 0) & (ty // sh < ho)
        ok_x = (tx >= 0) & (tx % sw == 0) & (tx // sw < wo)
        plane = (labels * n + cells // (h * w)) * ho * wo  # (class, image) plane of each cell
        target = plane[:, None, None] + (ty // sh * wo)[:, :, None] + (tx // sw)[:, None, :]
        valid = ok_y[:, :, None] & ok_x[:, None, :]
        rows = torch.where(valid, out_cells.lookup[target.clamp(0, len(out_cells.lookup) - 1)],
                           -1)
        kept = rows >= 0
        values = parts.view(-1, c1, kh, kw).permute(0, 2, 3, 1)[kept]
        return values.new_zeros(len(out_cells.flat), c1).index_add(0, rows[kept], values)

    def _restricted_layer(self, conv: nn.Conv2d, rows: Tensor, index: Tensor,
                          out_cells: _Cells) -> Tensor:
        """``conv(leaky(input))`` at the cells ``out_cells`` of each class, from the input
        ``rows`` of every cell those outputs read: the patches gathered by ``index`` (the input
        row of each output row and kernel tap, see :meth:`_needed_cells`), one matrix product
        per class."""
        padded = F.pad(F.leaky_relu(rows, self.negative_slope), (0, 0, 0, 1))
        patches = padded.index_select(0, index.flatten()).view(*index.shape, rows.shape[1])
        patches = patches.flatten(1)
        c = self.num_classes
        weight = conv.weight.permute(0, 2, 3, 1).reshape(c, conv.out_channels // c, -1)
        out = per_class_linear(patches, weight, out_cells.counts)
        return out + conv.bias.view(c, -1).index_select(0, out_cells.classes()).to(out.dtype)

    def _needed_cells(self, final: Tensor, sizes: Sequence[Tuple[int, int]]
                      ) -> Tuple[List[_Cells], List[Tensor]]:
        """The cells each class module computes at layers 2, 3, ..., last: at the last one the
        class's own (resampled) mask ``final``, at each earlier one the cells that the kernel
        taps of the next layer's cells read (its receptive field, clipped to the map). And, for
        layers 3 and later, the input row each output row reads through each kernel tap,
        (m, kh * kw), where the row after the last input row (a zero row) is the padding."""
        cells, taps = [_Cells.where(final.transpose(0, 1) != 0)], []
        for conv, size in zip(reversed(self.convs[2:]), reversed(sizes[1:-1])):
            grid, inside = _taps(cells[0], conv, size)
            classes, images = cells[0].grid[:2]
            needed = torch.zeros(classes, images, *size, dtype=torch.bool, device=grid.device)
            needed.view(-1)[grid[inside]] = True
            cells.insert(0, _Cells.where(needed))
            read = cells[0].lookup[torch.where(inside, grid, 0)]
            taps.insert(0, torch.where(inside, read, len(cells[0].flat)))
        return cells, taps

    def _restricted_forward(self, x: Tensor, masks: Tensor) -> Tensor:
        """:meth:`forward` computing each class module only where it reaches the result."""
        sizes = self._layer_sizes(masks)
        final = mode_downsample(masks, sizes[-1])
        layers, taps = self._needed_cells(final, sizes)
        rows = self._sparse_first_layers(x, masks, layers[0])
        for conv, index, out_cells in zip(self.convs[2:], taps, layers[1:]):
            rows = self._restricted_layer(conv, rows, index, out_cells)
        # each class's logits on its own cells, times its mask, summed into one map
        last = layers[-1]
        _, image, y, x_ = last.coords()
        values = rows[:, 0] * final.transpose(0, 1).flatten()[last.flat]
        n, (h, w) = masks.shape[0], sizes[-1]
        out = values.new_zeros(n * h * w).index_add(0, (image * h + y) * w + x_, values)
        return out.view(n, 1, h, w)

    def forward_classes(self, x: Tensor, masks: Tensor) -> Tensor:
        """Every class module on its separated feature, on every cell: (N, C, h', w') raw
        logits ``D^c(F^c)``.

        Args:
            x: (N, in_channels, h, w) feature.
            masks: (N, C, h, w) one-hot (or all-zero) class masks at the feature size.
        """
        self._check_inputs(x, masks)
        if self._runs_sparse(masks):
            n, c = x.shape[0], self.num_classes
            size = self._layer_sizes(masks)[1]
            every = _Cells.where(masks.new_ones(c, n, *size, dtype=torch.bool))
            rows = self._sparse_first_layers(x, masks, every)
            out = rows.view(c, n, *size, -1).permute(1, 0, 4, 2, 3).flatten(1, 2)
            rest = self.convs[2:]
        else:
            out, rest = self._first_layer(x, masks), self.convs[1:]
        for conv in rest:
            out = conv(F.leaky_relu(out, self.negative_slope))
        return out

    def forward(self, x: Tensor, masks: Tensor) -> Tensor:
        """One-channel domain logits (N, 1, h', w'): the class outputs summed (eqs. 4-5)."""
        self._check_inputs(x, masks)
        if self.mask_outputs and self._runs_sparse(masks):
            return self._restricted_forward(x, masks)
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

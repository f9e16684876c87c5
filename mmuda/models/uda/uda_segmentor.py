"""The UDA segmentor: a wrapper that owns alternating segmentor/discriminator optimisation."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import add_prefix
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from ..alternating_model import AlternatingModel, Losses
from ..data_preprocessors import uda_preprocessor_cfg

Tensor = torch.Tensor


def head_losses(head: nn.Module, logits: Tensor, samples) -> Losses:
    """``head.loss_by_feat(logits, samples)`` without two costs a plain training loop does not pay.

    For a head that uses mmseg's own ``BaseDecodeHead.loss_by_feat`` this computes the same
    losses, in the same way, except that (1) logits already at the label size are not resized:
    mmseg always calls ``resize``, and a bilinear resize to the same size is the identity (every
    source coordinate lands on a pixel, weights 1 and 0) but costs a full pass forward and
    backward, which matters when a method upsamples the logits itself and reuses them
    (AdaptSegNet's discriminator input); (2) ``acc_seg`` takes the arg-max with ``max`` over
    the class dimension (about 3x faster on CPU than mmseg's ``topk``; the same label except
    between exactly tied logits). ``acc_seg`` is logged only. A head that overrides
    ``loss_by_feat`` is called as is.
    """
    if type(head).loss_by_feat is not BaseDecodeHead.loss_by_feat:
        return head.loss_by_feat(logits, samples)
    label = head._stack_batch_gt(samples)
    if logits.shape[2:] != label.shape[2:]:
        logits = resize(logits, size=label.shape[2:], mode='bilinear',
                        align_corners=head.align_corners)
    weight = head.sampler.sample(logits, label) if head.sampler is not None else None
    label = label.squeeze(1)
    losses: Losses = {}
    terms = head.loss_decode if isinstance(head.loss_decode, nn.ModuleList) else [head.loss_decode]
    for term in terms:
        value = term(logits, label, weight=weight, ignore_index=head.ignore_index)
        losses[term.loss_name] = losses[term.loss_name] + value \
            if term.loss_name in losses else value
    losses['acc_seg'] = pixel_accuracy(logits, label, head.ignore_index)
    return losses


@torch.no_grad()
def pixel_accuracy(logits: Tensor, label: Tensor, ignore_index: int) -> Tensor:
    """mmseg's top-1 ``accuracy`` (percent of non-ignored pixels whose arg-max is the label,
    ``eps`` included as mmseg adds it), with the arg-max from ``max``."""
    eps = torch.finfo(torch.float32).eps
    keep = label != ignore_index
    correct = (logits.max(dim=1).indices == label)[keep].float().sum(0, keepdim=True) + eps
    return correct.mul_(100.0 / (int(keep.sum()) + eps))


def segmentor_class_fields(segmentor: nn.Module, prefix: str) -> Dict[str, int]:
    """``{config key: value}`` of every decode and auxiliary head's ``num_classes`` of an mmseg
    segmentor whose config sits at ``prefix`` (e.g. ``'model.segmentor'``)."""
    fields = {}
    for name in ('decode_head', 'auxiliary_head'):
        heads = getattr(segmentor, name, None)
        if isinstance(heads, nn.ModuleList):
            fields.update({f'{prefix}.{name}.{i}.num_classes': h.num_classes
                           for i, h in enumerate(heads) if hasattr(h, 'num_classes')})
        elif hasattr(heads, 'num_classes'):
            fields[f'{prefix}.{name}.num_classes'] = heads.num_classes
    return fields


@MODELS.register_module()
class UDASegmentor(AlternatingModel):
    """Wraps any mmseg segmentor for unsupervised domain adaptation; alone, it is source-only.

    The optimisation is :class:`AlternatingModel`'s with the segmentor as generator. Training
    takes a :class:`UDADataset` batch and runs, with one ``OptimWrapper`` per child
    (``segmentor`` and, when a method has them, ``discriminators``):

    1. the segmentor step, discriminators frozen: :meth:`segmentor_losses` (the source
       segmentation loss here; methods add their target terms), backward, step;
    2. the discriminator step, only when there are discriminators: :meth:`discriminator_losses`
       on the detached tensors that step 1 put in its cache, backward, step.

    Everything else (``predict``, ``tensor`` mode, ``val_step``, ``test_step``) delegates to the
    wrapped segmentor, so mmseg's test loop, ``IoUMetric``, ``SegTTAModel`` and visualiser see an
    ordinary segmentor.

    Args:
        segmentor: Config of the wrapped mmseg segmentor (e.g. an ``EncoderDecoder``).
        discriminators: Name -> config of each discriminator; empty for source-only.
        data_preprocessor: Config of :class:`UDADataPreprocessor`; its ``common`` settings default
            to the segmentor's own ``data_preprocessor``.
        nonfinite_loss: What a NaN or Inf loss does: ``'raise'`` stops training with an error
            naming the loss terms and the iteration (the last checkpoint written stays the last
            good one); ``'skip'`` skips that optimisation step and logs ``nonfinite_skipped``.
            Decided identically on every rank.
        concat_forward: Run source and target through the segmentor as one batch when their
            sizes match and the result is the same as two passes (no batch-statistics BN, no
            dropout in training mode, e.g. DeepLab-v2 with frozen BN, GroupNorm): one larger
            forward-backward instead of two (:meth:`forward_domains`).
        channels_last: Keep the 4-D weights of the segmentor and the discriminators, and the
            images of every training and inference batch, in ``torch.channels_last`` memory
            format: the layout in which cuDNN's tensor-core convolutions (AMP on Volta and
            later) run without transposing each activation. Same numbers as the default
            layout up to float summation order; on CPU it is usually no faster.
        train_cfg, pretrained: Unused; accepted because ``mmseg.apis.init_model`` sets them on
            any model config before building it.
    """

    generator_children = ('segmentor',)
    discriminator_children = ('discriminators',)

    def __init__(self, segmentor: dict, discriminators: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, nonfinite_loss: str = 'raise',
                 concat_forward: bool = True, channels_last: bool = False, init_cfg=None,
                 train_cfg: Optional[dict] = None, pretrained: Optional[str] = None) -> None:
        super().__init__(nonfinite_loss=nonfinite_loss, init_cfg=init_cfg,
                         data_preprocessor=uda_preprocessor_cfg(
                             data_preprocessor, segmentor.get('data_preprocessor')))
        self.concat_forward = concat_forward
        self.channels_last = channels_last
        self.segmentor = MODELS.build(segmentor)
        self.discriminators = nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in (discriminators or {}).items()})
        self._apply_memory_format()

    # ------------------------------------------------------------------ memory format
    def _apply_memory_format(self) -> None:
        """Convert the 4-D weights to channels_last (``channels_last=True``); idempotent.

        ``Module.to`` keeps each ``Parameter`` object and swaps its data, so optimizers built
        earlier still hold the right tensors; later ``.to(device)`` and in-place weight
        loading preserve the layout.
        """
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def init_weights(self) -> None:
        """mmengine's initialisation, then the memory format again: an initialiser that
        assigns a new weight tensor instead of filling the old one would bring back the default
        layout."""
        super().init_weights()
        self._apply_memory_format()

    def _to_memory_format(self, inputs: Tensor) -> Tensor:
        """Images in the model's memory format (channels_last only for 4-D batches)."""
        if self.channels_last and isinstance(inputs, Tensor) and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    # ------------------------------------------------------------------ inference: delegate
    @property
    def out_channels(self) -> int:
        return self.segmentor.out_channels

    @property
    def decode_head(self) -> nn.Module:
        return self.segmentor.decode_head

    @property
    def num_classes(self) -> int:
        return self.segmentor.num_classes

    def class_count_fields(self) -> Dict[str, int]:
        """``{config key: value}`` of every setting that must equal the number of classes: the
        heads' ``num_classes`` here; a method adds the discriminator settings that depend on
        it. ``ClassCountCheckHook`` compares them with the datasets' class lists."""
        return segmentor_class_fields(self.segmentor, 'model.segmentor')

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        """Inference of the wrapped segmentor (``mode`` 'predict' or 'tensor').

        ``mode='loss'`` is refused: UDA training happens in :meth:`train_step`. A model wrapper
        that trains through ``forward(mode='loss')`` (mmengine's default
        ``MMDistributedDataParallel``) would otherwise train the segmentor on source labels only
        and silently skip the adaptation.
        """
        if mode == 'loss':
            raise RuntimeError(
                f'{type(self).__name__} trains through train_step(), not forward(mode="loss"); '
                'a model wrapper called forward(mode="loss") (mmengine\'s default '
                'MMDistributedDataParallel does), which would skip the adaptation. Use '
                "model_wrapper_cfg=dict(type='UDADataParallel') (set in mmuda's "
                'configs/_base_/default_runtime.py).')
        return self.segmentor(self._to_memory_format(inputs), data_samples, mode)

    # ------------------------------------------------------------------ training
    def prepare_batch(self, data: dict) -> dict:
        """Source and target images and the source samples; target samples only when the
        target dataset carries pseudo labels (``UDADataset(target_labels='pseudo')``)."""
        batch = dict(source=self._to_memory_format(data['inputs']['source']),
                     target=self._to_memory_format(data['inputs']['target']),
                     source_samples=data['data_samples']['source'])
        targets = data['data_samples'].get('target') or []
        if targets and all('gt_sem_seg' in s for s in targets):
            batch['target_samples'] = targets
        return batch

    def generator_losses(self, batch: dict) -> Tuple[Losses, dict]:
        return self.segmentor_losses(batch)

    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        """Losses of the segmentor step and a cache of detached tensors for the D step.

        ``batch`` holds ``source`` and ``target`` images (N, C, H, W) and the
        ``source_samples`` with their labels; target samples are passed on (as
        ``target_samples``) only when they carry pseudo labels, which ``UDADataset`` allows
        only with ``target_labels='pseudo'``.
        Source-only: the wrapped segmentor's loss on the source batch, nothing on the target.
        """
        out = self.forward_heads(batch['source'])
        return self.source_seg_losses(out, batch['source_samples']), {}

    # ------------------------------------------------------------------ helpers for methods
    def forward_heads(self, inputs: Tensor) -> dict:
        """One backbone pass and every head: ``{'feats', 'main', 'aux'}`` (aux if present).

        Methods need the logits (and sometimes the features) of both levels, while mmseg's
        ``EncoderDecoder.loss`` only returns losses and ``_forward`` only the main logits.
        """
        seg = self.segmentor
        feats = seg.extract_feat(inputs)
        out = dict(feats=feats, main=seg.decode_head(feats))
        if getattr(seg, 'with_auxiliary_head', False):
            if isinstance(seg.auxiliary_head, nn.ModuleList):
                raise ValueError('mmuda methods support one auxiliary head; the segmentor '
                                 'config has a list in `auxiliary_head`')
            out['aux'] = seg.auxiliary_head(feats)
        return out

    def forward_domains(self, source: Tensor, target: Tensor) -> Tuple[dict, dict]:
        """:meth:`forward_heads` of the source and the target batch.

        With ``concat_forward`` and equal image sizes this is one pass over the concatenated
        batch, split afterwards: the same numbers as two passes (up to float summation order)
        whenever no layer mixes samples, which :meth:`_batch_independent` checks every call
        (train-mode BN would see both domains' statistics; dropout would draw other masks).
        """
        if self.concatenates(source, target):
            out = self.forward_heads(torch.cat([source, target]))
            n = source.shape[0]
            return self._split(out, 0, n), self._split(out, n, None)
        return self.forward_heads(source), self.forward_heads(target)

    def concatenates(self, source: Tensor, target: Tensor) -> bool:
        """Whether :meth:`forward_domains` runs both domains as one batch."""
        return bool(self.concat_forward and source.shape[1:] == target.shape[1:]
                    and self._batch_independent())

    def _batch_independent(self) -> bool:
        for m in self.segmentor.modules():
            if not m.training:
                continue
            if isinstance(m, _BatchNorm) or (isinstance(m, _DropoutNd) and m.p > 0) or \
                    getattr(m, 'drop_prob', 0) > 0:
                return False
        return True

    @staticmethod
    def _split(out: dict, start: int, stop: Optional[int]) -> dict:
        part = {k: v[start:stop] for k, v in out.items() if k != 'feats'}
        part['feats'] = type(out['feats'])(f[start:stop] for f in out['feats'])
        return part

    def head_of(self, level: str) -> nn.Module:
        """The head that produces the logits of a level ('main' or 'aux')."""
        heads = dict(main='decode_head', aux='auxiliary_head')
        if level not in heads or not hasattr(self.segmentor, heads[level]):
            raise KeyError(f'unknown prediction level {level!r}: expected "main" (decode head) '
                           f'or "aux" (auxiliary head of the segmentor)')
        return getattr(self.segmentor, heads[level])

    def source_seg_losses(self, out: dict, samples, prefix: str = 'src') -> Losses:
        """Supervised losses of every head on the samples' labels, prefixed ``src.`` (or
        ``prefix``: ``tgt`` for the pseudo labels of the target), as the heads'
        ``loss_by_feat`` computes them (:func:`head_losses`); logits in ``out`` may be at the
        head's output size or already at the label size."""
        losses = add_prefix(head_losses(self.segmentor.decode_head, out['main'], samples),
                            'decode')
        if 'aux' in out:
            losses.update(add_prefix(
                head_losses(self.segmentor.auxiliary_head, out['aux'], samples), 'aux'))
        return add_prefix(losses, prefix)

    # ------------------------------------------------------------------ visualisation
    @torch.no_grad()
    def visual_maps(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Per-pixel maps of preprocessed ``inputs`` (N, C, H, W) for visualisation tools.

        Every map is (N, H, W) at the input size: a floating-point map holds values in [0, 1]
        (drawn with a colour map), an integer map holds class labels (drawn with the dataset
        palette; 255 is ignored). Methods extend the dict (discriminator confidence, pseudo
        labels) so that the training hook and the inference API need no method-specific code.
        The base gives the segmentor's test-mode ``prediction`` (whole or sliding window, as
        its ``test_cfg`` says).
        """
        size = tuple(inputs.shape[2:])
        metas = [dict(img_shape=size, ori_shape=size, pad_shape=size) for _ in inputs]
        seg = self.segmentor
        if (getattr(seg, 'test_cfg', None) or {}).get('mode', 'whole') == 'slide':
            logits = seg.slide_inference(inputs, metas)
        else:
            logits = seg.encode_decode(inputs, metas)
        return dict(prediction=logits.argmax(dim=1))

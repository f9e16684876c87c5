"""AdaptSegNet's training iteration as a plain PyTorch loop: the baseline of mmuda's step.

The loop follows the reference training script (reference-facts section 5), written out with
torch calls only: no mmengine optimiser wrapper, no mmseg loss or head code, no data samples
beyond reading the labels. It runs on copies of an mmuda ``AdaptSegNet`` model's own modules
(backbone, the heads' dilated branches, the discriminators) with their weights, so timing one
against the other compares the frameworks, not the networks. One iteration:

1. preprocess: stack the uint8 images, swap BGR/RGB if the config says so, subtract the mean,
   divide by the std (what mmseg's ``SegDataPreProcessor`` does for these configs);
2. source forward, both outputs upsampled bilinearly to the input size, backward of
   ``CE(main) + w_aux * CE(aux)`` (ignore 255);
3. target forward, upsampled, backward of ``sum_l adv_weight_l * BCE(D_l(softmax), source)``
   with the discriminators frozen;
4. discriminators unfrozen: backward of ``BCE(D_l(softmax(src).detach()), source) / 2`` and
   ``BCE(D_l(softmax(tgt).detach()), target) / 2`` per level;
5. the segmentor's SGD step, then the discriminators' Adam step.

The segmentor's SGD is either ``torch.optim.SGD`` over the parameters once (the stated
learning rate: mmuda with ``optimizer.type='SGD'``) or, with ``repeats``, PyTorch 0.4's SGD
walked over the reference's parameter list, in which every backbone parameter appears once per
module on its path below its stage (mmuda's ``RepeatedParamSGD``): the update code below is a
loop over that list, as 0.4's ``SGD.step`` ran it. The BN mode is the modules' own
(``train()`` of the copied backbone, which honours mmseg's ``norm_eval``), so it equals mmuda's.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

Tensor = torch.Tensor
IGNORE = 255


def reference_listing(backbone: nn.Module) -> List[nn.Parameter]:
    """The backbone's trainable parameters as the reference's generator lists them: for each
    stage (direct child), every module of ``stage.modules()`` yields its ``parameters()``."""
    return [p for stage in backbone.children() for sub in stage.modules()
            for p in sub.parameters() if p.requires_grad]


class SGD04:
    """PyTorch 0.4's SGD step over a parameter list that may repeat parameters.

    Per list entry: weight decay added in place to ``p.grad``, one momentum buffer per
    parameter (created as ``momentum * 0 + grad`` on its first use), ``p -= lr * buf``.
    """

    def __init__(self, entries: List[Tuple[nn.Parameter, float]], momentum: float,
                 weight_decay: float) -> None:
        self.entries, self.momentum, self.weight_decay = entries, momentum, weight_decay
        self.buffers: Dict[int, Tensor] = {}

    @torch.no_grad()
    def step(self) -> None:
        for p, lr in self.entries:
            if p.grad is None:
                continue
            d_p = p.grad
            if self.weight_decay:
                d_p.add_(p, alpha=self.weight_decay)
            buf = self.buffers.get(id(p))
            if buf is None:
                buf = self.buffers[id(p)] = torch.zeros_like(p)
            buf.mul_(self.momentum).add_(d_p)
            p.add_(buf, alpha=-lr)

    def zero_grad(self) -> None:
        for p, _ in self.entries:
            p.grad = None


class PlainAdaptSegNet:
    """The reference AdaptSegNet iteration on copies of ``model``'s modules (module docstring).

    Args:
        model: An mmuda ``AdaptSegNet`` with ``adv_input='output'`` (copied, not shared).
        lr, momentum, weight_decay: The segmentor's SGD; the heads get ``head_lr_mult * lr``.
        repeats: PyTorch 0.4 SGD over the reference's repeated parameter list
            (``RepeatedParamSGD``'s work) instead of ``torch.optim.SGD``.
        d_lr, d_betas: The discriminators' Adam.
    """

    def __init__(self, model: nn.Module, lr: float, momentum: float, weight_decay: float,
                 head_lr_mult: float = 10.0, repeats: bool = False, d_lr: float = 1e-4,
                 d_betas: Tuple[float, float] = (0.9, 0.99)) -> None:
        if getattr(model, 'adv_input', None) != 'output':
            raise ValueError('the plain AdaptSegNet loop needs an AdaptSegNet model with '
                             "adv_input='output'")
        model = copy.deepcopy(model)
        seg = model.segmentor
        self.modules = nn.ModuleDict(dict(backbone=seg.backbone,
                                          discriminators=model.discriminators))
        self.heads = dict(main=seg.decode_head)
        if getattr(seg, 'with_auxiliary_head', False):
            self.heads['aux'] = seg.auxiliary_head
        self.modules['heads'] = nn.ModuleDict(self.heads)
        self.seg_weights = {lv: float(h.loss_decode.loss_weight) for lv, h in self.heads.items()}
        self.adv_weights = dict(model.adv_weights)
        self.upsample = model.upsample_to_input
        pre = model.data_preprocessor.source
        self.mean, self.std = pre.mean.clone(), pre.std.clone()
        self.flip_channels = bool(pre.channel_conversion)  # the config's bgr_to_rgb
        self.discs = model.discriminators
        self.seg_optim = self._segmentor_optimizer(lr, momentum, weight_decay, head_lr_mult,
                                                   repeats)
        self.d_optim = torch.optim.Adam([p for p in self.discs.parameters() if p.requires_grad],
                                        lr=d_lr, betas=d_betas)
        self.modules.train()

    def _segmentor_optimizer(self, lr: float, momentum: float, weight_decay: float,
                             head_lr_mult: float, repeats: bool):
        backbone = self.modules['backbone']
        heads = [p for h in self.heads.values() for p in h.parameters() if p.requires_grad]
        if repeats:
            entries = [(p, lr) for p in reference_listing(backbone)]
            return SGD04(entries + [(p, lr * head_lr_mult) for p in heads], momentum,
                         weight_decay)
        groups = [dict(params=[p for p in backbone.parameters() if p.requires_grad], lr=lr),
                  dict(params=heads, lr=lr * head_lr_mult)]
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)

    # ------------------------------------------------------------------ the iteration
    def images(self, imgs: List[Tensor]) -> Tensor:
        dtype = next(self.modules['backbone'].parameters()).dtype
        x = torch.stack(imgs)
        if self.flip_channels:
            x = x[:, [2, 1, 0]]
        return (x.to(dtype) - self.mean.to(dtype)) / self.std.to(dtype)

    def predict(self, x: Tensor) -> Dict[str, Tensor]:
        """Both levels' logits, upsampled to the input size (the reference's ``interp``)."""
        feats = self.modules['backbone'](x)
        out = {}
        for level, head in self.heads.items():
            f = feats[head.in_index]
            logits = sum(conv(f) for conv in head.branches)
            if self.upsample:
                logits = F.interpolate(logits, size=x.shape[2:], mode='bilinear',
                                       align_corners=True)
            out[level] = logits
        return out

    def _frozen(self, flag: bool) -> None:
        for p in self.discs.parameters():
            p.requires_grad_(not flag)

    def step(self, data: dict) -> Dict[str, float]:
        """One iteration on a UDA batch (uint8 image lists, source data samples with labels);
        the losses as floats."""
        src = self.images(data['inputs']['source'])
        tgt = self.images(data['inputs']['target'])
        labels = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']['source']])
        losses = {}
        self.seg_optim.zero_grad()
        self.d_optim.zero_grad()
        self._frozen(True)
        pred_s = self.predict(src)
        for level, logits in pred_s.items():
            if logits.shape[2:] != labels.shape[1:]:
                logits = F.interpolate(logits, size=labels.shape[1:], mode='bilinear',
                                       align_corners=True)
            losses[f'seg.{level}'] = self.seg_weights[level] * F.cross_entropy(
                logits, labels, ignore_index=IGNORE)
        sum(losses.values()).backward()
        pred_t = self.predict(tgt)
        adv = 0
        for level, disc in self.discs.items():
            d_out = disc(F.softmax(pred_t[level], dim=1))
            losses[f'adv.{level}'] = self.adv_weights[level] * \
                F.binary_cross_entropy_with_logits(d_out, torch.zeros_like(d_out))
            adv = adv + losses[f'adv.{level}']
        adv.backward()
        self._frozen(False)
        for level, disc in self.discs.items():
            d_src = disc(F.softmax(pred_s[level].detach(), dim=1))
            loss = F.binary_cross_entropy_with_logits(d_src, torch.zeros_like(d_src)) / 2
            loss.backward()
            losses[f'disc.{level}.src'] = loss
            d_tgt = disc(F.softmax(pred_t[level].detach(), dim=1))
            loss = F.binary_cross_entropy_with_logits(d_tgt, torch.ones_like(d_tgt)) / 2
            loss.backward()
            losses[f'disc.{level}.tgt'] = loss
        self.seg_optim.step()
        self.d_optim.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    # ------------------------------------------------------------------ for comparisons
    def named_parameters(self, model: Optional[nn.Module] = None):
        """(mmuda name, parameter) of every copied parameter, so a test can pair them with the
        mmuda model's (``segmentor.backbone...``, ``segmentor.decode_head...``,
        ``discriminators...``)."""
        names = dict(backbone='segmentor.backbone', discriminators='discriminators')
        heads = dict(main='segmentor.decode_head', aux='segmentor.auxiliary_head')
        for name, p in self.modules.named_parameters():
            first, rest = name.split('.', 1)
            if first == 'heads':
                level, rest = rest.split('.', 1)
                yield f'{heads[level]}.{rest}', p
            else:
                yield f'{names[first]}.{rest}', p

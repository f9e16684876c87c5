"""CycleGAN (Zhu et al., ICCV 2017) between the domains: LDR's image translator (section 3.2)."""
import copy
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..alternating_model import AlternatingModel, Losses
from ..data_preprocessors import uda_preprocessor_cfg
from .image_pool import ImagePool

Tensor = torch.Tensor

DIRECTIONS = ('t2s', 's2t')
# the domain each generator reads, and the domain it imitates (whose discriminator judges it)
INPUT_DOMAIN = dict(t2s='target', s2t='source')
OUTPUT_DOMAIN = dict(t2s='source', s2t='target')
DOMAINS = ('source', 'target')
# images in [-1, 1], RGB: what the generators' tanh output can represent
DEFAULT_PREPROCESSOR = dict(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True)


@MODELS.register_module()
class CycleGANTranslator(AlternatingModel):
    """Two image-to-image generators and two PatchGANs trained with CycleGAN's objective.

    LDR translates target images into source-like ones (``F: X_t -> X_s``) and segments those;
    the inverse mapping ``F^-1: X_s -> X_t`` exists to make training well posed (cycle
    consistency). Children:

    * ``generators``: ``t2s`` (target -> source, the paper's ``F``) and ``s2t`` (``F^-1``);
    * ``discriminators``: ``source`` (real source images vs ``t2s`` outputs; the paper's
      ``D_t``, which "enforces indistinguishable distribution between F(X_t) and X_s") and
      ``target`` (real target vs ``s2t`` outputs; the paper's ``D_s``). They are named here by
      the domain they judge.

    One iteration (:class:`AlternatingModel`), ``s``/``t`` real source/target images in
    [-1, 1], ``G = generators``, ``D = discriminators``, ``l`` the GAN loss (least squares by
    default, CycleGAN's choice):

    * generator step, discriminators frozen::

        gen.t2s.loss_gan   = gan_weight      * l(D.source(G.t2s(t)), real)
        gen.s2t.loss_gan   = gan_weight      * l(D.target(G.s2t(s)), real)
        cyc.target.loss_l1 = cycle_weight    * |G.s2t(G.t2s(t)) - t|      (t -> s -> t)
        cyc.source.loss_l1 = cycle_weight    * |G.t2s(G.s2t(s)) - s|      (s -> t -> s)
        idt.t2s.loss_l1    = identity_weight * |G.t2s(s) - s|             (source in, unchanged)
        idt.s2t.loss_l1    = identity_weight * |G.s2t(t) - t|

    * discriminator step, on the generator step's detached outputs drawn through a history
      pool of ``pool_size`` images per discriminator::

        disc.source.loss_real = disc_weight * l(D.source(s), real)
        disc.source.loss_fake = disc_weight * l(D.source(pool(G.t2s(t))), fake)
        disc.target.loss_real / loss_fake alike

    Defaults are CycleGAN's: ``lambda = 10`` for cycle consistency, identity at half of it,
    D loss halved. A weight of 0 drops the term and its computation.

    Inference translates in ``direction``: ``translate(inputs)`` and ``forward(inputs)``
    (``mode='tensor'``) return the translated batch in the preprocessed space; :meth:`preprocess`
    and :meth:`to_images` convert from and to images; ``tools/translate_dataset.py`` writes a
    translated copy of a dataset. ``mode='loss'`` and ``mode='predict'`` are refused.

    Args:
        generator: Config of each generator (built twice), default a ``ResnetGenerator`` with 9
            residual blocks, 3 -> 3 channels (CycleGAN's for 256 px and larger images).
        discriminator: Config of each discriminator (built twice), default a 70x70
            ``PatchGANDiscriminator`` on 3 channels.
        gan_loss: Config of the GAN loss (``GANLoss``, ``gan_type`` 'lsgan' or 'vanilla').
        gan_weight: Weight of the generators' adversarial terms.
        cycle_weight: Weight of the cycle-consistency L1 terms (CycleGAN's lambda, 10).
        identity_weight: Weight of the identity L1 terms (CycleGAN: 0.5 * lambda = 5); 0 drops
            them.
        disc_weight: Factor of each discriminator's real and fake terms (CycleGAN: 0.5).
        pool_size: Generated images kept per discriminator for its update (CycleGAN: 50); 0 uses
            only the newest batch.
        direction: ``'t2s'`` (LDR: target -> source) or ``'s2t'`` (the source-to-target
            ablation of the paper's Tables 3-4): the generator used for inference.
        data_preprocessor: ``UDADataPreprocessor`` config; a plain ``SegDataPreProcessor``
            config is taken as the settings of both branches. Default: RGB scaled to [-1, 1].
        nonfinite_loss: ``'raise'`` or ``'skip'`` (see :class:`AlternatingModel`).
        train_cfg, pretrained: Unused; accepted because ``mmseg.apis.init_model`` sets them.
    """

    generator_children = ('generators',)
    discriminator_children = ('discriminators',)

    def __init__(self, generator: Optional[dict] = None, discriminator: Optional[dict] = None,
                 gan_loss: Optional[dict] = None, gan_weight: float = 1.0,
                 cycle_weight: float = 10.0, identity_weight: float = 5.0,
                 disc_weight: float = 0.5, pool_size: int = 50, direction: str = 't2s',
                 data_preprocessor: Optional[dict] = None, nonfinite_loss: str = 'raise',
                 init_cfg=None, train_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None) -> None:
        super().__init__(nonfinite_loss=nonfinite_loss, init_cfg=init_cfg,
                         data_preprocessor=uda_preprocessor_cfg(data_preprocessor,
                                                                DEFAULT_PREPROCESSOR))
        self._check_preprocessor()
        self.direction = direction
        self.gan_weight = self._weight('gan_weight', gan_weight)
        self.cycle_weight = self._weight('cycle_weight', cycle_weight)
        self.identity_weight = self._weight('identity_weight', identity_weight)
        self.disc_weight = self._weight('disc_weight', disc_weight)
        if not (self.gan_weight or self.cycle_weight or self.identity_weight):
            raise ValueError('CycleGANTranslator: model.gan_weight, cycle_weight and '
                             'identity_weight are all 0; the generators would not train')
        generator = generator or dict(type='ResnetGenerator', in_channels=3, out_channels=3)
        discriminator = discriminator or dict(type='PatchGANDiscriminator', in_channels=3)
        self.generators = nn.ModuleDict(
            {d: MODELS.build(copy.deepcopy(generator)) for d in DIRECTIONS})
        self.discriminators = nn.ModuleDict(
            {d: MODELS.build(copy.deepcopy(discriminator)) for d in DOMAINS})
        self._check_channels()
        self.gan_loss = MODELS.build(gan_loss or dict(type='GANLoss', gan_type='lsgan'))
        self.pools = {d: ImagePool(pool_size) for d in DOMAINS}

    # ------------------------------------------------------------------ configuration checks
    @staticmethod
    def _weight(name: str, value: float) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f'model.{name} must be a number >= 0, got {value!r}')
        return float(value)

    @property
    def direction(self) -> str:
        return self._direction

    @direction.setter
    def direction(self, value: str) -> None:
        if value not in DIRECTIONS:
            raise ValueError(f"model.direction must be 't2s' (target -> source, LDR) or 's2t' "
                             f'(source -> target), got {value!r}')
        self._direction = value

    def _check_preprocessor(self) -> None:
        for name in DOMAINS:
            if not getattr(self.data_preprocessor.branches[name], '_enable_normalize', False):
                raise ValueError(
                    f'CycleGANTranslator: model.data_preprocessor ({name} branch) must set mean '
                    'and std (e.g. mean=[127.5]*3, std=[127.5]*3): the generators end in tanh '
                    'and can only produce normalised images')

    def _check_channels(self) -> None:
        gen = self.generators['t2s']
        g_in, g_out = getattr(gen, 'in_channels', None), getattr(gen, 'out_channels', None)
        if g_in is not None and g_out is not None and g_in != g_out:
            raise ValueError(f'model.generator maps images to images of the same kind: '
                             f'in_channels ({g_in}) must equal out_channels ({g_out})')
        d_in = getattr(self.discriminators['source'], 'in_channels', None)
        if g_out is not None and d_in is not None and d_in != g_out:
            raise ValueError(f'model.discriminator.in_channels is {d_in}, but the generators '
                             f'output {g_out} channels (model.generator.out_channels)')

    # ------------------------------------------------------------------ inference
    def translate(self, inputs: Tensor, direction: Optional[str] = None) -> Tensor:
        """Preprocessed images (N, C, H, W) translated in ``direction`` (default: the model's),
        in the preprocessed space of the output domain, at the input size."""
        direction = direction or self.direction
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 't2s' or 's2t', got {direction!r}")
        return self.generators[direction](inputs)

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor') -> Tensor:
        """``mode='tensor'``: :meth:`translate` in the model's direction.

        ``mode='loss'`` is refused: training happens in :meth:`train_step` (a wrapper that
        trains through ``forward(mode='loss')``, like mmengine's default DDP, would silently
        skip it). ``mode='predict'`` is refused: a translator makes no segmentation, so
        validation and ``tools/test.py`` do not apply to it.
        """
        if mode == 'tensor':
            return self.translate(inputs)
        if mode == 'loss':
            raise RuntimeError(
                f'{type(self).__name__} trains through train_step(), not forward(mode="loss"); '
                'a model wrapper called forward(mode="loss") (mmengine\'s default '
                "MMDistributedDataParallel does). Use model_wrapper_cfg=dict(type="
                "'UDADataParallel') (set in mmuda's configs/_base_/default_runtime.py).")
        raise RuntimeError(
            f'{type(self).__name__} translates images and predicts no segmentation '
            f'(mode={mode!r}): use translate() / forward(mode="tensor"), or '
            'tools/translate_dataset.py; a translator config has no val or test loop')

    def preprocess(self, images: List[Tensor], domain: str) -> Tensor:
        """Loaded images (C, H, W, uint8, as ``PackSegInputs`` gives them) of one size, of the
        given domain, as the network sees them (that domain's preprocessing branch)."""
        branch = self.data_preprocessor.branches[domain]
        return branch(dict(inputs=list(images), data_samples=None), False)['inputs']

    def to_images(self, outputs: Tensor, domain: str) -> np.ndarray:
        """Network outputs of the given domain's space back to uint8 RGB images (N, H, W, 3).

        Undoes that branch's normalisation, and its channel order: loaded images are BGR, so
        a branch without ``bgr_to_rgb`` works in BGR.
        """
        branch = self.data_preprocessor.branches[domain]
        pixels = outputs.detach().float() * branch.std + branch.mean
        if not getattr(branch, 'channel_conversion', False) and pixels.shape[1] == 3:
            pixels = pixels.flip(1)
        pixels = pixels.clamp(0, 255).round().to(torch.uint8)
        return pixels.permute(0, 2, 3, 1).cpu().numpy()

    # ------------------------------------------------------------------ training
    def prepare_batch(self, data: dict) -> dict:
        """The source and target images; the source labels UDADataset loads are not used."""
        return dict(source=data['inputs']['source'], target=data['inputs']['target'])

    def generator_losses(self, batch: dict) -> Tuple[Losses, dict]:
        real = dict(source=batch['source'], target=batch['target'])
        G, D = self.generators, self.discriminators
        # keyed by the domain each batch imitates: fake['source'] = G.t2s(target)
        fake = {OUTPUT_DOMAIN[d]: G[d](real[INPUT_DOMAIN[d]]) for d in DIRECTIONS}
        losses: Dict[str, Tensor] = {}
        for d in DIRECTIONS:
            out, inp = OUTPUT_DOMAIN[d], INPUT_DOMAIN[d]
            if self.gan_weight:
                losses[f'gen.{d}.loss_gan'] = self.gan_weight * self.gan_loss(
                    D[out](fake[out]), True)
            if self.cycle_weight:  # inp -> out -> inp, through the other generator
                back = G[self._inverse(d)](fake[out])
                losses[f'cyc.{inp}.loss_l1'] = self.cycle_weight * F.l1_loss(back, real[inp])
            if self.identity_weight:  # an image already of the output domain stays unchanged
                losses[f'idt.{d}.loss_l1'] = self.identity_weight * F.l1_loss(
                    G[d](real[out]), real[out])
        cache = dict(real=real, fake={k: v.detach() for k, v in fake.items()})
        return losses, cache

    @staticmethod
    def _inverse(direction: str) -> str:
        return 's2t' if direction == 't2s' else 't2s'

    def discriminator_losses(self, cache: dict) -> Losses:
        losses: Dict[str, Tensor] = {}
        for domain in DOMAINS:
            disc = self.discriminators[domain]
            fake = self.pools[domain].query(cache['fake'][domain])
            losses[f'disc.{domain}.loss_real'] = self.disc_weight * self.gan_loss(
                disc(cache['real'][domain]), True)
            losses[f'disc.{domain}.loss_fake'] = self.disc_weight * self.gan_loss(
                disc(fake), False)
        return losses

"""The effective recipe of a config: what a run of it trains and evaluates, as flat fields.

A paper states its recipe as a handful of numbers (init weights, image and crop sizes, batch,
optimisers, schedule, loss weights, BN mode, evaluation size and classes); an mmseg config
spreads them over inheritance, pipelines and per-wrapper dicts. :func:`effective_recipe` reads
the resolved config (after ``_base_`` inheritance and ``--cfg-options``) and returns those
numbers under stable field names, so that a recipe card (:mod:`mmuda.recipes.cards`) can state
the paper's value of each, and ``tools/analysis_tools/print_recipe.py`` can print them side by
side. Only the config is read: no model, dataset or checkpoint is built or opened.

Field names (``<group>.<item>``):

* ``init.*``: the backbone's pretrained file (``init_cfg`` checkpoint, or the segmentor's
  ``pretrained``), ``none (random)`` without one; other pretrained parts; ``load_from``.
* ``source.*`` / ``target.*`` (UDA data) or ``train.*`` (one dataset): dataset, resize, crop,
  augmentation, labels; ``batch`` (images per domain per GPU), ``sampler``.
* ``optim.<wrapper>.*``: type, lr, momentum / nesterov or betas, weight decay, head lr
  multiplier, other paramwise keys; one wrapper per trained child of the model.
* ``sched.<wrapper>.*``: policy, poly power, total iterations (end of the last scheduler);
  ``sched.stop_iters`` (``train_cfg.max_iters``).
* ``loss.*``: supervised head weights and the method's loss weights.
* ``bn.*``: the backbone's normalisation (type, affine trained, statistics frozen).
* ``head.*``: DeepLab-v2 classifier branches and bias initialisation.
* ``eval.*``: dataset, input size, ``--tta`` sizes and flip, classes of the headline mIoU;
  the inference size of pseudo labels when the config sets ``pseudo_label_pipeline``.
* ``model.*``: the method's type and scalar options (a card states those it cares about).
"""
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

Recipe = Dict[str, Any]

# Model keys that weigh loss terms (printed under loss.*); other scalar keys are options.
LOSS_KEYS = ('lambda_seg', 'adv_weights', 'adv_weight', 'ent_weights', 'recon_adv_weight',
             'recon_weight', 'gan_weight', 'cycle_weight', 'identity_weight', 'disc_weight',
             'rec_weight')
# Model keys that are parts of the network or the plumbing, not options of the recipe.
NOT_OPTIONS = ('type', 'segmentor', 'discriminators', 'data_preprocessor', 'init_cfg',
               'train_cfg', 'test_cfg', 'pretrained', 'backbone', 'neck', 'decode_head',
               'auxiliary_head')
# Pipeline steps that load or pack data: they do not change what the network sees.
PLUMBING = ('LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs', 'CheckSegLabels')
HEAD_KEYS = ('decode_head', 'auxiliary_head', 'head')
RANDOM = 'none (random)'


def effective_recipe(cfg) -> Recipe:
    """The recipe fields of a resolved mmengine ``Config`` (see the module docstring)."""
    recipe: Recipe = {}
    for part in (_init, _data, _optimisers, _schedules, _losses, _normalisation, _head,
                 _evaluation, _method_options):
        part(cfg, recipe)
    return recipe


# ---------------------------------------------------------------------- helpers
def segmentor_of(cfg) -> Optional[dict]:
    """The mmseg segmentor dict: ``model.segmentor`` of a UDA model, ``model`` of a plain one."""
    model = cfg.model
    if 'segmentor' in model:
        return model.segmentor
    if model.get('type') in ('EncoderDecoder', 'CascadeEncoderDecoder'):
        return model
    return None


def checkpoint_name(path: Optional[str]) -> Optional[str]:
    """A checkpoint's file name (a URL's last part); scheme paths (``open-mmlab://x``) whole."""
    if not path:
        return None
    path = str(path)
    if ('://' in path and not path.startswith(('http://', 'https://'))) or \
            path.startswith('work_dirs/'):
        return path  # a scheme, or the checkpoint of an earlier stage (its work dir names it)
    return osp.basename(path.split('?')[0])


def _init_checkpoint(init_cfg) -> Optional[str]:
    for item in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
        if isinstance(item, dict) and item.get('checkpoint'):
            return checkpoint_name(item['checkpoint'])
    return None


def _size(scale: Sequence[int]) -> str:
    """mmseg scales are (w, h)."""
    return f'{scale[0]}x{scale[1]}'


def _number(value: float) -> str:
    return f'{value:g}'


def _plain(value: Any) -> Any:
    """Tuples and ConfigDicts as lists and dicts, so that values print and compare plainly."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _call(name: str, args: Dict[str, Any]) -> str:
    inner = ', '.join(f'{k}={_plain(v)}' for k, v in args.items())
    return f'{name}({inner})' if inner else name


# ---------------------------------------------------------------------- init
def _init(cfg, recipe: Recipe) -> None:
    seg = segmentor_of(cfg)
    if seg is not None:
        backbone = seg.get('backbone', {})
        recipe['init.backbone'] = (_init_checkpoint(backbone.get('init_cfg'))
                                   or checkpoint_name(seg.get('pretrained')) or RANDOM)
    model = cfg.model
    for part in ('reconstructor', 'recon_discriminator'):
        if isinstance(model.get(part), dict) and model[part].get('init_cfg'):
            recipe[f'init.{part}'] = _init_checkpoint(model[part]['init_cfg']) or RANDOM
    perceptual = model.get('perceptual')
    if isinstance(perceptual, dict) and perceptual.get('pretrained'):
        recipe['init.perceptual'] = checkpoint_name(perceptual['pretrained'])
    recipe['init.load_from'] = cfg.get('load_from') or 'none'


# ---------------------------------------------------------------------- data
def dataset_name(dataset: dict) -> str:
    """Dataset type, with the city of a Cross-City set and a note for translated images."""
    name = dataset.get('type', '?')
    if dataset.get('city'):
        name += f" {dataset['city']}"
    img_path = str((dataset.get('data_prefix') or {}).get('img_path', ''))
    if 'translated' in img_path:
        name += ' (translated to the source style)'
    return name


def pipeline_summary(pipeline: Iterable[dict]) -> Tuple[str, str, str]:
    """(resize, crop, augmentation) of a pipeline, in words; ``none`` where there is none."""
    resize: List[str] = []
    crop: List[str] = []
    augment: List[str] = []
    for step in pipeline or []:
        kind = step.get('type')
        if kind in PLUMBING:
            continue
        if kind == 'Resize':
            resize.append(_resize_text(step))
        elif kind == 'RandomResize':
            low, high = step.get('ratio_range', (1.0, 1.0))
            resize.append(f"{_resize_text(step)}, x{_number(low)}-{_number(high)}")
        elif kind == 'RandomCrop':
            h, w = step['crop_size']
            crop.append(f'{w}x{h}' + (f", cat_max_ratio={step['cat_max_ratio']}"
                                      if step.get('cat_max_ratio', 1.0) != 1.0 else ''))
        elif kind == 'RandomFlip':
            augment.append(f"flip p={_number(step.get('prob', 0.5))}")
        else:
            augment.append(_call(kind, {k: v for k, v in step.items() if k != 'type'}))
    return (' then '.join(resize) or 'none', ' then '.join(crop) or 'none',
            '; '.join(augment) or 'none')


def _resize_text(step: dict) -> str:
    scale = step.get('scale')
    if scale is None:
        factor = step.get('scale_factor')
        return f'x{_number(factor)}' if isinstance(factor, (int, float)) else _call(
            step.get('type', 'Resize'), {k: v for k, v in step.items() if k != 'type'})
    if isinstance(scale, (int, float)):
        return f'scale {scale}'
    if not step.get('keep_ratio', False):
        return _size(scale)
    return f'keep ratio within {max(scale)}x{min(scale)}'


def _labels(dataset: dict) -> str:
    return str((dataset.get('data_prefix') or {}).get('seg_map_path') or 'none')


def _data(cfg, recipe: Recipe) -> None:
    loader = cfg.get('train_dataloader')
    if not loader:
        return
    dataset = loader['dataset']
    if dataset.get('type') == 'UDADataset':
        domains = dict(source=dataset['source'], target=dataset['target'])
    else:
        domains = dict(train=dataset)
    for role, ds in domains.items():
        resize, crop, augment = pipeline_summary(ds.get('pipeline'))
        recipe[f'{role}.dataset'] = dataset_name(ds)
        recipe[f'{role}.resize'] = resize
        recipe[f'{role}.crop'] = crop
        recipe[f'{role}.augment'] = augment
    if 'target' in domains:
        recipe['target.labels'] = ('pseudo: ' + _labels(domains['target'])
                                   if dataset.get('target_labels') == 'pseudo' else 'none')
    else:
        recipe['train.labels'] = _labels(dataset)
    recipe['batch'] = loader.get('batch_size')
    recipe['sampler'] = (loader.get('sampler') or {}).get('type', 'none')


# ---------------------------------------------------------------------- optimisers
def _wrapper_used(model: dict, name: str) -> bool:
    """Whether the model has the child an optimiser wrapper is for: a UDA model's children
    are its config keys (a source-only model has no ``discriminators``); an image-GAN stage
    names its children itself."""
    if name in model:
        return bool(model[name])
    return 'segmentor' not in model or name == 'segmentor'


def optim_wrappers(cfg) -> Dict[str, dict]:
    """Wrapper name -> wrapper config, for the children the model has."""
    wrapper = cfg.get('optim_wrapper')
    if not wrapper:
        return {}
    if wrapper.get('constructor') == 'UDAOptimWrapperConstructor':
        return {name: w for name, w in wrapper.items()
                if isinstance(w, dict) and 'optimizer' in w and _wrapper_used(cfg.model, name)}
    return {'segmentor': wrapper}


def _optimisers(cfg, recipe: Recipe) -> None:
    for name, wrapper in optim_wrappers(cfg).items():
        opt = wrapper['optimizer']
        kind = opt.get('type', '?')
        key = f'optim.{name}'
        recipe[f'{key}.type'] = kind
        recipe[f'{key}.lr'] = opt.get('lr')
        if 'SGD' in kind:
            recipe[f'{key}.momentum'] = opt.get('momentum', 0.0)
            recipe[f'{key}.nesterov'] = bool(opt.get('nesterov', False))
        elif 'Adam' in kind:
            recipe[f'{key}.betas'] = _plain(opt.get('betas', (0.9, 0.999)))
        recipe[f'{key}.weight_decay'] = opt.get('weight_decay',
                                                0.01 if kind == 'AdamW' else 0.0)
        extra = {k: v for k, v in opt.items()
                 if k not in ('type', 'lr', 'momentum', 'nesterov', 'betas', 'weight_decay')}
        if extra:
            recipe[f'{key}.other'] = _call(kind, extra)
        custom = dict((wrapper.get('paramwise_cfg') or {}).get('custom_keys') or {})
        if name == 'segmentor':
            recipe[f'{key}.head_lr_mult'] = _head_lr_mult(custom)
        rest = {k: v for k, v in custom.items()
                if k not in HEAD_KEYS or set(v) - {'lr_mult'}}
        if rest:
            recipe[f'{key}.paramwise'] = '; '.join(f'{k}: {_plain(v)}' for k, v in rest.items())


def _head_lr_mult(custom: dict) -> Any:
    mults = {k: custom[k].get('lr_mult', 1.0) for k in HEAD_KEYS if k in custom}
    values = set(mults.values())
    if not values:
        return 1.0
    if len(values) == 1:
        return values.pop()
    return ', '.join(f'{k} {_number(v)}' for k, v in mults.items())


# ---------------------------------------------------------------------- schedules
def _schedules(cfg, recipe: Recipe) -> None:
    schedulers = cfg.get('param_scheduler')
    wrappers = optim_wrappers(cfg)
    if isinstance(schedulers, dict) and 'type' not in schedulers:
        per_wrapper = {n: s for n, s in schedulers.items() if n in wrappers}
    elif schedulers:
        per_wrapper = {'segmentor': schedulers}
    else:
        per_wrapper = {}
    for name, scheds in per_wrapper.items():
        scheds = list(scheds) if isinstance(scheds, (list, tuple)) else [scheds]
        several = len(scheds) > 1
        recipe[f'sched.{name}.policy'] = ' + '.join(_scheduler_text(s, several) for s in scheds)
        powers = [s.get('power', 1.0) for s in scheds if s.get('type') == 'PolyLR']
        if powers:
            recipe[f'sched.{name}.power'] = powers[-1]
        recipe[f'sched.{name}.total_iters'] = scheds[-1].get('end')
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' in train_cfg:
        recipe['sched.stop_iters'] = train_cfg['max_iters']


def _scheduler_text(sched: dict, with_range: bool) -> str:
    args = {k: v for k, v in sched.items()
            if k not in ('type', 'begin', 'end', 'by_epoch', 'power')
            and not (k == 'eta_min' and v == 0)}
    text = _call(sched.get('type', '?'), args)
    if with_range:
        text += f" {sched.get('begin', 0)}-{sched.get('end')}"
    return text


# ---------------------------------------------------------------------- losses
def _loss_weight(head: Optional[dict]) -> Any:
    if not head:
        return 'none (no such head)'
    losses = head.get('loss_decode')
    losses = losses if isinstance(losses, (list, tuple)) else [losses]
    weights = [loss.get('loss_weight', 1.0) for loss in losses if loss]
    return weights[0] if len(weights) == 1 else _plain(weights)


def _losses(cfg, recipe: Recipe) -> None:
    seg = segmentor_of(cfg)
    if seg is not None:
        recipe['loss.seg.main'] = _loss_weight(seg.get('decode_head'))
        recipe['loss.seg.aux'] = _loss_weight(seg.get('auxiliary_head'))
    model = cfg.model
    if 'segmentor' not in model and seg is not None:
        return  # a plain segmentor: its head weights are all there is
    for key in LOSS_KEYS:
        value = model.get(key)
        if isinstance(value, dict):
            for name, weight in value.items():
                recipe[f'loss.{key}.{name}'] = weight
        elif value is not None:
            recipe[f'loss.{key}'] = value


# ---------------------------------------------------------------------- BN and head
def _normalisation(cfg, recipe: Recipe) -> None:
    seg = segmentor_of(cfg)
    backbone = (seg or {}).get('backbone') or {}
    norm = backbone.get('norm_cfg')
    if not norm:
        return
    recipe['bn.type'] = norm.get('type')
    recipe['bn.requires_grad'] = bool(norm.get('requires_grad', True))
    recipe['bn.norm_eval'] = bool(backbone.get('norm_eval', False))


def _head(cfg, recipe: Recipe) -> None:
    head = (segmentor_of(cfg) or {}).get('decode_head') or {}
    if head.get('type') == 'DeepLabV2Head':
        recipe['head.dilations'] = _plain(head.get('dilations',
                                                   default_arg('DeepLabV2Head', 'dilations')))
        recipe['head.bias_init'] = head.get('bias_init', default_arg('DeepLabV2Head',
                                                                     'bias_init'))


def default_arg(module: str, arg: str) -> Any:
    """The default of ``arg`` in the registered mmseg/mmuda module's constructor."""
    import inspect

    from mmseg.registry import MODELS

    import mmuda  # noqa: F401  (registers mmuda's modules)
    return inspect.signature(MODELS.get(module).__init__).parameters[arg].default


# ---------------------------------------------------------------------- evaluation
def _evaluation(cfg, recipe: Recipe) -> None:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader:
        return
    dataset = loader['dataset']
    resize, crop, _ = pipeline_summary(dataset.get('pipeline'))
    recipe['eval.dataset'] = dataset_name(dataset)
    recipe['eval.size'] = resize if resize != 'none' else 'full resolution'
    sizes, flip = _tta(cfg.get('tta_pipeline'))
    recipe['eval.tta_sizes'] = sizes
    recipe['eval.tta_flip'] = flip
    evaluator = cfg.get('test_evaluator') or cfg.get('val_evaluator') or {}
    recipe['eval.classes'] = _classes(evaluator)
    if cfg.get('pseudo_label_pipeline'):
        recipe['eval.pseudo_label_size'] = pipeline_summary(cfg.pseudo_label_pipeline)[0]


def _tta(pipeline) -> Tuple[str, bool]:
    """The image sizes and the flip of ``tools/test.py --tta`` (mmseg's TestTimeAug)."""
    for step in pipeline or []:
        if step.get('type') != 'TestTimeAug':
            continue
        sizes: List[str] = []
        flip = False
        for options in step['transforms']:
            for option in options:
                if option.get('type') == 'Resize':
                    sizes.append(_resize_text(option))
                elif option.get('type') == 'RandomFlip' and option.get('prob', 0) > 0:
                    flip = True
        return ', '.join(sizes) or 'none', flip
    return 'none', False


def _classes(evaluator: dict) -> Any:
    """Number of classes of the headline mIoU (SubsetIoUMetric's primary subset)."""
    from mmuda.evaluation.subset_iou_metric import SUBSET_PRESETS
    subsets = evaluator.get('subsets')
    if isinstance(subsets, str) and subsets in SUBSET_PRESETS:
        preset = SUBSET_PRESETS[subsets]
        primary = evaluator.get('primary') or preset['primary']
        if primary in preset['subsets']:
            return len(preset['subsets'][primary])
        return int(primary.replace('mIoU', '')) if primary.startswith('mIoU') else primary
    return evaluator.get('type', 'none')


# ---------------------------------------------------------------------- method options
def _method_options(cfg, recipe: Recipe) -> None:
    model = cfg.model
    recipe['model.type'] = model.get('type')
    if segmentor_of(cfg) is model:
        return
    for key, value in model.items():
        if key in NOT_OPTIONS or key in LOSS_KEYS:
            continue
        if isinstance(value, dict):
            if key.endswith('_loss') and 'type' in value:
                recipe[f'model.{key}'] = _call(value['type'],
                                               {k: v for k, v in value.items() if k != 'type'})
            continue
        if value is None or isinstance(value, (bool, int, float, str, list, tuple)):
            recipe[f'model.{key}'] = _plain(value)

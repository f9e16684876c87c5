"""Every paper row that has real configs, plus the toy rows, as stages (see :mod:`.stages`).

``python tools/reproduce.py METHOD BENCHMARK`` runs one of these. The paths a later stage
reads are declared here as ``(config key, stage)``; the configs hold the same paths under
``work_dirs/`` for users who run the stages by hand, and ``tests/test_tools/test_reproduce.py``
checks that the two agree, row by row, so a renamed config or path fails a test.

The paper's numbers are not here: they live in ``configs/*/metafile.yaml`` (keys ending in
``(paper)``), beside each config, and the runner reads them from there.
"""
from typing import Dict, List, Tuple

from .stages import PSEUDO_LABELS, ROOT, TEST, TOY_DATA, TRAIN, TRANSLATE, Row, Stage

CROSS_CITY = ('rome', 'rio', 'tokyo', 'taipei')
# benchmark -> the pair in the real config names
PAIRS = {'gta5': 'gta5-1280x720_cityscapes-1024x512',
         'synthia': 'synthia-1280x760_cityscapes-1024x512',
         **{f'crosscity-{c}': f'cityscapes-1024x512_crosscity-{c}' for c in CROSS_CITY}}
TOY = 'toy-source_toy-target'
TOY_DATA_DIR = 'data/toy_domains'  # where every toy config reads the toy domains


def toy_data() -> Stage:
    return Stage('data', TOY_DATA, 'write the embedded toy domains (skipped when present)',
                 out=TOY_DATA_DIR)


def test(of: str, what: str, config: str = None, tta: bool = False,
         reads: Tuple[Tuple[str, str], ...] = ()) -> Stage:
    return Stage('test', TEST, what, config=config, of=of, reads=reads,
                 args=('--tta',) if tta else ())


# ---------------------------------------------------------------- single-stage methods
def single_stage(method: str, folder: str, config: str, benchmark: str, source: str) -> Row:
    """One training run, then its single-scale test (AdaptSegNet, ADVENT, SSF-DAN,
    source-only)."""
    path = f'configs/{folder}/{config}'
    stages = [Stage('train', TRAIN, f'train {method}', config=path),
              test('train', 'evaluate the final checkpoint (single scale)')]
    if benchmark == 'toy':
        stages.insert(0, toy_data())
    return Row(method, benchmark, tuple(stages), source)


def single_stage_rows() -> List[Row]:
    rows = [single_stage('source-only', 'source_only',
                         f'source-only_dlv2-r101_1xb1-150k_{PAIRS["gta5"]}.py', 'gta5',
                         'AdaptSegNet paper Table 1 (the LDR paper quotes it)'),
            single_stage('source-only', 'source_only', f'source-only_dlv2-r18-toy_1xb4-600_'
                         f'{TOY}.py', 'toy', 'embedded toy domains (no paper number)'),
            single_stage('advent', 'advent', f'advent_dlv2-r101_1xb1-120k_{PAIRS["gta5"]}.py',
                         'gta5', 'ADVENT paper Table 1 (AdvEnt)'),
            single_stage('advent', 'advent', f'advent_dlv2-r18-toy_1xb4-600_{TOY}.py', 'toy',
                         'embedded toy domains (no paper number)')]
    tables = {'adaptsegnet': ('AdaptSegNet', {'gta5': 1, 'synthia': 4, 'crosscity': 6}),
              'ssf-dan': ('SSF-DAN', {'gta5': 1, 'synthia': 2, 'crosscity': 3})}
    for method, folder in (('adaptsegnet', 'adaptsegnet'), ('ssf-dan', 'ssf_dan')):
        paper, table = tables[method]
        for benchmark, pair in PAIRS.items():
            source = f'{paper} paper Table {table[benchmark.split("-")[0]]}'
            rows.append(single_stage(method, folder, f'{method}_dlv2-r101_1xb1-150k_{pair}.py',
                                     benchmark, source))
        rows.append(single_stage(method, folder, f'{method}_dlv2-r18-toy_1xb4-600_{TOY}.py',
                                 'toy', 'embedded toy domains (no paper number)'))
    return rows


# ---------------------------------------------------------------- FADA
def fada_rows() -> List[Row]:
    rows = []
    for benchmark, pair in PAIRS.items():
        stages = [
            Stage('warmup', TRAIN, 'source-only warm-up',
                  config=f'configs/fada/fada-warmup_dlv2-r101-tv_1xb8-20k_{pair}.py'),
            Stage('fada', TRAIN, 'fine-grained adversarial adaptation from the warm-up',
                  config=f'configs/fada/fada_dlv2-r101-tv_1xb4-40k_{pair}.py',
                  reads=(('load_from', 'warmup'),))]
        if benchmark == 'gta5':  # Table 4: + self-distillation 49.2, + multi-scale test 50.1
            sd = 'configs/fada/fada-sd_dlv2-r101-tv_1xb8-20k_cityscapes-pseudo-512x1024.py'
            stages += [
                Stage('pseudo', PSEUDO_LABELS, 'argmax pseudo labels of Cityscapes train',
                      of='fada', out=f'{ROOT}/fada-gta5_pseudo_labels',
                      args=('--policy', 'argmax')),
                Stage('sd', TRAIN, 'self-distillation: a fresh model on the pseudo labels',
                      config=sd,
                      reads=(('train_dataloader.dataset.data_prefix.seg_map_path', 'pseudo'),)),
                test('sd', 'multi-scale + flip test of the self-distilled model (FADA-MST)',
                     config=sd.replace('fada-sd_', 'fada-sd-mst_'), tta=True)]
            source = 'FADA paper Tables 3-4'
        else:  # the metafile's number is the adaptation stage's (no SD config shipped)
            stages.append(test('fada', 'evaluate the adapted model (single scale)'))
            source = ('FADA paper Table 5 (mIoU16)' if benchmark == 'synthia'
                      else 'FADA paper Table 1')
        rows.append(Row('fada', benchmark, tuple(stages), source))
    toy = 'dlv2-r18-toy_1xb4'
    rows.append(Row('fada', 'toy', (
        toy_data(),
        Stage('warmup', TRAIN, 'source-only warm-up (first 200 iterations)',
              config=f'configs/fada/fada-warmup_{toy}-200_{TOY}.py'),
        Stage('fada', TRAIN, 'FADA, continuing the warm-up run to iteration 600',
              config=f'configs/fada/fada_{toy}-400_{TOY}.py', reads=(('load_from', 'warmup'),)),
        Stage('pseudo', PSEUDO_LABELS, 'argmax pseudo labels of the toy target train set',
              of='fada', out=f'{ROOT}/fada-toy_pseudo_labels', args=('--policy', 'argmax')),
        Stage('sd', TRAIN, 'self-distillation: a fresh model on the pseudo labels',
              config=f'configs/fada/fada-sd_{toy}-1600_toy-target-pseudo.py',
              reads=(('train_dataloader.dataset.data_prefix.seg_map_path', 'pseudo'),)),
        test('sd', 'multi-scale + flip test of the self-distilled model', tta=True)),
        'embedded toy domains (no paper number)'))
    return rows


# ---------------------------------------------------------------- multi-adversarial proxies
def mada_rows() -> List[Row]:
    rows = []
    for benchmark in ('gta5', 'synthia'):
        pair = PAIRS[benchmark]
        proxy = ('configs/mada/mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-'
                 f'{benchmark}-proxy-640x640.py')
        rows.append(Row('mada', benchmark, (
            Stage('warmup', TRAIN, 'source-only training',
                  config=f'configs/mada/mada-warmup_dlv2-r101-fusion_1xb4-80k_{pair}.py'),
            Stage('mada', TRAIN, 'multi-adversarial training from the source-only model',
                  config=f'configs/mada/mada_dlv2-r101-fusion_1xb4-10k_{pair}.py',
                  reads=(('load_from', 'warmup'),)),
            Stage('proxies', PSEUDO_LABELS, 'adversarial proxy labels (p1 0.6, p2 0.8)',
                  of='mada', out=f'{ROOT}/mada-{benchmark}_proxy_labels',
                  args=('--policy', 'adversarial_proxy', '--p1', '0.6', '--p2', '0.8')),
            Stage('proxy', TRAIN, 'a fresh model on the proxy labels', config=proxy,
                  reads=(('train_dataloader.dataset.data_prefix.seg_map_path', 'proxies'),)),
            test('proxy', 'multi-scale + flip test of the proxy model',
                 config=proxy.replace('mada-proxy_', 'mada-proxy-ms_'), tta=True)),
            f'multi-adversarial proxies paper Table {1 if benchmark == "gta5" else 2}'))
    toy = 'dlv2-r18-toy_1xb4'
    rows.append(Row('mada', 'toy', (
        toy_data(),
        Stage('warmup', TRAIN, 'source-only training',
              config=f'configs/mada/mada-warmup_{toy}-200_{TOY}.py'),
        Stage('mada', TRAIN, 'multi-adversarial training from the source-only model',
              config=f'configs/mada/mada_{toy}-400_{TOY}.py', reads=(('load_from', 'warmup'),)),
        Stage('proxies', PSEUDO_LABELS, 'adversarial proxy labels (p1 0.6, p2 0.8)', of='mada',
              out=f'{ROOT}/mada-toy_proxy_labels',
              args=('--policy', 'adversarial_proxy', '--p1', '0.6', '--p2', '0.8')),
        Stage('proxy', TRAIN, 'a fresh model on the proxy labels',
              config=f'configs/mada/mada-proxy_{toy}-1600_toy-target-proxy.py',
              reads=(('train_dataloader.dataset.data_prefix.seg_map_path', 'proxies'),)),
        test('proxy', 'multi-scale + flip test of the proxy model', tta=True)),
        'embedded toy domains (no paper number)'))
    return rows


# ---------------------------------------------------------------- LDR
TRANSLATED_TRAIN = 'train_dataloader.dataset.target.data_prefix.img_path'
TRANSLATED_VAL = ('val_dataloader.dataset.data_prefix.img_path',
                  'test_dataloader.dataset.data_prefix.img_path')
PSEUDO_TARGET = 'train_dataloader.dataset.target.data_prefix.seg_map_path'
RECON_INIT = ('model.reconstructor.init_cfg.checkpoint',
              'model.recon_discriminator.init_cfg.checkpoint')


def ldr_row(benchmark: str, configs: Dict[str, str], ldr_dir: str, stage1_from_stage0: bool,
            source: str, method: str = 'ldr', pseudo_dir: str = 'pseudo_labels') -> Row:
    """translator -> translated target train and val -> M pre-training -> stage 0 ->
    class-median pseudo labels -> stage 1 -> test. The real stage 1 restarts from the initial
    weights (BDL's SSL round) and loads M from its pre-training; the toy stage 1 fine-tunes
    stage 0 (``load_from``). With a ``source_only`` config (the toy), stage 0 starts from that
    source-only model (``load_from``), the toy's stand-in for a pre-trained DeepLab. Without a
    ``pretrain`` config (the ablation without reconstruction) there is no M to pre-train."""
    translated = (((TRANSLATED_TRAIN, 'translate-train'),)
                  + tuple((key, 'translate-val') for key in TRANSLATED_VAL))
    recon = tuple((key, 'recon-pretrain') for key in RECON_INIT) if 'pretrain' in configs else ()
    stage1_reads = translated + ((PSEUDO_TARGET, 'pseudo'),)
    stage1_reads += (('load_from', 'stage0'),) if stage1_from_stage0 else recon
    stages = [
        Stage('translator', TRAIN, 'CycleGAN translator', config=configs['translator']),
        Stage('translate-train', TRANSLATE, 'target train images in the source style',
              of='translator', out=f'{ROOT}/{ldr_dir}/translated/train'),
        Stage('translate-val', TRANSLATE, 'target val images in the source style',
              of='translator', out=f'{ROOT}/{ldr_dir}/translated/val',
              args=('--split-key', 'translate_datasets.target_val')),
        Stage('stage0', TRAIN, 'LDR without pseudo labels (gives the pseudo labels)',
              config=configs['stage0'], reads=translated + recon + (
                  (('load_from', 'source-only'),) if 'source_only' in configs else ())),
        Stage('pseudo', PSEUDO_LABELS, 'class-median pseudo labels of the translated target',
              of='stage0', out=f'{ROOT}/{ldr_dir}/{pseudo_dir}',
              args=('--policy', 'class_median')),
        Stage('stage1', TRAIN, 'LDR with the pseudo labels', config=configs['stage1'],
              reads=stage1_reads),
        test('stage1', 'evaluate on the translated target val images (single scale)')]
    if 'pretrain' in configs:
        stages.insert(3, Stage('recon-pretrain', TRAIN, 'pre-training of the reconstruction '
                               'network M', config=configs['pretrain']))
    if 'source_only' in configs:
        stages.insert(4, Stage('source-only', TRAIN, 'the source-only model stage 0 starts from',
                               config=configs['source_only']))
    if benchmark == 'toy':
        stages.insert(0, toy_data())
    return Row(method, benchmark, tuple(stages), source)


def ldr_rows() -> List[Row]:
    rows = []
    for benchmark, size in (('gta5', '1280x720'), ('synthia', '1280x760')):
        src = f'{benchmark}-{size}'
        configs = dict(
            translator=f'configs/ldr/ldr-translator_cyclegan-r9_1xb1-1000k_{PAIRS[benchmark]}.py',
            pretrain=f'configs/ldr/ldr-recon-pretrain_resnet9_1xb1-100k_{src}.py',
            stage0=f'configs/ldr/ldr-stage0_dlv2-r101_1xb1-80k_{src}_cityscapes-t2s-1024x512.py',
            stage1=f'configs/ldr/ldr_dlv2-r101_1xb1-120k_{src}_cityscapes-t2s-1024x512.py')
        rows.append(ldr_row(benchmark, configs, f'ldr_{benchmark}-cityscapes', False,
                            f'LDR paper Table {1 if benchmark == "gta5" else 2}'))
        # the ablation row without reconstruction: its own stage 0 makes its pseudo labels
        ablation = dict(
            translator=configs['translator'],
            stage0=f'configs/ldr/ldr-norecon-stage0_dlv2-r101_1xb1-80k_{src}_cityscapes-t2s-'
            '1024x512.py',
            stage1=f'configs/ldr/ldr-norecon_dlv2-r101_1xb1-120k_{src}_cityscapes-t2s-1024x512.py')
        rows.append(ldr_row(benchmark, ablation, f'ldr_{benchmark}-cityscapes', False,
                            f'LDR paper Table {3 if benchmark == "gta5" else 4}, T -> S without '
                            'reconstruction', method='ldr-norecon',
                            pseudo_dir='pseudo_labels_norecon'))
    configs = dict(
        translator=f'configs/ldr/ldr-translator_cyclegan-toy_1xb4-400_{TOY}.py',
        pretrain='configs/ldr/ldr-recon-pretrain_toy_1xb4-600_toy-source.py',
        stage0=f'configs/ldr/ldr-stage0_dlv2-r18-toy_1xb4-300_{TOY}-t2s.py',
        stage1=f'configs/ldr/ldr_dlv2-r18-toy_1xb4-300_{TOY}-t2s.py',
        source_only=f'configs/source_only/source-only-singlelevel_dlv2-r18-toy_1xb4-600_{TOY}.py')
    rows.append(ldr_row('toy', configs, 'ldr-toy', True,
                        'embedded toy domains (no paper number)'))
    return rows


def all_rows() -> Dict[Tuple[str, str], Row]:
    """(method, benchmark) -> row, in the order of the run-book."""
    rows = single_stage_rows() + fada_rows() + mada_rows() + ldr_rows()
    order = ('source-only', 'adaptsegnet', 'advent', 'fada', 'ssf-dan', 'mada', 'ldr',
             'ldr-norecon')
    rows.sort(key=lambda r: (order.index(r.method), list(PAIRS).index(r.benchmark)
                             if r.benchmark in PAIRS else len(PAIRS)))
    return {(r.method, r.benchmark): r for r in rows}


class UnknownRow(ValueError):
    """No row of that method on that benchmark; the message lists what exists."""


METHOD_ALIASES = {'ssf_dan': 'ssf-dan', 'source_only': 'source-only', 'sourceonly': 'source-only'}


def find_row(method: str, benchmark: str) -> Row:
    """The row of ``method`` on ``benchmark``; a clear error lists what exists."""
    rows = all_rows()
    method = METHOD_ALIASES.get(method.lower(), method.lower())
    benchmark = benchmark.lower()
    if (method, benchmark) in rows:
        return rows[(method, benchmark)]
    methods = sorted({m for m, _ in rows})
    if method not in methods:
        raise UnknownRow(f'unknown method {method!r}; methods: {", ".join(methods)}')
    benchmarks = [b for m, b in rows if m == method]
    raise UnknownRow(f'{method} has no row on {benchmark!r}; its benchmarks: '
                   f'{", ".join(benchmarks)}')

"""Recipe cards (configs/*/recipes.yaml) against the real-data configs.

Every GTA5 / SYNTHIA / Cross-City / Cityscapes-pseudo config must be on one card, and its
effective recipe (inheritance resolved; mmuda/recipes/effective.py) must equal the card's value
in every field, with the field, the config's value and the card's value named when it does not.
Only configs are parsed: no model, dataset or checkpoint is built, so the file runs in seconds.
"""
import copy
import io
from contextlib import redirect_stdout
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config

from conftest import REPO, load_script
from mmuda.recipes import (
    Card,
    CardError,
    card_for,
    compare,
    effective_recipe,
    load_cards,
    option_settings,
)

CONFIGS = REPO / 'configs'
FADA = 'fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512'


def is_toy(name: str) -> bool:
    """The rule of tests/test_metafiles.py: toy configs carry '-toy' or '_toy-' in the name."""
    return '-toy' in name or '_toy-' in name


REAL = sorted(p for p in CONFIGS.glob('*/*.py') if p.parent.name != '_base_' and not is_toy(p.stem))


@lru_cache(maxsize=None)
def cards():
    return load_cards(CONFIGS)


@lru_cache(maxsize=None)
def _config(name: str) -> Config:
    return Config.fromfile(str(next(CONFIGS.glob(f'*/{name}.py'))))


def config(name: str) -> Config:
    """A parsed config (parsed once per session; each caller gets its own copy to change)."""
    return copy.deepcopy(_config(name))


def test_there_are_real_configs_and_cards():
    assert len(REAL) > 50 and len(cards()) >= 10


def test_every_real_config_is_on_a_card_and_every_card_config_exists():
    names = {p.stem for p in REAL}
    uncovered = sorted(n for n in names if card_for(cards(), n) is None)
    assert not uncovered, f'real configs on no recipe card (configs/*/recipes.yaml): {uncovered}'
    listed = {n for card in cards() for n in card.configs}
    unknown = sorted(listed - names)
    assert not unknown, f'cards list configs that are not real configs here: {unknown}'


@pytest.mark.parametrize('path', REAL, ids=lambda p: p.stem)
def test_config_follows_its_card(path: Path):
    card = card_for(cards(), path.stem)
    assert card is not None, f'{path.stem} is on no card'
    problems = compare(effective_recipe(config(path.stem)), card, path.stem)
    assert not problems, f'{path.stem} differs from card {card.name!r} ({card.path}):\n' + \
        '\n'.join(problems)


@pytest.mark.parametrize('path', REAL, ids=lambda p: p.stem)
def test_card_options_set_what_they_say(path: Path):
    """Each named option of a card (e.g. reference-bn: norm_eval=False) gives, applied to the
    config with its cfg_options, the values the option states."""
    card = card_for(cards(), path.stem)
    for option, spec in card.options.items():
        cfg = config(path.stem)
        cfg.merge_from_dict(option_settings(cfg, card, option))
        fields = set(spec.get('recipe') or {})
        assert fields, f'card {card.name!r} option {option!r} states no value'
        problems = [p for p in compare(effective_recipe(cfg), card, path.stem, option)
                    if p.split(':')[0] in fields]
        assert not problems, f'{path.stem}, option {option!r}:\n' + '\n'.join(problems)


@pytest.mark.parametrize('key,value,field', [
    ('optim_wrapper.segmentor.optimizer.lr', 5e-4, 'optim.segmentor.lr'),
    ('train_cfg.max_iters', 30000, 'sched.stop_iters'),
    ('train_dataloader.dataset.source.pipeline.4.scale', (1024, 576), 'source.resize'),
    ('param_scheduler.segmentor.0.end', 40000, 'sched.segmentor.total_iters'),
    ('model.adv_weight', 0.01, 'loss.adv_weight'),
    ('train_dataloader.batch_size', 2, 'batch'),
])
def test_a_changed_value_fails_naming_the_key_and_both_values(key, value, field):
    cfg = config(FADA)
    before = effective_recipe(cfg)[field]
    cfg.merge_from_dict({key: value})
    card = card_for(cards(), FADA)
    problems = [p for p in compare(effective_recipe(cfg), card, FADA) if p.startswith(field + ':')]
    expected = card.entries_for(FADA)[field]['value']
    assert len(problems) == 1, problems
    assert f'config {effective_recipe(cfg)[field]!r} != card {expected!r}' in problems[0]
    assert effective_recipe(cfg)[field] != before


def test_a_field_missing_from_the_card_or_the_config_is_named():
    cfg = config(FADA)
    card = card_for(cards(), FADA)
    cfg.model.segmentor.auxiliary_head = dict(
        type='DeepLabV2Head', in_channels=1024, in_index=0, num_classes=19,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.1))
    cfg.model.discriminators = {}  # no discriminator: its optimiser is not used
    problems = compare(effective_recipe(cfg), card, FADA)
    assert any(p.startswith('loss.seg.aux: config 0.1 != card') for p in problems), problems
    assert any(p.startswith('optim.discriminators.lr: the config has no such field')
               for p in problems), problems


def write_card(tmp_path: Path, entry: dict) -> Path:
    folder = tmp_path / 'method'
    folder.mkdir(exist_ok=True)
    data = dict(cards=[dict(name='c', configs={'x': []}, recipe={'batch': entry})])
    (folder / 'recipes.yaml').write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize('entry,message', [
    (dict(value=1, source='paper'), 'needs `ref`'),
    (dict(value=1, source='our choice'), 'needs `why`'),
    (dict(value=1, source='a blog', ref='x'), "source 'a blog'"),
    (dict(source='paper', ref='Table 1'), 'must be a mapping with `value`'),
])
def test_a_value_without_a_proper_source_is_refused(tmp_path, entry, message):
    with pytest.raises(CardError, match=message):
        load_cards(write_card(tmp_path, entry))


def test_a_config_on_two_cards_is_refused(tmp_path):
    folder = tmp_path / 'method'
    folder.mkdir()
    card = dict(configs={'x': []}, recipe={})
    (folder / 'recipes.yaml').write_text(yaml.safe_dump(
        dict(cards=[dict(card, name='a'), dict(card, name='b')])))
    with pytest.raises(CardError, match="config x is on card 'b' and on card 'a'"):
        load_cards(tmp_path)


def test_option_settings_skip_parts_the_config_does_not_have():
    """One option serves a card's multi- and single-level configs: the auxiliary head's
    setting is left out where there is no auxiliary head."""
    card = next(c for c in cards() if c.name == 'adaptsegnet')
    single = 'adaptsegnet-singlelevel_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512'
    multi = 'adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512'
    keys = set(option_settings(config(single), card, 'reference-classifier'))
    assert keys == {'model.segmentor.decode_head.dilations',
                    'model.segmentor.decode_head.bias_init'}
    assert len(option_settings(config(multi), card, 'reference-classifier')) == 4
    assert isinstance(card, Card)


def run_tool(*argv) -> tuple:
    tool = load_script(Path('tools/analysis_tools/print_recipe.py'))
    out = io.StringIO()
    with redirect_stdout(out):
        status = tool.main(list(argv))
    return status, out.getvalue()


def test_print_recipe_shows_the_config_beside_its_card_and_marks_a_difference():
    path = str(CONFIGS / 'fada' / f'{FADA}.py')
    status, text = run_tool(path, '--card')
    assert status == 0 and "card 'fada'" in text
    row = next(line for line in text.splitlines() if line.startswith('optim.segmentor.lr '))
    assert '0.00025' in row and 'paper' in row and '!=' not in row
    assert 'section 4.3' in text  # the note with the source's reference
    status, text = run_tool(path, '--card', '--strict', '--cfg-options',
                            'optim_wrapper.segmentor.optimizer.lr=0.001')
    row = next(line for line in text.splitlines() if line.startswith('optim.segmentor.lr '))
    assert status == 1 and '0.001' in row and '!=' in row


@pytest.mark.parametrize('path', sorted(set(CONFIGS.glob('*/*.py')) - set(REAL) - set(
    CONFIGS.glob('_base_/*.py'))), ids=lambda p: p.stem)
def test_print_recipe_reads_every_toy_config(path: Path):
    """Toy configs have no card, but their recipe prints (their pipelines resize by factor)."""
    status, text = run_tool(str(path))
    assert status == 0 and 'sched.stop_iters' in text and 'model.type' in text


def test_print_recipe_applies_a_card_option():
    path = str(CONFIGS / 'adaptsegnet' /
               'adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512.py')
    _, text = run_tool(path, '--option', 'reference-bn')
    row = next(line for line in text.splitlines() if line.startswith('bn.norm_eval '))
    assert 'False' in row and 'reference code' in row and '!=' not in row

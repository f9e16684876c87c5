"""Recipe cards: the paper's recipe of each real-data config family, value by value, with the
source of every value, held against the configs (:mod:`mmuda.recipes.effective`).

A card lives in ``configs/<method>/recipes.yaml`` (the metafile keeps mmseg's model-index format,
one entry per config; a card is one paper row or config family, shared by several configs)::

    cards:
    - name: adaptsegnet
      title: what the card is (paper, table rows)
      configs:                      # config name -> variants applied on top of `recipe`
        adaptsegnet_dlv2-r101_..._gta5-...: [gta5]
      recipe:                       # field -> {value, source, ref | why}
        optim.segmentor.lr: {value: 2.5e-4, source: reference code, ref: "repo file"}
      variants:                     # named field overrides; value null = the field does not apply
        gta5: {...}
      options:                      # named alternatives a user can switch on
        reference-bn:
          what: ...
          cfg_options: {model.segmentor.backbone.norm_eval: false}
          recipe: {bn.norm_eval: {...}}
      not_on_card:                  # fields of the configs the card deliberately leaves out
        optim.segmentor.type: why

``source`` is ``paper`` (``ref``: table or section), ``reference code`` (``ref``: repository and
file) or ``our choice`` (``why``: the reason, including "the paper does not say").
"""
import math
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import yaml

from .effective import Recipe

SOURCES = {'paper': 'ref', 'reference code': 'ref', 'our choice': 'why'}
CARD_FILE = 'recipes.yaml'
CARD_KEYS = {'name', 'title', 'configs', 'recipe', 'variants', 'options', 'not_on_card'}
# Every field of a config's recipe must be on its card, except the method's free options.
OPTIONAL_PREFIX = 'model.'


class CardError(ValueError):
    """A recipe card file is malformed; the message names the file, card and field."""


class Card:
    """One card of a ``recipes.yaml`` file (see the module docstring)."""

    def __init__(self, data: dict, path: Path) -> None:
        self.path = path
        self.name = data.get('name')
        where = f'{path}: card {self.name!r}'
        unknown = set(data) - CARD_KEYS
        if not self.name or unknown:
            raise CardError(f'{where}: needs a name; unknown keys {sorted(unknown)} '
                            f'(allowed: {sorted(CARD_KEYS)})')
        self.title = data.get('title', '')
        self.configs: Dict[str, List[str]] = {
            name: list(variants or []) for name, variants in (data.get('configs') or {}).items()}
        self.recipe: Dict[str, Optional[dict]] = dict(data.get('recipe') or {})
        self.variants: Dict[str, dict] = dict(data.get('variants') or {})
        self.options: Dict[str, dict] = dict(data.get('options') or {})
        self.not_on_card: Dict[str, str] = dict(data.get('not_on_card') or {})
        self._validate(where)

    # ------------------------------------------------------------------ validation
    def _validate(self, where: str) -> None:
        if not self.configs:
            raise CardError(f'{where}: lists no configs')
        for config, variants in self.configs.items():
            missing = [v for v in variants if v not in self.variants]
            if missing:
                raise CardError(f'{where}: config {config} names unknown variants {missing}')
        check_entries(self.recipe, f'{where}, recipe')
        for name, entries in self.variants.items():
            check_entries(entries or {}, f'{where}, variant {name!r}')
        for name, option in self.options.items():
            if not option.get('what') or not isinstance(option.get('cfg_options'), dict):
                raise CardError(f'{where}, option {name!r}: needs `what` and a `cfg_options` '
                                'dict (config key -> value)')
            check_entries(option.get('recipe') or {}, f'{where}, option {name!r}')
        for field, why in self.not_on_card.items():
            if not isinstance(why, str) or not why.strip():
                raise CardError(f'{where}: not_on_card {field} needs the reason')

    # ------------------------------------------------------------------ values
    def entries_for(self, config: str, option: Optional[str] = None) -> Dict[str, dict]:
        """Field -> entry for one config: the recipe, its variants, then ``option``."""
        if config not in self.configs:
            raise KeyError(f'card {self.name!r} ({self.path}) does not list config {config}')
        merged: Dict[str, Optional[dict]] = dict(self.recipe)
        for variant in self.configs[config]:
            merged.update(self.variants[variant])
        if option is not None:
            if option not in self.options:
                raise KeyError(f'card {self.name!r} has no option {option!r} (options: '
                               f'{sorted(self.options)})')
            merged.update(self.options[option].get('recipe') or {})
        return {field: entry for field, entry in merged.items() if entry is not None}


def option_settings(cfg, card: Card, option: str) -> Dict[str, Any]:
    """The ``cfg_options`` of a card option that apply to ``cfg``: a setting whose parent does
    not exist in the config is left out (e.g. the auxiliary head of a single-level model), so
    one option serves every config of the card."""
    if option not in card.options:
        raise KeyError(f'card {card.name!r} has no option {option!r} (options: '
                       f'{sorted(card.options)})')
    settings = {}
    for key, value in card.options[option]['cfg_options'].items():
        node = getattr(cfg, '_cfg_dict', cfg)  # an mmengine Config wraps a ConfigDict
        for part in key.split('.')[:-1]:
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node is not None:
            settings[key] = value
    return settings


def check_entries(entries: dict, where: str) -> None:
    """Every entry has a value and a known source with its reference or reason."""
    for field, entry in entries.items():
        if entry is None:
            continue  # a variant removing a field
        if not isinstance(entry, dict) or 'value' not in entry:
            raise CardError(f'{where}: {field} must be a mapping with `value` and `source`')
        source = entry.get('source')
        if source not in SOURCES:
            raise CardError(f'{where}: {field} has source {source!r}; expected one of '
                            f'{sorted(SOURCES)}')
        needed = SOURCES[source]
        if not str(entry.get(needed) or '').strip():
            raise CardError(f'{where}: {field} ({source}) needs `{needed}`')


def source_text(entry: dict) -> str:
    """``paper: Table 1``, ``reference code: repo/file``, ``our choice: why``."""
    return f"{entry['source']}: {entry.get(SOURCES[entry['source']], '')}"


# ---------------------------------------------------------------------- loading
def load_cards(configs_dir: Path) -> List[Card]:
    """Every card of ``configs_dir/*/recipes.yaml``; a config on two cards is an error."""
    cards: List[Card] = []
    owner: Dict[str, str] = {}
    for path in sorted(Path(configs_dir).glob(f'*/{CARD_FILE}')):
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        if set(data) != {'cards'} or not isinstance(data['cards'], list):
            raise CardError(f'{path}: expected one top-level key `cards` holding a list')
        for item in data['cards']:
            card = Card(item, path)
            for config in card.configs:
                if config in owner:
                    raise CardError(f'{path}: config {config} is on card {card.name!r} and on '
                                    f'card {owner[config]!r}')
                owner[config] = card.name
            cards.append(card)
    return cards


def card_for(cards: Sequence[Card], config_name: str) -> Optional[Card]:
    """The card that lists ``config_name`` (a config file stem), if any."""
    return next((card for card in cards if config_name in card.configs), None)


# ---------------------------------------------------------------------- comparison
def normalise(value: Any) -> Any:
    """Comparable form: tuples as lists, numeric strings (YAML reads ``1e-4`` as a string) as
    floats, ints as floats; booleans stay booleans."""
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def same(a: Any, b: Any) -> bool:
    a, b = normalise(a), normalise(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def compare(recipe: Recipe, card: Card, config: str,
            option: Optional[str] = None) -> List[str]:
    """Differences between a config's effective recipe and its card, one message each:
    ``<field>: config <value> != card <value> (card <name>, <source>)``, or a field the card
    states but the config lacks, or a field of the config the card does not state."""
    entries = card.entries_for(config, option)
    problems = []
    for field, entry in entries.items():
        where = f'card {card.name!r}, {source_text(entry)}'
        if field not in recipe:
            problems.append(f'{field}: the config has no such field, the card says '
                            f'{entry["value"]!r} ({where})')
        elif not same(recipe[field], entry['value']):
            problems.append(f'{field}: config {recipe[field]!r} != card {entry["value"]!r} '
                            f'({where})')
    for field in recipe:
        if (field not in entries and field not in card.not_on_card
                and not field.startswith(OPTIONAL_PREFIX)):
            problems.append(f'{field}: config {recipe[field]!r} is not on card {card.name!r} '
                            f'({card.path})')
    return problems


def iter_rows(recipe: Recipe, entries: Dict[str, dict],
              not_on_card: Dict[str, str]) -> Iterator[Tuple[str, Any, Optional[dict], str]]:
    """(field, config value, card entry or None, mark) in recipe order, then card-only
    fields; mark is '' (same), '!=' (differs), 'not on card', 'left out' or 'config lacks'."""
    for field, value in recipe.items():
        entry = entries.get(field)
        if entry is None:
            mark = 'left out' if field in not_on_card else (
                '' if field.startswith(OPTIONAL_PREFIX) else 'not on card')
        else:
            mark = '' if same(value, entry['value']) else '!='
        yield field, value, entry, mark
    for field, entry in entries.items():
        if field not in recipe:
            yield field, None, entry, 'config lacks'

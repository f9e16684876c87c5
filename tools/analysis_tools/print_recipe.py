"""Print the effective recipe of a config: what a run of it trains and evaluates.

The config is resolved as ``tools/train.py`` resolves it (``_base_`` inheritance, then
``--cfg-options``) and summarised field by field (:mod:`mmuda.recipes.effective`): initial
weights, source/target sizes, crops and augmentation, batch per domain, each optimiser, the
schedule, loss weights, BN mode, evaluation size, ``--tta`` sizes and classes. With ``--card``,
the recipe card that lists the config (``configs/<method>/recipes.yaml``) is printed beside it:
the paper's value, where it comes from (``paper``, ``reference code`` or ``our choice``), and a
mark where the config differs. ``--option NAME`` applies one of the card's named options
(its ``cfg_options`` to the config and its values to the card). Nothing is built or loaded.

Example::

    python tools/analysis_tools/print_recipe.py \\
        configs/fada/fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512.py --card

Exit status: 0; with ``--card --strict``, 1 when the config and its card differ.
"""
import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional

from mmengine.config import Config, DictAction

from mmuda.recipes import (
    card_for,
    effective_recipe,
    iter_rows,
    load_cards,
    option_settings,
    source_text,
)

REPO = Path(__file__).resolve().parents[2]
WIDTH = {'field': 34, 'config': 30, 'card': 30}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, xxx=yyy format')
    parser.add_argument('--card', action='store_true',
                        help="print the card's value and source beside each field")
    parser.add_argument('--option', default=None,
                        help="apply one of the card's named options (implies --card)")
    parser.add_argument('--configs-dir', default=str(REPO / 'configs'),
                        help='where the recipes.yaml cards are (default: the repository)')
    parser.add_argument('--strict', action='store_true',
                        help='exit with status 1 when the config differs from its card')
    return parser.parse_args(argv)


def text(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:g}'
    return str(value)


def cell(value: str, width: int) -> List[str]:
    return textwrap.wrap(value, width, break_long_words=True) or ['']


def table(rows: List[List[str]], widths: List[int]) -> str:
    """A plain-text table whose cells wrap within their column."""
    lines = []
    for row in rows:
        wrapped = [cell(value, width) for value, width in zip(row, widths)]
        for i in range(max(len(w) for w in wrapped)):
            parts = [(w[i] if i < len(w) else '').ljust(width)
                     for w, width in zip(wrapped, widths)]
            lines.append(' | '.join(parts).rstrip())
        if row is rows[0]:
            lines.append('-+-'.join('-' * width for width in widths))
    return '\n'.join(lines)


def recipe_table(recipe: Dict[str, Any], card=None, config: str = '',
                 option: Optional[str] = None) -> str:
    """The printed table: config values, and with a card its values, sources and marks; the
    sources' reasons and references follow as numbered notes."""
    if card is None:
        rows = [['field', 'config']] + [[f, text(v)] for f, v in recipe.items()]
        return table(rows, [WIDTH['field'], 64])
    entries = card.entries_for(config, option)
    notes: List[str] = []
    rows = [['field', 'config', 'card', 'source', '']]
    for field, value, entry, mark in iter_rows(recipe, entries, card.not_on_card):
        if entry is None:
            source = card.not_on_card.get(field, '') if mark == 'left out' else ''
            card_value = '-'
        else:
            card_value = text(entry['value'])
            source = entry['source']
        if source:
            notes.append(source_text(entry) if entry is not None else f'left out: {source}')
            source = f'{"left out" if entry is None else source} [{len(notes)}]'
        rows.append([field, text(value), card_value, source, mark])
    out = [table(rows, [WIDTH['field'], WIDTH['config'], WIDTH['card'], 20, 12]), '']
    out += [textwrap.fill(f'[{i}] {note}', 100, subsequent_indent='    ')
            for i, note in enumerate(notes, 1)]
    return '\n'.join(out)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    name = Path(args.config).stem
    card = None
    if args.card or args.option:
        card = card_for(load_cards(Path(args.configs_dir)), name)
        if card is None:
            print(f'no recipe card lists {name} (cards: configs/*/recipes.yaml; toy configs '
                  'have none)', file=sys.stderr)
        elif args.option:
            if args.option not in card.options:
                print(f'card {card.name!r} has no option {args.option!r}; options: '
                      f'{sorted(card.options) or "none"}', file=sys.stderr)
                return 2
            cfg.merge_from_dict(option_settings(cfg, card, args.option))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    recipe = effective_recipe(cfg)
    header = name
    if card is not None:
        where = card.path.relative_to(REPO) if card.path.is_relative_to(REPO) else card.path
        header += f'\ncard {card.name!r} ({where}; its header names the sources): {card.title}'
    if card is not None and args.option:
        header += f"\noption {args.option!r}: {card.options[args.option]['what']}"
    print(header)
    print(recipe_table(recipe, card, name, args.option))
    if card is not None and args.strict:
        marks = [mark for *_, mark in iter_rows(recipe, card.entries_for(name, args.option),
                                                card.not_on_card) if mark in (
                                                    '!=', 'not on card', 'config lacks')]
        return 1 if marks else 0
    return 0


if __name__ == '__main__':
    sys.exit(main())

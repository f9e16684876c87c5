"""Recipe cards: what each real-data config trains, held against its paper's recipe."""
from .cards import (
    Card,
    CardError,
    card_for,
    check_entries,
    compare,
    iter_rows,
    load_cards,
    option_settings,
    source_text,
)
from .effective import effective_recipe, segmentor_of

__all__ = ['Card', 'CardError', 'card_for', 'check_entries', 'compare', 'effective_recipe',
           'iter_rows', 'load_cards', 'option_settings', 'segmentor_of', 'source_text']

"""The markdown docs render without a build step: every relative link points at a file."""
import re
from pathlib import Path

import pytest

from conftest import REPO

DOCS = sorted([REPO / 'README.md', *(REPO / 'docs').glob('*.md'),
               *(REPO / 'configs').glob('*/README.md')])
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path):
    broken = [target for target in LINK.findall(doc.read_text())
              if '://' not in target and not target.startswith('mailto:')
              and not (doc.parent / target).exists()]
    assert not broken, f'{doc.relative_to(REPO)} links to missing files: {broken}'


def test_every_method_folder_has_a_readme():
    for folder in (REPO / 'configs').iterdir():
        if folder.is_dir() and folder.name not in ('_base_', 'source_only'):
            assert (folder / 'README.md').exists(), folder.name

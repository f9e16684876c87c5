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


TEST_REF = re.compile(r'^(?:(tests/\S+\.py)::)?(test_\w+)(?:\[([^\]]+)\])?$')


def test_bad_input_tables_name_existing_tests():
    """Every test a table of docs/bad_input.md names (``name``, ``name[param]`` or
    ``tests/...py::name``; a bare name lives in the file its section's "Tests:" gives) is a test
    function of that file, and each part of a named parameter id occurs in it."""
    refs = []
    for section in (REPO / 'docs/bad_input.md').read_text().split('\n## ')[1:]:
        default = re.search(r'Tests:\s*`([^`]+)`', section)
        for row in section.splitlines():
            cells = [c.strip() for c in row.strip().strip('|').split('|')] if row.startswith('|') \
                else []
            if len(cells) < 3 or set(cells[0]) <= {'-'} or cells[0] in ('case', 'what'):
                continue
            for token in re.findall(r'`([^`]+)`', cells[-1]):
                match = TEST_REF.match(token)
                if match:
                    path = match.group(1) or (default and default.group(1))
                    assert path, f'{token}: no test file in its section'
                    refs.append((path, match.group(2), match.group(3)))
    assert len(refs) > 40, refs
    missing = []
    for path, name, param in refs:
        text = (REPO / path).read_text()
        parts = [part for part in (param or '').split('-') if part and part != '...']
        if not re.search(rf'^def {name}\(', text, re.M) or any(part not in text for part in parts):
            missing.append(f'{path}::{name}' + (f'[{param}]' if param else ''))
    assert not missing, f'docs/bad_input.md names tests that do not exist: {missing}'

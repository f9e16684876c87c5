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


# ------------------------------------------------------------------ one home for toy numbers
# Toy-run mIoU lives in docs/toy_domains.md (the leaderboard, rebuilt by one command); method
# docs link to it instead of quoting numbers of their own, which went stale with each code
# version (issue 23). A toy number is a decimal number from 1 to 100 outside code: not a
# factor (2.1x, 1.4-2.1x), a percentage (85.5%), a version (2.1.0) or a file name.
TOY_NUMBER = re.compile(r'(?<![\w.\-/])(?:[1-9]\d?|100)\.\d+(?![\w.%])(?!-\d+(?:\.\d+)?x)')
METHOD_DOCS = sorted([*(REPO / 'configs').glob('*/README.md'), REPO / 'configs/ldr/translator.md'])
# The LDR README's toy section is the LDR owner's: its numbers belong in docs/ldr_toy.md, the
# home of the multi-stage LDR toy sweep (tools/analysis_tools/ldr_toy_seeds.sh).
EXEMPT_SECTIONS = {('configs/ldr/README.md', 'Embedded toy domains (CPU)')}


def without_code(text: str) -> str:
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    return re.sub(r'`[^`\n]*`', '', text)


def toy_sections(text: str) -> list:
    """(heading, lines) of every section whose heading mentions "toy", up to the next heading
    of the same or a higher level."""
    sections, current, level = [], None, 0
    for line in text.splitlines():
        heading = re.match(r'^(#+)\s+(.*)', line)
        if heading and current is not None and len(heading.group(1)) <= level:
            current = None
        if heading and current is None and 'toy' in heading.group(2).lower():
            current, level = (heading.group(2), []), len(heading.group(1))
            sections.append(current)
        elif current is not None:
            current[1].append(line)
    return sections


def toy_numbers(lines: list) -> list:
    return [(line.strip()[:80], TOY_NUMBER.findall(line)) for line in lines
            if TOY_NUMBER.findall(line)]


def test_toy_number_pattern_finds_miou_and_spares_factors_versions_and_percentages():
    assert TOY_NUMBER.findall('| 0 | 12.53 | **30.44** | 55.52 (2.19) |') == [
        '12.53', '30.44', '55.52', '2.19']
    assert TOY_NUMBER.findall('costs 1.4-2.1x, 2.28x; mmcv 2.1.0; 85.5% right; lr 0.0035') == []


@pytest.mark.parametrize('doc', METHOD_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_method_docs_quote_no_toy_numbers_of_their_own(doc: Path):
    name = str(doc.relative_to(REPO))
    found = {heading: toy_numbers(lines) for heading, lines in
             toy_sections(without_code(doc.read_text()))
             if (name, heading) not in EXEMPT_SECTIONS}
    found = {k: v for k, v in found.items() if v}
    assert not found, (f'{name} quotes toy numbers; link to docs/toy_domains.md#leaderboard '
                       f'instead: {found}')


def test_readme_method_table_quotes_no_toy_numbers():
    """README.md: one status line per method and a link; its toy lines quote no numbers."""
    lines = without_code((REPO / 'README.md').read_text()).splitlines()
    toy_lines = [line for line in lines if 'toy' in line.lower() or 'demo' in line.lower()
                 or line.startswith('| ') and '`' in line]
    assert not toy_numbers(toy_lines), toy_numbers(toy_lines)
    assert 'docs/toy_domains.md#leaderboard' in (REPO / 'README.md').read_text()


def test_the_leaderboard_section_exists_once():
    text = (REPO / 'docs/toy_domains.md').read_text()
    assert text.count('<!-- toy-leaderboard:begin') == 1
    assert text.count('<!-- toy-leaderboard:end -->') == 1

"""configs/*/metafile.yaml (mmseg's model-index format) agree with the shipped configs and with
docs/model_zoo.md.

Only YAML and text are read (no config is loaded), so the checks take milliseconds.
"""
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'
MODEL_ZOO = REPO / 'docs' / 'model_zoo.md'
METHOD_DIRS = sorted(d for d in CONFIGS.iterdir()
                     if d.is_dir() and d.name != '_base_' and any(d.glob('*.py')))
METAFILES = sorted(CONFIGS.glob('*/metafile.yaml'))
# "..._1xb4-40k_..." -> batch 4, 40000 iterations
SCHEDULE = re.compile(r'_(\d+)xb(\d+)-(\d+)(k?)_')


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def is_toy(model: dict) -> bool:
    return '-toy' in model['Name'] or '_toy-' in model['Name']


@pytest.fixture(scope='module')
def metafiles() -> dict:
    return {path: load(path) for path in METAFILES}


def test_every_method_folder_has_a_metafile():
    assert METHOD_DIRS, 'no method folders found'
    missing = [d.name for d in METHOD_DIRS if not (d / 'metafile.yaml').is_file()]
    assert not missing, f'method folders without metafile.yaml: {missing}'


def test_structure(metafiles):
    for path, meta in metafiles.items():
        where = path.relative_to(REPO)
        assert set(meta) == {'Collections', 'Models'}, where
        assert meta['Collections'] and meta['Models'], where
        for coll in meta['Collections']:
            for key in ('Name', 'License', 'Metadata', 'Paper', 'README', 'Frameworks'):
                assert key in coll, f'{where}: collection lacks {key}'
            assert coll['License'] == 'Apache License 2.0', where
            assert coll['Metadata']['Training Data'], where
            assert coll['Paper']['Title'] and coll['Paper']['URL'].startswith('http'), where
            assert (REPO / coll['README']).is_file(), f'{where}: README {coll["README"]}'
            assert coll['Frameworks'] == ['PyTorch'], where
        for model in meta['Models']:
            name = model['Name']
            for key in ('In Collection', 'Config', 'Metadata', 'Results'):
                assert key in model, f'{where}: {name} lacks {key}'
            assert 'Weights' not in model, f'{where}: {name}: no weights are released'
            for key in ('Training Data', 'Batch Size', 'Architecture', 'Training Resources',
                        'Iterations'):
                assert key in model['Metadata'], f'{where}: {name} metadata lacks {key}'
            assert isinstance(model['Results'], list) and model['Results'], f'{where}: {name}'
            for result in model['Results']:
                assert result['Task'] == 'Semantic Segmentation', f'{where}: {name}'
                assert result['Dataset'], f'{where}: {name}'


def test_config_paths_exist(metafiles):
    for path, meta in metafiles.items():
        for model in meta['Models']:
            config = REPO / model['Config']
            assert config.is_file(), f'{path.relative_to(REPO)}: {model["Config"]} missing'


def test_every_config_listed_once_in_its_folder(metafiles):
    for path, meta in metafiles.items():
        folder = path.parent
        listed = [model['Config'] for model in meta['Models']]
        shipped = sorted(str(p.relative_to(REPO)) for p in folder.glob('*.py'))
        duplicates = sorted({c for c in listed if listed.count(c) > 1})
        assert not duplicates, f'{path.relative_to(REPO)}: listed twice: {duplicates}'
        assert sorted(listed) == shipped, (
            f'{path.relative_to(REPO)}: missing {sorted(set(shipped) - set(listed))}, '
            f'not in this folder {sorted(set(listed) - set(shipped))}')


def test_names_are_file_stems(metafiles):
    for path, meta in metafiles.items():
        names = [model['Name'] for model in meta['Models']]
        assert len(names) == len(set(names)), f'{path.relative_to(REPO)}: duplicate names'
        for model in meta['Models']:
            assert model['Name'] == Path(model['Config']).stem, model['Name']


def test_in_collection_names_a_collection_of_the_file(metafiles):
    for path, meta in metafiles.items():
        collections = {coll['Name'] for coll in meta['Collections']}
        for model in meta['Models']:
            assert model['In Collection'] in collections, (
                f'{path.relative_to(REPO)}: {model["Name"]} in unknown collection '
                f'{model["In Collection"]!r} (collections: {sorted(collections)})')


def test_schedule_matches_config_name(metafiles):
    for meta in metafiles.values():
        for model in meta['Models']:
            match = SCHEDULE.search(model['Name'])
            assert match, f'{model["Name"]}: no NxbB-ITERS part in the name'
            batch = int(match.group(2))
            iters = int(match.group(3)) * (1000 if match.group(4) else 1)
            assert model['Metadata']['Batch Size'] == batch, model['Name']
            assert model['Metadata']['Iterations'] == iters, model['Name']


def test_paper_numbers_are_labelled_as_such(metafiles):
    """No metric may look like a result of a run here: none has been made on real data."""
    for meta in metafiles.values():
        for model in meta['Models']:
            for result in model['Results']:
                for key, value in result.get('Metrics', {}).items():
                    assert '(paper)' in key or '(paper,' in key, f'{model["Name"]}: {key}'
                    assert isinstance(value, (int, float)) and 0 < value < 100, model['Name']


def test_toy_entries(metafiles):
    toys = [m for meta in metafiles.values() for m in meta['Models'] if is_toy(m)]
    assert toys
    for model in toys:
        meta = model['Metadata']
        assert meta['Training Data'].startswith('Toy source -> Toy target'), model['Name']
        assert 'CPU' in meta['Training Resources'], model['Name']
        assert all('Metrics' not in r for r in model['Results']), model['Name']


def test_model_zoo_mentions_every_real_data_config(metafiles):
    text = MODEL_ZOO.read_text()
    names = [m['Name'] for meta in metafiles.values() for m in meta['Models'] if not is_toy(m)]
    assert names
    missing = [name for name in names if name not in text]
    assert not missing, f'docs/model_zoo.md does not mention: {missing}'


def test_model_zoo_links_resolve():
    text = MODEL_ZOO.read_text()
    links = re.findall(r'\]\(([^)\s]+)\)', text)
    targets = [link.split('#')[0] for link in links
               if not link.startswith(('http://', 'https://', '#'))]
    assert targets
    broken = [t for t in targets if not (MODEL_ZOO.parent / t).resolve().exists()]
    assert not broken, f'broken links in docs/model_zoo.md: {broken}'

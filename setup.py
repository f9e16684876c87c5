"""mmuda: unsupervised domain adaptation for semantic segmentation on MMSegmentation 1.x."""
from pathlib import Path

from setuptools import find_packages, setup


def requirements(name: str) -> list[str]:
    lines = (Path(__file__).parent / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


def version() -> str:
    scope: dict = {}
    exec((Path(__file__).parent / 'mmuda' / 'version.py').read_text(), scope)
    return scope['__version__']


setup(
    name='mmuda',
    version=version(),
    description='Unsupervised domain adaptation for semantic segmentation on MMSegmentation 1.x',
    long_description=(Path(__file__).parent / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['mmuda', 'mmuda.*']),
    # torch and mmcv (built with its ops) are installed by `make install` first, see README.
    install_requires=requirements('runtime.txt'),
    extras_require=dict(tests=requirements('tests.txt')),
)

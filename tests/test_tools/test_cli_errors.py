"""Command-line input the tools answer in one line: a missing or unreadable config, an unknown
method, a ``--cfg-options`` key that names nothing (tools/train.py, tools/test.py); and
``toy_seeds.py --exec`` commands run without a shell."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TOY_ADAPTSEGNET, load_script
from mmuda.utils.config import load_cli_config

toy_seeds = load_script(REPO / 'tools/analysis_tools/toy_seeds.py')
CONFIG = str(TOY_ADAPTSEGNET)


def one_line(exit_info) -> str:
    message = str(exit_info.value.code)
    assert '\n' not in message
    print(f'\nMESSAGE {message}')
    return message


@pytest.fixture
def broken_configs(tmp_path) -> dict:
    syntax = tmp_path / 'syntax.py'
    syntax.write_text("model = dict(type='AdaptSegNet'\n")
    missing_base = tmp_path / 'missing_base.py'
    missing_base.write_text("_base_ = ['./no_such_base.py']\n")
    unknown = tmp_path / 'unknown.py'
    unknown.write_text(f"_base_ = ['{CONFIG}']\nmodel = dict(type='AdaptSegNett')\n")
    return dict(syntax=syntax, missing_base=missing_base, unknown=unknown)


@pytest.mark.parametrize('case,expected', [
    ('missing', r'error: config file .*/no_such_config\.py does not exist'),
    ('folder', r'error: config .* is not a file'),
    ('syntax', r'error: cannot read config .*syntax\.py: SyntaxError'),
    ('missing_base', r'error: cannot read config .*missing_base\.py: .*no_such_base\.py'),
    ('unknown', r"error: model\.type 'AdaptSegNett' in .*unknown\.py is not a registered model "
                r"\(did you mean 'AdaptSegNet'\?\)"),
])
def test_config_errors_are_one_line(case, expected, broken_configs, tmp_path):
    path = {'missing': tmp_path / 'no_such_config.py', 'folder': tmp_path,
            **broken_configs}[case]
    with pytest.raises(SystemExit, match=expected) as info:
        load_cli_config(str(path))
    one_line(info)


@pytest.mark.parametrize('option,expected', [
    ('model.decode_head.num_classes', r"model \(AdaptSegNet\) takes no argument 'decode_head'"),
    ('train_cfg.max_iter', r"train_cfg \(IterBasedTrainLoop\) takes no argument 'max_iter' "
                           r"\(did you mean 'max_iters'\?\)"),
    ('model.adv_weight', r"model \(AdaptSegNet\) takes no argument 'adv_weight' \(did you mean "
                         r"'adv_weights'\?\)"),
    ('load_form', r"the config in .* has no key 'load_form' and the Runner takes no such "
                  r"argument \(did you mean 'load_from'\?\)"),
    ('param_scheduler.segmentor.3.end', r'param_scheduler\.segmentor in .* has 1 items, no item 3'),
])
def test_a_cfg_option_that_names_nothing_is_one_line(option, expected):
    with pytest.raises(SystemExit, match=rf'error: --cfg-options {option}: {expected}') as info:
        load_cli_config(CONFIG, cfg_options={option: 1})
    one_line(info)


@pytest.mark.parametrize('option', [
    'model.segmentor.decode_head.num_classes',  # an existing key
    'default_hooks.visualization.draw',         # a new argument the hook takes
    'randomness.seed',                          # a Runner argument the config leaves out
    'param_scheduler.segmentor.0.end',          # a list index
    'model.channels_last',                      # an argument of the base class (**kwargs)
    'model.init_cfg.checkpoint',                # a new argument: the option creates the dict
    'model.segmentor.init_cfg.checkpoint',      # creates a dict where the config has None
    'train_dataloader.dataset.source.data_prefix.foo',  # below a dict without type: unchecked
])
def test_valid_cfg_options_pass(option):
    assert load_cli_config(CONFIG, cfg_options={option: 0}) is not None


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_the_tools_print_one_line_and_fail(tool, broken_configs, tmp_path):
    args = [str(broken_configs['unknown'])] + (['x.pth'] if tool == 'test.py' else [])
    env = dict(os.environ, PYTHONPATH=f'{REPO}:{os.environ.get("PYTHONPATH", "")}')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / tool), *args], cwd=tmp_path,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'{tool}: error: model.type'), proc.stderr
    print(f'\nMESSAGE {lines[0]}')


# ---------------------------------------------------------------------- toy_seeds --exec
def test_exec_arguments_are_split_without_a_shell(tmp_path):
    work = tmp_path / 'a b; touch pwned'
    argv = toy_seeds.command_argv("python tools/x.py --out '{work_dir}/s{seed}' --n 3", 2, work)
    assert argv == [sys.executable, 'tools/x.py', '--out', f'{work}/s2', '--n', '3']


@pytest.mark.parametrize('command', ['python a.py && python b.py', 'python a.py | tee log',
                                     'python a.py > out.txt'])
def test_shell_operators_are_refused(command):
    with pytest.raises(SystemExit, match='--exec runs one command without a shell'):
        toy_seeds.command_argv(command, 0, Path('w'))


def test_a_work_dir_with_shell_characters_is_never_interpreted(tmp_path):
    """With ``shell=True`` and unquoted paths, this work dir ran ``touch .../pwned``."""
    work = Path(f'{tmp_path}/w; touch {tmp_path}/pwned; echo ')
    work.mkdir(parents=True)
    command = ('python -c "import pathlib, sys; pathlib.Path(sys.argv[1], \'ran\').touch()" '
               '{work_dir}')
    toy_seeds.execute(toy_seeds.command_argv(command, 0, work), tmp_path / 'done')
    assert (work / 'ran').exists() and (tmp_path / 'done').exists()
    assert not (tmp_path / 'pwned').exists()

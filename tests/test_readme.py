"""The README's commands are real: every ``keras-convnets`` line in its code blocks parses with
the command's own parser and names registered models, recipes and files that exist; every
``python``/``bash`` line names a file of the repository; the install line's extras exist.
(What they do is tested where the command is: tests/test_cli.py trains, exports and ports.)"""

import configparser
import pathlib
import re
import shlex

import pytest

import keras_convnets as kc
from keras_convnets import cli
from keras_convnets.training.recipe import load_recipe

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _command_lines():
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M):
        block = re.sub(r"\\\n\s*", " ", block)  # continuation lines
        for line in block.splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith(("keras-convnets ", "python ", "pip ", "bash ")):
                lines.append(line)
    return lines


COMMANDS = _command_lines()
#: the synopsis lines (`NAME [--flag F]`) document the grammar rather than a call
SYNOPSIS = re.compile(r"\[|\b[A-Z]{3,}\b")


def test_the_readme_has_its_commands():
    assert any(line.startswith("pip install") for line in COMMANDS)
    assert "bash tests/run.sh" in COMMANDS
    assert sum(line.startswith("keras-convnets ") for line in COMMANDS) >= 10


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith("keras-convnets ")
                                  and not SYNOPSIS.search(c)])
def test_every_keras_convnets_command_parses_and_names_what_exists(line):
    argv = shlex.split(line)[1:]
    try:
        args = cli.build_parser(argv).parse_args(argv)
    except SystemExit:
        pytest.fail(f"README: `{line}` does not parse")
    # train/export name the model `model` (export's --name is the served name); others `name`
    model = args.model if hasattr(args, "model") else getattr(args, "name", None)
    if model is not None:
        kc.get_spec(model)  # raises for an unknown name
    if getattr(args, "recipe", None):
        load_recipe(args.recipe)


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith(("python ", "bash "))])
def test_every_script_the_readme_runs_exists(line):
    words = shlex.split(line)
    script = next(w for w in words[1:] if not w.startswith("-"))
    if words[0] == "python" and words[1] == "-m":
        return
    assert (ROOT / script).is_file(), f"README: `{line}` names a missing {script}"


def test_the_install_line_names_real_extras():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    extras = setup["options.extras_require"]
    for line in (c for c in COMMANDS if c.startswith("pip install")):
        for requested in re.findall(r"\[([a-z,_]+)\]", line):
            for extra in requested.split(","):
                assert extra in extras, f"README installs unknown extra {extra!r}"

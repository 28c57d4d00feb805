"""Every function, module and command that zoo's messages and docstrings name exists: a user
told to call `zoo.shard` or run `hf download` must find it."""

from __future__ import annotations

import ast
import re
from importlib import import_module, metadata
from pathlib import Path

import pytest

import zoo
from zoo.cli import COMMANDS
from zoo.files.hub import DOWNLOAD_COMMAND

PACKAGE = Path(zoo.__file__).parent


def strings() -> list[tuple[str, str]]:
    """(file, text) of every string literal in the package, f-strings' parts included."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append((path.name, node.value))
    return out


def resolves(dotted: str) -> bool:
    """zoo.a.b.c: a module, or an attribute of the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


NAMED = sorted({(file, match) for file, text in strings()
                for match in re.findall(r"\bzoo(?:\.[A-Za-z_]\w*)+", text)})
COMMANDS_SUGGESTED = sorted({(file, match) for file, text in strings()
                             for match in re.findall(r"`zoo ([a-z]+)", text)})


def test_the_scan_finds_what_it_should():
    assert ("decoder.py", "zoo.shard") in NAMED and len(NAMED) > 20
    assert any(command == "convert" for _, command in COMMANDS_SUGGESTED)


@pytest.mark.parametrize(("file", "dotted"), NAMED)
def test_every_zoo_name_in_a_message_exists(file, dotted):
    assert resolves(dotted), f"{file} names {dotted}, which does not exist"


@pytest.mark.parametrize(("file", "command"), COMMANDS_SUGGESTED)
def test_every_zoo_command_suggested_exists(file, command):
    assert command in COMMANDS, f"{file} suggests `zoo {command}`, which does not exist"


def test_zoo_shard_is_the_distributed_one():
    distributed = pytest.importorskip("zoo.distributed")
    assert zoo.shard is distributed.shard


def test_the_download_command_suggested_is_installed_by_huggingface_hub():
    """huggingface-hub 0.34 added `hf` and 1.0 removed `huggingface-cli`; zoo asks for >= 0.34,
    so `hf download` exists wherever zoo's hub support is installed."""
    scripts = {ep.name for ep in metadata.distribution("huggingface-hub").entry_points
               if ep.group == "console_scripts"}
    assert DOWNLOAD_COMMAND.split()[0] in scripts
    assert not any("huggingface-cli" in text for _, text in strings())
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert re.search(r'"huggingface-hub>=0\.(3[4-9]|[4-9]\d)|"huggingface-hub>=[1-9]', pyproject)

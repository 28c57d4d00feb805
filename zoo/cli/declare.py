"""How a command is declared: `@command(name, help, *arguments)` on the function that runs
it, its arguments taken from the definitions below (each written once, shared by every
command that takes it) or from a dataclass's declared settings (`zoo.fields`), so that a
flag's name, default and help are stated in one place.

A command is a function of its parsed arguments returning the exit status. Every command
takes `--json`: the same facts for scripts, errors included.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, NoReturn

from zoo.fields import add_arguments, converter

Run = Callable[[argparse.Namespace], int]


class Argument:
    """Something a command takes; `add` puts it on the command's parser."""

    def add(self, parser: argparse.ArgumentParser) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Arg(Argument):
    """One argparse argument. A default other than None or False is said in the help, from
    the value itself, so the two cannot drift."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def add(self, parser: argparse.ArgumentParser) -> None:
        options = dict(self.options)
        default = options.get("default")
        if default not in (None, False) and "help" in options and not options.get("required"):
            options["help"] += f" (default: {default})"
        parser.add_argument(*self.flags, **options)

    def but(self, **changes: Any) -> Arg:
        """The same argument with some options changed (a command's own help)."""
        return Arg(self.flags, {**self.options, **changes})


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class OneOf(Argument):
    """Mutually exclusive arguments."""

    choices: tuple[Arg, ...]

    def add(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group()
        for choice in self.choices:
            choice.add(group)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Declared(Argument):
    """The flags of a dataclass's declared settings (`zoo.fields.add_arguments`), the class
    named "module:Class" and imported only when its command's parser is built (it may need
    torch); `names` picks them (default: all that have a flag), `overrides` changes one."""

    cls: str
    names: tuple[str, ...] | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, parser: argparse.ArgumentParser) -> None:
        module, name = self.cls.split(":")
        add_arguments(parser, getattr(import_module(module), name), self.names,
                      **self.overrides)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: tuple[Argument, ...]
    run: Run


COMMANDS: dict[str, Command | dict[str, Command]] = {}  # a group holds its subcommands
GROUPS = {"distributed": "run under torchrun: sharded models and distributed checkpoints "
                         "(torchrun --nproc-per-node N -m zoo distributed ...)"}


def command(name: str, help: str, *arguments: Argument) -> Callable[[Run], Run]:
    """Declare a command (`name`, or `group name` for a subcommand) and its arguments."""
    def register(run: Run) -> Run:
        *group, leaf = name.split()
        entry = Command(leaf, help, arguments, run)
        if group:
            COMMANDS.setdefault(group[0], {})[leaf] = entry  # type: ignore[index]
        else:
            COMMANDS[leaf] = entry
        return run
    return register


# --- arguments written once ---------------------------------------------------------------------

NAME_OR_FILE_HELP = ("a registry name, or a config.json, Hugging Face folder or cached repo id, "
                     "GGUF file, or zoo / HF safetensors file (read from metadata; no weights "
                     "loaded)")


def name_or_file(dest: str, **options: Any) -> Arg:
    """A model named by registry name or by a file zoo reads a spec from."""
    return arg(dest, metavar=options.pop("metavar", "NAME_OR_FILE"),
               help=options.pop("help", NAME_OR_FILE_HELP), **options)


MODEL_TO_LOAD = arg("model", metavar="NAME_OR_PATH",
                    help="a checkpoint path, a cached repo id, or a registry name whose weights "
                         "are in the local Hugging Face cache")
TEXT_FILE = arg("file", metavar="FILE.txt", help="UTF-8 text")
CONTEXT = arg("--context", type=converter("context", "int", min=1),
              help="tokens of context (default: the model's context)")
BATCH = arg("--batch", type=converter("batch", "int", min=1), default=1,
            help="sequences per device")
QUIET = arg("--quiet", action="store_true", help="no progress bar")


def _loading() -> tuple[Arg, Arg]:
    from zoo.units import FLOAT_DTYPES, QUANTIZATIONS

    return (arg("--dtype", choices=FLOAT_DTYPES,
                help="load the weights in this dtype (default: as stored)"),
            arg("--quantize", choices=QUANTIZATIONS,
                help="pack the weights for fast CPU decoding: bf16, int8 per channel, or int4 "
                     "per group of 32 (a GGUF file's own 4-bit blocks kept)"))


LOADING = _loading()  # how `generate` and `eval` load the model: its dtype, or its packing


# --- output --------------------------------------------------------------------------------------

def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def say_resolved(resolved: Sequence[Any]) -> None:
    """One line per name that was not simply a registry name: what it was taken to be."""
    for r in resolved:
        if r.format is not None or r.requested.lower() != r.spec.name:
            print(r.describe())


# --- the parser ----------------------------------------------------------------------------------

class UsageError(Exception):
    """A command line that argparse refuses, raised (not printed and exited) so that `main`
    reports it like every other error: as text, or as JSON under --json."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.usage, self.prog = usage, prog


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage(), self.prog)


def _add(sub: Any, entry: Command, chosen: bool) -> None:
    """A command's parser; its arguments only when it is the one chosen (building them may
    import what the command needs, such as torch, which the others must not pay for)."""
    parser = sub.add_parser(entry.name, help=entry.help, description=entry.help)
    parser.set_defaults(run=entry.run)
    if not chosen:
        return
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    for argument in entry.arguments:
        argument.add(parser)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of `zoo`, with the arguments of the command `argv` names."""
    from zoo import __version__

    words = [a for a in argv if not a.startswith("-")][:2]
    parser = Parser(prog="zoo", description="A model zoo and parameter-accounting registry for "
                                            "decoder-only language models.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in COMMANDS.items():
        if isinstance(entry, Command):
            _add(sub, entry, words[:1] == [name])
            continue
        group = sub.add_parser(name, help=GROUPS[name], description=GROUPS[name])
        inner = group.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
        for leaf in entry.values():
            _add(inner, leaf, words == [name, leaf.name])
    return parser


__all__ = ["BATCH", "COMMANDS", "CONTEXT", "LOADING", "MODEL_TO_LOAD", "QUIET", "TEXT_FILE",
           "Arg", "Command", "Declared", "OneOf", "Parser", "UsageError", "add_arguments",
           "arg", "build_parser", "command", "converter", "emit_json", "name_or_file",
           "say_resolved"]

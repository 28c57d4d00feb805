"""Advice said in the caller's own terms. An error whose remedy is a setting reads "pass
chat=False" to a Python caller, and "leave out --chat" on the command line: the CLI shows
`cli_message` where an error has one, never a Python argument a command-line user cannot
give."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=Exception)


def advised(kind: type[E], problem: str, *, python: str, cli: str | None) -> E:
    """`kind(problem + python advice)`, carrying the same problem with the command line's
    advice (or none, where no flag helps) as `cli_message`."""
    error = kind(f"{problem}{python}")
    error.cli_message = problem if cli is None else f"{problem}{cli}"  # type: ignore[attr-defined]
    return error


def cli_message(error: BaseException) -> str:
    """What the command line says of an error."""
    return getattr(error, "cli_message", None) or str(error)


def require_tokenizer(model: object, tokenizer: object | None) -> object:
    """The given tokenizer, else the model's own; an error saying how to get one, if neither."""
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if tokenizer is None:
        name = model.spec.name  # type: ignore[attr-defined]
        raise advised(ValueError, f"{name} has no tokenizer: load a checkpoint that has one "
                                  f"(tokenizer.json, GGUF)",
                      python=", or pass tokenizer=zoo.Tokenizer...",
                      cli=" (a folder with tokenizer.json beside the weights, or a GGUF file)")
    return tokenizer

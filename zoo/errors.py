"""Advice said in the caller's own terms. An error whose remedy is a setting reads "pass
chat=False" to a Python caller, and "leave out --chat" on the command line: the CLI shows
`cli_message` where an error has one, never a Python argument a command-line user cannot
give."""

from __future__ import annotations

import os
from typing import TypeVar

E = TypeVar("E", bound=Exception)


def advised(kind: type[E], problem: str, *, python: str, cli: str | None) -> E:
    """`kind(problem + python advice)`, carrying the same problem with the command line's
    advice (or none, where no flag helps) as `cli_message`."""
    error = kind(f"{problem}{python}")
    error.cli_message = problem if cli is None else f"{problem}{cli}"  # type: ignore[attr-defined]
    return error


# what a missing module takes: the extra that installs it (None: a package of its own)
EXTRAS = {"torch": "torch", "safetensors": "torch", "tokenizers": "torch",
          "huggingface_hub": "torch", "tqdm": "torch", "numpy": "torch", "jinja2": "torch",
          "gguf": "gguf", "matplotlib": "plot", "accelerate": "distributed",
          "transformers": None}


def install_hint(error: BaseException) -> str | None:
    """For a module zoo's extras provide, what to install; None for anything else."""
    name = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
    if not name or name.split(".")[0] not in EXTRAS:
        return None
    root = name.split(".")[0]
    extra = EXTRAS[root]
    if extra is None:
        return (f"{root} is not installed (zoo uses it as the reference implementation): "
                f"pip install {root}")
    return f"{root} is not installed: pip install 'zoo[{extra}]'"


def missing_extra(error: ModuleNotFoundError, extra: str, what: str) -> ModuleNotFoundError:
    """The module `what` needs is missing: say which extra installs it. Where one module
    serves several extras (jinja2: chat templates and `zoo site`), EXTRAS names one; the
    feature that needs it knows its own."""
    root = (error.name or "").split(".")[0]
    message = f"{what} needs {root}, which is not installed: pip install 'zoo[{extra}]'"
    missing = ModuleNotFoundError(message, name=error.name)
    missing.cli_message = message  # type: ignore[attr-defined]
    return missing


def cli_message(error: BaseException) -> str:
    """What the command line says of an error: its own words for the command line, what to
    install, or for a system call that failed on a path, the path and the system's words
    ("out/x: permission denied", not "[Errno 13] Permission denied: 'out/x'")."""
    return getattr(error, "cli_message", None) or install_hint(error) or _on_path(error) \
        or str(error)


def _on_path(error: BaseException) -> str | None:
    if not isinstance(error, OSError) or not error.strerror or error.filename is None:
        return None
    where = os.fsdecode(error.filename)
    if error.filename2 is not None:
        where += f" -> {os.fsdecode(error.filename2)}"
    return f"{where}: {error.strerror[:1].lower()}{error.strerror[1:]}"


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

"""The `zoo` command line: one command per function, each declared once with its arguments
(`zoo.cli.declare`); tables go through tabulate, and `--json` gives the same facts for scripts,
errors included (a JSON object with "error", and a non-zero status).

The commands that only read specs or metadata (`zoo.cli.info`: list, show, compare, verify,
plan, spec, plot, site) never import torch; those that load a model (`zoo.cli.run`) and the
torchrun commands (`zoo.cli.torchrun`) do, when they run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a program stopped by Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; on bad input, "zoo: error: ..." on stderr (or, with --json, a JSON
    object {"error": {"type", "message"}} on stdout) and exit status 2; on Ctrl-C, one line
    and exit status 130.

    Ctrl-C is one mechanism for every command: Python's KeyboardInterrupt, raised wherever the
    command is (loading, generating, training, writing), unwinds it, so that what it was
    writing removes its temporary files on the way (a save's `.tmp` files, a run folder's
    staging), and is caught here. The commands are imported here too, not when this module is,
    so that Ctrl-C while they load is caught as well. Called as the program (no `argv`: the
    `zoo` script, `python -m zoo`), main also ignores a Ctrl-C that comes after it has its
    answer, while the interpreter exits, which would otherwise print a traceback.
    """
    program = argv is None
    try:
        try:
            return _run(list(sys.argv[1:] if argv is None else argv))
        except KeyboardInterrupt:
            if program:
                _ignore_ctrl_c()
            print("zoo: interrupted", file=sys.stderr)
            return INTERRUPTED
    finally:
        if program:
            _ignore_ctrl_c()


def _ignore_ctrl_c() -> None:
    with contextlib.suppress(ValueError):  # only the main thread may set a handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(argv: list[str]) -> int:
    from zoo.cli import info, run, torchrun  # noqa: F401  (their commands register themselves)
    from zoo.cli.declare import UsageError, build_parser
    from zoo.registry import UnknownModelError
    from zoo.spec import SpecError

    # what a command may raise on bad input: reported as "zoo: error: ...", exit status 2
    errors = (SpecError, UnknownModelError, ValueError, OSError, ImportError)
    argv = _json_after_command(argv)
    as_json = "--json" in argv
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:  # file names are bytes: print one that is not UTF-8 as it is
        reconfigure(errors="surrogateescape")
    try:
        args = build_parser(argv).parse_args(argv)
        code = args.run(args)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return code
    except BrokenPipeError:  # `zoo list | head`: the reader has what it wanted
        _discard_stdout()
        return 0
    except UsageError as err:
        return _failed(err, as_json, f"{err.usage}{err.prog}")
    except errors as err:
        return _failed(err, as_json)


def _json_after_command(argv: list[str]) -> list[str]:
    """`zoo --json list` as `zoo list --json`: --json is every command's own flag, and a user
    may well put it first."""
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    if "--json" not in argv[:command]:
        return argv
    return [a for a in argv[:command] if a != "--json"] + argv[command:] + ["--json"]


def _failed(err: Exception, as_json: bool, where: str = "zoo") -> int:
    from zoo.cli.declare import emit_json
    from zoo.errors import cli_message

    if as_json:
        emit_json({"error": {"type": type(err).__name__, "message": cli_message(err)}})
    else:
        print(f"{where}: error: {cli_message(err)}", file=sys.stderr)
    return 2


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered is not written to the closed
    pipe at exit (Python would print "Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (a test's capture): nothing will be flushed to a pipe


def __getattr__(name: str) -> Any:
    """`COMMANDS`, every command declared, imported on first use (see `main`)."""
    if name != "COMMANDS":
        raise AttributeError(f"module 'zoo.cli' has no attribute {name!r}")
    from zoo.cli import info, run, torchrun  # noqa: F401  (their commands register themselves)
    from zoo.cli.declare import COMMANDS

    return COMMANDS


__all__ = ["COMMANDS", "main"]

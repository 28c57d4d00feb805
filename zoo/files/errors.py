"""The one error for weights that cannot be read as what they claim to be: a safetensors file
or index, a GGUF file, a Hub folder, a distributed checkpoint. It lives below every reader, so
each raises the same class and a caller catches one; and the one way a reader opens a file
(`open_regular`) and parses JSON (`parse_json`), bounded."""

from __future__ import annotations

import json
import os
import re
import stat
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

# how deep a JSON file zoo reads may nest: config.json and safetensors headers nest 2 to 4
# deep; without a bound a crafted file 100,000 deep overflows the parser's recursion
MAX_JSON_DEPTH = 64
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


class WeightsError(ValueError):
    """A weights file that cannot be read as what it claims to be."""


class NoSpecError(WeightsError):
    """Weights whose architecture zoo cannot read a spec for (a model_type it does not know, a
    config its reader refuses, no config at all); `reason` says which in a few words. Their
    tensor headers can still be counted."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings aside)."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def parse_json(raw: str | bytes, where: str) -> Any:
    """JSON from a file, nested at most MAX_JSON_DEPTH deep: anything else is a WeightsError
    naming `where`, the file (the readers of zoo.files all raise that one error)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise WeightsError(f"{where} nests JSON {depth:,} deep; zoo reads JSON nested at "
                               f"most {MAX_JSON_DEPTH} deep")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise WeightsError(f"{where} is not JSON: {err}") from None


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """`path` opened for reading, unless it is not a regular file (a WeightsError): a pipe, a
    socket or a device has no size to read a header against and may never end, and a pipe
    with no writer would block its reader forever, so it is opened without blocking and
    refused before anything is read. FileNotFoundError and other OSErrors pass through."""
    path = Path(path)
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
            raise WeightsError(f"{path}: {kind}, not a regular file (which zoo reads)")
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """A regular file's bytes (`open_regular`: anything else refused by name, unread)."""
    with open_regular(path) as f:
        return f.read()

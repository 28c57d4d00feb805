"""A UTF-8 text file read as the string it holds, a window at a time.

`zoo eval` scores a text whatever its size: its tokens are encoded a piece at a time and the
windows scored as the ids arrive (zoo.perplexity), so the text itself is the one thing left
that would be whole in memory (a 2 GB corpus is a 2 GB string, four times that with a single
character outside Latin-1). `TextFile` is what the encoder needs of a string, `len()` and
slices, read from the file: one pass counts the characters, then slices are read forward,
and only the text from the start of the latest slice on is kept. A pipe, which can be read
once only, is read whole, up to `PIPED` characters (a device such as /dev/zero never ends).

The text is what `Path.read_text(encoding="utf-8")` would return: UTF-8, with "\\r\\n" and
"\\r" read as "\\n".
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from pathlib import Path

BLOCK = 1 << 20  # bytes read at a time
PIPED = 1 << 30  # characters read whole from a pipe or device at most: a file is streamed


class TextFile:
    """The text of a UTF-8 file, as `len()` and forward slices (each slice starts at or after
    the previous one's start); ValueError for a file that is not UTF-8 (naming the byte) or
    that changes while it is read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0  # the text read from position _offset on is _buffer
        if self.path.is_file():
            self._length = sum(len(block) for block in _blocks(self.path))
            self._reading, self._buffer = _blocks(self.path), ""
        else:  # a pipe (`<(zcat corpus.gz)`) can be read once only: kept whole
            self._buffer = read_whole(self.path)
            self._length, self._reading = len(self._buffer), iter(())

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, part: slice) -> str:
        if not isinstance(part, slice):
            raise TypeError("a TextFile is read by slices")
        start, stop, step = part.indices(self._length)
        if step != 1 or start < self._offset:
            raise ValueError(f"{self.path}: read forward only (a slice from {start}, after one "
                             f"from {self._offset})")
        stop = max(stop, start)
        while self._offset + len(self._buffer) < stop:
            block = next(self._reading, None)
            if block is None:
                raise ValueError(f"{self.path}: changed while it was read (it had "
                                 f"{self._length:,} characters)")
            self._buffer += block
        self._buffer = self._buffer[start - self._offset:]  # nothing before `start` is read again
        self._offset = start
        return self._buffer[:stop - start]



def read_whole(path: str | Path) -> str:
    """The whole text of a UTF-8 file in one pass, read as `TextFile` reads it (a pipe or
    device up to `PIPED` characters): for a caller that needs all of it at once."""
    path = Path(path)
    return "".join(_blocks(path) if path.is_file() else _piped(path))


def _piped(path: Path) -> Iterator[str]:
    """The blocks of a pipe or device, refused past `PIPED` characters."""
    total = 0
    for block in _blocks(path):
        total += len(block)
        if total > PIPED:
            raise ValueError(f"{path}: more than {PIPED:,} characters from a pipe or device, "
                             f"which is read whole; save the text to a file, which is read a "
                             f"window at a time")
        yield block


def _blocks(path: Path) -> Iterator[str]:
    """The file's text, decoded a block at a time, newlines as `Path.read_text` has them."""
    decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")(),
                                           translate=True)
    read = 0
    with path.open("rb") as f:
        while True:
            block = f.read(BLOCK)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                # the error counts from the bytes the decoder held back plus this block
                held = len(err.object) - len(block)
                raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte "
                                 f"{read - held + err.start})") from None
            if text:
                yield text
            if not block:
                return
            read += len(block)


__all__ = ["TextFile", "read_whole"]

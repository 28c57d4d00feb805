"""The progress bar of a long read or write (loading, saving): shown when asked, or by default
for a large checkpoint on a terminal; tqdm when it is installed, plain iteration otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

LARGE = 10**9  # bytes from which a long operation shows a progress bar by default


def progress_bar(items: Iterable[Any], enabled: bool | None, label: str, *, nbytes: int,
                 total: int | None = None) -> Any:
    """A tqdm bar over `items` when asked (True), or by default (None) for a large checkpoint
    on a terminal; plain iteration otherwise."""
    if enabled is False or (enabled is None and nbytes < LARGE):
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=label, total=total, unit="tensor" if label != "saving" else "file",
                disable=None if enabled is None else False)

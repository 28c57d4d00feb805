"""Bytes on disk, before any model: safetensors headers and indexes (`safetensors`, no torch)
and tensors (`safetensors_io`), GGUF headers (`gguf`), the Hugging Face hub and its cache
(`hub`), a Hub repo's config and weight headers fetched into zoo's cache (`remote`), the
atomic commit of a set of files (`commit`), a file replaced without following a symlink and
the run folders zoo shares with their users (`folder`), and the progress bar of long reads and
writes (`progress`). Nothing here knows a spec or a model; every reader raises `WeightsError`.
"""

from __future__ import annotations

from zoo.files.errors import NoSpecError, WeightsError

__all__ = ["NoSpecError", "WeightsError"]

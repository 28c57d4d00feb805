"""Checkpoints: the format table (`formats`: how to recognise a path, read its spec without
torch, load it, save to it) and its entries, one module each: zoo's own safetensors (`native`),
Hugging Face folders (`hf`, through an architecture's tensor rules in `mapping` and
`transforms`), GGUF files (`gguf`), distributed checkpoints (`dcp`); pickles are a row that
refuses. Beside them: filling a meta-built model (`fill`), the spec inside zoo's files
(`metadata`), and the checkpoints already on this machine (`local`).

A new format is its module plus its row in `FORMATS`. Importing this package, detecting a
format and reading a spec never import torch; the loaders and savers import it when called.
"""

from __future__ import annotations

from zoo.checkpoints.formats import (
    FORMATS,
    SAVABLE,
    Format,
    Resolved,
    check_save,
    detect,
    label,
    load,
    read_spec,
    resolve,
    save,
)

__all__ = ["FORMATS", "SAVABLE", "Format", "Resolved", "check_save", "detect", "label", "load",
           "read_spec", "resolve", "save"]

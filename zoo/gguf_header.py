"""A GGUF file's metadata and tensor table, read without torch (the `gguf` package parses it
with numpy, memory-mapped), so that counting or listing a GGUF file never loads a model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zoo.safetensors_header import WeightsError

MAGIC = b"GGUF"


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def _value(field: Any) -> Any:
    try:
        return field.contents()
    except Exception:  # older gguf versions lack contents() for some types
        return None


class GGUFFile:
    """Metadata fields by key, tensors by name (shape in PyTorch order), read on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            from gguf import GGUFReader
        except ImportError:
            raise ImportError("reading GGUF needs the gguf package: pip install "
                              "'zoo[gguf]'") from None
        self.path = Path(path)
        try:
            self.reader = GGUFReader(str(self.path))
        except (OSError, ValueError, KeyError, IndexError) as err:
            raise WeightsError(f"{self.path}: not a readable GGUF file: {err}") from None
        self.fields: dict[str, Any] = {name: _value(field)
                                       for name, field in self.reader.fields.items()}
        self.tensors = {t.name: t for t in self.reader.tensors}

    def shape(self, name: str) -> tuple[int, ...]:
        """GGUF lists a shape fastest dimension first: the PyTorch shape is the reverse."""
        return tuple(int(d) for d in reversed(self.tensors[name].shape.tolist()))

    def dequantize(self, name: str) -> Any:
        """The tensor as a float32 numpy array of `shape(name)` (a fresh copy)."""
        from gguf.quants import dequantize

        t = self.tensors[name]
        try:
            return dequantize(t.data, t.tensor_type).reshape(self.shape(name)).copy()
        except (ValueError, NotImplementedError, KeyError) as err:
            raise WeightsError(f"{self.path}: tensor {name} ({t.tensor_type.name}, shape "
                               f"{list(self.shape(name))}) cannot be read: {err}") from None

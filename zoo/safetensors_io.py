"""Reading safetensors files with bounded memory and clear errors (writing uses `safetensors`).

zoo reads the format itself so that it can choose, per tensor, between a zero-copy view of a
memory map (a tensor used as stored) and a plain read into fresh memory (a tensor about to be
transposed or regrouped, whose mapped pages would otherwise stay resident beside the result).
Every header is validated against the file before any tensor is touched: a truncated or
corrupt file is an error that names it, never a crash or a silent short read.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.safetensors_header import WeightsError, read_header, read_index

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
          "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}

class SafetensorsFile:
    """One .safetensors file: names, shapes, dtypes, metadata; tensors read on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        header, self.data_start, size = read_header(self.path)
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self.entries: dict[str, tuple[torch.dtype, tuple[int, ...], int, int]] = {}
        data_size = size - self.data_start
        for name, entry in header.items():
            self.entries[name] = self._check_entry(name, entry, data_size)
        self._storage: torch.UntypedStorage | None = None

    def _error(self, message: str) -> WeightsError:
        return WeightsError(f"{self.path}: {message}")

    def _check_entry(self, name: str, entry: Any,
                     data_size: int) -> tuple[torch.dtype, tuple[int, ...], int, int]:
        try:
            dtype = DTYPES[entry["dtype"]]
            shape = tuple(int(d) for d in entry["shape"])
            start, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise self._error(f"tensor {name!r} has a malformed header entry: {entry!r}") from None
        if any(d < 0 for d in shape) or not 0 <= start <= end:
            raise self._error(f"tensor {name!r} has an impossible shape or offsets: {entry!r}")
        if end > data_size:
            raise self._error(f"truncated: tensor {name!r} ends at byte {end:,} of the data, "
                              f"the file holds {data_size:,}")
        if end - start != math.prod(shape) * dtype.itemsize:
            raise self._error(f"tensor {name!r}: {end - start:,} bytes do not hold a "
                              f"{entry['dtype']} tensor of shape {list(shape)}")
        return dtype, shape, start, end

    def names(self) -> list[str]:
        return list(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entries[name][1]

    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor:
        """The tensor on the CPU: a view of a private memory map (`mmap`, zero copy, pages loaded
        as touched), or a copy read from the file (into `out` when given, a reusable buffer)."""
        dtype, shape, start, end = self.entries[name]
        offset = self.data_start + start
        if mmap and offset % dtype.itemsize == 0 and end > start:
            if self._storage is None:
                size = self.path.stat().st_size
                self._storage = torch.UntypedStorage.from_file(str(self.path), shared=False,
                                                               nbytes=size)
            out = torch.empty(0, dtype=dtype)
            return out.set_(self._storage, offset // dtype.itemsize, shape)
        if out is None or out.shape != shape or out.dtype != dtype or not out.is_contiguous():
            out = torch.empty(shape, dtype=dtype)
        if end > start:
            with open(self.path, "rb") as f:
                f.seek(offset)
                view = memoryview(out.view(torch.uint8).reshape(-1).numpy())
                if f.readinto(view) != end - start:
                    raise self._error(f"truncated while reading tensor {name!r}")
        return out


class TensorSource:
    """Tensors by name across one file or the shards an index lists."""

    def __init__(self, files: dict[str, SafetensorsFile], metadata: dict[str, Any]) -> None:
        self.files, self.metadata = files, metadata
        self.where: dict[str, SafetensorsFile] = {}
        for file in files.values():
            for name in file.entries:
                self.where[name] = file

    def names(self) -> list[str]:
        return list(self.where)

    def __contains__(self, name: object) -> bool:
        return name in self.where

    def shape(self, name: str) -> tuple[int, ...]:
        return self.where[name].shape(name)

    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor:
        return self.where[name].read(name, mmap=mmap, out=out)



def open_safetensors(path: str | os.PathLike[str]) -> TensorSource:
    """A .safetensors file, or a `*.safetensors.index.json` with its shards beside it."""
    path = Path(path)
    if path.name.endswith(".json"):
        index = read_index(path)
        weight_map = index["weight_map"]
        shards = sorted(set(weight_map.values()))
        absent = [s for s in shards if not (path.parent / s).is_file()]
        if absent:
            raise WeightsError(f"{path}: {len(absent)} shard(s) it lists are missing: "
                               f"{', '.join(absent)}")
        files = {s: SafetensorsFile(path.parent / s) for s in shards}
        source = TensorSource(files, dict(index.get("metadata") or {}))
        for name, shard in weight_map.items():
            if name not in files[shard].entries:
                raise WeightsError(f"{path}: lists {name!r} in {shard}, which does not hold it")
        return source
    file = SafetensorsFile(path)
    return TensorSource({path.name: file}, dict(file.metadata))

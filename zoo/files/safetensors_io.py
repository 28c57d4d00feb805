"""Reading and writing safetensors files with bounded memory and clear errors.

zoo reads the format itself so that it can choose, per tensor, between a zero-copy view of a
memory map (a tensor used as stored) and a plain read into fresh memory (a tensor about to be
transposed or regrouped, whose mapped pages would otherwise stay resident beside the result).
Every header is validated against the file before any tensor is touched: a truncated or
corrupt file, or tensors whose bytes overlap, is an error that names it, never a crash or a
silent short read. A file is read through the descriptor its header was read from, so a save
that replaces it meanwhile cannot mix two versions.

zoo writes the format itself too (`write_file`): plain `os.write` calls, so a full disk is the
OSError it is, the file gets the mode the umask gives, and it is synced before it counts.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import random
import struct
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.files.errors import WeightsError, open_regular
from zoo.files.safetensors import member, read_header_from, read_index, weights_file

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
          "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
CODES = {dtype: code for code, dtype in DTYPES.items()}


TOO_LARGE = ("load it with device_map='auto' (and max_memory, offload_folder) to spread it over "
             "devices and disk, or with device='meta' to inspect it")


class SafetensorsFile:
    """One .safetensors file: names, shapes, dtypes, metadata; tensors read on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            # kept open: tensors come from this file even if a save replaces the name
            self._file = open_regular(self.path)
        except FileNotFoundError:
            raise
        except OSError as err:
            raise WeightsError(f"{self.path}: cannot read: {err.strerror or err}") from None
        weakref.finalize(self, self._file.close)  # closed with this object (a map stays valid)
        header, self.data_start, size = read_header_from(self._file, self.path)
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self.entries: dict[str, tuple[torch.dtype, tuple[int, ...], int, int]] = {}
        data_size = size - self.data_start
        for name, entry in header.items():
            self.entries[name] = self._check_entry(name, entry, data_size)
        self._check_overlaps()
        self._map: Tensor | None = None

    def _error(self, message: str) -> WeightsError:
        return WeightsError(f"{self.path}: {message}")

    def _check_entry(self, name: str, entry: Any,
                     data_size: int) -> tuple[torch.dtype, tuple[int, ...], int, int]:
        try:
            dtype = DTYPES[entry["dtype"]]
            shape = tuple(_integer(d) for d in entry["shape"])
            start, end = (_integer(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise self._error(f"tensor {name!r} has a malformed header entry: "
                              f"{_short(entry)} (expected dtype one of {', '.join(DTYPES)}, "
                              f"shape a list of integers, data_offsets [start, end])") from None
        if any(d < 0 for d in shape) or not 0 <= start <= end:
            raise self._error(f"tensor {name!r} has an impossible shape or offsets: "
                              f"{_short(entry)}")
        if end > data_size:
            raise self._error(f"truncated: tensor {name!r} ends at byte {end:,} of the data, "
                              f"the file holds {data_size:,}")
        if end - start != math.prod(shape) * dtype.itemsize:
            raise self._error(f"tensor {name!r}: {end - start:,} bytes do not hold a "
                              f"{entry['dtype']} tensor of shape {list(shape)}")
        return dtype, shape, start, end

    def _check_overlaps(self) -> None:
        """Two tensors sharing bytes would alias each other once loaded: refused."""
        spans = sorted((start, end, name) for name, (_, _, start, end) in self.entries.items()
                       if end > start)
        for (_, end, before), (start, _, name) in itertools.pairwise(spans):
            if start < end:
                raise self._error(f"tensors {before!r} and {name!r} overlap (bytes {start:,} to "
                                  f"{end:,} of the data belong to both)")

    def names(self) -> list[str]:
        return list(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entries[name][1]

    def dtype(self, name: str) -> torch.dtype:
        return self.entries[name][0]

    def _mapped(self) -> Tensor:
        """The whole file as bytes: a private (copy-on-write) memory map of the open file."""
        if self._map is None:
            try:
                buffer = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY)
            except (OSError, ValueError, OverflowError) as err:
                size = os.fstat(self._file.fileno()).st_size
                raise MemoryError(f"{self.path}: cannot map its {size:,} bytes into memory "
                                  f"({err}); {TOO_LARGE}") from None
            self._map = torch.frombuffer(buffer, dtype=torch.uint8)
        return self._map

    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor:
        """The tensor on the CPU: a view of a private memory map (`mmap`, zero copy, pages loaded
        as touched), or a copy read from the file (into `out` when given, a reusable buffer)."""
        dtype, shape, start, end = self.entries[name]
        offset = self.data_start + start
        if mmap and offset % dtype.itemsize == 0 and end > start:
            return self._mapped()[offset:offset + end - start].view(dtype).view(shape)
        if out is None or out.shape != shape or out.dtype != dtype or not out.is_contiguous():
            try:
                out = torch.empty(shape, dtype=dtype)
            except RuntimeError as err:  # torch's allocator: out of memory
                raise MemoryError(f"{self.path}: cannot allocate the {end - start:,} bytes of "
                                  f"tensor {name!r} ({str(err).splitlines()[-1][:200]}); "
                                  f"{TOO_LARGE}") from None
        if end > start:
            view = memoryview(out.reshape(-1).view(torch.uint8).numpy())
            if os.preadv(self._file.fileno(), [view], offset) != end - start:
                raise self._error(f"truncated while reading tensor {name!r}")
        return out


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class TensorSource:
    """Tensors by name across one file or the shards an index lists; `path` is the file or the
    index it was opened from."""

    def __init__(self, path: Path, where: dict[str, SafetensorsFile],
                 metadata: dict[str, Any]) -> None:
        self.path, self.where, self.metadata = path, where, metadata

    def names(self) -> list[str]:
        return list(self.where)

    def __contains__(self, name: object) -> bool:
        return name in self.where

    def shape(self, name: str) -> tuple[int, ...]:
        return self.where[name].shape(name)

    def dtype(self, name: str) -> torch.dtype:
        return self.where[name].dtype(name)

    def read(self, name: str, *, mmap: bool = True, out: Tensor | None = None) -> Tensor:
        return self.where[name].read(name, mmap=mmap, out=out)


# a save that commits while a reader opens its files makes the reader start over, after a pause
# that grows (1, 2, 4 ... ms) and takes it out of step with a writer saving again and again
ATTEMPTS = 8


def open_safetensors(path: str | os.PathLike[str]) -> TensorSource:
    """A .safetensors file, a `*.safetensors.index.json` with its shards beside it, or a folder
    holding either (see `weights_file`).

    Only the tensors an index names are read, each from the shard it names. A file that
    vanishes while the set is opened means a save just replaced it: the set is opened again
    from the new index (a few times), so a reader gets the old set or the new, never a mix.
    """
    path = Path(path)
    for attempt in range(ATTEMPTS):
        try:
            return _open(weights_file(path))
        except FileNotFoundError as err:
            if not path.exists():
                raise
            if attempt == ATTEMPTS - 1:  # not a save in progress: the set is broken
                raise WeightsError(str(err)) from None
            time.sleep(0.001 * 2 ** attempt * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def _open(path: Path) -> TensorSource:
    if not path.name.endswith(".json"):
        file = SafetensorsFile(path)
        return TensorSource(path, dict.fromkeys(file.entries, file), dict(file.metadata))
    index = read_index(path)
    weight_map: dict[str, str] = index["weight_map"]
    files: dict[str, SafetensorsFile] = {}
    for shard in sorted(set(weight_map.values())):
        file = member(path.parent, shard, str(path))
        if not file.is_file():
            raise FileNotFoundError(f"{path}: the shard {shard} it lists is missing")
        files[shard] = SafetensorsFile(file)
    for name, shard in weight_map.items():
        if name not in files[shard].entries:
            raise WeightsError(f"{path}: lists {name!r} in {shard}, which does not hold it")
    metadata = dict(index.get("metadata") or {})
    if "zoo_spec" not in metadata and files:  # sets written before the index carried it
        metadata = {**files[min(files)].metadata, **metadata}
    return TensorSource(path, {name: files[shard] for name, shard in weight_map.items()},
                        metadata)


# --- writing --------------------------------------------------------------------------------

def write_file(path: Path, tensors: Mapping[str, Tensor], metadata: Mapping[str, str]) -> None:
    """A new safetensors file at `path` (which must not exist), synced to disk.

    Tensors are laid out widest dtype first, so that every tensor starts at a multiple of its
    element size and loads as a zero-copy view. The file is created with mode 0o666 less the
    umask, as any file a user writes; a full disk raises the OSError it is.
    """
    order = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header: dict[str, Any] = {}
    offset = 0
    for name in order:
        tensor = tensors[name]
        if tensor.dtype not in CODES:
            raise ValueError(f"cannot save {name}: safetensors has no {tensor.dtype}")
        nbytes = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": CODES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
    fd = create(path)
    try:
        write_all(fd, struct.pack("<Q", len(raw)) + raw)
        for name in order:
            tensor = tensors[name].detach().to("cpu").contiguous()
            if tensor.numel():
                write_all(fd, memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
    """A new file at `path` holding `data`, synced (as `write_file` makes them)."""
    fd = create(path)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def create(path: Path) -> int:
    """A new file, opened for writing, with mode 0o666 less the umask (not mkstemp's 0o600:
    weights are meant to be read by other users and containers where the umask allows)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                   0o666)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until every byte is written (a write may take only part of a large buffer)."""
    view = memoryview(data)
    while view.nbytes:
        view = view[os.write(fd, view):]

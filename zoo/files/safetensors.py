"""The safetensors header (8-byte length, then JSON) and a sharded set's index, read and checked
without torch, so that listing local weights stays as fast as listing specs.

Everything here is read from files a user may have been handed, so every field is checked for
the type it must have, and every file name read from a file must stay inside its folder: an
index is never a way to read, or make zoo delete, a file elsewhere.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path, PurePosixPath
from typing import IO, Any

from zoo.files.errors import WeightsError, open_regular, parse_json, read_regular

MAX_HEADER = 100 * 2**20  # bytes of header JSON (or of an index) zoo reads at most
INDEX_SUFFIX = ".safetensors.index.json"


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int, int]:
    """(header without __metadata__ plus it under "__metadata__", data start, file size)."""
    path = Path(path)
    try:
        with open_regular(path) as f:
            return read_header_from(f, path)
    except OSError as err:
        raise WeightsError(f"{path}: cannot read: {err.strerror or err}") from None


def read_header_from(f: IO[bytes], path: Path) -> tuple[dict[str, Any], int, int]:
    """`read_header` on a file already open (a reader keeps it, see `SafetensorsFile`)."""
    size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    if len(head) < 8:
        raise WeightsError(f"{path}: {size} bytes is too short for a safetensors file")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER or 8 + length > size:
        raise WeightsError(f"{path}: not a safetensors file, or truncated: its header claims "
                           f"{length:,} bytes, the file has {size:,}")
    raw = f.read(length)
    header = parse_json(raw, f"{path}: not a safetensors file: its header")
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: not a safetensors file: its header is not a JSON object")
    metadata = header.get("__metadata__")
    if metadata is not None:
        check_strings(metadata, f"{path}: its __metadata__")
    return header, 8 + length, size


def tensor_table(header: dict[str, Any], path: Path) -> list[tuple[str, str, tuple[int, ...],
                                                                   int]]:
    """The tensors a header describes, each checked: (name, dtype, shape, bytes stored), in
    the header's order. The bytes come from `data_offsets`, so a dtype zoo does not know (FP8,
    packed types) still has its size."""
    table = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"{path}: tensor {name!r}"
        if not isinstance(entry, dict):
            raise WeightsError(f"{where}: expected an object with dtype, shape, data_offsets")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or not dtype:
            raise WeightsError(f"{where}: its dtype must be a string, got {dtype!r}")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise WeightsError(f"{where}: its shape must be a list of at most {MAX_DIMS} "
                               f"non-negative integers, got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(n, int) and not isinstance(n, bool) for n in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise WeightsError(f"{where}: its data_offsets must be [begin, end] with "
                               f"0 <= begin <= end, got {offsets!r}")
        table.append((name, dtype, tuple(shape), offsets[1] - offsets[0]))
    return table


MAX_DIMS = 16  # dimensions a tensor may claim


def check_strings(data: Any, where: str) -> dict[str, str]:
    """A mapping of strings to strings (safetensors metadata), or a WeightsError saying which
    entry is not."""
    if not isinstance(data, dict):
        raise WeightsError(f"{where} must map strings to strings, got {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(value, str):
            raise WeightsError(f"{where}: {key!r} must be a string, got "
                               f"{type(value).__name__}")
    return data


def member(folder: Path, name: Any, where: str) -> Path:
    """`folder / name` for a file name read from a file (`where` says which), refused unless it
    is a relative path that stays inside `folder`: no absolute paths, no '..'."""
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        raise WeightsError(f"{where}: {name!r} is not a file name")
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or ".." in parts or not parts:
        raise WeightsError(f"{where}: {name!r} is outside the folder {folder}; file names in "
                           f"an index must be relative, without '..'")
    return folder / name


def index_of(path: Path) -> Path:
    """The index a sharded save under the name `path` (a .safetensors file) writes."""
    return path.with_name(path.name.removesuffix(".safetensors") + INDEX_SUFFIX)


def weights_file(path: Path) -> Path:
    """The index or .safetensors file that `path` (a file, or a folder holding
    model.safetensors) stands for.

    An index, where there is one, is the truth: zoo's sharded saves commit by writing it and
    its single-file saves by removing it, so a `model.safetensors` beside an index is what an
    interrupted save left, never what the folder holds.
    """
    path = Path(path)
    if path.is_dir():
        for candidate in (f"model{INDEX_SUFFIX}", "model.safetensors"):
            if (path / candidate).is_file():
                return path / candidate
        raise FileNotFoundError(f"{path}: no model.safetensors or model{INDEX_SUFFIX} in this "
                                f"folder")
    if path.name.endswith(".safetensors") and index_of(path).is_file():
        return index_of(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return path


def read_index(path: Path) -> dict[str, Any]:
    """A sharded set's index: JSON with a 'weight_map' of tensor name -> shard file (a name
    inside the index's folder) and optional 'metadata'."""
    try:
        size = path.stat().st_size
        if size > MAX_HEADER:
            raise WeightsError(f"{path}: {size:,} bytes is too large for a safetensors index")
        raw = read_regular(path)
    except FileNotFoundError:
        raise  # a save removed it meanwhile: the caller looks again
    except OSError as err:
        raise WeightsError(f"{path}: not a safetensors index (expected JSON with a "
                           f"'weight_map'): {err}") from None
    index = parse_json(raw, f"{path}: not a safetensors index: it")
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise WeightsError(f"{path}: not a safetensors index: expected a JSON object whose "
                           f"'weight_map' maps tensor names to shard files")
    for name, shard in index["weight_map"].items():
        member(path.parent, shard, f"{path}: 'weight_map' entry {name!r}")
    if not isinstance(index.get("metadata") or {}, dict):
        raise WeightsError(f"{path}: its 'metadata' must be a JSON object")
    return index


def safetensors_target(path: str | os.PathLike[str]) -> Path:
    """Where a save to `path` writes: the file itself (`x.safetensors`), or `model.safetensors`
    inside a folder (an existing folder, or a path without a suffix). Checked, not created."""
    path = Path(path)
    if path.is_dir() or path.suffix == "":
        return path / "model.safetensors"
    if not path.name.endswith(".safetensors"):
        raise ValueError(f"{path}: weights are saved as .safetensors (or into a folder)")
    return path

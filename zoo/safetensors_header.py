"""The safetensors header (8-byte length, then JSON), read and checked without torch, so that
listing local weights stays as fast as listing specs."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

MAX_HEADER = 100 * 2**20


class WeightsError(ValueError):
    """A weights file that cannot be read as what it claims to be."""


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int, int]:
    """(header without __metadata__ plus it under "__metadata__", data start, file size)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise WeightsError(f"{path}: {size} bytes is too short for a safetensors file")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER or 8 + length > size:
                raise WeightsError(f"{path}: not a safetensors file, or truncated: its header "
                                   f"claims {length:,} bytes, the file has {size:,}")
            raw = f.read(length)
    except OSError as err:
        raise WeightsError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightsError(f"{path}: not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: not a safetensors file: its header is not a JSON object")
    return header, 8 + length, size


INDEX_SUFFIX = ".safetensors.index.json"


def weights_file(path: Path) -> Path:
    """The .safetensors file or index inside `path` (a folder), or `path` itself."""
    path = Path(path)
    if path.is_dir():
        for candidate in ("model.safetensors", f"model{INDEX_SUFFIX}"):
            if (path / candidate).is_file():
                return path / candidate
        raise WeightsError(f"{path}: no model.safetensors or model{INDEX_SUFFIX} in this folder")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return path


def read_index(path: Path) -> dict[str, Any]:
    """A sharded set's index: JSON with a 'weight_map' of tensor name -> shard file."""
    try:
        index = json.loads(path.read_text())
        weight_map = index["weight_map"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise WeightsError(f"{path}: not a safetensors index (expected JSON with a "
                           f"'weight_map'): {err}") from None
    if not isinstance(weight_map, dict):
        raise WeightsError(f"{path}: its 'weight_map' is not a mapping of tensor name to file")
    return index

"""GGUF files written byte by byte, so that a test can make them wrong in any way the format
allows (the gguf package's writer refuses most of these)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

# value types (GGUF v3)
UINT8, INT32, UINT32, FLOAT32, BOOL, STRING, ARRAY, UINT64 = 0, 5, 4, 6, 7, 8, 9, 10
_FORMATS = {UINT8: "<B", INT32: "<i", UINT32: "<I", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q"}


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _value(kind: int, value: Any) -> bytes:
    if kind == STRING:
        return _string(value)
    if kind == ARRAY:
        item, items = value
        if item == STRING:
            body = b"".join(_string(v) for v in items)
        elif isinstance(items, bytes | bytearray):  # the array's raw bytes, written as given
            body = bytes(items)
            items = range(len(body) // struct.calcsize(_FORMATS[item]))
        else:
            body = b"".join(struct.pack(_FORMATS[item], v) for v in items)
        return struct.pack("<IQ", item, len(items)) + body
    return struct.pack(_FORMATS[kind], value)


def write_gguf(path: Path, fields: dict[str, tuple[int, Any]],
               tensors: list[tuple[str, tuple[int, ...], int, int]] = (),
               data: bytes = b"", alignment: int = 32) -> Path:
    """A GGUF v3 file: `fields` key -> (value type, value; an array is (ARRAY, (item type,
    items or raw bytes))), `tensors` as (name, GGUF shape fastest first, GGML type, data
    offset), then `data` after the header padded to `alignment`."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(fields)))
    for key, (kind, value) in fields.items():
        out += _string(key) + struct.pack("<I", kind) + _value(kind, value)
    for name, shape, kind, offset in tensors:
        out += _string(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<IQ", kind, offset)
    out += b"\0" * (-len(out) % alignment) + data
    path.write_bytes(bytes(out))
    return path

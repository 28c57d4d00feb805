"""A GGUF file's metadata and tensor table, read without torch (and without the `gguf` package,
whose reader takes tens of seconds over a 262k-token vocabulary): the header is parsed here from
a memory map, every length checked against the file, so that counting or listing a GGUF file
never loads a model and a malformed one is an error that names it. The `gguf` package only
dequantizes tensor data.

Format (version 2 and 3): magic, version, tensor and key counts, the key-value metadata, the
tensor table (name, shape fastest dimension first, type, offset), then the data, aligned.
"""

from __future__ import annotations

import array
import itertools
import math
import mmap
import os
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, overload

from zoo.files.errors import WeightsError, open_regular

MAGIC = b"GGUF"
# value types: struct format of the scalars; 8 is a string, 9 an array
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
           11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
_TYPE_NAMES = {"B": "uint8", "b": "int8", "H": "uint16", "h": "int16", "I": "uint32",
               "i": "int32", "f": "float32", "?": "bool", "Q": "uint64", "q": "int64",
               "d": "float64"}
MAX_DIMS = 8
DEFAULT_ALIGNMENT = 32  # of tensor data, where general.alignment does not say
# string arrays are decoded when the header is read (the vocabulary is one): at most this many
# strings each, so that a small file cannot make millions of Python strings (the largest
# published vocabularies have about 262,000 tokens)
MAX_STRINGS = 2**20
DEQUANTIZE_ROWS = 4096  # rows dequantized at a time


def is_gguf(path: Path) -> bool:
    try:
        with open_regular(path) as f:
            return f.read(4) == MAGIC
    except (OSError, WeightsError):
        return False


class HeaderPrefixTooShort(WeightsError):
    """The bytes given end inside the header of a file that is longer: `needed` bytes at least
    are needed (the Hub's GGUF files are read by growing prefixes)."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed = needed


class GGUFArray(Sequence[Any]):
    """A numeric metadata array, read from the file's bytes when indexed: a header with a 100
    MB array stays a view of the file, not a list of 100 million Python numbers (`tolist` makes
    one where a caller wants it)."""

    def __init__(self, raw: Any, code: str, count: int) -> None:
        self._code, self._count = code, count
        self.item_type = _TYPE_NAMES[code]  # uint8, int32, float32 ...
        size = struct.calcsize(code)
        if sys.byteorder == "little":  # GGUF is little-endian: the bytes are the values
            self._values: Any = raw.cast(code)
        else:
            self._values = list(struct.unpack(f"<{count}{code}", raw))
        self.nbytes = count * size

    @property
    def code(self) -> str:
        """The items' struct (and array) type code: "i" int32, "f" float32 ..."""
        return self._code

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self._values[index])
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GGUFArray):
            other = other.tolist()
        return isinstance(other, (list, tuple)) and self.tolist() == list(other)

    __hash__ = None  # type: ignore[assignment]

    def tolist(self) -> list[Any]:
        return list(self._values)

    def __repr__(self) -> str:
        return f"GGUFArray({self._code!r}, {self._count:,} values)"


class _Cursor:
    """Reads little-endian values from a buffer, every read checked against its end: the end of
    the file (`size`: malformed past it) and of the bytes at hand (a prefix: more are needed)."""

    def __init__(self, data: Any, path: Path, size: int | None = None) -> None:
        self.data, self.pos, self.path = data, 0, path
        self.size = len(data) if size is None else size

    def take(self, n: int) -> Any:
        if n < 0 or self.pos + n > self.size:
            raise WeightsError(f"{self.path}: not a readable GGUF file: it ends inside its "
                               f"header (byte {self.pos:,} + {n:,} of {self.size:,})")
        if self.pos + n > len(self.data):
            raise HeaderPrefixTooShort(f"{self.path}: the first {len(self.data):,} bytes end "
                                       f"inside the header", self.pos + n)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def scalar(self, kind: int) -> Any:
        fmt = SCALARS[kind]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = bytes(self.take(self.scalar(10)))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace")

    def value(self, kind: int, key: str) -> Any:
        """The value of metadata `key`: a numeric array stays in the file's bytes (a
        GGUFArray), a string array is decoded up to MAX_STRINGS strings."""
        if kind == STRING:
            return self.string()
        if kind == ARRAY:
            item, count = self.scalar(4), self.scalar(10)
            if item == STRING:
                if count > MAX_STRINGS or count * 8 > self.size - self.pos:
                    raise WeightsError(f"{self.path}: GGUF metadata {key} is an array of "
                                       f"{count:,} strings; zoo reads at most {MAX_STRINGS:,} "
                                       f"(and each takes 8 bytes at least)")
                return [self.string() for _ in range(count)]
            if item not in SCALARS:
                raise WeightsError(f"{self.path}: not a readable GGUF file: {key} is an array "
                                   f"of value type {item}")
            code = SCALARS[item][1]
            return GGUFArray(self.take(count * struct.calcsize(code)), code, count)
        if kind not in SCALARS:
            raise WeightsError(f"{self.path}: not a readable GGUF file: value type {kind}")
        return self.scalar(kind)


class GGUFTensor:
    """One tensor of the table: its GGUF type, PyTorch-order shape and bytes in the file."""

    def __init__(self, name: str, shape: tuple[int, ...], kind: int, start: int) -> None:
        self.name, self.shape, self.kind, self.start = name, shape, kind, start


class GGUFFile:
    """Metadata fields by key, tensors by name (shape in PyTorch order), data read on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            with open_regular(self.path) as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as err:
            raise WeightsError(f"{self.path}: not a readable GGUF file: {err}") from None
        self._parse(_Cursor(memoryview(self._map), self.path))

    @classmethod
    def from_prefix(cls, data: bytes, path: str | os.PathLike[str], size: int) -> GGUFFile:
        """The header of a file of `size` bytes from its first bytes, `data`: metadata and
        tensor table only (no tensor can be read). HeaderPrefixTooShort, with the bytes needed
        at least, when `data` ends inside the header."""
        file = cls.__new__(cls)
        file.path, file._map = Path(path), data  # type: ignore[assignment]
        file._parse(_Cursor(memoryview(data), file.path, size))
        return file

    def _parse(self, cursor: _Cursor) -> None:
        if bytes(cursor.take(4)) != MAGIC:
            raise WeightsError(f"{self.path}: not a readable GGUF file (no GGUF magic)")
        version = cursor.scalar(4)
        if version not in (2, 3):
            raise WeightsError(f"{self.path}: GGUF version {version} is not supported (2, 3)")
        tensor_count, kv_count = cursor.scalar(10), cursor.scalar(10)
        if tensor_count > cursor.size or kv_count > cursor.size:
            raise WeightsError(f"{self.path}: not a readable GGUF file: its counts exceed "
                               f"its size")
        self.fields: dict[str, Any] = {}
        for _ in range(kv_count):
            key = cursor.string()
            self.fields[key] = cursor.value(cursor.scalar(4), key)
        table = []
        for _ in range(tensor_count):
            name, dims = cursor.string(), cursor.scalar(4)
            if dims > MAX_DIMS:
                raise WeightsError(f"{self.path}: tensor {name!r} has {dims} dimensions")
            shape = tuple(cursor.scalar(10) for _ in range(dims))
            table.append((name, tuple(reversed(shape)), cursor.scalar(4), cursor.scalar(10)))
        self.header_size = cursor.pos  # the metadata and the tensor table, in bytes
        alignment = self.fields.get("general.alignment", DEFAULT_ALIGNMENT)
        if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
            raise WeightsError(f"{self.path}: general.alignment {alignment!r} is not a positive "
                               f"integer")
        data = -(-cursor.pos // alignment) * alignment
        self.tensors = {}
        for name, shape, kind, offset in table:
            if name in self.tensors:
                raise WeightsError(f"{self.path}: tensor {name!r} is listed twice")
            if offset % alignment:
                raise WeightsError(f"{self.path}: tensor {name!r} starts at data offset "
                                   f"{offset:,}, not a multiple of the file's alignment "
                                   f"{alignment} (general.alignment, default "
                                   f"{DEFAULT_ALIGNMENT})")
            self.tensors[name] = GGUFTensor(name, shape, kind, data + offset)
        self._refuse_overlaps()

    def _refuse_overlaps(self) -> None:
        """Every tensor's bytes its own: two tensors sharing bytes would read as each other
        (safetensors files are refused for the same). Needs the gguf package for the sizes of
        the block types; without it no tensor can be read, so nothing is checked."""
        try:
            import gguf.constants  # noqa: F401
        except ImportError:
            return
        extents = []
        for name, t in self.tensors.items():
            nbytes = self.stored_bytes(name)  # None: a type the package does not know
            if nbytes:
                extents.append((t.start, t.start + nbytes, name))
        extents.sort()
        for (_, end, before), (start, _, after) in itertools.pairwise(extents):
            if start < end:
                raise WeightsError(f"{self.path}: tensors {before!r} and {after!r} share bytes: "
                                   f"{after!r} starts at byte {start:,}, before {before!r} ends "
                                   f"at {end:,}; each tensor's data must be its own")

    def stored_bytes(self, name: str) -> int | None:
        """The tensor's bytes as stored, by its type's block size (None when the gguf
        package, which knows the types, is not installed)."""
        try:
            from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
        except ImportError:
            return None
        t = self.tensors[name]
        try:
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType(t.kind)]
        except (ValueError, KeyError):
            return None
        return math.prod(t.shape) // block * size

    def type_label(self, name: str) -> str:
        """The type's name (F16, Q4_K ...), or its number where the gguf package is missing or
        does not know it."""
        try:
            return self.type_name(name)
        except (ImportError, WeightsError):
            return f"GGML type {self.tensors[name].kind}"

    def shape(self, name: str) -> tuple[int, ...]:
        """The PyTorch shape (GGUF lists the fastest dimension first)."""
        return self.tensors[name].shape

    def type_name(self, name: str) -> str:
        """The tensor's GGUF type: F32, F16, Q8_0, Q4_1, Q4_K ..."""
        from gguf.constants import GGMLQuantizationType

        kind = self.tensors[name].kind
        try:
            return GGMLQuantizationType(kind).name
        except ValueError:
            raise WeightsError(f"{self.path}: tensor {name!r} has an unknown type {kind}") \
                from None

    def blocks(self, name: str) -> Any:
        """The tensor's bytes as stored, a uint8 numpy array (rows, bytes per row): a view of
        the file."""
        import numpy as np

        start, nbytes = self.extent(name)
        return np.frombuffer(self._map, dtype=np.uint8, count=nbytes, offset=start).reshape(
            math.prod(self.tensors[name].shape[:-1]), -1)

    def extent(self, name: str) -> tuple[int, int]:
        """Where the tensor's bytes start and how many there are, checked against the file."""
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        t = self.tensors[name]
        kind = GGMLQuantizationType[self.type_name(name)]
        block, size = GGML_QUANT_SIZES[kind]
        count = math.prod(t.shape)
        if t.shape[-1] % block:
            raise WeightsError(f"{self.path}: tensor {name!r} of shape {list(t.shape)} is not "
                               f"a whole number of {kind.name} blocks per row")
        nbytes = count // block * size
        if t.start + nbytes > len(self._map):
            raise WeightsError(f"{self.path}: truncated: tensor {name!r} ends at byte "
                               f"{t.start + nbytes:,}, the file has {len(self._map):,}")
        return t.start, nbytes

    def dequantize(self, name: str) -> Any:
        """The tensor as a float32 numpy array of `shape(name)` (a fresh copy)."""
        try:
            import numpy as np
            from gguf.constants import GGMLQuantizationType
            from gguf.quants import dequantize, quant_shape_to_byte_shape
        except ImportError:
            raise ImportError("reading GGUF tensors needs the gguf package: pip install "
                              "'zoo[gguf]'") from None
        t = self.tensors[name]
        kind = GGMLQuantizationType[self.type_name(name)]
        start, nbytes = self.extent(name)
        raw = np.frombuffer(self._map, dtype=np.uint8, count=nbytes, offset=start)
        raw = raw.reshape(quant_shape_to_byte_shape(t.shape, kind))
        raw = raw.reshape(-1, raw.shape[-1])
        values = np.empty((raw.shape[0], t.shape[-1]), np.float32)
        try:  # a few rows at a time: the package's temporaries stay small (a 262k-row head)
            for at in range(0, len(raw), DEQUANTIZE_ROWS):
                values[at:at + DEQUANTIZE_ROWS] = dequantize(raw[at:at + DEQUANTIZE_ROWS], kind)
        except (ValueError, NotImplementedError, KeyError) as err:
            raise WeightsError(f"{self.path}: tensor {name} ({kind.name}, shape "
                               f"{list(t.shape)}) cannot be read: {err}") from None
        return values.reshape(t.shape)


# --- writing ----------------------------------------------------------------------------------

# the tensor types zoo writes: (GGML type number, bytes per block, weights per block,
# llama.cpp's general.file_type for a file mostly of it)
WRITABLE: dict[str, tuple[int, int, int, int]] = {
    "F32": (0, 4, 1, 0), "F16": (1, 2, 1, 1), "BF16": (30, 2, 1, 32), "Q8_0": (8, 34, 32, 7),
    "Q4_0": (2, 18, 32, 2), "Q4_1": (3, 20, 32, 3)}
def check_writable(kind: str) -> None:
    """ValueError unless zoo writes tensors of this GGUF type (`WRITABLE`)."""
    if kind not in WRITABLE:
        raise ValueError(f"GGUF tensor type {kind!r} is not one zoo writes; it writes "
                         f"{', '.join(WRITABLE)}")


# the value type llama.cpp reads these keys as, where inference from the Python value would
# choose another (an array: its items' type); every other int is uint32 (int64 when negative
# or wider), every float float32
KEY_TYPES = {"tokenizer.ggml.token_type": 5, "tokenizer.ggml.scores": 6}
_CODES = {code[1]: kind for kind, code in SCALARS.items()}  # struct code -> value type


class TensorToWrite:
    """One tensor of a GGUF file being written: its name, PyTorch-order shape, GGML type number,
    size in bytes, and a function that gives its bytes (called once, when it is written, so
    that a file's tensors need not all be in memory at once)."""

    def __init__(self, name: str, shape: tuple[int, ...], kind: int, nbytes: int,
                 data: Any) -> None:
        self.name, self.shape, self.kind, self.nbytes, self.data = name, shape, kind, nbytes, data


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _scalar_kind(key: str, value: Any) -> int:
    if key in KEY_TYPES:
        return KEY_TYPES[key]
    if isinstance(value, bool):
        return 7
    if isinstance(value, int):
        return 4 if 0 <= value < 2**32 else 11
    if isinstance(value, float):
        return 6
    if isinstance(value, str):
        return STRING
    raise TypeError(f"GGUF metadata {key}: {type(value).__name__} is not a GGUF value type")


def _value(key: str, value: Any) -> bytes:
    """A metadata value as GGUF stores it: its type, then its bytes."""
    if isinstance(value, (list, tuple, GGUFArray, array.array)):
        code = value.code if isinstance(value, GGUFArray) else getattr(value, "typecode", None)
        if code in _CODES and key not in KEY_TYPES:
            item = _CODES[code]
        elif not len(value):
            item = KEY_TYPES.get(key, STRING)
        else:
            item = _scalar_kind(key, value[0])
            if item == 4 and any(v < 0 for v in value):
                item = 5
        head = struct.pack("<IIQ", ARRAY, item, len(value))
        if item == STRING:
            return head + b"".join(_string(v) for v in value)
        return head + struct.pack(f"<{len(value)}{SCALARS[item][1]}", *value)
    kind = _scalar_kind(key, value)
    payload = _string(value) if kind == STRING else struct.pack(SCALARS[kind], value)
    return struct.pack("<I", kind) + payload


def encode(fields: dict[str, Any], tensors: Sequence[TensorToWrite],
           alignment: int = DEFAULT_ALIGNMENT,
           each: Callable[[Sequence[TensorToWrite]], Any] = iter) -> Callable[[BinaryIO], None]:
    """A GGUF file (version 3) as a function writing it into an open file: the metadata
    `fields`, the tensor table, then each tensor's bytes at an offset that is a multiple of
    `alignment`, each made only as it is written (in the order `each` gives: a progress
    bar)."""
    if alignment != DEFAULT_ALIGNMENT:
        fields = {**fields, "general.alignment": alignment}
    header = [MAGIC, struct.pack("<IQQ", 3, len(tensors), len(fields))]
    header += [_string(key) + _value(key, value) for key, value in fields.items()]
    offset = 0
    for t in tensors:
        header.append(_string(t.name) + struct.pack(f"<I{len(t.shape)}QIQ", len(t.shape),
                                                    *reversed(t.shape), t.kind, offset))
        offset += -(-t.nbytes // alignment) * alignment
    head = b"".join(header)

    def write(f: BinaryIO) -> None:
        f.write(head + bytes(-len(head) % alignment))
        for t in each(tensors):
            data = memoryview(t.data()).cast("B")
            if len(data) != t.nbytes:
                raise ValueError(f"GGUF tensor {t.name}: {len(data):,} bytes, expected "
                                 f"{t.nbytes:,}")
            f.write(data)
            f.write(bytes(-t.nbytes % alignment))

    return write

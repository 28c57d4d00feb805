"""Weights in 2 MiB pages, for the CPU kernels that stream them.

Decoding one token reads every weight once, from memory; a CPU translates each 4 KiB page it
reads through its TLB, and its prefetchers stop at page boundaries. The same weights in the
kernel's 2 MiB pages (Linux's transparent huge pages) stream 10-20% faster through torch's fp32
matrix-vector kernels on an AMD EPYC (AVX-512, 2 threads), and gpt2-small decodes 5.7% faster
in fp32 (two models in one process, alternated rounds; README, "Benchmarks"). Linux gives an
anonymous mapping such pages where the program asks for them (`madvise`, the default `enabled`
setting of /sys/kernel/mm/transparent_hugepage), and torch asks only when THP_MEM_ALLOC_ENABLE
is set before its first allocation.

So `place(tensor)` copies a weight into memory zoo asked 2 MiB pages for: chunks of at least
`CHUNK` bytes, aligned on 2 MiB, marked MADV_HUGEPAGE before they are first touched, and
collapsed with MADV_COLLAPSE (Linux 6.1) where the fault still gave small pages. Tensors are
laid out one after another in a chunk (so a model's small matrices share pages), keeping their
shape and strides (row-major or transposed). A chunk is freed with the last tensor in it,
except the one being filled, which is kept for the next weights and filled again from the
front once its tensors are gone.
Off Linux, under `ZOO_HUGEPAGES=0` (or off/false/no), for a tensor smaller than `SMALLEST` or
laid out otherwise, `place` returns the tensor itself. A page the system will not give (THP
`never`, no memory to compact) leaves the copy in small pages: only speed depends on it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterable

import torch
from torch import Tensor

HUGE = 2 << 20  # bytes in a huge page on x86-64 and most arm64 kernels
CHUNK = 32 * HUGE  # bytes a chunk holds at least (untouched pages cost no memory)
SMALLEST = 256 << 10  # smaller weights stay where they are
ALIGN = 64  # each tensor starts on a cache line
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25  # <linux/mman.h>


def enabled() -> bool:
    """Whether weights are placed in 2 MiB pages (Linux, and ZOO_HUGEPAGES not 0)."""
    return sys.platform == "linux" and _madvise() is not None and os.environ.get(
        "ZOO_HUGEPAGES", "1").strip().lower() not in ("0", "off", "false", "no")


@functools.cache
def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        call = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    call.restype = ctypes.c_int
    return call


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc's
    except (OSError, AttributeError):
        return None


def release() -> None:
    """Hand the heap's free memory back to the system (glibc's malloc_trim): a weight copied
    into its chunk or layout leaves its old bytes free, and glibc keeps freed memory in its
    heap (SmolLM2 fp32 after its first token: 1,124 MB resident without this, 791 with, of
    which 540 are weights). Elsewhere it does nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _advise(address: int, length: int, advice: int) -> bool:
    call = _madvise()
    return call is not None and length > 0 and call(address, length, advice) == 0


class _Chunk:
    """A 2 MiB-aligned region of one uint8 tensor, filled from the front."""

    def __init__(self, nbytes: int) -> None:
        size = -(-nbytes // HUGE) * HUGE
        raw = torch.empty(size + HUGE, dtype=torch.uint8)
        start = -raw.data_ptr() % HUGE
        self.memory = raw[start:start + size]
        self.used = 0
        _advise(self.memory.data_ptr(), size, MADV_HUGEPAGE)
        self.unused = self._users()

    def _users(self) -> int | None:
        count = getattr(torch._C, "_storage_Use_Count", None)  # private: then never reused
        return None if count is None else count(self.memory.untyped_storage()._cdata)

    def idle(self) -> bool:
        """Whether no tensor placed here is alive (as many users as when it was made)."""
        return self.unused is not None and self._users() == self.unused

    def take(self, nbytes: int) -> Tensor | None:
        start = -(-self.used // ALIGN) * ALIGN
        if start + nbytes > self.memory.numel():
            return None
        self.used = start + nbytes
        return self.memory[start:start + nbytes]


_lock = threading.Lock()
_current: list[_Chunk] = []  # the chunk being filled (its memory is freed with its tensors)


def _region(nbytes: int) -> Tensor:
    """`nbytes` of 2 MiB-page memory (from the chunk being filled, or a new one)."""
    with _lock:
        if _current and _current[0].idle():  # every tensor in it is gone: fill it again
            _current[0].used = 0
        region = _current[0].take(nbytes) if _current else None
        if region is None:
            chunk = _Chunk(max(nbytes, CHUNK))
            region = chunk.take(nbytes)
            assert region is not None
            if nbytes < CHUNK:  # a chunk of one large tensor is not filled further
                _current[:] = [chunk]
        return region


def place(tensor: Tensor, transposed: bool = False) -> Tensor:
    """`tensor`'s values laid out row-major, or for a matrix transposed ([in, out] in memory,
    the same (out, in) shape) where `transposed`, in 2 MiB pages: a copy, unless placing does
    not apply (see the module docstring) and `tensor` is laid out so already. A normal tensor,
    even under inference_mode: a parameter given it may be trained later."""
    if transposed and tensor.dim() != 2:
        raise ValueError(f"only a matrix can be stored transposed, not shape {tuple(tensor.shape)}")
    if tensor.is_mkldnn:  # oneDNN's opaque blocked layout: it stays as it is
        return tensor
    nbytes = tensor.numel() * tensor.element_size()
    with torch.inference_mode(False):
        if nbytes < SMALLEST or tensor.device.type != "cpu" or not enabled():
            if transposed:
                return tensor if tensor.t().is_contiguous() else tensor.t().contiguous().t()
            return tensor.contiguous()
        memory = _region(nbytes).view(tensor.dtype)
        placed = memory.view(tensor.shape[::-1]).t() if transposed else memory.view(tensor.shape)
        placed.copy_(tensor.detach())
    start = -(-placed.data_ptr() // HUGE) * HUGE
    end = (placed.data_ptr() + nbytes) // HUGE * HUGE
    _advise(start, end - start, MADV_COLLAPSE)  # pages the fault left small (best effort)
    return placed


def backed(tensors: Iterable[Tensor]) -> int:
    """Bytes of `tensors` that Linux holds in 2 MiB pages now, by /proc/self/smaps: per memory
    area, the bytes of the tensors in it up to its bytes in 2 MiB pages (a chunk is filled from
    the front, so its resident huge pages are those of its tensors); 0 off Linux."""
    spans = {(t.data_ptr(), t.numel() * t.element_size()) for t in tensors
             if t.device.type == "cpu" and not t.is_mkldnn and t.numel()}
    try:
        with open("/proc/self/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    total, start, end = 0, 0, 0
    for line in lines:
        field, _, rest = line.partition(" ")
        if "-" in field and not field.endswith(":"):  # an area: start-end perms offset ...
            low, _, high = field.partition("-")
            start, end = int(low, 16), int(high, 16)
        elif field == "AnonHugePages:" and rest.split()[0] != "0":
            inside = sum(max(0, min(a + n, end) - max(a, start)) for a, n in spans)
            total += min(inside, int(rest.split()[0]) * 1024)
    return total


__all__ = ["CHUNK", "HUGE", "SMALLEST", "backed", "enabled", "place", "release"]

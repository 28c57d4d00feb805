"""Weights in 2 MiB pages, for the CPU kernels that stream them (opt-in: ZOO_HUGEPAGES=1).

Decoding one token reads every weight once, from memory; a CPU translates each 4 KiB page it
reads through its TLB, and its prefetchers stop at page boundaries. The same weights in 2 MiB
pages (Linux's transparent huge pages) stream 10-20% faster through torch's fp32
matrix-vector kernels on an AMD EPYC (AVX-512, 2 threads), and gpt2-small decodes 5.7% faster
in fp32 (two models in one process, alternated rounds; README, "Benchmarks"); torch's int4
kernel, bound by its arithmetic, gains nothing. Linux gives an anonymous mapping such pages
where the program asks (`madvise`, the default `enabled` setting of
/sys/kernel/mm/transparent_hugepage); torch asks only under THP_MEM_ALLOC_ENABLE, set before
its first allocation.

With ZOO_HUGEPAGES=1 (or on/true/yes), a model lays its weights out in a `Region`: one
anonymous mapping aligned on 2 MiB and exactly as large as the weights it holds (a storage of
its own: `torch.save` of a state dict writes the weights and nothing else), the weights one
after another (so small matrices share pages), each row-major or transposed as its kernel
reads it. Once full, it is marked MADV_HUGEPAGE and collapsed into 2 MiB pages (MADV_COLLAPSE,
Linux 6.1): written in 4 KiB pages and collapsed at once, 221 MB took 0.12-0.14 s here, where
faulting 2 MiB pages in (MADV_HUGEPAGE before the first touch) took 0.35 s for 283 MB before
any copy. The region is unmapped with the last weight in it.

It is off by default because the collapse costs more than it saves on a short run: on this
project's virtual machine, SmolLM2's 540 MB of fp32 weights took 0.6-1.6 s to collapse at the
first call, while 5% of a 128-token generation at 24 tokens/s is 0.3 s. Off, off Linux, or for
weights smaller than `SMALLEST` together, there is no region, and each weight is laid out
where it is (`relayout`). A page the system will not give (THP `never`, no memory to compact)
leaves the weights in small pages: only speed depends on it.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import sys
from collections.abc import Iterable

import torch
from torch import Tensor

HUGE = 2 << 20  # bytes in a huge page on x86-64 and most arm64 kernels
SMALLEST = 256 << 10  # fewer bytes of weights than this get no region
ALIGN = 64  # each tensor starts on a cache line
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25  # <linux/mman.h>


def enabled() -> bool:
    """Whether weights are laid out in 2 MiB pages: on Linux, where ZOO_HUGEPAGES is 1 (or
    on/true/yes)."""
    return sys.platform == "linux" and _madvise() is not None and os.environ.get(
        "ZOO_HUGEPAGES", "0").strip().lower() in ("1", "on", "true", "yes")


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
    into its region or layout leaves its old bytes free, and glibc keeps freed memory in its
    heap (SmolLM2 fp32 after its first token: 1,124 MB resident without this, 791 with, of
    which 540 are weights). Elsewhere it does nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _advise(address: int, length: int, advice: int) -> bool:
    call = _madvise()
    return call is not None and length > 0 and call(address, length, advice) == 0


def relayout(tensor: Tensor, transposed: bool = False) -> Tensor:
    """`tensor` row-major, or for a matrix transposed ([in, out] in memory, the same (out, in)
    shape) where `transposed`: itself if it is laid out so already, else a normal copy (even
    under inference_mode: a parameter given it may be trained later)."""
    _check_layout(tensor, transposed)
    with torch.inference_mode(False):
        if transposed:
            return tensor if tensor.t().is_contiguous() else tensor.t().contiguous().t()
        return tensor.contiguous()


def _check_layout(tensor: Tensor, transposed: bool) -> None:
    if transposed and tensor.dim() != 2:
        raise ValueError(f"only a matrix can be stored transposed, not shape {tuple(tensor.shape)}")


def _footprint(tensor: Tensor) -> int:
    return -(-tensor.numel() * tensor.element_size() // ALIGN) * ALIGN


class Region:
    """One run of memory in 2 MiB pages for `nbytes` of tensors (see the module docstring)."""

    def __init__(self, nbytes: int) -> None:
        # private and anonymous (Python's default is shared memory, which THP leaves alone):
        # no memory until touched
        self._map = mmap.mmap(-1, nbytes + 2 * HUGE,  # room to start and end on 2 MiB
                              flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._map))
        start = -address % HUGE
        with torch.inference_mode(False):
            self.memory = torch.frombuffer(self._map, dtype=torch.uint8, count=nbytes,
                                           offset=start)
        self.used = 0

    def place(self, tensor: Tensor, transposed: bool = False) -> Tensor:
        """A copy of `tensor` in the region's next free bytes, laid out as `relayout` says."""
        _check_layout(tensor, transposed)
        nbytes = tensor.numel() * tensor.element_size()
        if self.used + nbytes > self.memory.numel():
            raise ValueError(f"a region of {self.memory.numel():,} bytes has "
                             f"{self.memory.numel() - self.used:,} left, not {nbytes:,}")
        with torch.inference_mode(False):
            memory = self.memory[self.used:self.used + nbytes].view(tensor.dtype)
            placed = memory.view(tensor.shape[::-1]).t() if transposed else \
                memory.view(tensor.shape)
            placed.copy_(tensor.detach())
        self.used = min(self.used + _footprint(tensor), self.memory.numel())
        if self.used == self.memory.numel():  # full: into 2 MiB pages, all at once
            length = -(-self.used // HUGE) * HUGE
            _advise(self.memory.data_ptr(), length, MADV_HUGEPAGE)
            _advise(self.memory.data_ptr(), length, MADV_COLLAPSE)
        return placed


def region(tensors: Iterable[Tensor]) -> Region | None:
    """A region sized for `tensors` (each on its own cache line), or None where there is none
    (see the module docstring)."""
    nbytes = sum(_footprint(t) for t in tensors if t.device.type == "cpu" and not t.is_mkldnn)
    if nbytes < SMALLEST or not enabled():
        return None
    return Region(nbytes)


def backed(tensors: Iterable[Tensor]) -> int:
    """Bytes of `tensors` that Linux holds in 2 MiB pages now, by /proc/self/smaps: those in a
    memory area wholly in 2 MiB pages (a region, once collapsed); 0 off Linux. An area only
    partly in 2 MiB pages counts nothing, so this never says more than is so."""
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
        elif field == "AnonHugePages:" and int(rest.split()[0]) * 1024 == end - start:
            total += sum(max(0, min(a + n, end) - max(a, start)) for a, n in spans)
    return total


__all__ = ["HUGE", "SMALLEST", "Region", "backed", "enabled", "region", "relayout", "release"]

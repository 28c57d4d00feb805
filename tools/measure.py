"""What the benchmarks in tools/ measure the same way: the machine (CPU, vector flags, read
bandwidth), and a process's peak memory as /usr/bin/time -v reports it."""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and its vector flags, as zoo.model.kernels reads them (imported
    here, when asked: the benchmarks that only measure memory do not import torch for it)."""
    from zoo.model.kernels import cpu as read

    return read()


def describe(threads: int, bandwidth: float) -> str:
    """The machine, for the top of a benchmark's output: CPU, flags, torch, threads, and the
    read bandwidth measured in the same run."""
    import torch

    from zoo.model.kernels import VECTOR_FLAGS

    name, flags = cpu()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"machine: {name}, {os.cpu_count()} logical CPUs; vector flags: "
            f"{' '.join(flags) or 'none of ' + ' '.join(VECTOR_FLAGS[:4])}; "
            f"no AVX-512: {'avx512f' not in flags}, native bf16: "
            f"{'avx512_bf16' in flags or 'amx_bf16' in flags}, AMX: {'amx_tile' in flags}\n"
            f"torch {torch.__version__}, {threads} threads; read bandwidth "
            f"{bandwidth / 1e9:.1f} GB/s (measured now); load average {load:.1f} at the start; "
            f"transparent huge pages: {huge_pages()}")


def huge_pages() -> str:
    """Linux's transparent huge page setting (the bracketed word of its `enabled` file), and
    whether zoo lays weights out in them (ZOO_HUGEPAGES, zoo.model.hugepages)."""
    from zoo.model import hugepages

    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        setting = text[text.index("[") + 1:text.index("]")]
    except (OSError, ValueError):
        setting = "unknown"
    return f"{setting}, zoo's weights {'in them' if hugepages.enabled() else 'not'} " \
        f"(ZOO_HUGEPAGES)"


def read_bandwidth(runs: int = 7, nbytes: int = 1 << 30) -> float:
    """Bytes per second for summing a 1 GiB fp32 tensor (a pure streaming read), the median of
    `runs`, on torch's current number of threads."""
    import torch

    x = torch.ones(nbytes // 4)
    x.sum()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - start)
    return nbytes / statistics.median(times)


def peak_rss(time_v_report: str) -> int | None:
    """Peak resident memory in bytes from /usr/bin/time -v's report (None if it has none)."""
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_v_report)
    return int(found.group(1)) * 1024 if found else None

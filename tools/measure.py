"""What the benchmarks in tools/ measure the same way: the machine (CPU, vector flags, read
bandwidth), and a process's peak memory as /usr/bin/time -v reports it."""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from pathlib import Path

# the CPU flags that decide which kernels are fast (zoo.model.kernels measures them)
VECTOR_FLAGS = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "avx_vnni", "avx_ne_convert", "amx_tile", "amx_bf16", "amx_int8"]


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and which of VECTOR_FLAGS it has (Linux's /proc/cpuinfo)."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            field, _, value = line.partition(":")
            if field.strip() == "model name" and not name:
                name = value.strip()
            elif field.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), [f for f in VECTOR_FLAGS
                                                                 if f in flags]


def describe(threads: int, bandwidth: float) -> str:
    """The machine, for the top of a benchmark's output: CPU, flags, torch, threads, and the
    read bandwidth measured in the same run."""
    import torch

    name, flags = cpu()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"machine: {name}, {os.cpu_count()} logical CPUs; vector flags: "
            f"{' '.join(flags) or 'none of ' + ' '.join(VECTOR_FLAGS[:4])}; "
            f"no AVX-512: {'avx512f' not in flags}, native bf16: "
            f"{'avx512_bf16' in flags or 'amx_bf16' in flags}, AMX: {'amx_tile' in flags}\n"
            f"torch {torch.__version__}, {threads} threads; read bandwidth "
            f"{bandwidth / 1e9:.1f} GB/s (measured now); load average {load:.1f} at the start")


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

"""What the benchmarks in tools/ measure the same way: the machine's read bandwidth, and a
process's peak memory as /usr/bin/time -v reports it."""

from __future__ import annotations

import re
import statistics
import time


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

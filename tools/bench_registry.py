"""Benchmark: how fast zoo answers questions that need no weights.

Whole-process wall time of `zoo list` (and `zoo show`) beside `python -c "import transformers"`
as the reference, medians of several runs; and the in-process time to count every spec in the
registry. Usage: python tools/bench_registry.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_all(runs: int, full: bool) -> tuple[float, int]:
    """Median seconds to count every spec (with `full`, also every derived figure)."""
    import zoo
    from zoo.accounting.params import _count

    specs = [zoo.get_spec(name) for name in zoo.list_models()]
    times = []
    for _ in range(runs):
        _count.cache_clear()  # measure the closed form, not the cache
        start = time.perf_counter()
        for spec in specs:
            count = zoo.count_params(spec)
            if full:
                count.to_dict()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(specs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("zoo") or sys.exit("zoo is not installed in this environment")
    rows = [("zoo list", wall([exe, "list"], args.runs)),
            ("zoo show gpt3-175b", wall([exe, "show", "gpt3-175b"], args.runs)),
            ("python -c 'import transformers'",
             wall([sys.executable, "-c", "import transformers"], args.runs)),
            ("python -c 'import torch'", wall([sys.executable, "-c", "import torch"], args.runs))]
    reference = rows[2][1]
    print(f"whole-process wall time, median of {args.runs} runs")
    for label, seconds in rows:
        print(f"  {label:34s} {seconds:7.3f} s   {seconds / reference:5.2f}x import transformers")
    for full, label in ((False, "count_params"), (True, "count_params + every derived figure")):
        seconds, n = count_all(args.runs, full)
        print(f"{label} for all {n} specs, in-process: {seconds * 1000:.2f} ms "
              f"(median of {args.runs})")


if __name__ == "__main__":
    main()

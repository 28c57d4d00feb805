"""Benchmark loading a gpt2-small checkpoint: zoo.from_hf against transformers'
from_pretrained, on the same Hugging Face folder, as whole processes (start, import, load,
one forward pass, every weight touched), alternated, medians of several runs.

Reports wall time, the load call alone (timed inside each process), and peak RSS from
/usr/bin/time -v against the checkpoint's size plus a bare interpreter that imported torch.
Usage: python tools/bench_weights.py [--runs 5] [--folder DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import peak_rss
from tqdm import tqdm

ZOO = """
import time, torch
start = time.perf_counter()
import zoo
model = zoo.from_hf({folder!r})
loaded = time.perf_counter()
with torch.no_grad():
    model(torch.arange(16)[None])
    sum(float(p.sum()) for p in model.parameters())
print("LOAD", loaded - start)
"""
HF = """
import time, torch
import transformers
start = time.perf_counter()
model = transformers.AutoModelForCausalLM.from_pretrained({folder!r})
loaded = time.perf_counter()
with torch.no_grad():
    model(torch.arange(16)[None])
    sum(float(p.sum()) for p in model.parameters())
print("LOAD", loaded - start)
"""
BARE = "import torch"


def make_checkpoint(folder: Path) -> None:
    import transformers

    import zoo
    from zoo.checkpoints.hf import to_hf

    if not (folder / "config.json").is_file():
        to_hf(zoo.create_model("gpt2", seed=0), folder)
    transformers.AutoConfig.from_pretrained(folder)  # it must be a valid HF folder


def run(code: str) -> tuple[float, float, float | None]:
    """(wall seconds, peak RSS bytes, load seconds printed by the script)."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", code],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    rss = peak_rss(done.stderr)
    assert rss is not None, done.stderr
    load = re.search(r"LOAD ([0-9.]+)", done.stdout)
    return wall, rss, float(load[1]) if load else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="zoo-bench-gpt2-"))
    make_checkpoint(folder)
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    results: dict[str, list[tuple[float, float, float | None]]] = {"zoo": [], "hf": [],
                                                                     "bare": []}
    for _ in tqdm(range(args.runs), desc="runs (zoo, transformers, bare)", file=sys.stderr):
        results["zoo"].append(run(ZOO.format(folder=str(folder))))
        results["hf"].append(run(HF.format(folder=str(folder))))
        results["bare"].append(run(BARE))

    def median(key: str, i: int) -> float:
        return statistics.median(r[i] for r in results[key])

    bare_rss = median("bare", 1)
    print(f"gpt2-small checkpoint {folder}: {size / 1e6:.1f} MB; medians of {args.runs} runs")
    print(f"{'':28s}{'zoo':>10s}{'transformers':>14s}{'ratio':>8s}")
    for label, i, unit, scale in (("whole process wall", 0, "s", 1),
                                  ("load call", 2, "s", 1),
                                  ("peak RSS", 1, "MB", 1e6)):
        ours, theirs = median("zoo", i) / scale, median("hf", i) / scale
        print(f"{label + ' (' + unit + ')':28s}{ours:10.2f}{theirs:14.2f}{ours / theirs:8.2f}x")
    budget = size + bare_rss
    print(f"bare interpreter + torch RSS: {bare_rss / 1e6:.1f} MB; checkpoint + that: "
          f"{budget / 1e6:.1f} MB; zoo peak / that = {median('zoo', 1) / budget:.2f}x")


if __name__ == "__main__":
    main()

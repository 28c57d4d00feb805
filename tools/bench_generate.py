"""Benchmark generation beside transformers, in one run.

gpt2-small config, random weights (the same in both), CPU, greedy, a 32-token prompt and
exactly 128 new tokens; decode tokens/s (the 127 steps after the first token, from the time
for 128 new tokens minus the time for 1) at batch 1 and batch 8, fp32 and bf16; medians of
several runs, the two implementations alternated. Also the machine's memory read bandwidth,
and from it the batch-1 fp32 limit: bandwidth / bytes of weights read per token. The machine
(CPU, vector flags) is printed at the top and zoo's kernel per layer beside each case (the
kernels are measured on first use and cached: zoo.model.kernels; ZOO_AUTOTUNE=0 for the fixed
ones).

Usage: python tools/bench_generate.py [--runs 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import transformers
from measure import describe, read_bandwidth
from tqdm import tqdm

import zoo
from zoo.checkpoints.mapping import zoo_to_hf
from zoo.testing import transformers_config

PROMPT, NEW = 32, 128


def models(dtype: torch.dtype):
    spec = zoo.get_spec("gpt2")
    ours = zoo.create_model(spec, seed=0).eval()
    hf = transformers.GPT2LMHeadModel(transformers_config(spec)).eval()
    hf.load_state_dict(zoo_to_hf(spec, ours.state_dict()), strict=False)
    hf.tie_weights()
    return ours.to(dtype), hf.to(dtype)


def kernel_summary(model) -> str:
    """Which kernel ran per layer (ZOO_AUTOTUNE=0 for the fixed ones)."""
    from zoo.model.kernels import summary

    return str(summary(model.modules())["kernel"])


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def decode_rate(generate, batch: int, runs: int) -> tuple[float, list[int]]:
    ids = torch.randint(0, 50257, (batch, PROMPT), generator=torch.Generator().manual_seed(0))
    generate(ids, 2)  # warm up
    full = statistics.median(timed(lambda: generate(ids, NEW)) for _ in range(runs))
    first = statistics.median(timed(lambda: generate(ids, 1)) for _ in range(runs))
    return batch * (NEW - 1) / (full - first), generate(ids, NEW)[0, PROMPT:].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bandwidth = read_bandwidth()
    weights = zoo.count_params("gpt2").weight_bytes("fp32")
    limit = bandwidth / weights
    print(describe(torch.get_num_threads(), bandwidth))
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads; read bandwidth {bandwidth / 1e9:.1f} GB/s, "
          f"{weights / 1e6:.0f} MB of fp32 weights per token -> limit {limit:.1f} tokens/s "
          f"at batch 1 fp32")
    print(f"{'dtype':6s}{'batch':>6s}{'zoo tok/s':>11s}{'hf tok/s':>10s}{'ratio':>8s}"
          f"{'of limit':>10s}  same tokens  zoo's kernel per layer (zoo.model.kernels)")
    cases = tqdm([(d, n, b) for d, n in ((torch.float32, "fp32"), (torch.bfloat16, "bf16"))
                  for b in (1, 8)], desc="cases", file=sys.stderr, leave=False)
    built: dict[str, tuple] = {}
    for dtype, name, batch in cases:
        if name not in built:
            built[name] = models(dtype)
        ours, hf = built[name]

        def zoo_generate(ids, n, ours=ours):
            return ours.generate(ids, max_new_tokens=n)

        def hf_generate(ids, n, hf=hf):
            with torch.no_grad():
                return hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                   min_new_tokens=n, do_sample=False, pad_token_id=0)

        mine, my_tokens = decode_rate(zoo_generate, batch, args.runs)
        theirs, their_tokens = decode_rate(hf_generate, batch, args.runs)
        share = f"{mine / limit:9.0%}" if name == "fp32" and batch == 1 else f"{'':9s}"
        cases.write(f"{name:6s}{batch:6d}{mine:11.1f}{theirs:10.1f}{mine / theirs:7.2f}x{share} "
                    f" {my_tokens == their_tokens}  {kernel_summary(ours)}", file=sys.stdout)


if __name__ == "__main__":
    main()

"""Benchmark the decoder beside transformers, in one run.

1. Building gpt3-175b and bloom-176b on the meta device: zoo.create_model against
   transformers' AutoModelForCausalLM.from_config for the same config.
2. A training step (forward + backward) on the gpt2-small config, batch 4 x 256 tokens, fp32,
   CPU, no dropout, the same weights in both: tokens per second.

Medians of several runs, alternating the two implementations so machine noise hits both.
Usage: python tools/bench_model.py [--runs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import transformers
from tqdm import tqdm

import zoo
from zoo.checkpoints.mapping import zoo_to_hf
from zoo.testing import transformers_config


def time_it(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_meta(runs: int) -> list[tuple[str, float, float]]:
    rows = []
    for name in tqdm(("gpt3-175b", "bloom-176b"), desc="meta builds", file=sys.stderr,
                     leave=False):
        spec = zoo.get_spec(name)
        # transformers has no banded layers; the dense GPT-2 config has the same tensors
        dense = spec.with_changes(attention_pattern=["global"], local_window=None)
        config = transformers_config(dense)

        def build_hf(config=config):
            with torch.device("meta"):
                transformers.AutoModelForCausalLM.from_config(config)

        build_hf()  # warm up imports and caches on both sides
        zoo.create_model(spec, device="meta")
        ours, theirs = [], []
        for _ in range(runs):
            ours.append(time_it(lambda spec=spec: zoo.create_model(spec, device="meta"), 1))
            theirs.append(time_it(build_hf, 1))
        rows.append((name, statistics.median(ours), statistics.median(theirs)))
    return rows


def bench_train_step(runs: int, batch: int = 4, seq: int = 256) -> tuple[float, float]:
    spec = zoo.get_spec("gpt2")
    ours = zoo.create_model(spec, seed=0)
    hf = transformers.GPT2LMHeadModel(transformers_config(spec))
    hf.load_state_dict(zoo_to_hf(spec, ours.state_dict()), strict=False)  # lm_head is tied
    ours.train(), hf.train()
    for module in hf.modules():  # the same dropout setting as zoo's default: none
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, spec.vocab_size, (batch, seq), generator=generator)

    def step_ours():
        ours.zero_grad(set_to_none=True)
        ours.loss(ids).backward()

    def step_hf():
        hf.zero_grad(set_to_none=True)
        hf(ids, labels=ids).loss.backward()

    with torch.no_grad():
        assert torch.allclose(ours.loss(ids), hf(ids, labels=ids).loss, atol=1e-4)
    step_ours(), step_hf()
    t_ours, t_hf = [], []
    for _ in tqdm(range(runs), desc="training steps", file=sys.stderr, leave=False):
        t_ours.append(time_it(step_ours, 1))
        t_hf.append(time_it(step_hf, 1))
    tokens = batch * seq
    return tokens / statistics.median(t_ours), tokens / statistics.median(t_hf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads, medians of {args.runs} runs")
    print("\nbuild on meta             zoo        transformers   ratio (zoo / transformers)")
    for name, ours, theirs in bench_meta(max(args.runs, 5)):
        print(f"  {name:20s} {ours:8.3f} s  {theirs:8.3f} s     {ours / theirs:5.2f}x")
    ours, theirs = bench_train_step(args.runs)
    print("\ntraining step, gpt2-small config, 4 x 256 tokens, fp32, no dropout")
    print(f"  zoo           {ours:8.1f} tokens/s")
    print(f"  transformers  {theirs:8.1f} tokens/s")
    print(f"  ratio         {ours / theirs:8.2f}x (zoo / transformers)")


if __name__ == "__main__":
    main()

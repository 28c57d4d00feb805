"""The commands that run under torchrun, one process per device (`torchrun --nproc-per-node 8
-m zoo distributed init gpt3-175b --out ckpt/`): a sharded model built rank by rank, saved as,
or read from, a distributed checkpoint. `export` runs in one process."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli.declare import arg, command, converter, emit_json
from zoo.units import FLOAT_DTYPES

OUT = arg("--out", required=True, help="the distributed checkpoint folder to write")


@command("distributed init", "build a sharded model (random init) and save a checkpoint",
         arg("model", help="a registry name"), OUT,
         arg("--dtype", choices=FLOAT_DTYPES, default="bf16", help="the weights' dtype"),
         arg("--seed", type=converter("seed", "int", min=0), default=0,
             help="seed of the random init"))
def init(args: argparse.Namespace) -> int:
    from zoo.checkpoints.dcp import save_checkpoint
    from zoo.distributed import build, process_group
    from zoo.registry import get_spec

    with process_group():
        save_checkpoint(build(get_spec(args.model), dtype=args.dtype, seed=args.seed), args.out)
    return 0


@command("distributed shard", "zoo safetensors -> distributed checkpoint, rank by rank",
         arg("weights", help="a zoo .safetensors file (or its index)"), OUT,
         arg("--dtype", choices=FLOAT_DTYPES, help="convert to this dtype (default: keep)"))
def shard(args: argparse.Namespace) -> int:
    from zoo.checkpoints.dcp import save_checkpoint
    from zoo.checkpoints.metadata import read_zoo_spec
    from zoo.distributed import build, process_group
    from zoo.files.safetensors import weights_file

    file = weights_file(Path(args.weights))
    spec, _ = read_zoo_spec(file)
    with process_group():
        save_checkpoint(build(spec, checkpoint=file, dtype=args.dtype), args.out)
    return 0


def _ids(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected token ids separated by commas, got "
                                         f"{text!r}") from None


@command("distributed generate", "greedy generation from a distributed checkpoint",
         arg("checkpoint", help="a distributed checkpoint folder"),
         arg("--ids", required=True, type=_ids, help="prompt token ids, comma-separated"),
         arg("--max-new-tokens", type=converter("max_new_tokens", "int", min=1), default=20,
             help="the most tokens to generate"))
def generate(args: argparse.Namespace) -> int:
    from zoo.distributed import generate_from_checkpoint, is_rank0, process_group

    with process_group():
        ids = generate_from_checkpoint(args.checkpoint, args.ids, args.max_new_tokens)
        if is_rank0():
            print(",".join(map(str, ids)))
    return 0


@command("distributed export", "distributed checkpoint -> zoo safetensors (one process)",
         arg("checkpoint", help="a distributed checkpoint folder"),
         arg("out", help="the .safetensors file to write"),
         arg("--dtype", choices=FLOAT_DTYPES,
             help="convert to this dtype (default: the checkpoint's own)"))
def export(args: argparse.Namespace) -> int:
    from zoo.checkpoints.dcp import checkpoint_to_zoo

    files = checkpoint_to_zoo(args.checkpoint, args.out, dtype=args.dtype)
    if args.json:
        emit_json({"files": [str(f) for f in files]})
    else:
        for path in files:
            print(path)
    return 0


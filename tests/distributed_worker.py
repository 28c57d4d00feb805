"""Run by tests/test_distributed.py under `torchrun --nproc-per-node 2` (gloo, loopback).

For each tiny spec: the sharded forward logits and loss against the unsharded model, one AdamW
step against the unsharded step, and a distributed checkpoint saved by both ranks. Each rank
writes what it found to <out>/rank<R>.json for the test to assert on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

import zoo
from tests.tiny import tiny_spec
from zoo import distributed as zd
from zoo.checkpoints import dcp as zoo_dcp
from zoo.spec import to_mapping


def main(out: Path, labels: list[str]) -> None:
    zd.init("gloo")
    rank = dist.get_rank()
    results: dict[str, dict] = {}
    for label in labels:
        spec = tiny_spec(label)
        reference = zoo.create_model(spec, seed=0)
        sharded = zd.shard(zoo.create_model(spec, seed=0))
        generator = torch.Generator().manual_seed(1)
        ids = torch.randint(0, spec.vocab_size, (2, 12), generator=generator)
        with torch.no_grad():
            logits_diff = float((sharded(ids) - reference(ids)).abs().max())
            loss_diff = float((sharded.loss(ids) - reference.loss(ids)).abs())
        for model in (reference, sharded):
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
            model.loss(ids).backward()
            optimizer.step()
        full = {k: v.full_tensor() for k, v in sharded.state_dict().items()}
        step_diff = max(float((full[k] - v).abs().max()) for k, v in
                        reference.state_dict().items())
        generated = sharded.generate(ids[:1, :5], max_new_tokens=6)
        reference_generated = reference.generate(ids[:1, :5], max_new_tokens=6)
        folder = out / f"ckpt-{label}"
        zoo_dcp.save_checkpoint(sharded, folder)
        dist.barrier()
        reloaded = zd.build(spec, checkpoint=folder)
        again = {k: v.full_tensor() for k, v in reloaded.state_dict().items()}
        reload_equal = all(torch.equal(again[k], full[k]) for k in full)
        # rank by rank from a zoo file: each rank slices its shards out of the memory map
        if rank == 0:
            save_file({k: v.contiguous() for k, v in full.items() if k != "head.weight"
                       or not spec.tie_embeddings}, str(out / f"full-{label}.safetensors"),
                      metadata={"zoo_spec": json.dumps(to_mapping(spec))})
        dist.barrier()
        sliced = zd.build(spec, checkpoint=out / f"full-{label}.safetensors")
        sliced_equal = all(torch.equal(v.full_tensor(), full[k])
                           for k, v in sliced.state_dict().items())
        results[label] = {"logits_diff": logits_diff, "loss_diff": loss_diff,
                          "step_diff": step_diff, "reload_equal": reload_equal,
                          "generate_equal": torch.equal(generated, reference_generated),
                          "sliced_equal": sliced_equal,
                          "local_numel": sum(p.to_local().numel()
                                             for p in sharded.parameters()),
                          "total_numel": sharded.num_params()}
    (out / f"rank{rank}.json").write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2].split(","))

"""Beyond one machine, on PyTorch's own stack: FSDP2 sharding, distributed checkpoints, and
models built rank by rank; accelerate's device maps for inference with offload (zoo.load).

Nothing here is home-made parallelism: `shard` is `fully_shard` per block and on the root,
checkpoints are `torch.distributed.checkpoint` (any number of ranks saves, any number loads;
the format is `zoo.checkpoints.dcp`), and a big model is built on the meta device so that each
rank allocates only its own shard.

Run under torchrun, e.g. `torchrun --nproc-per-node 8 -m zoo distributed init gpt3-175b
--out ckpt/` (see `zoo distributed --help` and the README's "Running the big ones"; the
commands are `zoo.cli.torchrun`'s).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from zoo.checkpoints.dcp import checkpoint_spec, load_checkpoint
from zoo.files.safetensors import weights_file
from zoo.files.safetensors_io import open_safetensors
from zoo.model import Model, create_model
from zoo.spec import ModelSpec

# entry points that use the root's parameters (embedding, final norm, head): FSDP gathers
# them around these calls as it does around forward
FORWARD_METHODS = ("loss", "next_token_logits", "classify")


def _device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def init(backend: str | None = None) -> None:
    """Join the process group torchrun describes (nccl on GPUs, gloo on CPU), once."""
    if dist.is_initialized():
        return
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))


@contextlib.contextmanager
def process_group() -> Iterator[None]:
    """torchrun's process group, joined for a command and left when it is done."""
    init()
    yield
    dist.barrier()
    dist.destroy_process_group()


def is_rank0() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def default_mesh() -> Any:
    from torch.distributed.device_mesh import init_device_mesh

    init()
    return init_device_mesh(_device_type(), (dist.get_world_size(),))


def shard(model: Model, mesh: Any = None, *, reshard_after_forward: bool = True,
          mp_policy: Any = None) -> Model:
    """FSDP2: `fully_shard` on every transformer block, then on the root (embeddings, final
    norm, head, tied or not). Works for any spec, on CPU (gloo) as on GPUs (nccl); the model may
    still be on the meta device (then see `build`)."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    mesh = mesh if mesh is not None else default_mesh()
    options: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": reshard_after_forward}
    if mp_policy is not None:
        options["mp_policy"] = mp_policy
    for block in model.blocks:
        fully_shard(block, **options)
    fully_shard(model, **options)
    for method in FORWARD_METHODS:
        register_fsdp_forward_method(model, method)
    return model


def build(spec: ModelSpec, *, mesh: Any = None, checkpoint: str | Path | None =
          None, dtype: str | torch.dtype | None = None, seed: int = 0) -> Model:
    """A sharded model whose full weights never exist on any rank: built on meta, sharded,
    then each rank allocates only its shard and fills it from `checkpoint` (a distributed
    checkpoint folder, or a zoo .safetensors file read slice by slice) or a seeded init."""
    mesh = mesh if mesh is not None else default_mesh()
    model = shard(create_model(spec, device="meta", dtype=dtype), mesh)
    model.to_empty(device=torch.device(_device_type(), torch.cuda.current_device())
                   if _device_type() == "cuda" else torch.device("cpu"))
    if checkpoint is None:
        torch.manual_seed(seed)  # DTensor's random ops keep the ranks' shards consistent
        model.init_weights()
    elif Path(checkpoint).is_dir():
        load_checkpoint(model, checkpoint)
    else:
        load_safetensors_shards(model, checkpoint)
    return model


def load_safetensors_shards(model: Model, path: str | Path) -> None:
    """Each rank copies its own slice of every tensor out of a memory-mapped zoo file."""
    from torch.distributed.tensor import DTensor, distribute_tensor
    source = open_safetensors(weights_file(Path(path)))
    with torch.no_grad():
        for name, param in model.named_parameters():
            full = source.read(name)
            if isinstance(param, DTensor):
                local = distribute_tensor(full.to(param.dtype), param.device_mesh,
                                          param.placements, src_data_rank=None)
                param.to_local().copy_(local.to_local())
            else:
                param.copy_(full)


def generate_from_checkpoint(folder: str | Path, ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy generation by a model sharded over the ranks, from a distributed checkpoint:
    the prompt and the new ids (every rank computes them; print them on rank 0)."""
    model = build(checkpoint_spec(folder), checkpoint=folder)
    return model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens)[0].tolist()

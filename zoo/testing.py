"""Tiny models of every family, and their transformers twins, for the tests, `tools/parity.py`
and the benchmarks: the published architectures' switches at a size that runs in milliseconds.

transformers is needed here (a test dependency, never a runtime one); it is imported inside
the functions that use it.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor

from zoo.convert.mapping import hf_to_zoo
from zoo.model import Model, create_model
from zoo.reference import transformers_config
from zoo.registry import get_spec
from zoo.spec import ModelSpec
from zoo.tokenizer import Tokenizer

SMALL = {"n_layer": 2, "d_model": 64, "n_head": 4, "d_ff": 256, "vocab_size": 97,
         "context_length": 64}

# family label -> (registry model whose switches it copies, overrides)
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai-gpt": ("openai-gpt", {}),
    "gpt2": ("gpt2", {}),
    "gpt-neo": ("gpt-neo-125m", {"local_window": 8}),
    "gpt-j": ("gpt-j-6b", {}),
    "gpt-neox": ("gpt-neox-20b", {}),
    "pythia": ("pythia-70m", {}),
    "opt": ("opt-125m", {}),
    "opt-350m": ("opt-350m", {"embed_dim": 32}),
    "bloom": ("bloom-560m", {}),
    "llama": ("llama-7b", {}),
    "llama-gqa": ("llama-2-70b", {"n_kv_head": 2}),
    "smollm2": ("smollm2-135m", {"n_kv_head": 2}),
    "mistral": ("mistral-7b-v0.1", {"n_kv_head": 2, "local_window": 8}),
    "falcon-7b": ("falcon-7b", {"n_kv_head": 1}),
    "falcon-40b": ("falcon-40b", {"n_head": 8, "n_kv_head": 2}),
}


def tiny_spec(label: str) -> ModelSpec:
    """A registry model's switches at the SMALL size."""
    source, overrides = FAMILIES[label]
    return get_spec(source).with_changes(name=f"tiny-{label}", aliases=[], d_head=None,
                                         **{**SMALL, **overrides})


def byte_tokenizer() -> Tokenizer:
    """One token per byte (ids 0-255, no merges, no special tokens): any text, for tiny models
    of 256 tokens or more."""
    from tokenizers import Tokenizer as Backend
    from tokenizers import decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Backend(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return Tokenizer(backend)


def hf_model(spec: ModelSpec, seed: int = 0) -> Any:
    """A transformers model for `spec` with every parameter random (norms and biases too)."""
    import transformers

    hf_config = transformers_config(spec)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=generator)
            if p.dim() == 1:
                p.add_(0.1 * noise)
            else:
                p.copy_(0.05 * noise)
    return model.eval()


def zoo_from_hf(spec: ModelSpec, hf: Any) -> Model:
    """A zoo model holding a transformers model's weights, through the import name maps."""
    model = create_model(spec)
    model.load_state_dict(hf_to_zoo(spec, hf.state_dict()), strict=True)
    return model.eval()


def batch(vocab: int, seed: int = 1) -> tuple[Tensor, Tensor]:
    """Three rows of 20 ids, and a right-padding mask (13 and 7 real tokens in rows 1, 2)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (3, 20), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 13:] = 0
    mask[2, 7:] = 0
    return ids, mask


def left_pad(ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The same real tokens, moved to the right end of each row (left padding)."""
    left, left_ids = torch.zeros_like(mask), torch.zeros_like(ids)
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        left[row, -n:], left_ids[row, -n:] = 1, ids[row, :n]
    return left_ids, left


def hf_positions_kwargs(hf: Any, mask: Tensor) -> dict[str, Tensor]:
    """Left padding needs positions counted from the first real token; pass them where the
    transformers model takes them (BLOOM derives ALiBi from the mask itself)."""
    if "position_ids" in inspect.signature(hf.forward).parameters:
        return {"position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}
    return {}


def parity(model: Model, hf: Any, vocab: int) -> dict[str, float]:
    """Max abs logit difference without padding, with right and with left padding (real
    positions only), and the loss difference."""
    ids, mask = batch(vocab)
    left_ids, left = left_pad(ids, mask)
    with torch.no_grad():
        plain = (model(ids) - hf(ids).logits).abs().max()
        real = mask.bool()
        right = (model(ids, attention_mask=mask)[real]
                 - hf(ids, attention_mask=mask).logits[real]).abs().max()
        real = left.bool()
        theirs = hf(left_ids, attention_mask=left, **hf_positions_kwargs(hf, left)).logits
        left_diff = (model(left_ids, attention_mask=left)[real] - theirs[real]).abs().max()
        loss = (model.loss(ids) - hf(ids, labels=ids).loss).abs()
    return {"no padding": float(plain), "right padding": float(right),
            "left padding": float(left_diff), "loss": float(loss)}

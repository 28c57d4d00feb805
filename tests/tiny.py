"""Tiny specs with each family's switches, and transformers models made from them.

Shared by the decoder, weights and generation tests: the same switches as the published
architectures, at a size that runs in milliseconds.
"""

from __future__ import annotations

import torch

import zoo
from zoo.spec import ModelSpec

SMALL = {"n_layer": 2, "d_model": 64, "n_head": 4, "d_ff": 256, "vocab_size": 97,
         "context_length": 64}

# family label -> (registry model whose switches it copies, overrides)
FAMILIES: dict[str, tuple[str, dict]] = {
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
    source, overrides = FAMILIES[label]
    spec = zoo.get_spec(source)
    return spec.with_changes(name=f"tiny-{label}", aliases=[], d_head=None,
                             **{**SMALL, **overrides})


def hf_model(spec: ModelSpec, seed: int = 0):
    """A transformers model for `spec` with every parameter random (norms and biases too)."""
    import transformers

    from zoo.convert.hf_config import transformers_config

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


def zoo_from_hf(spec: ModelSpec, hf) -> zoo.Model:
    from zoo.convert.hf_names import hf_to_zoo

    model = zoo.create_model(spec)
    model.load_state_dict(hf_to_zoo(spec, hf.state_dict()), strict=True)
    return model.eval()

"""Weights of architectures zoo does not model, made for the headers tests: tiny transformers
models saved as safetensors (transformers' own parameter count is the reference), and a GGUF
file of an architecture zoo does not read, written with the gguf package."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# model_type -> the config's arguments at a tiny size (the class's defaults otherwise)
UNKNOWN: dict[str, dict[str, Any]] = {
    # a state-space model; its head is tied to the embedding (transformers saves it once)
    "mamba": {"vocab_size": 1000, "hidden_size": 32, "state_size": 8, "num_hidden_layers": 2,
              "expand": 2, "conv_kernel": 4},
    # a linear-attention RNN, untied head
    "rwkv": {"vocab_size": 97, "hidden_size": 32, "num_hidden_layers": 2,
             "attention_hidden_size": 32, "intermediate_size": 64, "context_length": 64},
    # an encoder (BERT with its causal-LM head): zoo counts decoders only (the repo and file of
    # an unknown architecture, for good)
    "bert": {"vocab_size": 2000, "hidden_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64,
             "is_decoder": True},
    # a hybrid: a Mamba-2 layer and an attention layer
    "bamba": {"vocab_size": 97, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "attn_layer_indices": [1], "mamba_n_heads": 4, "mamba_d_head": 16,
              "mamba_d_state": 8, "mamba_n_groups": 1, "mamba_expand": 2},
}


def unknown_model(model_type: str) -> Any:
    import torch
    import transformers

    config = transformers.AutoConfig.for_model(model_type, **UNKNOWN[model_type])
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def save_unknown(model_type: str, folder: Path, **options: Any) -> int:
    """The model saved by save_pretrained (safetensors); transformers' parameter count."""
    model = unknown_model(model_type)
    model.save_pretrained(folder, safe_serialization=True, **options)
    return sum(p.numel() for p in model.parameters())


GGUF_ARCH = "rwkv7"  # an architecture zoo's GGUF table does not read


def write_gguf(path: Path, arch: str = GGUF_ARCH, vocab: int = 97, width: int = 32,
               padding_values: int = 0) -> dict[str, int]:
    """A GGUF file of `arch` with float and Q8_0 tensors; the parameters of each tensor.
    `padding_values` adds a tensor of that many values, to make the file longer than its
    header by as much as a test needs."""
    import gguf
    import numpy as np
    from gguf.quants import quantize

    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(width)
    tensors = {"token_embd.weight": rng.standard_normal((vocab, width)).astype(np.float32),
               "blk.0.attn_norm.weight": np.ones(width, dtype=np.float32),
               "blk.0.time_mix_key.weight": rng.standard_normal((2 * width, width)),
               "output_norm.weight": np.ones(width, dtype=np.float32),
               "output.weight": rng.standard_normal((vocab, width)).astype(np.float16)}
    if padding_values:
        tensors["blk.0.time_mix_value.weight"] = np.zeros((padding_values // width, width),
                                                          dtype=np.float32)
    counts = {}
    for name, values in tensors.items():
        counts[name] = math.prod(values.shape)
        if name == "blk.0.time_mix_key.weight":
            packed = quantize(values.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, packed, raw_shape=packed.shape,
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return counts

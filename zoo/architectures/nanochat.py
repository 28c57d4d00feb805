"""Karpathy's nanochat (nanochat): RMSNorms without a weight in fp32 (on the embedding, before
each sublayer, at the end), q and k rotated the other way round (its rotate_half is
(x2, -x1)) and then each head RMS-normalised without a weight, a two-matrix squared-ReLU MLP
(fc1, fc2, no biases), logits soft-capped (15 by default); attention_bias on q, k, v and the
output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    activation_to_hf,
    fused,
    linear,
    same,
    with_defaults,
)
from zoo.architectures.llama import ATTN, LAYER, read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# NanoChatConfig's defaults for the keys read (num_key_value_heads: as many as the heads)
DEFAULTS = {"vocab_size": 50304, "hidden_size": 768, "intermediate_size": 8192,
            "num_hidden_layers": 12, "num_attention_heads": 6, "num_key_value_heads": None,
            "max_position_embeddings": 2048, "hidden_act": "relu2", "rms_norm_eps": 1e-6,
            "attention_bias": False, "tie_word_embeddings": False,
            "final_logit_softcapping": 15.0}


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    bias = bool(c["attention_bias"])
    return read_llama_like(c, gated=False, norm="weightless_rmsnorm", embedding_norm=True,
                           qk_norm="l2", rotary_style="half_reversed", qkv_bias=bias,
                           attn_out_bias=bias, mlp_bias=False,
                           final_softcap=c["final_logit_softcapping"])


def write(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "hidden_act": activation_to_hf(s),
            "attention_bias": s.has_bias("qkv"), "final_logit_softcapping": s.final_softcap}


# no norm has a tensor
TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj", f"{ATTN}.v_proj"),
            "qkv"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.fc1"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.fc2"),
    **same("head.weight", "lm_head.weight"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 271
ENTRIES = (Architecture(model_type="nanochat", hf_class="NanoChatForCausalLM", read=read,
                        write=write, tensors=TENSORS, prefix="model."),)

"""Meta's OPT (opt): learned positions offset by 2; OPT-350M's post-norm and projections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    activation,
    activation_to_hf,
    fused,
    get,
    linear,
    norm,
    same,
)
from zoo.spec import ModelSpec

LAYER = "model.decoder.layers.{i}"
ATTN = f"{LAYER}.self_attn"


def read(c: Mapping[str, Any]) -> Config:
    if not c.get("layer_norm_elementwise_affine", True):
        raise UnsupportedConfigError("OPT with layer_norm_elementwise_affine false is not "
                                     "supported")
    d = get(c, "hidden_size")
    pre = c.get("do_layer_norm_before", True)
    embed = get(c, "word_embed_proj_dim", default=d)
    out = dict(n_layer=get(c, "num_hidden_layers"), d_model=d,
               n_head=get(c, "num_attention_heads"), d_ff=get(c, "ffn_dim"),
               vocab_size=get(c, "vocab_size"),
               context_length=get(c, "max_position_embeddings"), position_offset=2,
               activation=activation(c.get("activation_function", "relu"),
                                     "activation_function"),
               norm_position="pre" if pre else "post",
               final_norm=bool(pre and not c.get("_remove_final_layer_norm", False)),
               bias=c.get("enable_bias", True), tie_embeddings=c.get("tie_word_embeddings", True))
    if embed != d:
        out["embed_dim"] = embed
    return out


def write(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "ffn_dim": s.d_ff,
            "max_position_embeddings": s.context_length, "activation_function": activation_to_hf(s),
            "do_layer_norm_before": s.norm_position == "pre",
            "_remove_final_layer_norm": s.norm_position == "pre" and not s.final_norm,
            "word_embed_proj_dim": s.embed_width, "enable_bias": s.bias,
            "layer_norm_elementwise_affine": True, "pad_token_id": 1, "bos_token_id": 2,
            "eos_token_id": 2}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 50
ENTRIES = (Architecture(
    model_type="opt", hf_class="OPTForCausalLM", read=read, write=write, prefix="model.",
    tensors={**same("embed.weight", "model.decoder.embed_tokens.weight"),
             **same("positions.weight", "model.decoder.embed_positions.weight"),
             **same("project_in.weight", "model.decoder.project_in.weight"),
             **same("project_out.weight", "model.decoder.project_out.weight"),
             **norm("blocks.{i}.norm1", f"{LAYER}.self_attn_layer_norm"),
             **norm("blocks.{i}.norm2", f"{LAYER}.final_layer_norm"),
             **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj",
                                             f"{ATTN}.v_proj"), "qkv"),
             **linear("blocks.{i}.attn.out", f"{ATTN}.out_proj"),
             **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.fc1"),
             **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.fc2"),
             **norm("final_norm", "model.decoder.final_layer_norm"),
             **same("head.weight", "lm_head.weight")}),)

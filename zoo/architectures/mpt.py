"""MosaicML's MPT (mpt) as transformers builds it: ALiBi (slopes 2^(-8h/n) over the next power
of two, as BLOOM's: MptModel never passes the config's alibi_bias_max), q, k, v in one matrix
and no biases, LayerNorms without a bias, an exact-GELU MLP of 4 x d_model, a tied head.

attn_config's softmax_scale (the score scale, default 1/sqrt(d_head)) and clip_qkv (q, k and v
clamped after their projection) are read; transformers' MptAttention reads nothing else of it
(attn_type, qk_ln, alibi, prefix_lm and the rest change nothing it computes). A config whose
expansion_ratio or no_bias differ from what the class builds whatever they say is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    get,
    same,
    with_defaults,
)
from zoo.spec import ModelSpec

DEFAULTS = {"d_model": 2048, "n_heads": 16, "n_layers": 24, "expansion_ratio": 4,
            "max_seq_len": 2048, "vocab_size": 50368, "layer_norm_epsilon": 1e-5,
            "no_bias": True, "tie_word_embeddings": True}
BUILT = (("expansion_ratio", 4), ("no_bias", True))  # what MptForCausalLM builds regardless
LAYER = "transformer.blocks.{i}"


def read(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, DEFAULTS)
    for key, built in BUILT:
        if c[key] != built:
            raise UnsupportedConfigError(f"{key} {c[key]!r}: transformers' MptForCausalLM "
                                         f"builds {built!r} whatever the config says")
    attn = c.get("attn_config") or {}
    d = get(c, "d_model")
    return dict(n_layer=get(c, "n_layers"), d_model=d, n_head=get(c, "n_heads"), d_ff=4 * d,
                vocab_size=get(c, "vocab_size"), context_length=get(c, "max_seq_len"),
                position="alibi", norm="layernorm", norm_bias=False,
                norm_eps=get(c, "layer_norm_epsilon"), activation="gelu", bias=False,
                attention_multiplier=attn.get("softmax_scale"),
                qkv_clip=attn.get("clip_qkv") or None,  # 0 clips nothing, as transformers
                tie_embeddings=bool(c["tie_word_embeddings"]))


def write(s: ModelSpec) -> Config:
    if s.d_ff != 4 * s.d_model:
        raise UnsupportedConfigError(f"d_ff {s.d_ff}: MPT's MLP is 4 x d_model")
    return {"n_layers": s.n_layer, "d_model": s.d_model, "n_heads": s.n_head,
            "expansion_ratio": 4, "max_seq_len": s.context_length,
            "layer_norm_epsilon": s.norm_eps, "no_bias": True,
            "attn_config": {"softmax_scale": s.attention_multiplier, "clip_qkv": s.qkv_clip}}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 302
ENTRIES = (Architecture(
    model_type="mpt", hf_class="MptForCausalLM", read=read, write=write, prefix="transformer.",
    tensors={**same("embed.weight", "transformer.wte.weight"),
             **same("blocks.{i}.norm1.weight", f"{LAYER}.norm_1.weight"),
             **same("blocks.{i}.attn.qkv.weight", f"{LAYER}.attn.Wqkv.weight"),
             **same("blocks.{i}.attn.out.weight", f"{LAYER}.attn.out_proj.weight"),
             **same("blocks.{i}.norm2.weight", f"{LAYER}.norm_2.weight"),
             **same("blocks.{i}.mlp.fc_in.weight", f"{LAYER}.ffn.up_proj.weight"),
             **same("blocks.{i}.mlp.fc_out.weight", f"{LAYER}.ffn.down_proj.weight"),
             **same("final_norm.weight", "transformer.norm_f.weight"),
             **same("head.weight", "lm_head.weight")}),)
